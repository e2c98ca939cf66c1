"""The DLM as the lock group sees it: dlm_controld, dlm_tool and the kernel pieces.

State comes from the tool's structured output: ``dlm_tool status -v`` prints
the daemon's own ``key=value`` records (one section per node), ``dlm_tool ls``
the lockspaces.  Both are parsed here, in one function each; nothing else
reads tool output.  The kernel side (configfs, the dlm module, lockspaces
left in /sys/kernel/dlm) is read from sysfs and procfs.

``DlmService`` holds the actions of ocf:alua:dlm.
"""

from __future__ import annotations

import os
import time

from alua.host import proc
from alua.host.cluster import cluster_property
from alua.ocf.errors import ConfigError, NotInstalledError, OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.host.run import REPORT_RESERVE_S, CommandTimeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from alua.ocf.agent import Context
    from alua.ocf.log import Logger
    from alua.ocf.params import Params
    from alua.host.run import CommandRunner, Result

DAEMON = "dlm_controld"
TOOL = "dlm_tool"
PIDFILE = "/run/dlm_controld/dlm_controld.pid"  # compiled into dlm_controld (/var/run/dlm_controld)
LOGFILE = "/var/log/dlm_controld/dlm_controld.log"  # dlm_controld always logs errors here
CONFFILE = "/etc/dlm/dlm.conf"
CONFIGFS = "/sys/kernel/config"
KERNEL_LOCKSPACES = "/sys/kernel/dlm"
MODULES = "/sys/module"
MOUNTS = "/proc/self/mounts"
LOCKSPACE_NAME_MAX = 64  # DLM_LOCKSPACE_LEN

# Options that keep dlm_controld in the foreground: start would wait on it for ever.
_FOREGROUND_OPTIONS = frozenset({"-D", "--daemon_debug", "--foreground"})
_EXIT_OPTIONS = frozenset({"-h", "--help", "-V", "--version"})
_FENCING_OPTIONS = frozenset({"-f", "--enable_fencing"})
_TRUE = frozenset({"true", "yes", "on", "1", "y"})


def _int(value: str | None, default: int = 0) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def _tail(result: Result) -> str:
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


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


# --- configuration ----------------------------------------------------------------------


def parse_daemon_args(raw: str) -> tuple[str, ...]:
    """The ``args`` parameter: whitespace-separated dlm_controld options (no shell, no quoting)."""
    words = tuple(raw.split())
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        name, _, inline = word.partition("=")
        if name in _EXIT_OPTIONS:
            raise ValueError(f"contains {word}, which makes dlm_controld exit instead of running")
        if name in _FOREGROUND_OPTIONS and (inline or following) != "0":
            raise ValueError(
                f"contains {word}: the agent starts dlm_controld in the background and waits for it, "
                "a foreground or debug daemon would block start"
            )
    return words


def args_disable_fencing(args: Sequence[str]) -> bool:
    for i, word in enumerate(args):
        name, sep, inline = word.partition("=")
        if name in _FENCING_OPTIONS:
            value = inline if sep else (args[i + 1] if i + 1 < len(args) else "")
            if value == "0":
                return True
    return False


def read_conf(path: str = CONFFILE) -> dict[str, str]:
    """dlm.conf's ``key=value`` settings (comments and sections ignored)."""
    settings: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                key, sep, value = line.partition("=")
                if sep and key.strip() and " " not in key.strip():
                    settings[key.strip()] = value.strip()
    except OSError:
        pass
    return settings


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


