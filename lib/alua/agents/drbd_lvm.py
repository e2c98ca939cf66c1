"""Shared LVM activation that follows DRBD: what the drbd-lvm agent does.

start activates a volume group only where every DRBD device under it is
Primary and UpToDate; monitor keeps checking both, cheaply (device-mapper
and DRBD state from sysfs and procfs; events2 on DRBD 9); stop deactivates
and leaves the lvmlockd lockspace once nothing of the VG is active.

What start learned (the LVs it activated, the DRBD minors under them) is
kept in the instance's state file, so a recurring monitor knows what
"running" means, and tells a VG that was lost (1) from one that was never
started here (7, as ocf-tester's first recurring monitor expects).
"""

from __future__ import annotations

import time

from alua.host.context import Context, host_agent
from alua.ocf import params
from alua.ocf.declaration import Action
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.tools import dm
from alua.tools.drbd import parse_resource_names
from alua.tools.lvm import check_vg_name, parse_lv_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from alua.host.run import CommandRunner, Result
    from alua.tools.drbd.reader import DrbdReader

SHORTDESC = "LVM activation that follows DRBD"
LONGDESC = (
    "Activates an LVM volume group that sits on DRBD, on a node only while every DRBD device "
    "under it is Primary and UpToDate there: an Inconsistent, Outdated, Diskless or Secondary "
    "replica is never activated. Made for a shared volume group (lvmlockd over DLM) on "
    "dual-primary DRBD, run as a clone ordered after the DRBD promotion; lock_type=none serves "
    "a local volume group on single-primary DRBD. The monitor reads device-mapper and DRBD "
    "state from sysfs and /proc (DRBD 9: drbdsetup events2); a volume group lost, suspended or "
    "left on a DRBD device that dropped to Secondary or Outdated fails the monitor. "
    "OCF_CHECK_LEVEL=10 also reads a block from every logical volume, bounded in time; not while "
    "DRBD holds I/O suspended, as its fencing policy does until the lost peer is fenced: the read "
    "would wait for DRBD, and failing then would stop the last node that serves."
)

STARTED = "started"
LVS = "lvs"
DRBD_MINORS = "drbd_minors"  # "0=r0 1=r0": which resource each minor under the VG belongs to

READ_CHECK_TIMEOUT = 10.0  # OCF_CHECK_LEVEL=10: seconds one block read from an LV may take
SUSPEND_GRACE = 3.0  # an LV suspended longer than this (LVM suspends briefly on changes) fails monitor
POLL = 0.1


class DrbdLvmParams(params.Params):
    volume_group = params.string(
        "Volume group",
        "The LVM volume group to activate. Its physical volumes must all be DRBD devices.",
        required=True,
        check=check_vg_name,
    )
    logical_volumes = params.structured(
        "Logical volumes to activate",
        "Whitespace-separated logical volumes of the volume group (names without the group) to "
        "activate and watch. Default: every logical volume LVM activates with the group.",
        parse=parse_lv_names,
        default=(),
    )
    activation_mode = params.choice(
        "Shared or exclusive activation",
        "shared activates on every node at once (lvmlockd shared locks, -asy; plain -ay with "
        "lock_type=none), for the dual-primary setup; exclusive activates on one node only (-aey).",
        choices=("shared", "exclusive"),
        default="shared",
    )
    lock_type = params.choice(
        "LVM locking",
        "lvmlockd for a shared volume group (lock type dlm or sanlock): start joins its lockspace, "
        "stop leaves it once no logical volume of the group is active. none for a local volume "
        "group on single-primary DRBD.",
        choices=("lvmlockd", "none"),
        default="lvmlockd",
    )
    drbd_resources = params.structured(
        "DRBD resources under the volume group",
        "Whitespace-separated DRBD resources the volume group sits on. Default: found from the "
        "group's physical volumes (/dev/drbdN). When set, start checks them before LVM touches "
        "the group and refuses if they are not exactly the resources under it.",
        parse=parse_resource_names,
        default=(),
    )


def _cfg(ctx: Context) -> DrbdLvmParams:
    return ctx.config_as(DrbdLvmParams)


def _vg(ctx: Context) -> str:
    return _cfg(ctx).volume_group


def _lvs(ctx: Context) -> tuple[str, ...]:
    return _cfg(ctx).logical_volumes


def lv_list(vg: str, lvs: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"{vg}/{lv}" for lv in lvs)


