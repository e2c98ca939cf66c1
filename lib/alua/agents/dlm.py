"""ocf:alua:dlm: dlm_controld for shared LVM, its parameters and its actions.

The tool's output is parsed in alua.tools.dlm_tool, the kernel side read in
alua.tools.dlm_kernel; ``DlmService`` holds the actions on one node.
"""

from __future__ import annotations

import os
import time

from alua.host import proc
from alua.host.cluster import cluster_property
from alua.host.context import Context, host_agent, service_actions
from alua.host.proc import check_pidfile_path
from alua.host.run import REPORT_RESERVE_S, CommandTimeout
from alua.ocf import params
from alua.ocf.environment import is_true
from alua.ocf.errors import ConfigError, OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.tools.dlm_kernel import CONFFILE, DlmKernel, read_conf
from alua.tools.dlm_tool import TOOL, DlmStatus, DlmTool, parse_lockspace_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from alua.host.run import CommandRunner

SHORTDESC = "DLM lock manager (dlm_controld)"
LONGDESC = (
    "Runs dlm_controld, the DLM's cluster daemon, for lvmlockd and shared LVM on every node "
    "(a cloned group with ocf:alua:lvmlockd, ordered before the shared VG). Start mounts "
    "configfs and loads the dlm module when needed, refuses to run without fencing, and "
    "waits until dlm_tool reports the node joined and quorate. Monitor reads dlm_tool "
    "status -v and fails on stuck fencing and stateful merges. Stop refuses while "
    "lockspaces are in use and names them."
)

DAEMON = "dlm_controld"
PIDFILE = "/run/dlm_controld/dlm_controld.pid"  # compiled into dlm_controld (/var/run/dlm_controld)
LOGFILE = "/var/log/dlm_controld/dlm_controld.log"  # dlm_controld always logs errors here

# Options that keep dlm_controld in the foreground: start would wait on it for ever.
_FOREGROUND_OPTIONS = frozenset({"-D", "--daemon_debug", "--foreground"})
_EXIT_OPTIONS = frozenset({"-h", "--help", "-V", "--version"})
_FENCING_OPTIONS = frozenset({"-f", "--enable_fencing"})


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


class DlmParams(params.Params):
    args = params.structured(
        "Extra dlm_controld options",
        "Whitespace-separated options passed to dlm_controld (no shell, no quoting), e.g. "
        '"-s 0" (no startup fencing: Pacemaker already fences nodes it has not seen). Options '
        "that keep the daemon in the foreground or make it exit (-D, --foreground, -h, -V) are "
        "refused; disabling fencing (-f 0) needs allow_stonith_disabled.",
        parse=parse_daemon_args,
        default=("-s", "0"),
        default_text="-s 0",
    )
    allow_stonith_disabled = params.boolean(
        "Start even without fencing",
        "DLM without fencing can corrupt shared data: start refuses when the cluster property "
        "stonith-enabled is false, when /etc/dlm/dlm.conf sets enable_fencing=0 or when 'args' "
        "disables fencing, unless this is true (labs only).",
        default=False,
    )
    fencing_grace = params.integer(
        "Seconds a fencing wait may last",
        "After a node fails, DLM blocks its lockspaces until the node is fenced; that is expected "
        "while Pacemaker fences it. Monitor reports DLM as failed when a fencing wait has lasted "
        "this long (fencing is stuck); 0 fails on any fencing wait.",
        default=60,
        minimum=0,
        maximum=86400,
    )
    cleanup_lockspaces = params.structured(
        "Leftover lockspaces stop may leave",
        "Whitespace-separated lockspace names that stop may leave (dlm_tool leave) when no process "
        'holds them open any more, e.g. the global lockspace of a crashed lvmlockd; "none" for '
        "none. Any other lockspace makes stop refuse, naming it.",
        parse=parse_lockspace_names,
        default=("lvm_global",),
        default_text="lvm_global",
    )
    pidfile = params.string(
        "dlm_controld's pid file",
        "Where dlm_controld writes its pid (compiled in: /run/dlm_controld/dlm_controld.pid).",
        default=PIDFILE,
        check=check_pidfile_path,
    )


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


# --- the resource ------------------------------------------------------------------------


def _device_of(lockspace: str) -> Callable[[str], bool]:
    """Matches the path of a lockspace's misc device (/dev/misc/dlm_<name>) as /proc/*/fd shows it."""
    device = f"dlm_{lockspace}"
    return lambda path: os.path.basename(path) == device


class DlmService:
    """The actions of ocf:alua:dlm on one node."""

    POLL = 0.5
    RESERVE = REPORT_RESERVE_S
    PIDFILE_GRACE = 2.0

    def __init__(
        self, ctx: Context, *, kernel: DlmKernel | None = None, logfile: str = LOGFILE, conffile: str = CONFFILE
    ) -> None:
        self.ctx = ctx
        self.cfg = ctx.config_as(DlmParams)
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
                raise OcfError(f"{' '.join(argv)} exited {result.returncode}: {result.tail()}")
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
        elif not is_true(enabled):
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
                busy.append(f"{name} (dlm_tool leave failed: {result.tail()})")
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
    cfg = ctx.config_as(DlmParams)
    if args_disable_fencing(cfg.args) and not cfg.allow_stonith_disabled:
        raise ConfigError("args", "disables fencing (--enable_fencing 0) without allow_stonith_disabled=true")


AGENT = host_agent(
    name="dlm", shortdesc=SHORTDESC, longdesc=LONGDESC, params=DlmParams, validate=validate_config,
    actions=service_actions(DlmService, start=90, stop=100, validate=30),
)
