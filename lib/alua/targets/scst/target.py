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

from alua.host.kernelfs import strerror
from alua.ocf.errors import ConfigError, OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.targets.scst.backend import ScstError
from alua.targets.scst.layer_params import REQUIRED_VAR_DIRS, SCST_VAR_DIR, DeviceSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from alua.targets.roles import NodePort
    from alua.ocf.log import Logger
    from alua.targets.scst.backend import ScstSysfs

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
        self.handler, self.driver, self.log, self.var_dir = handler, driver, log, var_dir

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

    def _restrict_portals(self, local: NodePort) -> None:
        """Offer the target only on this node's portals (iscsi-scstd offers every address it has:
        without this, initiators find and try the cluster's own networks too)."""
        wanted = self.portals.get(local.node)
        if not wanted:
            return
        have = self.sysfs.allowed_portals(*self._target(local))
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