def log_lines_since(path: str, offset: int) -> list[str]:
    """Lines a daemon appended to its log file after ``offset`` bytes."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            return [line.rstrip("\n") for line in f.read(65536).splitlines() if line.strip()]
    except OSError:
        return []


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# --- kernel ------------------------------------------------------------------------------


class DlmKernel:
    """configfs, the dlm module and the lockspaces the kernel holds (sysfs/procfs, no tools)."""

    def __init__(
        self,
        *,
        configfs: str = CONFIGFS,
        lockspace_dir: str = KERNEL_LOCKSPACES,
        modules: str = MODULES,
        mounts: str = MOUNTS,
    ) -> None:
        self.configfs = configfs
        self.lockspace_dir = lockspace_dir
        self.modules = modules
        self.mounts = mounts

    def configfs_mounted(self) -> bool:
        try:
            with open(self.mounts, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split()
                    if len(fields) >= 3 and fields[2] == "configfs" and fields[1] == self.configfs:
                        return True
        except OSError:
            pass
        return False

    def dlm_loaded(self) -> bool:
        return os.path.isdir(os.path.join(self.configfs, "dlm")) or os.path.isdir(os.path.join(self.modules, "dlm"))

    def lockspaces(self) -> list[str]:
        """Lockspaces the kernel still holds (/sys/kernel/dlm/<name>), with or without a daemon."""
        try:
            names = os.listdir(self.lockspace_dir)
        except OSError:
            return []
        return sorted(n for n in names if os.path.isdir(os.path.join(self.lockspace_dir, n)))

    def prepare(self, runner: CommandRunner, log: Logger, timeout: float | None = None) -> None:
        """Mount configfs and load the dlm module when they are missing."""
        if not self.configfs_mounted():
            if not os.path.isdir(self.configfs):
                result = runner.run(["modprobe", "configfs"], timeout=timeout)
                if not result.ok:
                    raise NotInstalledError(f"configfs is not available: modprobe configfs: {_tail(result)}")
            result = runner.run(["mount", "-t", "configfs", "configfs", self.configfs], timeout=timeout)
            if not result.ok:
                raise NotInstalledError(f"cannot mount configfs on {self.configfs}: {_tail(result)}")
            log.info(f"mounted configfs on {self.configfs}")
        if not self.dlm_loaded():
            result = runner.run(["modprobe", "dlm"], timeout=timeout)
            if not result.ok:
                raise NotInstalledError(f"the dlm kernel module cannot be loaded: {_tail(result)}")
            log.info("loaded the dlm kernel module")


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
            status.detail = f"dlm_tool status -v exited {result.returncode}: {_tail(result)}"
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


# --- the resource ------------------------------------------------------------------------


def _device_of(lockspace: str) -> Callable[[str], bool]:
    """Matches the path of a lockspace's misc device (/dev/misc/dlm_<name>) as /proc/*/fd shows it."""
    device = f"dlm_{lockspace}"
    return lambda path: os.path.basename(path) == device


class DlmConfig:
    """The parameters of ocf:alua:dlm (declared in the agent) as this module reads them."""

    __slots__ = ("args", "allow_stonith_disabled", "fencing_grace", "cleanup_lockspaces", "pidfile")

    def __init__(self, params: Params) -> None:
        values: Any = params
        self.args: tuple[str, ...] = values.args
        self.allow_stonith_disabled: bool = values.allow_stonith_disabled
        self.fencing_grace: int = values.fencing_grace
        self.cleanup_lockspaces: tuple[str, ...] = values.cleanup_lockspaces
        self.pidfile: str = values.pidfile


