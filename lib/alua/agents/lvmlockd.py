"""lvmlockd as the lock group sees it: the daemon and lvmlockctl.

Lock state comes from ``lvmlockctl --info --dump``: lvmlockd's raw
``info=<kind> key=value ...`` records (the plain ``--info`` view is, in
lvmlockctl's own words, "primitive, incomplete and will change").  They are
parsed in one function.  Active LVs are named through device-mapper's sysfs
(``alua.tools.dm``: ``/sys/block/dm-*/dm/{uuid,name}``) without running an LVM command.

``LvmLockdService`` holds the actions of ocf:alua:lvmlockd.
"""

from __future__ import annotations

import signal
import time

from alua.host import proc
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.host.run import REPORT_RESERVE_S, CommandTimeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from alua.ocf.agent import Context
    from alua.ocf.params import Params
    from alua.host.run import CommandRunner, Result

DAEMON = "lvmlockd"
CTL = "lvmlockctl"
LVMCONFIG = "lvmconfig"  # alua.tools.lvm reads global/use_lvmlockd with it
PIDFILE = "/run/lvmlockd.pid"
SYSLOG_PRIORITIES = ("err", "warning", "debug")
_HELD = frozenset({"sh", "ex"})


def _tail(result: Result) -> str:
    lines = (result.stdout.strip() + "\n" + result.stderr.strip()).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def _record(line: str) -> dict[str, str]:
    fields = {}
    for word in line.split():
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return fields


class LockResource:
    """A lock lvmlockd manages in a lockspace: the VG lock, the global lock, or one LV's lock."""

    __slots__ = ("name", "type", "mode", "lock_modes")

    def __init__(self, fields: dict[str, str]) -> None:
        self.name = fields.get("name", "")
        self.type = fields.get("type", "")
        self.mode = fields.get("mode", "un")
        self.lock_modes: list[str] = []

    @property
    def held(self) -> bool:
        return self.mode in _HELD or any(m in _HELD for m in self.lock_modes)

    @property
    def held_mode(self) -> str:
        for mode in (self.mode, *self.lock_modes):
            if mode in _HELD:
                return mode
        return "un"


class LockdLockspace:
    """One lvmlockd lockspace (``info=ls``): the global one or a shared VG's."""

    __slots__ = ("name", "fields", "resources")

    def __init__(self, fields: dict[str, str]) -> None:
        self.name = fields.get("ls_name", "")
        self.fields = fields
        self.resources: list[LockResource] = []

    @property
    def vg_name(self) -> str:
        return self.fields.get("vg_name", "")

    @property
    def vg_uuid(self) -> str:
        return self.fields.get("vg_uuid", "")

    @property
    def stopping(self) -> bool:
        """Being removed: lvmlockd renames it REM:<name> and sets thread_stop."""
        return self.name.startswith("REM:") or self.fields.get("thread_stop") == "1"

    @property
    def killed(self) -> bool:
        """lvmlockctl --kill ran for it: its locks are lost (sanlock lost its storage)."""
        return self.fields.get("kill_vg") == "1"

    def active_lvs(self) -> list[LockResource]:
        return [r for r in self.resources if r.type == "lv" and r.held]


class LockdInfo:
    """lvmlockd's lock state."""

    __slots__ = ("lockspaces", "clients")

    def __init__(self) -> None:
        self.lockspaces: list[LockdLockspace] = []
        self.clients: list[dict[str, str]] = []

    def running_lockspaces(self) -> list[LockdLockspace]:
        return [ls for ls in self.lockspaces if not ls.stopping]

    def active_lvs(self) -> list[tuple[LockdLockspace, LockResource]]:
        return [(ls, r) for ls in self.lockspaces for r in ls.active_lvs()]


def parse_info_dump(text: str) -> LockdInfo:
    """Parse ``lvmlockctl --info --dump``: ``info=ls`` starts a lockspace, ``info=r`` a
    resource in it, ``info=lk`` a lock on that resource (client, structs and action
    records are kept or skipped)."""
    info = LockdInfo()
    lockspace: LockdLockspace | None = None
    resource: LockResource | None = None
    for line in text.splitlines():
        if not line.startswith("info="):
            continue
        fields = _record(line)
        kind = fields.get("info")
        if kind == "ls":
            lockspace = LockdLockspace(fields)
            info.lockspaces.append(lockspace)
            resource = None
        elif kind == "r" and lockspace is not None:
            resource = LockResource(fields)
            lockspace.resources.append(resource)
        elif kind == "lk" and resource is not None:
            resource.lock_modes.append(fields.get("mode", "un"))
        elif kind == "client":
            info.clients.append(fields)
    return info


def active_lv_names(lv_uuids: list[str], sys_block: str | None = None) -> dict[str, str]:
    """LV uuid -> "vg/lv" for the LVs device-mapper has active (dm uuid "LVM-<vg uuid><lv uuid>")."""
    from alua.tools import dm

    wanted = {u.replace("-", ""): u for u in lv_uuids}
    names: dict[str, str] = {}
    for device in dm.dm_devices(sys_block):
        uuid = device.uuid
        # 4 + 32 + 32 characters; a longer uuid is an internal layer ("-real", "-cow"), not the LV.
        if not device.is_lvm or len(uuid) != 68 or uuid[36:] not in wanted:
            continue
        parts = dm.split_lvm_dm_name(device.name)
        names[wanted[uuid[36:]]] = f"{parts[0]}/{parts[1]}" if parts else device.name
    return names


class LvmLockCtl:
    """lvmlockctl through the runner, each call bounded within the action's time."""

    def __init__(self, runner: CommandRunner) -> None:
        self._runner = runner

    def _run(self, argv: list[str], timeout: float | None = None) -> Result:
        return self._runner.run(argv, timeout=timeout)

    def info(self, timeout: float | None = None) -> tuple[LockdInfo | None, str]:
        """(lock state, "") or (None, why lvmlockd did not answer)."""
        result = self._run([CTL, "--info", "--dump"], timeout)
        if not result.ok:
            return None, f"lvmlockctl --info exited {result.returncode}: {_tail(result)}"
        return parse_info_dump(result.stdout), ""

    def stop_lockspaces(self, timeout: float) -> Result:
        return self._run([CTL, "--stop-lockspaces"], timeout)


class LvmLockdConfig:
    """The parameters of ocf:alua:lvmlockd (declared in the agent) as this module reads them."""

    __slots__ = ("adopt", "syslog_priority", "pidfile")

    def __init__(self, params: Params) -> None:
        values: Any = params
        self.adopt: bool = values.adopt
        self.syslog_priority: str = values.syslog_priority
        self.pidfile: str = values.pidfile


class LvmLockdService:
    """The actions of ocf:alua:lvmlockd on one node."""

    POLL = 0.3
    RESERVE = REPORT_RESERVE_S

    def __init__(self, ctx: Context, *, sys_block: str | None = None) -> None:
        self.ctx = ctx
        self.cfg = LvmLockdConfig(ctx.config)
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
                raise OcfError(f"{' '.join(argv)} exited {result.returncode}: {_tail(result)}")
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
                    problem = f"lvmlockctl --stop-lockspaces exited {result.returncode}: {_tail(result)}"
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
