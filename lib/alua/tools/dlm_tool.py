"""dlm_tool: its two outputs parsed, one function each, and the calls the agent makes.

``dlm_tool status -v`` prints the daemon's own ``key=value`` records (one
section per node), ``dlm_tool ls`` the lockspaces.  Nothing else reads the
tool's output.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.host.run import CommandRunner, Result

TOOL = "dlm_tool"
LOCKSPACE_NAME_MAX = 64  # DLM_LOCKSPACE_LEN


def _int(value: str | None, default: int = 0) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return default


# --- dlm_tool status -v ------------------------------------------------------------------


class DlmNode:
    """One node as dlm_controld's daemon membership sees it (a ``nodeid N`` section)."""

    __slots__ = ("nodeid", "values")

    def __init__(self, nodeid: int, values: dict[str, str]) -> None:
        self.nodeid = nodeid
        self.values = values

    def flag(self, key: str) -> bool:
        return _int(self.values.get(key)) != 0

    @property
    def member(self) -> bool:
        return self.flag("member")

    @property
    def needs_fencing(self) -> bool:
        return self.flag("need_fencing")


class DlmStatus:
    """What ``dlm_tool status -v`` reported; ``answering`` is False when the daemon did not."""

    __slots__ = ("answering", "detail", "our_nodeid", "daemon", "nodes", "startup_nodes")

    def __init__(self) -> None:
        self.answering = False
        self.detail = ""
        self.our_nodeid = 0
        self.daemon: dict[str, str] = {}
        self.nodes: dict[int, DlmNode] = {}
        self.startup_nodes: list[int] = []

    def value(self, key: str) -> int:
        return _int(self.daemon.get(key))

    def not_ready(self) -> str | None:
        """Why the daemon is not (yet) a working member of the cluster, or None when it is."""
        if not self.answering:
            return self.detail or "dlm_controld does not answer"
        if self.our_nodeid <= 0:
            return "dlm_controld has no node id yet (not joined to corosync)"
        if self.value("quorate") != 1:
            return "the cluster has no quorum"
        daemon_ring, cluster_ring = self.value("daemon_ringid"), self.value("cluster_ringid")
        if daemon_ring == 0 or daemon_ring != cluster_ring:
            return f"joining: daemon ring seq {daemon_ring}, cluster ring seq {cluster_ring}"
        me = self.nodes.get(self.our_nodeid)
        if self.nodes and (me is None or not me.member):
            return f"node {self.our_nodeid} is not yet a member of the daemon group"
        return None

    def fencing_waits(self) -> list[tuple[DlmNode, float | None]]:
        """Nodes DLM waits to see fenced, each with how long it has waited (None: unknown)."""
        now_mono = self.value("monotime")
        waits = []
        for nodeid in sorted(self.nodes):
            node = self.nodes[nodeid]
            if not node.needs_fencing:
                continue
            failed_mono = _int(node.values.get("fail_monotime"))
            failed_wall = _int(node.values.get("fail_walltime"))
            age: float | None = None
            if now_mono and failed_mono and now_mono >= failed_mono:
                age = float(now_mono - failed_mono)
            elif failed_wall:
                age = max(time.time() - failed_wall, 0.0)
            waits.append((node, age))
        return waits

    def assess(self, fencing_grace: int) -> tuple[list[str], list[str]]:
        """(failures, warnings) a monitor reports; a fencing wait fails only past the grace."""
        failures: list[str] = []
        warnings: list[str] = []
        if self.value("stateful_merge_wait"):
            killed = [str(n.nodeid) for n in self.nodes.values() if n.flag("killed")]
            detail = f" (killed: node {', '.join(killed)})" if killed else ""
            failures.append(
                "dlm_controld waits for a stateful merge to clear: a partition rejoined with old DLM "
                f"state and its nodes must be restarted before fencing and recovery go on{detail}"
            )
        for node, age in self.fencing_waits():
            text = describe_fence_wait(node, age)
            if age is None or age >= fencing_grace:
                failures.append(f"{text}, longer than fencing_grace={fencing_grace}s: fencing is stuck")
            else:
                warnings.append(text)
        if self.value("zombie_count"):
            warnings.append(f"{self.value('zombie_count')} fence agent process(es) left behind")
        why = self.not_ready()
        if why is not None:
            warnings.append(why)
        return failures, warnings


