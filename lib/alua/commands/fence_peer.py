"""alua-fence-peer: DRBD's fence-peer handler for dual-primary, fast in front of crm-fence-peer.sh.

With ``fencing resource-and-stonith`` DRBD freezes I/O on a Primary that loses its peer and
runs the fence-peer handler; I/O resumes when the handler says the peer is fenced (exit 7)
or outdated (exit 4).  LINBIT's crm-fence-peer.sh decides that and places the constraint
that keeps the peer from being promoted until it has resynced; crm-unfence-peer.sh removes
it.  But it polls the CIB every 2 s, and when the peer has died and the cluster has not yet
noticed, it first waits up to 3.6 s for ``crmadmin -S`` to answer for a dead node: measured
on the lab's real kernels, most of an 18 s I/O freeze (tests/lab/README.md, Finding 10).

This handler waits in front of it, cheaply, until the answer is known, and then hands over
to the unchanged crm-fence-peer.sh (exec, same arguments), which then decides at once:

- the peer was fenced (its node_state: not a member, controller offline, expected down):
  crm-fence-peer.sh would place its constraint and exit 7, which takes it 8-11 s in the
  lab's UML; when the handler is crm-fence-peer.sh with its default constraint and this node
  is UpToDate, this handler places the same constraint itself (one cibadmin call) and exits
  7; anything else goes to the script;
- the peer is alive (its controller answers ``crmadmin -S``): only the replication link
  failed.  Both Primaries run this handler; the first to place the constraint wins and
  the other (with --suicide-on-failure-if-primary) has itself fenced.  The node that is
  *not* promoted by the --promotable clone (the ALUA role) waits --loser-delay seconds
  first, so that the node the initiators write to keeps running;
- no answer within --timeout: crm-fence-peer.sh's own logic decides.

It never fences anything itself and never answers DRBD on its own, except exit 1 (DRBD
keeps I/O frozen: the safe side) when it cannot run the handler at all.
"""

from __future__ import annotations

import os
import re
import sys
import time
import xml.etree.ElementTree as ET

from alua.host.run import CommandRunner, CommandTimeout, ToolNotFound
from alua.host.validate import check_node_name
from alua.ocf.context import Deadline

USAGE = (
    "usage: alua-fence-peer [--timeout S] [--poll S] [--promotable CLONE] [--loser-delay S] "
    "[--peer NODE] -- HANDLER [ARG...]"
)
RESOURCE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9._:-]{0,127}$")
FENCED, ALIVE, LOST, UNKNOWN = "fenced", "alive", "lost", "unknown"
HANDLER_FAILED = 1  # DRBD: "fence-peer helper broken": I/O stays frozen


PEER_STONITHED = 7  # DRBD: the peer was fenced; I/O resumes
CRM_FENCE_PEER = "crm-fence-peer.sh"
# crm-fence-peer.sh options that change the constraint it would place: with any of them the
# fenced case is left to the script
CONSTRAINT_OPTIONS = ("--id-prefix", "-p", "--role", "-l", "--fencing-attribute", "-a", "--master-id", "-i")


class UsageError(ValueError):
    pass


class Options:
    def __init__(self) -> None:
        self.timeout = 60.0
        self.poll = 0.2
        self.promotable = ""
        self.loser_delay = 2.0
        self.peer = ""
        self.handler: list[str] = []


def _seconds(name: str, value: str, *, low: float, high: float) -> float:
    try:
        v = float(value)
    except ValueError:
        raise UsageError(f"{name} {value!r}: not a number of seconds") from None
    if not low <= v <= high:
        raise UsageError(f"{name} {value!r}: must be between {low:g} and {high:g} seconds")
    return v


def parse_args(argv: list[str]) -> Options:
    """Options before '--', the handler and its arguments after it (passed on unchanged)."""
    if "--" not in argv:
        raise UsageError("missing '--' before the handler")
    split = argv.index("--")
    own, handler = argv[:split], argv[split + 1:]
    if not handler:
        raise UsageError("no handler after '--'")
    if not os.path.isabs(handler[0]):
        raise UsageError(f"handler {handler[0]!r}: must be an absolute path")
    o = Options()
    o.handler = handler
    it = iter(own)
    for arg in it:
        name, eq, value = arg.partition("=")
        if not eq:
            following = next(it, None)
            if following is None:
                raise UsageError(f"{name}: needs a value")
            value = following
        if name == "--timeout":
            o.timeout = _seconds(name, value, low=1, high=600)
        elif name == "--poll":
            o.poll = _seconds(name, value, low=0.05, high=5)
        elif name == "--loser-delay":
            o.loser_delay = _seconds(name, value, low=0, high=60)
        elif name == "--promotable":
            if not RESOURCE_ID.match(value):
                raise UsageError(f"--promotable {value!r}: not a resource id")
            o.promotable = value
        elif name == "--peer":
            if not node_name_ok(value):
                raise UsageError(f"--peer {value!r}: not a node name")
            o.peer = value
        else:
            raise UsageError(f"unknown option {name!r}")
    return o


