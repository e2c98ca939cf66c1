"""The SCST ALUA backend: device groups, target groups and states in SCST's sysfs.

Layout (see scst/README, "ALUA"):

    /sys/kernel/scst_tgt/device_groups/<dg>/devices/<dev>          -> devices/<dev>
    /sys/kernel/scst_tgt/device_groups/<dg>/target_groups/<tg>/     group_id, state, mgmt
    /sys/kernel/scst_tgt/device_groups/<dg>/target_groups/<tg>/<t>  local: symlink to the target
                                                                  remote: directory with rel_tgt_id
    /sys/kernel/scst_tgt/targets/<driver>/<t>/                      enabled, rel_tgt_id

Every name is validated before it is written into a mgmt file, and every
value goes out in one write(2): a newline can never start a second command.
The devices and the local target are the admin's (scst.conf), or with
parameter 'devices' the agent's own: scst_target.py creates and deletes them.
"""

from __future__ import annotations

from alua import Record

import os
import time

from alua.targets.roles import AluaBackend, TargetView
from alua.host.kernelfs import KernelTree, strerror
from alua.host.validate import charset, check_object_name
from alua.ocf.errors import OcfError
from alua.ocf.params import check_item
from alua.ocf.exitstatus import ExitStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from alua.targets.roles import NodePort, Topology
    from alua.ocf.log import Logger
    from alua.targets.scst.target import ScstTargetLayer

SCST_ROOT = "/sys/kernel/scst_tgt"

# Names SCST objects may have here: what iSCSI (iqn./eui.), FC and SRP target
# names and device names use.  No whitespace (the mgmt parser splits on it),
# no '/' (a sysfs path), no control characters.
_NAME_CHARS = charset("_.:@+-")
_RESERVED_NAMES = frozenset({".", "..", "mgmt"})
MAX_NAME = 223  # the longest iSCSI name


def check_name(name: str) -> None:
    """Raise ValueError unless ``name`` is safe as an SCST object name."""
    check_object_name(
        name, _NAME_CHARS, max_len=MAX_NAME, cannot="SCST names cannot have", reserved=_RESERVED_NAMES,
        reserved_problem="is a reserved name",
    )


class DeviceGroupSpec(Record):
    """One ALUA device group and the SCST devices it holds."""

    __slots__ = ("name", "devices")

    def __init__(self, name: str, devices: Sequence[str]) -> None:
        self.name = name
        self.devices = tuple(devices)


def parse_device_groups(raw: str) -> tuple[DeviceGroupSpec, ...]:
    """``"dg1=dev1,dev2 dg2"``: a group without '=' holds the device of its own name."""
    groups: list[DeviceGroupSpec] = []
    seen_groups: set[str] = set()
    seen_devices: set[str] = set()
    for entry in raw.split():
        name, sep, devs = entry.partition("=")
        devices = devs.split(",") if sep else [name]
        for value, what in [(name, "device group name"), *((d, "device name") for d in devices)]:
            check_item(check_name, value, f"a {what}")
        if name in seen_groups:
            raise ValueError(f"names device group {name!r} twice")
        for dev in devices:
            if dev in seen_devices:
                raise ValueError(f"puts device {dev!r} in two groups (SCST allows one)")
            seen_devices.add(dev)
        seen_groups.add(name)
        groups.append(DeviceGroupSpec(name, devices))
    if not groups:
        raise ValueError("names no device group")
    return tuple(groups)


class ScstError(OcfError):
    """A read or write in SCST's sysfs failed; the reason names path and value."""


