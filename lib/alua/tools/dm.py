"""Device-mapper as sysfs shows it, and the one dmsetup call stop may need.

A monitor learns which logical volumes are active from
``/sys/block/dm-*/dm/{name,uuid,suspended}``: a few small reads, where
``lvs`` would scan every disk and ``dmsetup`` would start a process.  LVM
names its device-mapper devices ``VG-LV`` with every ``-`` inside a name
doubled (``vg-san/lun-1`` is ``vg--san-lun--1``) and gives them uuids
``LVM-<vg uuid><lv uuid>``, so both are decoded here and nowhere else.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from alua.host.run import CommandRunner, Result

SYS_BLOCK = "/sys/block"
LVM_UUID_PREFIX = "LVM-"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


class DmDevice:
    """One device-mapper device: kernel name (dm-3), dm name, uuid, suspended flag."""

    __slots__ = ("kernel_name", "name", "uuid", "suspended", "_sys_block")

    def __init__(self, kernel_name: str, name: str, uuid: str, suspended: bool, sys_block: str | None = None) -> None:
        self.kernel_name, self.name, self.uuid, self.suspended = kernel_name, name, uuid, suspended
        self._sys_block = sys_block or SYS_BLOCK

    @property
    def devnode(self) -> str:
        """/dev/dm-N: devtmpfs creates it without udev (unlike /dev/mapper/NAME)."""
        return f"/dev/{self.kernel_name}"

    @property
    def is_lvm(self) -> bool:
        return self.uuid.startswith(LVM_UUID_PREFIX)

    def slaves(self) -> list[str]:
        """Kernel names of the block devices under this one (drbd0, dm-2, ...)."""
        return sorted(_listdir(f"{self._sys_block}/{self.kernel_name}/slaves"))

    def holders(self) -> list[str]:
        """Kernel names of the block devices stacked on this one."""
        return sorted(_listdir(f"{self._sys_block}/{self.kernel_name}/holders"))

    def refresh_suspended(self) -> bool:
        value = _read(f"{self._sys_block}/{self.kernel_name}/dm/suspended")
        self.suspended = value == "1"
        return self.suspended

    def __repr__(self) -> str:
        return f"DmDevice({self.kernel_name}, {self.name!r}, suspended={self.suspended})"


def dm_devices(sys_block: str | None = None) -> list[DmDevice]:
    """Every device-mapper device the kernel has now (empty without device-mapper)."""
    sys_block = sys_block or SYS_BLOCK
    devices = []
    for entry in sorted(_listdir(sys_block)):
        if not entry.startswith("dm-"):
            continue
        base = f"{sys_block}/{entry}/dm"
        name = _read(f"{base}/name")
        if name is None:  # removed between listdir and read
            continue
        devices.append(DmDevice(entry, name, _read(f"{base}/uuid") or "", _read(f"{base}/suspended") == "1", sys_block))
    return devices


def lvm_dm_name(vg: str, lv: str, layer: str | None = None) -> str:
    """The device-mapper name LVM gives VG/LV (and an internal layer such as "real")."""
    parts = [vg.replace("-", "--"), lv.replace("-", "--")]
    if layer:
        parts.append(layer)
    return "-".join(parts)


def split_lvm_dm_name(name: str) -> tuple[str, str, str | None] | None:
    """(vg, lv, layer or None) from an LVM device-mapper name; None if it is not one.

    A single '-' separates the parts, '--' stands for a '-' inside a name;
    everything after the second separator is the layer (LVM's own rule).
    """
    parts: list[str] = []
    current: list[str] = []
    i = 0
    n = len(name)
    while i < n:
        char = name[i]
        if char == "-" and len(parts) < 2:
            if i + 1 < n and name[i + 1] == "-":
                current.append("-")
                i += 2
                continue
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    layer = parts[2] if len(parts) > 2 and parts[2] else None
    return parts[0], parts[1], layer


def vg_devices(vg: str, sys_block: str | None = None) -> list[DmDevice]:
    """The LVM devices (LVs and their internal layers) of one volume group."""
    found = []
    for device in dm_devices(sys_block):
        if not device.is_lvm:
            continue
        split = split_lvm_dm_name(device.name)
        if split is not None and split[0] == vg:
            found.append(device)
    return found


def active_lvs(vg: str, sys_block: str | None = None) -> dict[str, DmDevice]:
    """LV name -> its top-level device, for the LVs of vg that device-mapper has now."""
    active = {}
    for device in vg_devices(vg, sys_block):
        split = split_lvm_dm_name(device.name)
        if split is not None and split[2] is None:
            active[split[1]] = device
    return active


def underlying(devices: Iterable[DmDevice], sys_block: str | None = None) -> set[str]:
    """Kernel names of the non-dm block devices under devices (through dm layers)."""
    sys_block = sys_block or SYS_BLOCK
    found: set[str] = set()
    seen: set[str] = set()
    pending = [d.kernel_name for d in devices]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for slave in _listdir(f"{sys_block}/{name}/slaves"):
            if slave.startswith("dm-"):
                pending.append(slave)
            else:
                found.add(slave)
    return found


def removal_order(devices: Iterable[DmDevice]) -> list[DmDevice]:
    """Devices ordered so that each comes before the devices it sits on."""
    by_name = {d.kernel_name: d for d in devices}
    ordered: list[DmDevice] = []
    placed: set[str] = set()

    def place(device: DmDevice, trail: frozenset[str]) -> None:
        if device.kernel_name in placed or device.kernel_name in trail:
            return
        for holder in device.holders():
            if holder in by_name:
                place(by_name[holder], trail | {device.kernel_name})
        placed.add(device.kernel_name)
        ordered.append(device)

    for device in sorted(by_name.values(), key=lambda d: d.name):
        place(device, frozenset())
    return ordered


def remove(runner: CommandRunner, name: str, *, timeout: float | None = None) -> Result:
    """``dmsetup remove --retry NAME``: never --force (that would fail an open device's I/O)."""
    return runner.run(["dmsetup", "remove", "--retry", name], timeout=timeout)


def lv_devices(vg: str, lvs: Iterable[str], sys_block: str | None = None) -> list[DmDevice]:
    """The devices of ``vg``'s LVs ``lvs`` and the layers under them of the same VG, holders first."""
    wanted_lvs = set(lvs)
    devices = vg_devices(vg, sys_block)
    by_kernel = {d.kernel_name: d for d in devices}
    wanted = {d.kernel_name for d in devices if (split_lvm_dm_name(d.name) or ("", "", None))[1] in wanted_lvs}
    pending = list(wanted)
    while pending:  # the layers under them that belong to this VG
        for slave in by_kernel[pending.pop()].slaves():
            if slave in by_kernel and slave not in wanted:
                wanted.add(slave)
                pending.append(slave)
    return removal_order(by_kernel[k] for k in wanted)