def node_name_ok(name: str) -> bool:
    try:
        check_node_name(name)
    except ValueError:
        return False
    return True


def classify(node_state: ET.Element | None) -> str:
    """One CIB node_state -> fenced / alive (a member with its controller online) / lost / unknown.

    "fenced" is what crm-fence-peer.sh itself takes for fenced: after a fencing, Pacemaker
    records the node as not in the membership, controller offline, expected down."""
    if node_state is None:
        return UNKNOWN
    in_ccm, crmd, expected = (node_state.get(k, "") for k in ("in_ccm", "crmd", "expected"))
    if in_ccm == "false" and crmd == "offline" and expected == "down":
        return FENCED
    if in_ccm == "true" and crmd == "online":
        return ALIVE
    return LOST


def parse_status(xml_text: str, peer: str) -> ET.Element | None:
    """The peer's node_state from ``cibadmin --query --scope status`` output."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    for ns in root.iter("node_state"):
        if ns.get("uname") == peer:
            return ns
    return None


def parse_nodes(xml_text: str) -> list[str]:
    """Node names from ``cibadmin --query --scope nodes`` output (ping nodes left out)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return []
    return [n.get("uname", "") for n in root.iter("node") if n.get("type", "member") == "member" and n.get("uname")]


def promoted_nodes(locate_text: str) -> set[str]:
    """``crm_resource --resource CLONE --locate`` -> the nodes where it is promoted."""
    out = set()
    for line in locate_text.splitlines():
        m = re.match(r"resource \S+ is running on: (\S+) (Promoted|Master)\b", line.strip())
        if m:
            out.add(m.group(1))
    return out


def fast_path_allowed(handler: list[str]) -> bool:
    """Whether the fenced case may be answered here: the handler is crm-fence-peer.sh with the
    constraint it places by default (its id prefix, role and attribute)."""
    if os.path.basename(handler[0]) != CRM_FENCE_PEER:
        return False
    return not any(arg.split("=", 1)[0] in CONSTRAINT_OPTIONS for arg in handler[1:])


def local_disk_state(proc_drbd: str, minor: str) -> str:
    """This node's disk state of one minor from /proc/drbd (DRBD 8.4), '' when not found."""
    from alua.tools.drbd.procfs import parse_proc_drbd

    entry = parse_proc_drbd(proc_drbd).minors.get(int(minor)) if minor.isdigit() else None
    return entry.disk_state if entry is not None and entry.configured else ""


def promotable_of(resources_xml: str, resource: str) -> str:
    """The id of the promotable clone whose ocf:linbit:drbd primitive runs DRBD resource `resource`
    (what crm-fence-peer.sh looks up as master_id), '' unless exactly one."""
    try:
        root = ET.fromstring(resources_xml)
    except ET.ParseError:
        return ""
    found = []
    for clone in [*root.iter("clone"), *root.iter("master")]:
        for nv in clone.iter("nvpair"):
            if nv.get("name") == "drbd_resource" and nv.get("value") == resource:
                found.append(clone.get("id", ""))
                break
    return found[0] if len(found) == 1 else ""


def fencing_constraint(resource: str, master_id: str, me: str) -> str:
    """Exactly the constraint crm-fence-peer.sh places (so crm-unfence-peer.sh removes it): the
    DRBD clone may be promoted on no node but this one until the peer has resynced."""
    prefix = f"drbd-fence-by-handler-{resource}"
    return (f'<rsc_location rsc="{master_id}" id="{prefix}-{master_id}">'
            f'<rule role="Master" score="-INFINITY" id="{prefix}-rule-{master_id}">'
            f'<expression attribute="#uname" operation="ne" value="{me}" id="{prefix}-expr-{master_id}"/>'
            f'</rule></rsc_location>')


