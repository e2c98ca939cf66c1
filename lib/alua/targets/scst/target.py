"""The SCST target layer the scst agent owns when parameter 'devices' is set.

    handlers/<handler>/mgmt                add_device NAME filename=PATH;bind_alua_state=0 | del_device NAME
    devices/<NAME>/bind_alua_state         0: the device stays open in every ALUA state
    targets/<driver>/mgmt                  add_target IQN | del_target IQN
    targets/<driver>/enabled               the driver as a whole (iscsi-scst has one)
    targets/<driver>/<IQN>/rel_tgt_id      0 on a new target; settable while disabled
    targets/<driver>/<IQN>/luns/mgmt       add NAME LUN | del LUN
    targets/<driver>/<IQN>/luns/<LUN>/device  -> devices/<NAME>
    targets/<driver>/<IQN>/enabled         0 | 1: whether initiators can log in
    targets/<driver>/<IQN>/aen_disabled    1: ALUA changes reach initiators as unit attentions
    targets/iscsi/mgmt                     add_target_attribute IQN allowed_portal ADDR (parameter portals)
    targets/iscsi/<IQN>/allowed_portal[N]  the addresses on which iscsi-scstd offers the target

Devices are created with bind_alua_state=0.  SCST's default, 1, closes the
backing device whenever the node's group is not active/optimized: commands
on an active/non-optimized path then fail (real SCST 3.11 logs "Closed FD on
exec. Not active ALUA state" and the initiator gets NOT READY / MEDIUM NOT
PRESENT), so in a dual-primary SAN the unpromoted node's paths would carry no
I/O and every failover would stall until the promotion (lab Finding 12).

The target gets aen_disabled=1.  iscsi-scst reports an ALUA state change as
an iSCSI asynchronous event rather than a unit attention; Linux's iSCSI
initiator drops that event, so scsi_dh_alua (and multipath's prioritizer,
which reads its access_state) keep the old state and the promoted node's
paths stay at the non-optimized priority (lab Finding 14).  With AENs off
SCST queues ASYMMETRIC ACCESS STATE CHANGED, which every initiator handles.

Start creates the devices and the disabled target, the ALUA code places the
devices in their device group and states the groups, and only then does
open() add the LUNs and enable the target: an initiator can never log in to
a LUN that is not yet in its group with its state.  Stop disables the target
first, then removes LUNs, target and devices (a vdisk_blockio holds its LV
open until its device is deleted).  Anything found that the parameters do
not describe (a device on another path, a LUN of another device) is refused
on start and left alone on stop, never torn down.
"""

from __future__ import annotations

import errno
import os

from alua.host.addresses import check_ipv4, check_ipv6, parse_address_map
from alua.host.kernelfs import strerror
from alua.ocf.errors import ConfigError, OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.ocf.params import parse_pairs, reject_control_chars
from alua.targets.scst.backend import ScstError, check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from alua.targets.roles import NodePort
    from alua.ocf.log import Logger
    from alua.targets.scst.backend import DeviceGroupSpec, ScstSysfs

HANDLERS = ("vdisk_blockio", "vdisk_fileio")
MAX_LUN = 16383  # SCST's largest LUN number (flat space addressing)

# SCST's make install creates these; without them vdisk's add_device fails with EIO
# (SCST 3.11.0-pre): persistent reservation state and saved mode pages live there.
SCST_VAR_DIR = "/var/lib/scst"
REQUIRED_VAR_DIRS = ("pr", "vdev_mode_pages")
VAR_DIR_ENV = "ALUA_TEST_SCST_VAR_DIR"  # tests only: where to look instead of /var/lib/scst


def var_dir(environ: Mapping[str, str]) -> str:
    return environ.get(VAR_DIR_ENV) or SCST_VAR_DIR


class DeviceSpec:
    """One SCST device the agent creates: its name and the block device or file behind it."""

    __slots__ = ("name", "path")

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path

    def __repr__(self) -> str:
        return f"DeviceSpec({self.name!r}, {self.path!r})"


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