class DlmService:
    """The actions of ocf:alua:dlm on one node."""

    POLL = 0.5
    RESERVE = REPORT_RESERVE_S
    PIDFILE_GRACE = 2.0

    def __init__(
        self, ctx: Context, *, kernel: DlmKernel | None = None, logfile: str = LOGFILE, conffile: str = CONFFILE
    ) -> None:
        self.ctx = ctx
        self.cfg = DlmConfig(ctx.config)
        self.log = ctx.log
        self.daemon = proc.Daemon(DAEMON, self.cfg.pidfile)
        self.kernel = kernel or DlmKernel()
        self.logfile = logfile
        self.conffile = conffile

    @property
    def runner(self) -> CommandRunner:
        return self.ctx.runner

    @property
    def tool(self) -> DlmTool:
        return DlmTool(self.ctx.runner)

    # start ---------------------------------------------------------------------------

    def start(self) -> ExitStatus:
        self.runner.require(DAEMON, TOOL)
        pid = self.daemon.pid()
        log_offset = file_size(self.logfile)
        if pid is None:
            leftovers = self.kernel.lockspaces()
            if leftovers:
                raise OcfError(
                    f"the kernel still holds DLM lockspaces from an earlier dlm_controld "
                    f"({', '.join(leftovers)}); dlm_controld refuses to run over uncontrolled lockspaces: "
                    "reboot this node before starting DLM here"
                )
            self.check_fencing()
            self.check_quorum_policy()
            self.kernel.prepare(self.runner, self.log, None)
            argv = [DAEMON, *self.cfg.args]
            result = self.runner.run(argv, timeout=None)
            if not result.ok:
                raise OcfError(f"{' '.join(argv)} exited {result.returncode}: {_tail(result)}")
            self.log.info(f"started {' '.join(argv)}")
        else:
            self.log.info(f"{DAEMON} already runs (pid {pid})")
        return self._wait_ready(log_offset)

    def _wait_ready(self, log_offset: int) -> ExitStatus:
        """Poll dlm_tool status until the node is joined and quorate, within the action's time."""
        deadline = self.ctx.deadline
        began = time.monotonic()
        while True:
            pid = self.daemon.pid()
            if pid is not None:
                status = self.tool.status()
                why = status.not_ready()
                if why is None:
                    if status.value("fence_in_progress_unknown"):
                        self.log.info("lockspaces will wait until DLM knows of no pending fencing")
                    self.log.info(f"{DAEMON} (pid {pid}) is ready: node {status.our_nodeid}, quorate")
                    return ExitStatus.OK
            elif time.monotonic() - began > self.PIDFILE_GRACE:
                # The daemon writes its pid file a moment after the launcher returns; not this late.
                raise OcfError(f"{DAEMON} exited during start{self._log_detail(log_offset)}")
            else:
                why = "no pid file yet"
            if deadline.remaining() < self.RESERVE + self.POLL:
                raise OcfError(f"{DAEMON} not ready after {time.monotonic() - began:.0f}s: {why}")
            time.sleep(self.POLL)

    def _log_detail(self, offset: int) -> str:
        lines = log_lines_since(self.logfile, offset)
        if lines:
            return f": {lines[-1]} (see {self.logfile})"
        return f" (see {self.logfile} and the system log)"

    def check_fencing(self) -> None:
        """Refuse (6) DLM without fencing unless allow_stonith_disabled says it is wanted."""
        reasons = []
        enabled = cluster_property(self.runner, "stonith-enabled", "true", 10.0)
        if enabled is None:
            self.log.warning("cannot read the cluster property stonith-enabled: fencing not verified")
        elif enabled.lower() not in _TRUE:
            reasons.append(f"the cluster property stonith-enabled is {enabled}")
        if read_conf(self.conffile).get("enable_fencing") == "0":
            reasons.append(f"{self.conffile} sets enable_fencing=0")
        if args_disable_fencing(self.cfg.args):
            reasons.append("parameter 'args' disables fencing")
        if not reasons:
            return
        text = "; ".join(reasons)
        if self.cfg.allow_stonith_disabled:
            self.log.warning(f"DLM runs without fencing ({text}): allowed by allow_stonith_disabled")
            return
        raise OcfError(
            f"DLM without fencing can corrupt shared data: {text} (set allow_stonith_disabled=true "
            "only where that is acceptable, e.g. a lab)",
            ExitStatus.NOT_CONFIGURED,
        )

    def check_quorum_policy(self) -> None:
        policy = cluster_property(self.runner, "no-quorum-policy", "stop", 10.0)
        if policy is not None and policy != "freeze":
            self.log.warning(
                f"no-quorum-policy is {policy}; with DLM it should be freeze (a partition without quorum "
                "must keep its locks frozen, not stop and recover resources)"
            )

    # monitor -------------------------------------------------------------------------

    def monitor(self) -> ExitStatus:
        pid = self.daemon.pid()
        if pid is None:
            if self.ctx.env.is_probe:
                return ExitStatus.NOT_RUNNING
            leftovers = self.kernel.lockspaces()
            extra = f"; the kernel still holds lockspaces {', '.join(leftovers)}" if leftovers else ""
            raise OcfError(f"{DAEMON} is not running{extra}", ExitStatus.NOT_RUNNING)
        status = self.tool.status()
        if not status.answering:
            raise OcfError(f"{DAEMON} (pid {pid}) does not answer: {status.detail}")
        failures, warnings = status.assess(self.cfg.fencing_grace)
        if self.ctx.env.is_probe:
            # A probe asks what runs here; recovering DLM from a probe would only fence this node too.
            warnings, failures = warnings + failures, []
        for text in warnings:
            self.log.warning(text)
        if failures:
            raise OcfError("; ".join(failures + self._blocked_lockspaces(status)))
        return ExitStatus.OK

    def _blocked_lockspaces(self, status: DlmStatus) -> list[str]:
        if not status.fencing_waits():
            return []
        spaces = self.tool.lockspaces() or []
        blocked = [ls.name for ls in spaces if ls.waiting_for == "fencing"]
        return [f"lockspaces waiting: {', '.join(blocked)}"] if blocked else []

    # stop ----------------------------------------------------------------------------

    def stop(self) -> ExitStatus:
        pid = self.daemon.pid()
        if pid is None:
            leftovers = self.kernel.lockspaces()
            if leftovers:
                self.log.warning(
                    f"{DAEMON} is not running but the kernel holds lockspaces {', '.join(leftovers)}; "
                    "DLM cannot start here again before a reboot"
                )
            return ExitStatus.OK
        try:
            spaces = self.tool.lockspaces(timeout=max(self.ctx.deadline.remaining() / 3, 0.5))
        except CommandTimeout as e:
            self.log.warning(f"{e.reason}; reading the lockspaces from the kernel instead")
            spaces = None
        # Without an answer from the daemon the kernel's own list decides.
        names = [ls.name for ls in spaces] if spaces is not None else self.kernel.lockspaces()
        busy = self._leave_leftovers(names)
        if busy:
            raise OcfError(
                f"DLM lockspaces still in use: {', '.join(busy)}; stop their users first "
                "(the lvmlockd resource must stop before DLM)"
            )
        self.daemon.stop(pid, self.ctx.deadline, self.log, reserve=self.RESERVE)
        return ExitStatus.OK

    def _leave_leftovers(self, names: Iterable[str]) -> list[str]:
        """Leave the lockspaces cleanup_lockspaces allows when no process holds them open.

        Returns the lockspaces that stay, each with why.
        """
        allowed = set(self.cfg.cleanup_lockspaces)
        busy = []
        for name in names:
            if name not in allowed:
                busy.append(name)
                continue
            holders = proc.open_file_holders(_device_of(name))
            if holders:
                busy.append(f"{name} (open by pid {', '.join(str(p) for p in sorted(holders))})")
                continue
            result = self.tool.leave(name)
            if not result.ok:
                busy.append(f"{name} (dlm_tool leave failed: {_tail(result)})")
                continue
            self.log.info(f"left lockspace {name}, which no process used any more")
        return busy

    # validate-all --------------------------------------------------------------------

    def validate(self) -> ExitStatus:
        self.runner.require(DAEMON, TOOL)
        self.check_fencing()
        return ExitStatus.OK


def validate_config(ctx: Context) -> None:
    """Cross-parameter rules: args may only disable fencing with allow_stonith_disabled; not a
    globally-unique clone."""
    proc.refuse_globally_unique(ctx.env.raw, DAEMON)
    cfg = DlmConfig(ctx.config)
    if args_disable_fencing(cfg.args) and not cfg.allow_stonith_disabled:
        raise ConfigError("args", "disables fencing (--enable_fencing 0) without allow_stonith_disabled=true")