def _names(minors: str | None) -> dict[int, str]:
    found = {}
    for pair in (minors or "").split():
        minor, _, name = pair.partition("=")
        if minor.isdigit() and name:
            found[int(minor)] = name
    return found


# -- validation ------------------------------------------------------------------


def validate(ctx: Context) -> None:
    """Tools and LVM configuration this node needs (start and validate-all; never on monitor)."""
    if ctx.env.action == "monitor":
        return
    from alua.tools import lvm

    runner = ctx.runner
    runner.require(*lvm.TOOLS, "dmsetup", "drbdsetup")
    if _cfg(ctx).lock_type == "lvmlockd" and not lvm.use_lvmlockd(runner):
        raise OcfError(
            "parameter 'lock_type': lvmlockd needs use_lvmlockd=1 in this node's LVM configuration "
            "(global section of lvm.conf or lvmlocal.conf), but lvmconfig reports 0; set it, or use "
            "lock_type=none for a volume group that is not shared",
            ExitStatus.NOT_INSTALLED,
        )


def validate_all(ctx: Context) -> ExitStatus:
    return ExitStatus.OK


# -- start -----------------------------------------------------------------------


def _after_resync(ctx: Context, problems_now: Callable[[], list[str]]) -> list[str]:
    """The DRBD problems once a running resync is over, or when the start timeout nears.

    ocf:linbit:drbd promotes a returning node while it is still Inconsistent
    (its peer is UpToDate and the resync runs); failing start then would
    leave the node without its VG until an admin cleans up, seconds before
    the disk is UpToDate. Anything but a resync is refused at once.
    """
    from alua.tools.drbd import RESYNCING
    from alua.host.run import REPORT_RESERVE_S

    problems = problems_now()
    waited = False
    while problems and all(RESYNCING in p for p in problems):
        if ctx.deadline.remaining() < REPORT_RESERVE_S + 1.0:
            return [f"{p}, still after waiting for it" for p in problems]
        if not waited:
            ctx.log.info(f"waiting for the resync to finish: {'; '.join(problems)}")
            waited = True
        time.sleep(1.0)
        problems = problems_now()
    return problems


def start(ctx: Context) -> ExitStatus:
    from alua.tools import lvm
    from alua.tools.drbd.byres import minor_of_device
    from alua.tools.drbd.reader import DrbdReader

    cfg = _cfg(ctx)
    runner = ctx.runner
    name = _vg(ctx)
    reader = DrbdReader(runner)
    given = cfg.drbd_resources
    if given:
        problems = _after_resync(ctx, lambda: DrbdReader(runner).problems(given))
        if problems:
            raise OcfError(f"not activating {name}: {'; '.join(problems)}")

    vg = lvm.volume_group(runner, name)
    if vg is None:
        raise OcfError(f"volume group {name} not found on this node{reader.hint()}")
    if lvm.MISSING_PV in vg.pvs:
        raise OcfError(f"volume group {name} is missing a physical volume here (LVM reports {lvm.MISSING_PV})")
    minors: dict[int, str] = {}
    foreign = []
    for pv in vg.pvs:
        minor = minor_of_device(pv)
        if minor is None:
            foreign.append(pv)
        else:
            minors[minor] = pv
    if foreign or not minors:
        shown = ", ".join(foreign) or "none"
        raise OcfError(
            f"volume group {name} has physical volumes that are not DRBD devices ({shown}); not activating it "
            "outside DRBD's control (if those are DRBD's backing disks, the LVM filter must hide them)",
            ExitStatus.NOT_INSTALLED,
        )

    owners = reader.resources_of_minors(minors)
    names = {minor: owner.name for minor, owner in owners.items() if owner is not None}
    found = sorted(set(names.values()))
    if given:
        _check_given_resources(name, given, found)
    problems = _after_resync(ctx, lambda: DrbdReader(runner).minor_problems(minors, names))
    if problems:
        raise OcfError(f"not activating {name}: {'; '.join(problems)}")

    lvmlockd = cfg.lock_type == "lvmlockd"
    if lvmlockd and not vg.is_shared:
        raise OcfError(
            f"parameter 'lock_type': lvmlockd, but volume group {name} is a local VG without a lock type; "
            f"make it shared (vgchange --locktype dlm {name}) or set lock_type=none",
            ExitStatus.NOT_CONFIGURED,
        )
    if not lvmlockd and vg.is_shared:
        raise OcfError(
            f"parameter 'lock_type': none, but volume group {name} has lock type {vg.lock_type}, which "
            "only lvmlockd can activate; set lock_type=lvmlockd",
            ExitStatus.NOT_CONFIGURED,
        )

    expected = _expected_lvs(ctx, runner, name)
    if lvmlockd:
        lvm.lock_start(runner, name)
    lvm.activate(runner, name, _lvs(ctx), lvm.activation_flag(cfg.activation_mode, lvmlockd))
    _wait_active(ctx, name, expected)
    ctx.state.update(
        {
            STARTED: "1",
            LVS: " ".join(expected),
            DRBD_MINORS: " ".join(f"{minor}={names[minor]}" for minor in sorted(names)),
        }
    )
    ctx.log.info(f"activated {lv_list(name, expected)} on DRBD {', '.join(found)}")
    return ExitStatus.OK