class ScstSysfs(KernelTree):
    """/sys/kernel/scst_tgt: attributes, mgmt commands, and SCST's late answers."""

    Error = ScstError
    ROOT = SCST_ROOT

    def loaded(self) -> bool:
        return self.is_dir()

    def listdir(self, *parts: str) -> list[str]:
        return self.entries(*parts) or []

    def finished_later(self, value: str, path: str, error: BlockingIOError) -> None:
        """SCST gave up waiting for its sysfs work after 15 s; the work goes on and
        its result appears in last_sysfs_mgmt_res (the action timeout bounds the wait)."""
        result_path = self.path("last_sysfs_mgmt_res")
        while True:
            try:
                fd = os.open(result_path, os.O_RDONLY)
                try:
                    text = os.read(fd, 64).decode().strip()
                finally:
                    os.close(fd)
            except BlockingIOError:
                time.sleep(0.1)  # still pending
                continue
            except OSError as e:
                raise ScstError(f"writing {value!r} to {path}: cannot read {result_path}: {e.strerror}") from e
            first = text.split()[0] if text else "0"
            code = int(first) if first.lstrip("-").isdigit() else 0
            if code == 0:
                return
            raise ScstError(f"writing {value!r} to {path} failed: {strerror(OSError(-code, os.strerror(-code)))}")

    def require_driver(self, driver: str) -> None:
        """Raise NOT_INSTALLED unless the SCST target driver's directory exists."""
        if not self.is_dir("targets", driver):
            raise OcfError(
                f"SCST target driver {driver} is not loaded ({self.path('targets', driver)} missing)",
                ExitStatus.NOT_INSTALLED,
            )

    def allowed_portals(self, *target: str) -> dict[str, str]:
        """A target's allowed_portal[N] attributes (``target``: its directory): address -> attribute."""
        found = {}
        for name in self.listdir(*target):
            if name.startswith("allowed_portal"):
                value = self.read(*target, name)
                if value:
                    found[value] = name
        return found

    def mgmt(self, verb: str, name: str, *parts: str) -> None:
        """Send "verb name" to the mgmt file in the directory ``parts``."""
        try:
            check_name(name)
        except ValueError as e:
            raise ScstError(f"refusing to send {verb} {name!r} to SCST: the name {e}") from None
        self.write(f"{verb} {name}", *parts, "mgmt")


def _conflict(reason: str) -> OcfError:
    return OcfError(f"conflicting SCST ALUA topology: {reason}", ExitStatus.NOT_CONFIGURED)


