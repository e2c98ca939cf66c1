"""The scst agent's target-layer parameters: devices, their handler, LUNs, portals, and their cross-checks.

Parsed and cross-checked on every monitor, so this imports no more than the
addresses module; alua.targets.scst.target builds the layer they describe.
"""

from __future__ import annotations

from alua import Record
from alua.host.validate import check_ipv4, check_ipv6, parse_address_map
from alua.ocf.errors import ConfigError
from alua.ocf.params import parse_pairs, reject_control_chars
from alua.targets.scst.backend import check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from alua.targets.scst.backend import DeviceGroupSpec

HANDLERS = ("vdisk_blockio", "vdisk_fileio")
MAX_LUN = 16383  # SCST's largest LUN number (flat space addressing)

# SCST's make install creates these; without them vdisk's add_device fails with EIO
# (SCST 3.11.0-pre): persistent reservation state and saved mode pages live there.
SCST_VAR_DIR = "/var/lib/scst"
REQUIRED_VAR_DIRS = ("pr", "vdev_mode_pages")
VAR_DIR_ENV = "ALUA_TEST_SCST_VAR_DIR"  # tests only: where to look instead of /var/lib/scst


def var_dir(environ: Mapping[str, str]) -> str:
    return environ.get(VAR_DIR_ENV) or SCST_VAR_DIR


class DeviceSpec(Record):
    """One SCST device the agent creates: its name and the block device or file behind it."""

    __slots__ = ("name", "path")

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path


def check_device_path(path: str) -> None:
    """An add_device filename: absolute, one token, nothing that splits SCST's parameter list."""
    reject_control_chars(path)
    if not path.startswith("/"):
        raise ValueError("is not an absolute path")
    if any(c.isspace() for c in path):
        raise ValueError("contains white space")
    if ";" in path:
        raise ValueError("contains ';', which separates SCST's add_device parameters")
    if "=" in path:
        raise ValueError("contains '=', which SCST's mgmt parser splits words at")


def parse_devices(raw: str) -> tuple[DeviceSpec, ...]:
    """``"vg1=/dev/vg1/lun1 data=/dev/vg1/data"``: SCST devices and what each is created on."""
    pairs = parse_pairs(raw, "device", "PATH", check_name, check_device_path, key_name="device name")
    paths = [path for _, path in pairs]
    for path in paths:
        if paths.count(path) > 1:
            raise ValueError(f"gives path {path} to two devices")
    return tuple(DeviceSpec(name, path) for name, path in pairs)


def check_address(address: str) -> str:
    """One allowed_portal value: an IPv4 or IPv6 address (no port: iscsi-scstd has one for all), canonical."""
    reject_control_chars(address)
    if ":" in address:
        return check_ipv6(address, who="iscsi-scstd")
    check_ipv4(address)
    return address


def parse_portals(raw: str) -> dict[str, tuple[str, ...]]:
    """``"node1=ADDR,ADDR node2=ADDR"``: the addresses on which each node's iSCSI target is offered."""
    return parse_address_map(raw, "ADDRESS[,ADDRESS...]", check_address)


def _check_lun(number: str) -> None:
    # One spelling per number (no leading zeros): "0" and "00" must not pass as two LUNs.
    if not (number.isascii() and number.isdigit()) or int(number) > MAX_LUN or number != str(int(number)):
        raise ValueError(f"is not a number from 0 to {MAX_LUN} (without leading zeros)")


def parse_luns(raw: str) -> tuple[tuple[int, str], ...]:
    """``"0=vg1 1=data"``: the LUN number of each device in the local target."""
    pairs = parse_pairs(raw, "LUN", "DEVICE", _check_lun, check_name)
    names = [name for _, name in pairs]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"gives device {name} two LUNs")
    return tuple((int(lun), name) for lun, name in pairs)


def check_layer_params(
    device_groups: Sequence[DeviceGroupSpec],
    devices: Sequence[DeviceSpec],
    luns: Sequence[tuple[int, str]],
    portals: Mapping[str, Sequence[str]] | None = None,
    driver: str = "iscsi",
) -> None:
    """Cross-parameter rules of the target layer; ConfigError (6) names the parameter."""
    if luns and not devices:
        raise ConfigError("luns", "is set without parameter 'devices' (it numbers the devices the agent creates)")
    if portals and not devices:
        raise ConfigError("portals", "is set without parameter 'devices' (it restricts the target the agent owns)")
    if portals and driver != "iscsi":
        raise ConfigError("portals", f"is iSCSI's allowed_portal; parameter 'target_driver' is {driver}")
    grouped = {dev for dg in device_groups for dev in dg.devices}
    for dev in devices:
        if dev.name not in grouped:
            raise ConfigError("devices", f"device {dev.name} is in no device group of parameter 'device_groups'")
    if not luns:
        return
    names = [dev.name for dev in devices]
    for lun, name in luns:
        if name not in names:
            raise ConfigError("luns", f"LUN {lun} names device {name}, which parameter 'devices' does not list")
    numbered = {name for _, name in luns}
    for name in names:
        if name not in numbered:
            raise ConfigError("luns", f"gives device {name} of parameter 'devices' no LUN")


def lun_map(devices: Sequence[DeviceSpec], luns: Sequence[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """The LUNs to export: as parameter 'luns' says, or the devices in order from LUN 0."""
    if luns:
        return tuple(luns)
    return tuple(enumerate(dev.name for dev in devices))