def describe_fence_wait(node: DlmNode, age: float | None) -> str:
    reason = node.values.get("left_reason", "unknown")
    parts = [f"DLM waits for fencing of node {node.nodeid} ({reason}"]
    if age is not None:
        parts.append(f", {age:.0f}s ago")
    if node.flag("delay_fencing"):
        parts.append(", fencing delayed")
    elif _int(node.values.get("fence_pid")):
        parts.append(f", fence agent pid {node.values['fence_pid']}")
    parts.append(")")
    return "".join(parts)


def parse_status(text: str) -> DlmStatus:
    """Parse ``dlm_tool status -v``.

    The daemon's section starts with ``our_nodeid N``, each node's with
    ``nodeid N``; their ``key=value`` lines are indented.  ``dlm_tool`` exits
    0 even when it cannot reach the daemon and says so in one line instead.
    """
    status = DlmStatus()
    section: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if raw[0] in " \t":
            key, sep, value = line.partition("=")
            if sep and section is not None:
                section[key] = value
            continue
        words = line.split()
        if words[0] == "our_nodeid" and len(words) == 2:
            status.our_nodeid = _int(words[1])
            status.answering = True
            section = status.daemon
        elif words[0] == "nodeid" and len(words) == 2 and words[1].isdigit():
            node = DlmNode(int(words[1]), {})
            status.nodes[node.nodeid] = node
            section = node.values
        elif words[:2] == ["startup", "node"] and len(words) == 3 and words[2].isdigit():
            status.startup_nodes.append(int(words[2]))
            section = None
        elif line.startswith("cannot "):  # "cannot connect to dlm_controld", "cannot send to ..."
            status.answering = False
            status.detail = line
            return status
        else:
            section = None
    if not status.answering and not status.detail:
        status.detail = "dlm_tool status printed nothing the agent understands"
    return status


# --- dlm_tool ls -------------------------------------------------------------------------


class Lockspace:
    """One lockspace from ``dlm_tool ls``."""

    __slots__ = ("name", "fields")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, str] = {}

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(int(w) for w in self.fields.get("members", "").split() if w.isdigit())

    @property
    def waiting_for(self) -> str | None:
        """What a pending membership change waits for ("fencing", "quorum", ...), or None."""
        status = self.fields.get("new status", "")
        if status.startswith("wait "):
            return status[5:]
        return None


def parse_lockspaces(text: str) -> list[Lockspace]:
    """Parse ``dlm_tool ls``: blocks of ``key<two or more spaces>value`` lines, one per lockspace."""
    spaces: list[Lockspace] = []
    current: Lockspace | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        gap = line.find("  ")
        if gap <= 0:
            continue  # "dlm lockspaces", blank separators, anything unknown
        key, value = line[:gap], line[gap:].strip()
        if key == "name":
            current = Lockspace(value)
            spaces.append(current)
        elif current is not None:
            current.fields[key] = value
    return spaces


def check_lockspace_name(name: str) -> None:
    if not name or len(name) > LOCKSPACE_NAME_MAX:
        raise ValueError(f"has lockspace name {name!r}, not 1 to {LOCKSPACE_NAME_MAX} characters")
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-"))})
    if bad or name.startswith("-"):
        raise ValueError(f"has lockspace name {name!r} with characters a lockspace name cannot have")


def parse_lockspace_names(raw: str) -> tuple[str, ...]:
    """Whitespace-separated lockspace names; the single word "none" means no lockspace."""
    names = tuple(raw.split())
    if names == ("none",):
        return ()
    for name in names:
        check_lockspace_name(name)
    return names


# --- dlm_tool ----------------------------------------------------------------------------


class DlmTool:
    """dlm_tool through the runner: argv lists, each call bounded within the action's time."""

    def __init__(self, runner: CommandRunner) -> None:
        self._runner = runner

    def _run(self, argv: list[str], timeout: float | None) -> Result:
        return self._runner.run(argv, timeout=timeout)

    def status(self, timeout: float | None = None) -> DlmStatus:
        result = self._run([TOOL, "status", "-v"], timeout)
        if not result.ok:
            status = DlmStatus()
            status.detail = f"dlm_tool status -v exited {result.returncode}: {result.tail()}"
            return status
        return parse_status(result.stdout)

    def lockspaces(self, timeout: float | None = None) -> list[Lockspace] | None:
        """The daemon's lockspaces, or None when dlm_tool ls fails (it exits 1 without a daemon)."""
        result = self._run([TOOL, "ls"], timeout)
        if not result.ok:
            return None
        return parse_lockspaces(result.stdout)

    def leave(self, name: str) -> Result:
        return self._run([TOOL, "leave", name], None)
