"""alua-fence-peer: DRBD's fence-peer handler for dual-primary, fast in front of crm-fence-peer.sh.

With ``fencing resource-and-stonith`` DRBD freezes I/O on a Primary that loses its peer and
runs the fence-peer handler; I/O resumes when the handler says the peer is fenced (exit 7)
or outdated (exit 4).  LINBIT's crm-fence-peer.sh decides that and places the constraint
that keeps the peer from being promoted until it has resynced; crm-unfence-peer.sh removes
it.  But it polls the CIB every 2 s, waits up to 3.6 s for ``crmadmin -S`` to answer for a
dead node and takes 8-11 s in the lab's UML for its dozens of commands: most of an 18 s
I/O freeze (tests/lab/README.md, Findings 10 and 18).

This handler reads the local CIB (one cibadmin call per --poll) until the answer is known:

- the peer was fenced (its node_state: not a member, controller offline, expected down; and
  the CIB names a DC that is not the peer, so that the constraint can be written): with
  crm-fence-peer.sh as the handler, its default constraint and this disk UpToDate, this
  handler places the script's own constraint (one cibadmin call) and exits 7;
- the peer is alive (its controller answers ``crmadmin -S``): only the replication link
  failed.  The node that is *not* promoted by the --promotable clone (the ALUA role) waits
  --loser-delay seconds and runs the script, which finds the winner's constraint and has
  this node fenced (--suicide-on-failure-if-primary); the other node places the constraint
  here (this disk Consistent or UpToDate, the peer's not UpToDate) and exits 4;
- with --fence-after S: a peer that is still a member in the CIB but whose controller has not
  answered for S seconds or that corosync's membership has dropped (corosync-cmapctl by node
  id, or corosync-quorumtool -l by name: the CIB shows the loss only once a DC records it), or
  that has left the membership unfenced, is fenced through Pacemaker's fencer (stonith_admin,
  the cluster's own devices; merged with the cluster's own request for it), without waiting for
  the cluster; then as above, the constraint's write started just before the fencing (it waits
  inside cibadmin for a new DC, so it is done when the fencing is; withdrawn if the fencing
  fails and the peer turns out alive); and corosync is asked first, before any CIB call (each
  CIB call of a node taking over is slow): a peer it no longer lists is fenced at once,
  the constraint written meanwhile with the clone named in Pacemaker's configuration on disk,
  and the answer is 7 when both are done;
- anything else, an error of its own, or no answer within --timeout: it runs the handler
  (exec, same arguments), whose own logic decides.

It never answers DRBD on its own except in those two cases, and exits 1 (DRBD keeps I/O
frozen: the safe side) only when it cannot run the handler at all.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from alua.commands.fence_cluster import RESOURCE_ID, Cluster, ControllerProbe, MembershipProbe, drbd_minor, \
    node_name_ok
from alua.host.run import CommandRunner
from alua.ocf.context import Deadline
from alua.tools.cib import ALIVE, FENCED, LOST, UNKNOWN, CibView, fencing_constraint, fencing_constraint_id
from alua.tools.drbd.procfs import ProcMinor

USAGE = (
    "usage: alua-fence-peer [--timeout S] [--poll S] [--promotable CLONE] [--loser-delay S] "
    "[--fence-after S] [--peer NODE] -- HANDLER [ARG...]"
)
HANDLER_FAILED = 1  # DRBD: "fence-peer helper broken": I/O stays frozen
PEER_OUTDATED = 4  # DRBD: the peer is outdated (it cannot be promoted); I/O resumes
PEER_STONITHED = 7  # DRBD: the peer was fenced; I/O resumes
CRM_FENCE_PEER = "crm-fence-peer.sh"
# crm-fence-peer.sh options that change the constraint it would place: with any of them the
# script decides
CONSTRAINT_OPTIONS = ("--id-prefix", "-p", "--role", "-l", "--fencing-attribute", "-a", "--master-id", "-i")
__all__ = ["ALIVE", "FENCED", "LOST", "UNKNOWN", "Cluster", "ControllerProbe", "ProcMinor", "drbd_minor",
           "fencing_constraint", "fencing_constraint_id", "main"]


class UsageError(ValueError):
    pass


class Options:
    def __init__(self) -> None:
        self.timeout = 60.0
        self.poll = 0.2
        self.promotable = ""
        self.loser_delay = 2.0
        self.fence_after = 0.0  # 0: never fence from here
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
        elif name == "--fence-after":
            o.fence_after = 0.0 if value == "0" else _seconds(name, value, low=0.2, high=30)
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


def fast_path_allowed(handler: list[str]) -> bool:
    """Whether this handler may answer DRBD itself: the handler is crm-fence-peer.sh with the
    constraint it places by default (its id prefix, role and attribute)."""
    if os.path.basename(handler[0]) != CRM_FENCE_PEER:
        return False
    return not any(arg.split("=", 1)[0] in CONSTRAINT_OPTIONS for arg in handler[1:])


HURRY = -10  # the nice value of the first phase (corosync, the fencing, the constraint's write)


@contextlib.contextmanager
def ahead_of_the_node(log):
    """Run ahead of the node's other work while in the block, and so do the commands it starts (they
    inherit the nice value): the node's writes are frozen until this handler answers, and on the
    survivor of a node loss the scheduler, the transition's notifications and the monitors
    compete for one CPU (lab Finding 27).  The block only waits on its commands; the CIB polling
    after it runs at the normal value, so that it never starves the cluster's own recording of
    the loss (lab, 2026-12-03: a handler at -10 polling the CIB held back the fence agent).

    DRBD's handler line may start it at the raised value already (``nice -n -10``, crm/README:
    its own Python start then runs ahead too); the polling still goes back to the normal value."""
    try:
        before = max(os.getpriority(os.PRIO_PROCESS, 0), 0)
        os.setpriority(os.PRIO_PROCESS, 0, min(HURRY, before))
    except OSError as e:
        log(f"cannot raise my priority: {e.strerror}")
        yield
        return
    try:
        yield
    finally:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, before)
        except OSError:
            pass


def corosync_first(opts: Options, cluster: Cluster, peer: str, log, clock, sleep, early):
    """Before any CIB call: corosync's membership drops a dead peer first (token + consensus),
    before the CIB shows the loss, and each CIB call of a node taking over costs 1-2 s of its
    CPU (lab Findings 26, 27), while corosync-cmapctl answers in a fraction of that.  A peer
    corosync has dropped is fenced through the fencer at once (merged with the fencing
    dlm_controld or the cluster asked for), the constraint written meanwhile with the clone
    named in the configuration Pacemaker keeps on disk; no CIB read competes with the two.

    Returns (answer, tried, fenced): answer (FENCED, the configuration read) when the peer was
    fenced and the constraint written, else None and the CIB decides: the peer is a member (only
    the replication link failed, or corosync has not noticed yet), corosync does not answer, the
    fencing failed or no constraint could be started; tried: whether it asked the fencer;
    fenced: whether the fencer said the peer was fenced."""
    configured = cluster.cib_on_disk()  # the peer's node id, the DRBD clone, stonith-action
    probe = cluster.ask_membership(peer, configured.node_id(peer))
    try:
        while (seen := probe.result()) is None:
            sleep(min(opts.poll, 0.05))
    finally:
        probe.cancel()
    if seen != "left":
        return None, False, False
    start = clock()
    log(f"{peer} is not in corosync's membership: asking Pacemaker's fencer to fence it")
    started = early(configured)
    fenced = cluster.fence(peer, min(30.0, opts.timeout), configured.cluster_property("stonith-action", "reboot"))
    log(f"{peer}: {'fenced' if fenced else 'not fenced by this request'} ({clock() - start:.1f} s)")
    if fenced and started and cluster.constraint_placed():
        log(f"{peer} was fenced and the constraint is written ({clock() - start:.1f} s)")
        return (FENCED, configured), True, True
    return None, True, fenced


def decide(opts: Options, cluster: Cluster, peer: str, log, clock=time.monotonic, sleep=time.sleep, early=None):
    """Wait until the peer is fenced (and the CIB has a DC that is not the peer), or known
    alive, or the timeout passes; returns (what was found, the last CIB read).

    ``early(cib)``: called just before this handler fences the peer, to start the constraint's
    write (True when started); a write that succeeded shows the cluster has a DC again."""
    deadline = Deadline(opts.timeout)
    start = clock()
    last_ask = -1e9
    probe: ControllerProbe | None = None
    member: MembershipProbe | None = None
    fenced_here = fence_tried = False
    cib = CibView(None)
    if opts.fence_after and early is not None:
        with ahead_of_the_node(log):
            answer, fence_tried, fenced_here = corosync_first(opts, cluster, peer, log, clock, sleep, early)
        if answer is not None:
            return answer
    try:
        seen_state = ""
        while not deadline.expired():
            cib = cluster.cib()
            state = cib.state_of(peer)
            if state != seen_state:  # each change once: where the wait went (lab Finding 26)
                log(f"{peer}: {state} in the CIB, DC {cib.dc_uuid or 'none'} ({clock() - start:.1f} s)")
                seen_state = state
            if state == FENCED or fenced_here:
                if not cib.dc_is(peer):
                    log(f"{peer} was fenced ({clock() - start:.1f} s)")
                    return FENCED, cib
                # fenced by the CIB's account, but the DC it names is the peer: no new DC has
                # recorded anything yet; the fencer itself knows (a fencing of the last 5 s counts)
                state = LOST
            elif state == ALIVE:
                # a member with its controller online in the CIB: either alive (only the replication
                # link failed) or dead and not yet recorded (no DC yet when the dead peer was the DC);
                # its controller's answer tells, and corosync's membership, which drops a dead node
                # first; both are asked in the background while the CIB is read on
                if probe is None and clock() - last_ask >= 1.0:
                    last_ask = clock()
                    probe = cluster.ask_controller(peer, opts.fence_after or 1.0)
                answered = probe.answered() if probe is not None else None
                if opts.fence_after:  # corosync's membership, asked anew as each answer comes
                    member = member or cluster.ask_membership(peer, cib.node_id(peer))
                    seen = member.result()
                    if seen is not None:
                        member = None
                    if seen == "left" and not answered:
                        log(f"{peer} has left corosync's membership ({clock() - start:.1f} s)")
                        answered = False
                if answered:
                    log(f"{peer} is alive and answers: the replication link failed ({clock() - start:.1f} s)")
                    return ALIVE, cib
                if answered is None and opts.fence_after and clock() - last_ask >= opts.fence_after:
                    answered = False  # no answer for --fence-after seconds: crmadmin's own exit comes later
                if answered is False:
                    if probe is not None:
                        probe.cancel()
                    probe = None
                    state = LOST if opts.fence_after else state
            if state == LOST and opts.fence_after and not fence_tried:
                fence_tried = True
                log(f"{peer} does not answer: asking Pacemaker's fencer to fence it ({clock() - start:.1f} s)")
                started = early(cib) if early is not None else False
                fenced_here = cluster.fence(peer, min(30.0, max(1.0, deadline.remaining())),
                                            cib.cluster_property("stonith-action", "reboot"))
                log(f"{peer}: {'fenced' if fenced_here else 'not fenced by this request'} "
                    f"({clock() - start:.1f} s)")
                if fenced_here and cib.root is not None and not cib.dc_is(peer):
                    return FENCED, cib  # the read before the fencing already named another DC
                if fenced_here and started and cluster.constraint_placed():
                    log(f"the constraint is written: the cluster has a DC ({clock() - start:.1f} s)")
                    return FENCED, cib
                continue
            sleep(opts.poll)
    finally:
        for job in (probe, member):
            if job is not None:
                job.cancel()
    log(f"{peer}: neither fenced nor answering after {opts.timeout:g} s")
    return UNKNOWN, cib


def fast_path_resource(opts: Options, cluster: Cluster, found: str, log) -> str:
    """The DRBD resource when this handler may answer DRBD itself, as crm-fence-peer.sh would, for
    a peer ``found`` FENCED (this disk UpToDate) or ALIVE (this disk Consistent or UpToDate), the
    peer's disk not known UpToDate; '' when the script decides."""
    resource, minor = os.environ.get("DRBD_RESOURCE", ""), os.environ.get("DRBD_MINOR", "")
    if found not in (FENCED, ALIVE) or not RESOURCE_ID.match(resource) or not minor.isdigit() \
            or not fast_path_allowed(opts.handler):
        return ""
    local = cluster.drbd_minor(minor)
    if local is None:
        return ""
    good = ("UpToDate",) if found == FENCED else ("UpToDate", "Consistent")
    if local.disk_state not in good or local.peer_disk_state == "UpToDate":
        log(f"{resource}: my disk is {local.disk_state}, the peer's {local.peer_disk_state}: the script decides")
        return ""
    return resource


