"""ocf:alua:lvmlockd: the LVM lock daemon on DLM, its parameters and its actions.

lvmlockctl's output is parsed in alua.tools.lvmlockctl; ``LvmLockdService``
holds the actions on one node.
"""

from __future__ import annotations

import signal
import time

from alua.host import proc
from alua.host.context import Context, host_agent, service_actions
from alua.host.proc import check_pidfile_path
from alua.host.run import REPORT_RESERVE_S, CommandTimeout
from alua.ocf import params
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.tools.lvmlockctl import CTL, LockdInfo, LockdLockspace, LockResource, LvmLockCtl, active_lv_names

SHORTDESC = "LVM lock daemon (lvmlockd) on DLM"
LONGDESC = (
    "Runs lvmlockd with the dlm lock manager, for shared VGs (vgcreate --shared) on every "
    "node: a cloned group after ocf:alua:dlm, ordered before the shared VG. Start requires "
    "use_lvmlockd=1 in LVM's configuration (it reports, never edits lvm.conf) and waits "
    "until lvmlockctl answers. Stop refuses while shared LVs are active (naming them), "
    "stops the lockspaces, then the daemon."
)

DAEMON = "lvmlockd"
LVMCONFIG = "lvmconfig"  # alua.tools.lvm reads global/use_lvmlockd with it
PIDFILE = "/run/lvmlockd.pid"
SYSLOG_PRIORITIES = ("err", "warning", "debug")


class LvmLockdParams(params.Params):
    adopt = params.boolean(
        "Adopt locks of a previous lvmlockd",
        "Start lvmlockd with --adopt 1, so that after a crash it takes over the locks its "
        "predecessor left in DLM (kept in /run/lvm/lvmlockd.adopt) instead of losing them.",
        default=True,
    )
    syslog_priority = params.choice(
        "lvmlockd's syslog level",
        "The lowest priority lvmlockd writes to syslog (--syslog-priority).",
        choices=SYSLOG_PRIORITIES,
        default="warning",
    )
    pidfile = params.string(
        "lvmlockd's pid file",
        "Passed to lvmlockd as --pid-file and read by monitor and stop.",
        default=PIDFILE,
        check=check_pidfile_path,
    )