def _check_given_resources(vg: str, given: tuple[str, ...], found: list[str]) -> None:
    extra = [r for r in given if r not in found]
    if extra:
        raise OcfError(
            f"parameter 'drbd_resources': {', '.join(extra)} not under volume group {vg}, whose physical "
            f"volumes are on {', '.join(found) or 'no configured DRBD resource'}",
            ExitStatus.NOT_CONFIGURED,
        )
    missing = [r for r in found if r not in given]
    if missing:
        raise OcfError(
            f"parameter 'drbd_resources': volume group {vg} also sits on {', '.join(missing)}, which is not listed",
            ExitStatus.NOT_CONFIGURED,
        )


def _expected_lvs(ctx: Context, runner: CommandRunner, vg: str) -> list[str]:
    """The LVs start must see active: the listed ones, else every public LV LVM would activate."""
    from alua.tools import lvm

    volumes = {lv.name: lv for lv in lvm.logical_volumes(runner, vg)}
    listed = _lvs(ctx)
    if listed:
        unknown = [lv for lv in listed if lv not in volumes]
        if unknown:
            raise OcfError(
                f"parameter 'logical_volumes': {lv_list(vg, unknown)} does not exist", ExitStatus.NOT_CONFIGURED
            )
        skipped = [lv for lv in listed if volumes[lv].skip_activation]
        if skipped:
            raise OcfError(
                f"parameter 'logical_volumes': {lv_list(vg, skipped)} has LVM's activation skip flag "
                "(clear it with lvchange --setactivationskip n)",
                ExitStatus.NOT_CONFIGURED,
            )
        return list(listed)
    expected = [lv.name for lv in volumes.values() if lv.public and not lv.skip_activation]
    if not expected:
        raise OcfError(f"volume group {vg} has no logical volume to activate")
    return expected


def _wait_active(ctx: Context, vg: str, expected: list[str]) -> None:
    """Wait until device-mapper has every expected LV, not suspended."""
    while True:
        active = dm.active_lvs(vg)
        missing = [lv for lv in expected if lv not in active or active[lv].suspended]
        if not missing:
            return
        if ctx.deadline.remaining() <= 2 * POLL:
            raise OcfError(f"{lv_list(vg, missing)} not active in device-mapper after activation")
        time.sleep(POLL)


# -- monitor ---------------------------------------------------------------------


def monitor(ctx: Context) -> ExitStatus:
    """0 active and healthy; 7 not active here (never started, or a probe); 1 broken or lost."""
    vg = _vg(ctx)
    if not vg:
        return ExitStatus.NOT_RUNNING
    state = ctx.state
    active = dm.active_lvs(vg)
    if not active:
        if ctx.env.is_probe or state.get(STARTED) is None:
            return ExitStatus.NOT_RUNNING
        raise OcfError(f"volume group {vg} lost: none of its logical volumes is active any more")

    problems = []
    expected = list(_lvs(ctx)) or (state.get(LVS) or "").split()
    missing = [lv for lv in expected if lv not in active]
    if missing:
        problems.append(f"{lv_list(vg, missing)} not active")
    suspended = _still_suspended(ctx, active)
    if suspended:
        problems.append(f"{lv_list(vg, suspended)} suspended in device-mapper")
    under = dm.underlying(active.values())
    foreign = sorted(d for d in under if not (d.startswith("drbd") and d[4:].isdigit()))
    if foreign:
        problems.append(f"active on {', '.join(foreign)}, which is not DRBD")
    minors = [int(d[4:]) for d in under if d not in foreign]
    if minors:
        from alua.tools.drbd.reader import DrbdReader

        problems.extend(DrbdReader(ctx.runner).minor_problems(minors, _names(state.get(DRBD_MINORS))))
    if problems:
        raise OcfError(f"volume group {vg}: {'; '.join(problems)}")
    if ctx.env.check_level >= 10:
        _read_check(ctx, vg, active, minors)
    return ExitStatus.OK