def answer_here(opts: Options, cluster: Cluster, found: str, cib: CibView, me: str, log) -> int | None:
    """DRBD's answer given here, or None (the script decides): a fenced peer -> the script's
    constraint, 7; a live peer -> the constraint, 4 (the peer is outdated)."""
    resource = fast_path_resource(opts, cluster, found, log)
    placed = cluster.place_fencing_constraint(resource, cib, me) if resource else ""
    if not placed:
        return None
    log(f"{resource}: placed constraint '{placed}' (peer {found})")
    return PEER_STONITHED if found == FENCED else PEER_OUTDATED


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


def _peer(opts: Options, cib: CibView, me: str) -> str:
    if opts.peer or os.environ.get("DRBD_PEER"):
        return opts.peer or os.environ["DRBD_PEER"]
    others = [n for n in cib.members() if n != me]
    return others[0] if len(others) == 1 else ""


def main(argv: list[str] | None = None, *, cluster: Cluster | None = None, execv=os.execv, log=_syslog) -> int:
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        log(f"{e}\n{USAGE}")
        return HANDLER_FAILED
    if not os.access(opts.handler[0], os.X_OK):
        log(f"handler {opts.handler[0]}: not an executable file")
        return HANDLER_FAILED
    resource = os.environ.get("DRBD_RESOURCE", "?")
    if cluster is None:
        cluster = Cluster(CommandRunner(Deadline(opts.timeout + 60)))
    cib, me = CibView(None), os.uname().nodename
    if not (opts.peer or os.environ.get("DRBD_PEER")):  # DRBD names the peer: no command before the wait
        log(f"{resource}: DRBD names no peer (DRBD_PEER): reading the CIB to find it")
        try:
            cib = cluster.cib()
            me = cluster.local_node(cib)
        except Exception as e:  # noqa: BLE001 - never worse than the handler alone: hand over
            log(f"{resource}: cannot ask the cluster ({type(e).__name__}: {e})")
            me = ""
    peer = _peer(opts, cib, me)
    if not node_name_ok(peer):
        log(f"{resource}: cannot tell which node is the peer; handing over at once")
    else:
        log(f"{resource}: lost the connection to {peer}; waiting until it is fenced or answers")
        try:
            early = None
            if opts.fence_after:  # the constraint's write runs beside this handler's own fencing
                resource = fast_path_resource(opts, cluster, FENCED, lambda m: None)

                def early(view: CibView) -> bool:
                    return bool(resource) and cluster.start_fencing_constraint(resource, view, me)

            found, cib = decide(opts, cluster, peer, log, early=early)
            if found != FENCED:
                cluster.withdraw_fencing_constraint()
            if found == ALIVE and opts.promotable and not cluster.promoted_here(opts.promotable, me):
                log(f"{opts.promotable} is not promoted here: letting {peer} place the constraint first "
                    f"({opts.loser_delay:g} s)")
                time.sleep(opts.loser_delay)
            else:
                code = answer_here(opts, cluster, found, cib, me, log)
                if code is not None:
                    return code
        except Exception as e:  # noqa: BLE001 - never worse than the handler alone: hand over
            log(f"{resource}: waiting failed ({type(e).__name__}: {e}); handing over at once")
    log(f"{resource}: running {' '.join(opts.handler)}")
    try:
        execv(opts.handler[0], opts.handler)
    except OSError as e:
        log(f"handler {opts.handler[0]}: {e}")
    return HANDLER_FAILED