class LvmLockdService:
    """The actions of ocf:alua:lvmlockd on one node."""

    POLL = 0.3
    RESERVE = REPORT_RESERVE_S

    def __init__(self, ctx: Context, *, sys_block: str | None = None) -> None:
        self.ctx = ctx
        self.cfg = ctx.config_as(LvmLockdParams)
        self.log = ctx.log
        self.daemon = proc.Daemon(DAEMON, self.cfg.pidfile)
        self.sys_block = sys_block

    @property
    def ctl(self) -> LvmLockCtl:
        return LvmLockCtl(self.ctx.runner)

    def require_use_lvmlockd(self) -> None:
        from alua.tools import lvm

        if not lvm.use_lvmlockd(self.ctx.runner):
            raise OcfError(
                "LVM is not configured for lvmlockd: set global/use_lvmlockd = 1 in /etc/lvm/lvm.conf on "
                "every node (this agent reports it and never edits lvm.conf)",
                ExitStatus.NOT_CONFIGURED,
            )

    # start ---------------------------------------------------------------------------

    def start(self) -> ExitStatus:
        self.ctx.runner.require(DAEMON, CTL, LVMCONFIG)
        self.require_use_lvmlockd()
        pid = self.daemon.pid()
        if pid is None:
            if not proc.pids_named("dlm_controld"):
                self.log.warning("dlm_controld is not running: shared VGs cannot start their lockspaces yet")
            argv = [
                DAEMON,
                "--pid-file",
                self.cfg.pidfile,
                "--gl-type",
                "dlm",
                "--adopt",
                "1" if self.cfg.adopt else "0",
                "--syslog-priority",
                self.cfg.syslog_priority,
            ]
            result = self.ctx.runner.run(argv, timeout=None)
            if not result.ok:
                raise OcfError(f"{' '.join(argv)} exited {result.returncode}: {result.tail()}")
            self.log.info(f"started {' '.join(argv)}")
        else:
            self.log.info(f"{DAEMON} already runs (pid {pid})")
        return self._wait_answering()

    def _wait_answering(self) -> ExitStatus:
        deadline = self.ctx.deadline
        began = time.monotonic()
        while True:
            pid = self.daemon.pid()
            if pid is None and time.monotonic() - began > 1.0:
                raise OcfError(f"{DAEMON} exited during start (see the system log)")
            why = "not running yet"
            if pid is not None:
                info, why = self.ctl.info()
                if info is not None:
                    self.log.info(f"{DAEMON} (pid {pid}) answers")
                    return ExitStatus.OK
            if deadline.remaining() < self.RESERVE + self.POLL:
                raise OcfError(f"{DAEMON} does not answer after {time.monotonic() - began:.0f}s: {why}")
            time.sleep(self.POLL)

    # monitor -------------------------------------------------------------------------

    def monitor(self) -> ExitStatus:
        pid = self.daemon.pid()
        if pid is None:
            if self.ctx.env.is_probe:
                return ExitStatus.NOT_RUNNING
            raise OcfError(f"{DAEMON} is not running", ExitStatus.NOT_RUNNING)
        info, why = self.ctl.info()
        if info is None:
            raise OcfError(f"{DAEMON} (pid {pid}) does not answer: {why}")
        killed = [ls.vg_name or ls.name for ls in info.lockspaces if ls.killed]
        if killed:
            problem = f"lvmlockd lost the locks of VG {', '.join(killed)} (kill_vg): deactivate it"
            if not self.ctx.env.is_probe:
                raise OcfError(problem)
            self.log.warning(problem)
        return ExitStatus.OK

    # stop ----------------------------------------------------------------------------

    def stop(self) -> ExitStatus:
        pid = self.daemon.pid()
        if pid is None:
            return ExitStatus.OK
        deadline = self.ctx.deadline
        info, why = self.ctl.info(timeout=max(deadline.remaining() / 3, 1.0))
        if info is None:
            # Without lock state we cannot tell whether LVs are active: only a clean exit is safe.
            self.log.warning(f"{DAEMON} (pid {pid}) does not answer ({why}); asking it to exit")
            asked = self.daemon.send(pid, signal.SIGTERM)
            if not asked or self.daemon.wait_gone(pid, max(deadline.remaining() - self.RESERVE, 0.0)):
                return ExitStatus.OK
            raise OcfError(
                f"{DAEMON} (pid {pid}) does not answer ({why}) and does not exit; not killed, it may hold LV locks"
            )
        active = info.active_lvs()
        if active:
            raise OcfError(
                f"shared LVs still active: {self._describe(active)}; deactivate them first "
                "(the shared VG resource must stop before lvmlockd)"
            )
        if info.lockspaces:
            self._stop_lockspaces(info)
        self.daemon.stop(pid, deadline, self.log, reserve=self.RESERVE)
        return ExitStatus.OK

    def _stop_lockspaces(self, info: LockdInfo) -> None:
        """lvmlockctl --stop-lockspaces, then wait until lvmlockd has freed them all.

        This phase gets 60% of the time left; stopping the daemon needs the rest.
        """
        deadline = self.ctx.deadline
        phase_end = time.monotonic() + max(deadline.remaining() - self.RESERVE, 0.0) * 0.6
        names = ", ".join(ls.name for ls in info.lockspaces)
        problem = ""
        if info.running_lockspaces():  # else only REM: ones, already stopping
            try:
                result = self.ctl.stop_lockspaces(timeout=max(phase_end - time.monotonic(), 0.5))
                if not result.ok:
                    problem = f"lvmlockctl --stop-lockspaces exited {result.returncode}: {result.tail()}"
            except CommandTimeout as e:
                problem = e.reason
        # Stopped lockspaces linger as REM:<name> until lvmlockd frees them; it ignores SIGTERM till then.
        while True:
            left, why = self.ctl.info(timeout=max(phase_end - time.monotonic(), 0.5))
            if left is not None and not left.lockspaces:
                self.log.info(f"stopped lockspaces {names}")
                return
            if time.monotonic() + self.POLL >= phase_end:
                remaining = ", ".join(ls.name for ls in left.lockspaces) if left is not None else why
                detail = f" ({problem})" if problem else ""
                raise OcfError(f"lvmlockd lockspaces did not stop: {remaining}{detail}")
            time.sleep(self.POLL)

    def _describe(self, active: list[tuple[LockdLockspace, LockResource]]) -> str:
        names = active_lv_names([r.name for _, r in active], self.sys_block)
        parts = []
        for ls, r in active:
            name = names.get(r.name) or f"LV {r.name} in VG {ls.vg_name or ls.name}"
            parts.append(f"{name} ({r.held_mode})")
        return ", ".join(parts)

    # validate-all --------------------------------------------------------------------

    def validate(self) -> ExitStatus:
        self.ctx.runner.require(DAEMON, CTL, LVMCONFIG)
        self.require_use_lvmlockd()
        return ExitStatus.OK


def validate_config(ctx: Context) -> None:
    """Checks that need no tool: lvmlockd runs once per node."""
    proc.refuse_globally_unique(ctx.env.raw, DAEMON)


AGENT = host_agent(
    name="lvmlockd", shortdesc=SHORTDESC, longdesc=LONGDESC, params=LvmLockdParams, validate=validate_config,
    actions=service_actions(LvmLockdService, start=90, stop=90, validate=20),
)
