"""What alua-fence-peer asks Pacemaker and DRBD, each with a short timeout (it runs while I/O is frozen)."""

from __future__ import annotations

import os
import re
import time

from alua.host.run import Background, CommandRunner, CommandTimeout, Result, ToolNotFound
from alua.host.validate import check_node_name
from alua.tools.cib import CibView, fencing_constraint, fencing_constraint_id, promoted_nodes
from alua.tools.drbd.procfs import ProcMinor, parse_proc_drbd

RESOURCE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9._:-]{0,127}$")
CMAP_STATUS = re.compile(r"^runtime\.members\.(\d+)\.status \(str\) = (\w+)\s*$")
# Pacemaker's configuration on disk (its CRM_CONFIG_DIR on Debian, RHEL and SUSE), readable by root
CIB_ON_DISK = "/var/lib/pacemaker/cib/cib.xml"


def node_name_ok(name: str) -> bool:
    try:
        check_node_name(name)
    except ValueError:
        return False
    return True


def drbd_minor(proc_drbd: str, minor: str) -> ProcMinor | None:
    """One minor of /proc/drbd (DRBD 8.4), None when it is not configured."""
    entry = parse_proc_drbd(proc_drbd).minors.get(int(minor)) if minor.isdigit() else None
    return entry if entry is not None and entry.configured else None


class BackgroundProbe:
    """A command of the handler's running in the background (see Background); cancel() kills it."""

    def __init__(self, job: Background | None) -> None:
        self.job = job

    def finished(self) -> tuple[bool, Result | None]:
        """(False, None) while it runs; (True, its Result), or (True, None) when it could not be
        started or ran past its timeout."""
        if self.job is None:
            return True, None
        try:
            r = self.job.result()
        except CommandTimeout:
            return True, None
        return r is not None, r

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()


class ControllerProbe(BackgroundProbe):
    """``crmadmin --status PEER`` running in the background: answered() is None while it runs,
    then whether the peer's controller answered."""

    def answered(self) -> bool | None:
        done, r = self.finished()
        if not done:
            return None
        return r is not None and r.ok and ("(ok)" in r.stdout or ": ok" in r.stdout)


class MembershipProbe(BackgroundProbe):
    """Corosync's membership, asked in the background: it drops a dead node as soon as it re-forms
    (token + consensus), while the CIB shows the node until a DC records the loss, seconds later
    when the dead node was the DC. result(): None while it runs, then "member", "left" or
    "unknown" (no answer, or none that tells of the peer's node either way).

    With the peer's corosync node id: ``corosync-cmapctl -b runtime.members`` (each node's
    status, joined or left; 0.2 s in the lab's UML against 0.6 s for corosync-quorumtool, which
    resolves names).  Without it: ``corosync-quorumtool -l``, by name, and only if the list
    names this node (``local``): corosync lists addresses instead of names when its nodelist has
    none, and an absent name must not be taken for a node that left."""

    def __init__(self, job: Background | None, peer: str, node_id: str, local: str = "", *, cmap: bool = False) -> None:
        super().__init__(job)
        self.peer, self.node_id, self.cmap = peer, node_id, cmap
        self.local = local or os.uname().nodename

    def result(self) -> str | None:
        done, r = self.finished()
        if not done:
            return None
        lines = r.stdout.splitlines() if r is not None and r.ok else []
        if self.cmap:
            status = {m.group(1): m.group(2) for m in map(CMAP_STATUS.match, lines) if m}
            return {"joined": "member", "left": "left"}.get(status.get(self.node_id, ""), "unknown")
        ids, names = set(), set()
        for line in lines:
            words = line.split()
            if words and words[0].isdigit():  # "Nodeid Votes Name": one line per member
                ids.add(words[0])
                names.update(words[2:])
        if not ids or not (self.node_id or self.local in names):
            return "unknown"
        return "member" if self.peer in names or self.node_id in ids else "left"