def _still_suspended(ctx: Context, active: dict[str, dm.DmDevice]) -> list[str]:
    """LVs that stay suspended beyond a short grace (LVM suspends briefly while it changes an LV)."""
    suspended = [lv for lv, device in active.items() if device.suspended]
    if not suspended:
        return []
    end = time.monotonic() + min(SUSPEND_GRACE, ctx.deadline.remaining() / 3)
    while suspended and time.monotonic() < end:
        time.sleep(POLL)
        suspended = [lv for lv in suspended if active[lv].refresh_suspended()]
    return sorted(suspended)


def _read_check(ctx: Context, vg: str, active: dict[str, dm.DmDevice], minors: list[int]) -> None:
    """Read one block from each LV, past the page cache, each read bounded in time.

    While DRBD holds the I/O of a device under the VG suspended (its fencing policy does so from
    losing the peer until the fence-peer handler has answered, which takes longer than a read may),
    a read waits for DRBD, not for the VG: failing here would make Pacemaker stop the only node
    that still serves (it stops the target first), and the initiator loses its last paths.  The
    check is skipped then, and a read that times out because DRBD suspended I/O meanwhile is no
    failure either; DRBD's own state is the DRBD agent's to judge.
    """
    from alua.host.run import CommandTimeout
    from alua.tools.drbd.reader import DrbdReader

    frozen = DrbdReader(ctx.runner).suspended_minors(minors)
    if frozen:
        ctx.log.info(f"read check of {vg} skipped: DRBD holds I/O suspended on {_drbd_names(frozen)}")
        return
    for lv, device in sorted(active.items()):
        argv = ["dd", f"if={device.devnode}", "of=/dev/null", "bs=4096", "count=1", "iflag=direct", "status=none"]
        try:
            result = _bounded_read(ctx, argv)
        except CommandTimeout as e:
            frozen = DrbdReader(ctx.runner).suspended_minors(minors)  # a fresh read of DRBD's state
            if frozen:
                ctx.log.warning(f"reading a block from {vg}/{lv} waits: DRBD suspended I/O on "
                                f"{_drbd_names(frozen)} meanwhile; read check skipped")
                return
            raise OcfError(f"reading a block from {vg}/{lv} ({device.devnode}): {e.reason}") from None
        if not result.ok:
            detail = (result.stderr.strip() or f"exit code {result.returncode}").splitlines()[-1]
            raise OcfError(f"reading a block from {vg}/{lv} ({device.devnode}) failed: {detail}")


def _bounded_read(ctx: Context, argv: list[str]) -> Result:
    """The read's Result; CommandTimeout past READ_CHECK_TIMEOUT (or half the action's time left).
    A read blocked in the kernel cannot be killed until its I/O completes, so it is left behind
    (it ends when the I/O does), not waited for: waiting would hold the monitor until DRBD resumes."""
    from alua.host.run import CommandTimeout

    limit = min(READ_CHECK_TIMEOUT, ctx.deadline.remaining() / 2)
    job = ctx.runner.start(argv, timeout=limit)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if job.proc.poll() is not None:
            return job.result()
        time.sleep(POLL / 5)
    job.abandon()
    raise CommandTimeout(argv, limit)


def _drbd_names(minors: list[int]) -> str:
    return ", ".join(f"drbd{m}" for m in minors)


def stop(ctx: Context) -> ExitStatus:
    from alua.agents import drbd_lvm_stop  # stop's own path: deactivation, device removal, lockspace

    return drbd_lvm_stop.stop(ctx, _cfg(ctx))


AGENT = host_agent(
    name="drbd-lvm", shortdesc=SHORTDESC, longdesc=LONGDESC, params=DrbdLvmParams, validate=validate,
    actions=[
        Action("start", start, timeout=90),
        Action("stop", stop, timeout=90),
        Action("monitor", monitor, timeout=90, interval=30, depth=0),
        Action("monitor", monitor, timeout=90, interval=61, depth=10),
        Action("validate-all", validate_all, timeout=30),
    ],
)