def _conflict(reason: str) -> OcfError:
    return OcfError(f"conflicting SCST target layer: {reason}", ExitStatus.NOT_CONFIGURED)


class ScstTargetLayer:
    """The local target, its LUNs and their SCST devices, created on start and deleted on stop."""

    def __init__(
        self,
        sysfs: ScstSysfs,
        devices: Sequence[DeviceSpec],
        luns: Sequence[tuple[int, str]],
        *,
        handler: str,
        driver: str,
        log: Logger,
        var_dir: str = SCST_VAR_DIR,
        portals: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.sysfs = sysfs
        self.portals = dict(portals or {})
        self.devices = tuple(devices)
        self.luns = tuple(luns)
        self.handler = handler
        self.driver = driver
        self.log = log
        self.var_dir = var_dir

    def owns(self, dev: str) -> bool:
        """Whether parameter 'devices' names this SCST device."""
        return any(d.name == dev for d in self.devices)

    def _is_ours(self, dev: str) -> bool:
        """Named in parameter 'devices' and on the path it gives there."""
        spec = next((d for d in self.devices if d.name == dev), None)
        return spec is not None and self.sysfs.read("devices", dev, "filename") == spec.path

    # -- paths and reads -------------------------------------------------------

    def _target(self, local: NodePort) -> tuple[str, ...]:
        return ("targets", self.driver, local.target)

    def _link_name(self, *parts: str) -> str | None:
        """The name a sysfs symlink points to (devices/vg1 -> vg1); None when there is no link."""
        link = self.sysfs.readlink(*parts)
        return None if link is None else link.rstrip("/").rsplit("/", 1)[-1]

    def _exported(self, local: NodePort) -> dict[int, str | None]:
        """LUN number -> the device it exports (None: unreadable) of the local target."""
        luns = (*self._target(local), "luns")
        return {int(e): self._link_name(*luns, e, "device") for e in self.sysfs.listdir(*luns) if e.isdigit()}

    def _device_problem(self, dev: DeviceSpec) -> str | None:
        """Why an existing SCST device of this name is not the one parameter 'devices' describes."""
        filename = self.sysfs.read("devices", dev.name, "filename")
        if filename != dev.path:
            shown = "no filename" if filename is None else f"filename {filename}"
            return f"SCST device {dev.name} exists with {shown}, parameter 'devices' says {dev.path}"
        handler = self._link_name("devices", dev.name, "handler")
        if handler != self.handler:
            return f"SCST device {dev.name} has handler {handler}, parameter 'device_handler' says {self.handler}"
        return None

    def _foreign_luns(self, local: NodePort, *, numbers: bool) -> str | None:
        """What the local target exports that the parameters do not describe (``numbers``: LUN numbers too)."""
        wanted = dict(self.luns)
        for lun, dev in sorted(self._exported(local).items()):
            if dev is None or not self._is_ours(dev):
                return f"local target {local.target} exports device {dev} as LUN {lun}, not one of parameter 'devices'"
            if numbers and wanted.get(lun) != dev:
                return f"local target {local.target} exports {dev} as LUN {lun}, parameter 'luns' disagrees"
        return None

    # -- start -----------------------------------------------------------------

    def check(self, local: NodePort) -> None:
        """Everything start needs, looked at before anything is written."""
        self.sysfs.require_driver(self.driver)
        missing = [dev for dev in self.devices if not self.sysfs.exists("devices", dev.name)]
        for dev in self.devices:
            if dev not in missing:
                problem = self._device_problem(dev)
                if problem:
                    raise _conflict(problem)
        if self.sysfs.exists(*self._target(local)):
            foreign = self._foreign_luns(local, numbers=True)
            if foreign:
                raise _conflict(f"{foreign}; the cluster creates this target, keep it out of scst.conf")
        elif not self.sysfs.exists("targets", self.driver, "mgmt"):
            raise ConfigError("target_driver", f"SCST driver {self.driver} cannot create targets (no mgmt file)")
        if not missing:
            return
        if not self.sysfs.is_dir("handlers", self.handler):
            raise OcfError(
                f"SCST device handler {self.handler} is not loaded "
                f"({self.sysfs.path('handlers', self.handler)} missing: load scst_vdisk)",
                ExitStatus.NOT_INSTALLED,
            )
        for name in REQUIRED_VAR_DIRS:
            path = os.path.join(self.var_dir, name)
            if not os.path.isdir(path):
                raise OcfError(
                    f"{path} is missing: SCST's make install creates it (add_device fails with EIO without it)",
                    ExitStatus.NOT_INSTALLED,
                )

    def build(self, local: NodePort) -> None:
        """Create the devices and the (disabled) local target with its rel_tgt_id."""
        for dev in self.devices:
            if not self.sysfs.exists("devices", dev.name):
                self.log.info(f"creating SCST device {dev.name} ({self.handler}) on {dev.path}")
                self._send(
                    f"create device {dev.name}",
                    f"add_device {dev.name} filename={dev.path};bind_alua_state=0",
                    "handlers",
                    self.handler,
                    "mgmt",
                )
            elif self.sysfs.read("devices", dev.name, "bind_alua_state") not in (None, "0"):
                self.log.info(f"setting bind_alua_state 0 on SCST device {dev.name}")
                self._send(f"set bind_alua_state of {dev.name}", "0", "devices", dev.name, "bind_alua_state")
        target = self._target(local)
        if not self.sysfs.exists(*target):
            self.log.info(f"creating SCST target {local.target}")
            hint = "is iscsi-scstd running?" if self.driver == "iscsi" else ""
            self._send(
                f"create target {local.target}", f"add_target {local.target}", "targets", self.driver, "mgmt", hint=hint
            )
        rel = self.sysfs.read(*target, "rel_tgt_id")
        if rel != str(local.rel_tgt_id):
            if self.sysfs.read(*target, "enabled") == "1":
                # Found enabled (scst.conf?) before its LUNs are placed: close it while it changes.
                self.log.warning(f"target {local.target} was enabled before the cluster placed it: disabling it")
                self._send(f"disable target {local.target}", "0", *target, "enabled")
            self.log.info(f"setting rel_tgt_id {local.rel_tgt_id} on target {local.target} (was {rel})")
            self._send(f"set rel_tgt_id of {local.target}", str(local.rel_tgt_id), *target, "rel_tgt_id")
        if self.sysfs.read(*target, "aen_disabled") not in (None, "1"):
            # Before any session exists: SCST copies the flag into each session's LUNs at login.
            self.log.info(f"setting aen_disabled 1 on target {local.target} (ALUA changes as unit attentions)")
            self._send(f"set aen_disabled of {local.target}", "1", *target, "aen_disabled")
        self._restrict_portals(local)

    def _allowed_portals(self, local: NodePort) -> dict[str, str]:
        """The target's allowed_portal attributes: address -> attribute file."""
        target = self._target(local)
        found = {}
        for name in self.sysfs.listdir(*target):
            if name.startswith("allowed_portal"):
                value = self.sysfs.read(*target, name)
                if value:
                    found[value] = name
        return found

    def _restrict_portals(self, local: NodePort) -> None:
        """Offer the target only on this node's portals (iscsi-scstd offers every address it has:
        without this, initiators find and try the cluster's own networks too)."""
        wanted = self.portals.get(local.node)
        if not wanted:
            return
        have = self._allowed_portals(local)
        for address in wanted:
            if address not in have:
                self.log.info(f"offering target {local.target} on portal {address}")
                self._send(f"allow portal {address}", f"add_target_attribute {local.target} allowed_portal {address}",
                           "targets", self.driver, "mgmt")
        for address in have:
            if address not in wanted:
                self.log.info(f"no longer offering target {local.target} on portal {address}")
                self._send(f"remove portal {address}",
                           f"del_target_attribute {local.target} allowed_portal {address}",
                           "targets", self.driver, "mgmt")

    def open(self, local: NodePort, *, reassert: bool) -> None:
        """Export the LUNs and enable the target: initiators may log in from now on."""
        target = self._target(local)
        say = self.log.warning if reassert else self.log.info
        again = " again" if reassert else ""
        for lun, dev in self.luns:
            if not self.sysfs.exists(*target, "luns", str(lun)):
                say(f"exporting {dev} as LUN {lun} of {local.target}{again}")
                self._send(f"add LUN {lun}", f"add {dev} {lun}", *target, "luns", "mgmt")
        if self.sysfs.read("targets", self.driver, "enabled") == "0":
            self.log.warning(f"SCST target driver {self.driver} is disabled: enabling it")
            self._send(f"enable driver {self.driver}", "1", "targets", self.driver, "enabled")
        if self.sysfs.read(*target, "enabled") != "1":
            say(f"enabling target {local.target}{again}")
            self._send(f"enable target {local.target}", "1", *target, "enabled")

    def problems(self, local: NodePort) -> list[str]:
        """What monitor cannot put back: a LUN of ours that exports another device."""
        found = []
        for lun, dev in self.luns:
            actual = self._link_name(*self._target(local), "luns", str(lun), "device")
            if actual is not None and actual != dev:
                found.append(f"LUN {lun} of local target {local.target} exports {actual}, not {dev}")
        return found

    # -- stop ------------------------------------------------------------------

    def close(self, local: NodePort) -> None:
        """Disable the target, then remove LUNs, target and devices; what is gone is fine."""
        target = self._target(local)
        if self.sysfs.exists(*target):
            foreign = self._foreign_luns(local, numbers=False)
            if foreign:
                self.log.warning(f"leaving target {local.target} in place: {foreign}")
            else:
                self._remove_target(local)
        for dev in self.devices:
            if not self.sysfs.exists("devices", dev.name):
                continue
            filename = self.sysfs.read("devices", dev.name, "filename")
            if filename != dev.path:
                self.log.warning(f"leaving SCST device {dev.name} in place: it is on {filename}, not {dev.path}")
                continue
            handler = self._link_name("devices", dev.name, "handler") or self.handler
            self.log.info(f"deleting SCST device {dev.name}")
            self._send(f"delete device {dev.name}", f"del_device {dev.name}", "handlers", handler, "mgmt")

    def _remove_target(self, local: NodePort) -> None:
        target = self._target(local)
        if self.sysfs.read(*target, "enabled") == "1":
            self.log.info(f"disabling target {local.target}")
            self._send(f"disable target {local.target}", "0", *target, "enabled")
        for lun in sorted(self._exported(local)):
            self._send(f"remove LUN {lun}", f"del {lun}", *target, "luns", "mgmt")
        self.log.info(f"deleting SCST target {local.target}")
        self._send(f"delete target {local.target}", f"del_target {local.target}", "targets", self.driver, "mgmt")

    # -- writing ---------------------------------------------------------------

    def _send(self, what: str, line: str, *parts: str, hint: str = "") -> None:
        """One store; a failure says what failed and why first (Pacemaker keeps 128 characters)."""
        try:
            self.sysfs.write(line, *parts)
        except ScstError as e:
            why = e.reason.rpartition(": ")[2]
            cause = e.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.EIO:
                why += self._last_result()
            if hint:
                why += f"; {hint}"
            raise ScstError(f"cannot {what}: {why} ({line!r} to {self.sysfs.path(*parts)})") from e

    def _last_result(self) -> str:
        """The real kernel fails a refused mgmt command with EIO and keeps the cause here."""
        try:
            raw = self.sysfs.read("last_sysfs_mgmt_res") or ""
        except ScstError:
            return ""
        if not raw.startswith("-") or not raw[1:].isdigit():
            return ""
        code = int(raw[1:])
        return f", last_sysfs_mgmt_res {raw}: {strerror(OSError(code, os.strerror(code)))}"
