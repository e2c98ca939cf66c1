"""lvmlockctl: lvmlockd's lock state, parsed in one function, and the calls the agent makes.

Lock state comes from ``lvmlockctl --info --dump``: lvmlockd's raw
``info=<kind> key=value ...`` records (the plain ``--info`` view is, in
lvmlockctl's own words, "primitive, incomplete and will change").  Active LVs
are named through device-mapper's sysfs (``alua.tools.dm``:
``/sys/block/dm-*/dm/{uuid,name}``) without running an LVM command.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.host.run import CommandRunner, Result

CTL = "lvmlockctl"
_HELD = frozenset({"sh", "ex"})


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
            return None, f"lvmlockctl --info exited {result.returncode}: {result.tail()}"
        return parse_info_dump(result.stdout), ""

    def stop_lockspaces(self, timeout: float) -> Result:
        return self._run([CTL, "--stop-lockspaces"], timeout)
