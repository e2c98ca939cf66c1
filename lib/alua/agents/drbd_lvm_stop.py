"""ocf:alua:drbd-lvm's stop: deactivate, remove what LVM leaves behind, leave the lockspace.

Apart from alua.agents.drbd_lvm (parameters, start, monitor) because stop
alone copes with a VG LVM can no longer read; it never fails on what it
cannot identify.
"""

from __future__ import annotations

from alua.agents.drbd_lvm import lv_list
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.tools import dm

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.agents.drbd_lvm import DrbdLvmParams
    from alua.host.context import Context


def stop(ctx: Context, cfg: DrbdLvmParams) -> ExitStatus:
    """Deactivate; leave the lockspace once no LV of the VG is active; succeed if already stopped."""
    vg = cfg.volume_group
    if not vg:
        return ExitStatus.OK
    listed = _stop_targets(ctx, cfg)
    if listed is None:
        ctx.log.warning(f"parameter 'logical_volumes' names no valid LV; leaving the LVs of {vg} as they are")
        return ExitStatus.OK
    left = _left(vg, listed)
    if left:
        reason = _deactivate(ctx, vg, listed)
        left = _left(vg, listed)
        if left:
            ctx.log.warning(f"LVM left {lv_list(vg, left)} active ({reason}); removing the devices directly")
            _remove_devices(ctx, vg, left)
            left = _left(vg, listed)
        if left:
            raise OcfError(f"cannot deactivate {lv_list(vg, left)}: {reason}; device-mapper still has them (in use?)")
        ctx.log.info(f"deactivated {vg}" + (f"/{' '.join(listed)}" if listed else ""))
    if cfg.lock_type == "lvmlockd" and not dm.vg_devices(vg):
        _lock_stop(ctx, vg)
    ctx.state.remove()
    return ExitStatus.OK


def _stop_targets(ctx: Context, cfg: DrbdLvmParams) -> list[str] | None:
    """The LVs stop deactivates ([] for all); None when the list is set but names no valid LV.

    A bad logical_volumes value falls back to its default (all LVs) for stop;
    deactivating the whole group for a typo could take down LVs another
    resource serves, so stop keeps the tokens that are valid names instead.
    """
    listed = list(cfg.logical_volumes)
    raw = ctx.env.raw.get("OCF_RESKEY_logical_volumes", "")
    if listed or not raw.strip():
        return listed
    from alua.tools.lvm import valid_lv_names

    return valid_lv_names(raw.split()) or None


def _left(vg: str, listed: list[str]) -> list[str]:
    active = dm.active_lvs(vg)
    return sorted(lv for lv in (listed or active) if lv in active)


def _deactivate(ctx: Context, vg: str, listed: list[str]) -> str:
    """Ask LVM to deactivate; the reason it gave when it failed ("" when it succeeded)."""
    from alua.tools import lvm
    from alua.host.run import ToolNotFound

    try:
        result = lvm.deactivate(ctx.runner, vg, listed)
    except ToolNotFound as e:
        return e.reason
    return "" if result.ok else lvm.last_line(result)


def _remove_devices(ctx: Context, vg: str, lvs: list[str]) -> None:
    """``dmsetup remove`` the LVs' devices (and their layers), holders first.

    For a VG whose DRBD went away under it LVM cannot even read the VG; the
    kernel's device-mapper tables are all that is left to remove.
    """
    from alua.host.run import ToolNotFound

    for device in dm.lv_devices(vg, lvs):
        try:
            result = dm.remove(ctx.runner, device.name)
        except ToolNotFound as e:
            ctx.log.error(e.reason)
            return
        if not result.ok:
            ctx.log.warning(f"dmsetup remove {device.name}: {(result.stderr.strip() or 'failed').splitlines()[-1]}")


def _lock_stop(ctx: Context, vg: str) -> None:
    """Leave the VG's lvmlockd lockspace; a failure is logged, never fails stop."""
    from alua.tools import lvm
    from alua.host.run import CommandTimeout, ToolNotFound

    try:
        result = lvm.lock_stop(ctx.runner, vg)
    except (ToolNotFound, CommandTimeout) as e:
        ctx.log.warning(f"cannot stop the lockspace of {vg}: {e.reason}")
        return
    if not result.ok:
        ctx.log.warning(f"cannot stop the lockspace of {vg}: {lvm.last_line(result)}")
