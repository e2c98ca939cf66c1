"""What the LIO agent's parameters name: backstores with their unit serials, and network portals.

Checked on every monitor, so nothing here imports more than the addresses module.
"""

from __future__ import annotations

from alua import Record
from alua.host.validate import check_ipv4, check_ipv6, parse_address_map
from alua.host.validate import charset, check_object_name
from alua.ocf.params import check_item

_NAME_CHARS = charset("_.:@+-")
_SERIAL_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
MAX_NAME = 223  # the longest iSCSI name (ISCSI_IQN_LEN - 1)
MAX_SERIAL = 253  # INQUIRY_VPD_SERIAL_LEN - 1


def check_name(name: str) -> None:
    """Raise ValueError unless ``name`` is safe as one configfs path component."""
    check_object_name(
        name, _NAME_CHARS, max_len=MAX_NAME, cannot="LIO names cannot have here", reserved=(".", ".."),
        reserved_problem="is not a usable name",
    )


def check_serial(serial: str) -> None:
    """A unit serial as LIO stores it: printable ASCII, no spaces, under 254 bytes."""
    if not serial:
        raise ValueError("is empty")
    if len(serial) > MAX_SERIAL:
        raise ValueError(f"is longer than {MAX_SERIAL} characters")
    if any(c not in _SERIAL_CHARS for c in serial):
        raise ValueError("must be printable ASCII without spaces")


ANY_HBA = "*"  # devices="*/NAME": the backstore NAME on whichever HBA has it


class DeviceSpec(Record):
    """One LIO backstore (``hba/dev``) and the unit serial both nodes must present."""

    __slots__ = ("hba", "name", "serial")

    def __init__(self, hba: str, name: str, serial: str) -> None:
        self.hba, self.name, self.serial = hba, name, serial

    def __str__(self) -> str:
        return f"{self.hba}/{self.name}"


def parse_devices(raw: str) -> tuple[DeviceSpec, ...]:
    """``"iblock_0/vg1=SERIAL fileio_1/data=SERIAL"``: backstores in configfs terms, each with its serial."""
    devices: list[DeviceSpec] = []
    for entry in raw.split():
        path, sep, serial = entry.partition("=")
        hba, slash, name = path.partition("/")
        if not slash or not sep:
            raise ValueError(f"has {entry!r}: expected HBA/DEVICE=SERIAL, e.g. iblock_0/vg1=<unit serial>")
        for value, what in ((hba, "HBA"), (name, "device name")):
            if value == ANY_HBA and what == "HBA":
                continue
            check_item(check_name, value, what)
        if "_" not in hba and hba != ANY_HBA:
            raise ValueError(f"has HBA {hba!r}: LIO names HBAs <backend>_<index>, e.g. iblock_0")
        check_item(check_serial, serial, "serial", f" for {path}")
        if any(d.name == name and ANY_HBA in (d.hba, hba) for d in devices) or any(str(d) == path for d in devices):
            raise ValueError(f"names backstore {path} twice")
        devices.append(DeviceSpec(hba, name, serial))
    if not devices:
        raise ValueError("names no backstore")
    return tuple(devices)


MAX_PORTAL = 255  # configfs refuses longer names (ENAMETOOLONG) before LIO sees them


def check_portal(portal: str) -> str:
    """One iSCSI network portal as LIO names its np directory: IPV4:PORT or [IPV6]:PORT.

    Returns the address and port in canonical form, to find one portal spelled twice."""
    if len(portal) > MAX_PORTAL:
        raise ValueError(f"is longer than {MAX_PORTAL} characters")
    host, sep, port = portal.rpartition(":")
    if not sep or not host:
        raise ValueError("is not ADDRESS:PORT (e.g. 192.168.122.51:3260 or [fd00::51]:3260)")
    if not (port.isdigit() and port.isascii()) or port[0] == "0" or not 1 <= int(port) <= 65535:
        raise ValueError(f"has port {port!r}, not a number from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        return f"[{check_ipv6(host[1:-1])}]:{port}"
    check_ipv4(host)
    return portal


def parse_portals(raw: str) -> dict[str, tuple[str, ...]]:
    """``"node1=IP:PORT,IP:PORT node2=IP:PORT"``: the network portals each node's agent opens."""
    return parse_address_map(raw, "PORTAL[,PORTAL...]", check_portal)