class Cluster:
    """What the handler asks Pacemaker, each with a short timeout (it runs while I/O is frozen)."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self._constraint: Background | None = None  # crm-fence-peer.sh's constraint being written
        self._constraint_id = ""

    def _run(self, argv: list[str], timeout: float) -> Result | None:
        try:
            return self.runner.run(argv, timeout=timeout)
        except (CommandTimeout, ToolNotFound):
            return None

    def _out(self, argv: list[str], timeout: float) -> str | None:
        r = self._run(argv, timeout)
        return r.stdout if r is not None and r.ok else None

    def local_node(self, cib: CibView) -> str:
        """Pacemaker's name for this node: the host name when the CIB knows it (no command)."""
        name = os.uname().nodename
        if name in cib.members():
            return name
        return (self._out(["crm_node", "--name"], 5) or "").strip()

    def cib(self) -> CibView:
        """The whole local CIB in one call: node states, the DC, the resources."""
        return CibView.parse(self._out(["cibadmin", "--query", "--local"], 3))

    def cib_on_disk(self) -> CibView:
        """The configuration as Pacemaker last wrote it to this node's disk (no command: the
        resources and the cluster's properties, no status); empty when it cannot be read."""
        try:
            with open(CIB_ON_DISK, encoding="utf-8", errors="replace") as f:
                return CibView.parse(f.read())
        except OSError:
            return CibView(None)

    def ask_controller(self, peer: str, seconds: float) -> ControllerProbe:
        """Ask the peer's controller for its state, in the background (a dead peer's never answers)."""
        argv = ["crmadmin", "--timeout", f"{int(seconds * 1000)}ms", "--status", peer]
        try:
            return ControllerProbe(self.runner.start(argv, timeout=seconds + 2))
        except ToolNotFound:
            return ControllerProbe(None)

    def ask_membership(self, peer: str, node_id: str) -> MembershipProbe:
        """Ask corosync, in the background, whether the peer is still in its membership (by its
        node id when it is known, see MembershipProbe)."""
        cmap = node_id.isdigit()
        argv = ["corosync-cmapctl", "-b", "runtime.members"] if cmap else ["corosync-quorumtool", "-l"]
        try:
            return MembershipProbe(self.runner.start(argv, timeout=2), peer, node_id, cmap=cmap)
        except ToolNotFound:
            return MembershipProbe(None, peer, node_id, cmap=cmap)

    def fence(self, peer: str, seconds: float, action: str = "reboot") -> bool:
        """Pacemaker's fencer fences the peer with the cluster's own devices, with the cluster's
        stonith-action, so that a request of the cluster's own (or dlm_controld's) for the same
        node merges with this one, and one that succeeded in the last 5 s makes it a no-op."""
        r = self._run(["stonith_admin", "--fence" if action == "off" else "--reboot", peer,
                       "--timeout", str(max(1, int(seconds))), "--tolerance", "5", "--tag", "alua-fence-peer"],
                      seconds + 5)
        return r is not None and r.ok

    def drbd_minor(self, minor: str) -> ProcMinor | None:
        try:
            with open("/proc/drbd", encoding="ascii", errors="replace") as f:
                return drbd_minor(f.read(), minor)
        except OSError:
            return None

    def start_fencing_constraint(self, resource: str, cib: CibView, me: str) -> bool:
        """Start writing crm-fence-peer.sh's constraint (one cibadmin call) in the background: while
        the cluster has no DC (the dead peer was it) the write waits for the new one, so written
        during the fencing it is done when the fencing is. False when not started."""
        master_id = cib.promotable_of(resource)
        if self._constraint is not None or not RESOURCE_ID.match(master_id) or not node_name_ok(me):
            return False
        try:
            self._constraint = self.runner.start(["cibadmin", "--create", "--scope", "constraints", "--xml-text",
                                                  fencing_constraint(resource, master_id, me)], timeout=10)
        except ToolNotFound:
            return False
        self._constraint_id = fencing_constraint_id(resource, master_id)
        return True

    def constraint_placed(self, poll: float = 0.02) -> str:
        """Wait for the constraint's write: its id, '' when it was not placed (or not started)."""
        while self._constraint is not None:
            try:
                r = self._constraint.result()
            except CommandTimeout:
                return ""
            if r is not None:
                return self._constraint_id if r.ok else ""
            time.sleep(poll)
        return ""

    def place_fencing_constraint(self, resource: str, cib: CibView, me: str) -> str:
        """The constraint, placed (or its write started earlier, waited for); its id, '' if not placed."""
        self.start_fencing_constraint(resource, cib, me)
        return self.constraint_placed()

    def withdraw_fencing_constraint(self) -> None:
        """Remove a constraint written during a fencing that did not happen: what to do is decided again."""
        placed = self.constraint_placed()
        if placed:
            self._run(["cibadmin", "--delete", "--scope", "constraints", "--xml-text",
                       f'<rsc_location id="{placed}"/>'], 10)
        self._constraint, self._constraint_id = None, ""

    def promoted_here(self, clone: str, me: str) -> bool:
        return me in promoted_nodes(self._out(["crm_resource", "--resource", clone, "--locate"], 5) or "")