class ScstBackend(AluaBackend):
    """ALUA through SCST device groups, one target group per cluster node.

    ``target_layer``: the local target and its devices are the agent's to create and
    delete (parameter 'devices'); without it they are the admin's (scst.conf).
    """

    def __init__(
        self,
        device_groups: Sequence[DeviceGroupSpec],
        driver: str,
        log: Logger,
        sysfs: ScstSysfs | None = None,
        target_layer: ScstTargetLayer | None = None,
    ) -> None:
        self.device_groups = tuple(device_groups)
        self.driver = driver
        self.log = log
        self.sysfs = sysfs or ScstSysfs()
        self.target_layer = target_layer

    # -- reading -----------------------------------------------------------

    def loaded(self) -> bool:
        return self.sysfs.loaded()

    def group_states(self, node: str) -> dict[str, str | None]:
        return {
            dg.name: self.sysfs.read("device_groups", dg.name, "target_groups", node, "state")
            for dg in self.device_groups
        }

    def set_group_state(self, node: str, state: str) -> None:
        for dg in self.device_groups:
            self.sysfs.write(state, "device_groups", dg.name, "target_groups", node, "state")

    def local_problems(self, topology: Topology) -> list[str]:
        problems: list[str] = []
        local = topology.local
        for dg in self.device_groups:
            if not self.sysfs.is_dir("device_groups", dg.name):
                problems.append(f"device group {dg.name} is missing ({self.sysfs.path('device_groups', dg.name)})")
                continue
            for dev in dg.devices:
                if not self.sysfs.exists("devices", dev):
                    problems.append(f"device {dev} is gone ({self.sysfs.path('devices', dev)} missing)")
                elif not self.sysfs.exists("device_groups", dg.name, "devices", dev):
                    problems.append(f"device {dev} is not in device group {dg.name}")
            for port in topology.ports:
                if not self.sysfs.is_dir("device_groups", dg.name, "target_groups", port.node):
                    problems.append(f"target group {port.node} is missing from device group {dg.name}")
            if local is not None and not self.sysfs.is_link(
                "device_groups", dg.name, "target_groups", local.node, local.target
            ):
                # Short: Pacemaker keeps only the first 128 characters of an exit reason.
                problems.append(f"target {local.target} is not a member of target group {local.node} in {dg.name}")
        if local is not None and self.target_layer is not None:
            problems += self.target_layer.problems(local)
        return problems

    def not_loaded(self) -> str:
        return f"SCST is not loaded ({self.sysfs.root} missing)"

    def target_problems(self, local: NodePort) -> list[str]:
        problems = []
        enabled = self.sysfs.read("targets", self.driver, local.target, "enabled")
        if enabled is None:
            problems.append(f"local target {local.target} is not registered with driver {self.driver}")
        elif enabled != "1":
            problems.append(f"local target {local.target} is not enabled")
        return problems

    def target_view(self, local: NodePort) -> TargetView:
        target = ("targets", self.driver, local.target)
        sessions = self.sysfs.entries(*target, "sessions")
        portals = sorted(self.sysfs.allowed_portals(*target))
        return TargetView(local.target, self.sysfs.read(*target, "enabled"), portals,
                          None if sessions is None else len(sessions))

    # -- building ----------------------------------------------------------

    def ensure_topology(self, topology: Topology, initial: dict[str, str]) -> None:
        local = topology.local
        if local is None:
            raise OcfError("this node has no target in parameter 'targets'", ExitStatus.NOT_CONFIGURED)
        layer = self.target_layer
        if layer is None:
            self._check_local_target(local)
        else:
            layer.check(local)
        # Look at everything before changing anything: a conflict leaves the topology as it was.
        for dg in self.device_groups:
            self._check_device_group(dg, topology)
        if layer is not None:
            layer.build(local)  # the devices and the local target must exist before they join groups
        for dg in self.device_groups:
            self._ensure_device_group(dg)
            for port in topology.ports:
                self._ensure_target_group(dg, port, initial[port.node], is_local=port.node == local.node)

    def _check_local_target(self, local: NodePort) -> None:
        """The admin's target (scst.conf): registered, with our rel_tgt_id; its ALUA settings looked at."""
        self.sysfs.require_driver(self.driver)
        if not self.sysfs.exists("targets", self.driver, local.target):
            raise OcfError(f"local target {local.target} is not registered with SCST driver {self.driver}")
        rel = self.sysfs.read("targets", self.driver, local.target, "rel_tgt_id")
        if rel is not None and rel != str(local.rel_tgt_id):
            raise _conflict(
                f"local target {local.target} has rel_tgt_id {rel}, parameter 'rel_tgt_ids' says "
                f"{local.rel_tgt_id} (set rel_tgt_id in scst.conf so both nodes agree)"
            )
        # What the cluster sets on a target it owns (scst_target.py; lab Findings 12, 14): say it
        # when the admin's scst.conf leaves them out, start does not change the admin's objects.
        if self.sysfs.read("targets", self.driver, local.target, "aen_disabled") == "0":
            self.log.warning(f"target {local.target} has aen_disabled 0: Linux initiators miss its ALUA "
                             "changes (set aen_disabled 1 in scst.conf)")
        for dev in self._devices():
            if self.sysfs.read("devices", dev, "bind_alua_state") == "1":
                self.log.warning(f"SCST device {dev} has bind_alua_state 1: it serves no I/O while this "
                                 "node's group is not active/optimized (set bind_alua_state 0 in scst.conf)")

    def _check_device_group(self, dg: DeviceGroupSpec, topology: Topology) -> None:
        """Raise on anything in the existing topology that disagrees with the parameters."""
        for dev in dg.devices:
            if self.sysfs.exists("device_groups", dg.name, "devices", dev):
                continue
            if not self.sysfs.exists("devices", dev):
                if self.target_layer is not None and self.target_layer.owns(dev):
                    continue  # created by build()
                raise OcfError(f"SCST device {dev} does not exist ({self.sysfs.path('devices', dev)} missing)")
            owner = self._device_owner(dev)
            if owner is not None:
                raise _conflict(f"device {dev} already belongs to device group {owner}")
        ours = {port.node for port in topology.ports}
        targets = {port.target for port in topology.ports}
        for name in self.sysfs.listdir("device_groups", dg.name, "target_groups"):
            if name == "mgmt" or name in ours:
                continue
            clash = sorted(targets & set(self.sysfs.listdir("device_groups", dg.name, "target_groups", name)))
            if clash:
                raise _conflict(
                    f"target group {name} in device group {dg.name} (not a cluster node name) holds "
                    f"{', '.join(clash)}; remove the old group before handing this device group to the cluster"
                )
            self.log.warning(f"device group {dg.name} has a target group {name} that is not a cluster node")
        local = topology.local
        for port in topology.ports:
            tg = ("device_groups", dg.name, "target_groups", port.node)
            if not self.sysfs.exists(*tg):
                continue
            group_id = self.sysfs.read(*tg, "group_id")
            if group_id not in (None, "", "0", str(port.group_id)):
                raise _conflict(
                    f"target group {port.node} in device group {dg.name} has group_id {group_id}, "
                    f"expected {port.group_id}"
                )
            member = (*tg, port.target)
            if not self.sysfs.exists(*member):
                continue
            is_link = self.sysfs.is_link(*member)
            if local is not None and port.node == local.node and not is_link:
                raise _conflict(
                    f"local target {port.target} is a remote entry in target group {port.node} of {dg.name} "
                    f"(it was added before the target was registered); remove it with "
                    f"'del {port.target}' in {self.sysfs.path(*tg, 'mgmt')}"
                )
            if port.node != (local.node if local else None):
                if is_link:
                    raise _conflict(
                        f"peer target {port.target} is registered on this node too (it is a local member of "
                        f"target group {port.node} in {dg.name}); each node must export its own target"
                    )
                rel = self.sysfs.read(*member, "rel_tgt_id")
                if rel not in (None, "", "0", str(port.rel_tgt_id)):
                    raise _conflict(
                        f"remote target {port.target} in target group {port.node} of {dg.name} has "
                        f"rel_tgt_id {rel}, expected {port.rel_tgt_id}"
                    )

    def _ensure_device_group(self, dg: DeviceGroupSpec) -> None:
        if not self.sysfs.exists("device_groups", dg.name):
            self.log.info(f"creating ALUA device group {dg.name}")
            self.sysfs.mgmt("create", dg.name, "device_groups")
        for dev in dg.devices:
            if not self.sysfs.exists("device_groups", dg.name, "devices", dev):
                self.log.info(f"adding device {dev} to device group {dg.name}")
                self.sysfs.mgmt("add", dev, "device_groups", dg.name, "devices")

    def _device_owner(self, dev: str) -> str | None:
        for other in self.sysfs.listdir("device_groups"):
            if other != "mgmt" and self.sysfs.exists("device_groups", other, "devices", dev):
                return other
        return None

    def _ensure_target_group(self, dg: DeviceGroupSpec, port: NodePort, initial: str, *, is_local: bool) -> None:
        """Create what is missing of one node's target group (conflicts were checked before)."""
        tg = ("device_groups", dg.name, "target_groups", port.node)
        created = False
        if not self.sysfs.exists(*tg):
            self.log.info(f"creating target group {port.node} in device group {dg.name}")
            self.sysfs.mgmt("create", port.node, *tg[:-1])
            created = True
        if self.sysfs.read(*tg, "group_id") in (None, "", "0"):
            self.sysfs.write(str(port.group_id), *tg, "group_id")
        if created:
            # A new group starts active: give it its state before any target joins.
            self.sysfs.write(initial, *tg, "state")
        member = (*tg, port.target)
        if not self.sysfs.exists(*member):
            kind = "local" if is_local else "remote"
            self.log.info(f"adding {kind} target {port.target} to target group {port.node} in {dg.name}")
            self.sysfs.mgmt("add", port.target, *tg)
        if not is_local and self.sysfs.read(*member, "rel_tgt_id") in (None, "", "0"):
            self.sysfs.write(str(port.rel_tgt_id), *member, "rel_tgt_id")

    # -- access --------------------------------------------------------------

    def open_access(self, topology: Topology, *, reassert: bool = False) -> None:
        """With an owned target: export its LUNs and enable it, now that every device is placed."""
        if self.target_layer is not None and topology.local is not None:
            self.target_layer.open(topology.local, reassert=reassert)

    def close_access(self, topology: Topology) -> None:
        """With an owned target: disable it, then delete its LUNs, itself and its devices."""
        if self.target_layer is not None and topology.local is not None:
            self.target_layer.close(topology.local)

    # -- implicit transition -------------------------------------------------

    def _devices(self) -> list[str]:
        return [dev for dg in self.device_groups for dev in dg.devices]

    def block(self) -> None:
        for dev in self._devices():
            self.sysfs.write("1", "devices", dev, "block")

    def unblock(self) -> None:
        for dev in self._devices():
            self.sysfs.write("0", "devices", dev, "block")