class Cluster:
    """What the handler asks Pacemaker, each with a short timeout (it runs while I/O is frozen)."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def _out(self, argv: list[str], timeout: float) -> str | None:
        try:
            r = self.runner.run(argv, timeout=timeout)
        except (CommandTimeout, ToolNotFound):
            return None
        return r.stdout if r.ok else None

    def local_node(self) -> str:
        return (self._out(["crm_node", "--name"], 5) or "").strip()

    def peer_of(self, me: str) -> str:
        nodes = [n for n in parse_nodes(self._out(["cibadmin", "--query", "--local", "--scope", "nodes"], 5) or "")
                 if n != me]
        return nodes[0] if len(nodes) == 1 else ""

    def peer_state(self, peer: str) -> str:
        text = self._out(["cibadmin", "--query", "--local", "--scope", "status"], 3)
        return classify(parse_status(text, peer)) if text is not None else UNKNOWN

    def controller_answers(self, peer: str) -> bool:
        out = self._out(["crmadmin", "--timeout", "1000ms", "--status", peer], 3)
        return out is not None and ("(ok)" in out or ": ok" in out)

    def place_fencing_constraint(self, resource: str, minor: str, log) -> bool:
        """crm-fence-peer.sh's answer for a fenced peer, in three commands instead of its dozens
        (measured in the lab: 8-11 s in UML): this node UpToDate, then the constraint. False:
        anything unusual (the script decides)."""
        try:
            with open("/proc/drbd", encoding="ascii", errors="replace") as f:
                disk = local_disk_state(f.read(), minor)
        except OSError:
            return False
        if disk != "UpToDate":
            log(f"{resource}: my disk is {disk or 'unknown'}, not UpToDate")
            return False
        master_id = promotable_of(self._out(["cibadmin", "--query", "--local", "--scope", "resources"], 5) or "",
                                  resource)
        me = os.uname().nodename
        if not RESOURCE_ID.match(master_id) or not node_name_ok(me):
            return False
        out = self._out(["cibadmin", "--create", "--scope", "constraints", "--xml-text",
                         fencing_constraint(resource, master_id, me)], 10)
        if out is None:
            return False
        log(f"{resource}: placed constraint 'drbd-fence-by-handler-{resource}-{master_id}' (peer fenced, "
            "my disk UpToDate)")
        return True

    def promoted_here(self, clone: str, me: str) -> bool:
        return me in promoted_nodes(self._out(["crm_resource", "--resource", clone, "--locate"], 5) or "")


def decide(opts: Options, cluster: Cluster, peer: str, log, clock=time.monotonic, sleep=time.sleep) -> str:
    """Wait until the peer is fenced or known alive (or the timeout passes); returns what was found."""
    deadline = Deadline(opts.timeout)
    start = clock()
    last_ask = -1e9
    while not deadline.expired():
        state = cluster.peer_state(peer)
        if state == FENCED:
            log(f"{peer} was fenced ({clock() - start:.1f} s)")
            return FENCED
        # a member with its controller online: either alive (only the replication link failed) or
        # dead and not yet noticed by the membership; only its controller's answer tells them apart
        if state == ALIVE and clock() - last_ask >= 1.0:
            last_ask = clock()
            if cluster.controller_answers(peer):
                log(f"{peer} is alive and answers: the replication link failed ({clock() - start:.1f} s)")
                return ALIVE
        sleep(opts.poll)
    log(f"{peer}: neither fenced nor answering after {opts.timeout:g} s")
    return UNKNOWN


def _syslog(msg: str) -> None:
    """To syslog without ever blocking (the handler runs while I/O is frozen), and to stderr if any."""
    import socket

    line = f"<{3 * 8 + 5}>alua-fence-peer[{os.getpid()}]: {msg}"  # facility daemon, severity notice
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(line.encode("utf-8", "replace"), "/dev/log")
    except OSError:
        pass
    # DRBD runs its handlers from the kernel with no standard streams: Python's sys.stderr is
    # None then (measured in the lab: writing to it failed the handler, and I/O stayed frozen)
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"alua-fence-peer: {msg}\n")
        except OSError:
            pass


def main(argv: list[str] | None = None, *, cluster: Cluster | None = None, execv=os.execv, log=_syslog) -> int:
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        log(f"{e}\n{USAGE}")
        return HANDLER_FAILED
    if not os.access(opts.handler[0], os.X_OK):
        log(f"handler {opts.handler[0]}: not an executable file")
        return HANDLER_FAILED
    cluster = cluster or Cluster(CommandRunner(Deadline(opts.timeout + 60)))
    resource = os.environ.get("DRBD_RESOURCE", "?")
    try:
        me = cluster.local_node()
    except Exception as e:  # noqa: BLE001 - never worse than the handler alone: hand over
        log(f"{resource}: cannot ask the cluster ({type(e).__name__}: {e})")
        me = ""
    peer = opts.peer or os.environ.get("DRBD_PEER", "") or cluster.peer_of(me)
    if not node_name_ok(peer):
        log(f"{resource}: cannot tell which node is the peer; handing over at once")
    else:
        log(f"{resource}: lost the connection to {peer}; waiting until it is fenced or answers")
        try:
            found = decide(opts, cluster, peer, log)
            if found == FENCED and RESOURCE_ID.match(resource) and os.environ.get("DRBD_MINOR", "").isdigit() \
                    and fast_path_allowed(opts.handler) and \
                    cluster.place_fencing_constraint(resource, os.environ["DRBD_MINOR"], log):
                return PEER_STONITHED
            if found == ALIVE and opts.promotable and opts.loser_delay > 0 and \
                    not cluster.promoted_here(opts.promotable, me):
                log(f"{opts.promotable} is not promoted here: letting {peer} place the constraint first "
                    f"({opts.loser_delay:g} s)")
                time.sleep(opts.loser_delay)
        except Exception as e:  # noqa: BLE001 - never worse than the handler alone: hand over
            log(f"{resource}: waiting failed ({type(e).__name__}: {e}); handing over at once")
    log(f"{resource}: running {' '.join(opts.handler)}")
    try:
        execv(opts.handler[0], opts.handler)
    except OSError as e:
        log(f"handler {opts.handler[0]}: {e}")
    return HANDLER_FAILED
