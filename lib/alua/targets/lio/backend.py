"""The LIO ALUA backend: target port groups and states in the kernel target's configfs.

Layout (drivers/target/target_core_configfs.c, target_core_fabric_configfs.c):

    target/core/<hba>/<dev>/                         enable, wwn/vpd_unit_serial
    target/core/<hba>/<dev>/alua/<tg_pt_gp>/         tg_pt_gp_id, alua_access_state,
                                                     alua_access_type, members (mkdir creates)
    target/<fabric>/<wwn>/tpgt_<n>/                  enable, rtpi (Linux 6.4 and later)
    target/<fabric>/<wwn>/tpgt_<n>/lun/lun_<m>/      alua_tg_pt_gp, <link> -> core/<hba>/<dev>

LIO keeps ALUA per backstore device, so "a node's target group" is one
tg_pt_gp named after the node in every managed device.  configfs states are
numbers; the role core names them as SCST does.  The target, backstores and
LUNs belong to the admin's LIO configuration (or iSCSITarget/iSCSILogicalUnit):
this module only creates groups, moves this node's LUNs into its group, writes
states and, when told to, opens the local target's network portals
(``tpgt_N/np/IP:PORT``: mkdir binds the listening socket) last on start and
closes them on stop, so no initiator reaches a LUN before it is in its group.  Facts and
sources: tests/emulators/LIO-FACTS.md.
"""

from __future__ import annotations

from alua.targets.roles import ACTIVE, NONOPTIMIZED, OFFLINE, STANDBY, TRANSITIONING, UNAVAILABLE, AluaBackend
from alua.targets.roles import TargetView
from alua.host.kernelfs import KernelTree
from alua.targets.lio.names import ANY_HBA, DeviceSpec
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from alua.targets.roles import NodePort, Topology
    from alua.ocf.log import Logger

CONFIGFS_TARGET = "/sys/kernel/config/target"
DEFAULT_GROUP = "default_tg_pt_gp"

# alua_access_state values (include/target/target_core_base.h, SPC-4 table "asymmetric access state").
STATE_CODES = {ACTIVE: 0, NONOPTIMIZED: 1, STANDBY: 2, UNAVAILABLE: 3, OFFLINE: 14, TRANSITIONING: 15}
_STATE_NAMES = {code: name for name, code in STATE_CODES.items()}

# alua_access_type 1: implicit ALUA only.  Explicit ALUA would let an initiator's
# SET TARGET PORT GROUPS change a state behind the cluster's back.
IMPLICIT_ONLY = "1"
_IMPLICIT_ONLY_SHOWN = "Implicit"

def state_name(raw: str) -> str:
    """The role core's name for an alua_access_state value."""
    try:
        code = int(raw, 0)
    except ValueError:
        return f"unreadable state {raw!r}"
    return _STATE_NAMES.get(code, f"state {code}")


class LioError(OcfError):
    """A read, write or mkdir in LIO's configfs failed; the reason names path and value."""


class LioConfigfs(KernelTree):
    """/sys/kernel/config/target: attributes, and target port groups made with mkdir."""

    Error = LioError
    ROOT = CONFIGFS_TARGET

    def loaded(self) -> bool:
        """target_core_mod creates target/core when it registers with configfs."""
        return self.is_dir("core")


def _conflict(reason: str) -> OcfError:
    return OcfError(f"conflicting LIO ALUA configuration: {reason}", ExitStatus.NOT_CONFIGURED)


class LioBackend(AluaBackend):
    """ALUA through LIO target port groups, one per cluster node in every managed backstore."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        log: Logger,
        *,
        fabric: str = "iscsi",
        tpgt: int = 1,
        check_rtpi: bool = False,
        portals: dict[str, tuple[str, ...]] | None = None,
        configfs: LioConfigfs | None = None,
    ) -> None:
        self.devices = tuple(devices)
        self.portals = portals or {}
        self._hbas: dict[str, str] = {}
        self.log, self.fabric, self.tpgt, self.check_rtpi = log, fabric, tpgt, check_rtpi
        self.configfs = configfs or LioConfigfs()

    # -- paths ---------------------------------------------------------------

    def _dev(self, dev: DeviceSpec) -> tuple[str, ...]:
        return ("core", self._hba(dev), dev.name)

    def _hba(self, dev: DeviceSpec) -> str:
        """The HBA a backstore is on: as named, or for ``*/NAME`` the one HBA that has NAME."""
        if dev.hba != ANY_HBA:
            return dev.hba
        known = self._hbas.get(dev.name)
        if known is not None:
            return known
        hbas = self.configfs.entries("core") or ()
        found = [hba for hba in hbas if "_" in hba and self.configfs.is_dir("core", hba, dev.name)]
        if len(found) > 1:
            raise OcfError(
                f"parameter 'devices': backstore {dev.name} exists on HBAs {', '.join(found)}: name the HBA",
                ExitStatus.NOT_CONFIGURED,
            )
        if not found:
            return ANY_HBA  # missing: the callers say so; look again next time
        self._hbas[dev.name] = found[0]
        return found[0]

    def _group(self, dev: DeviceSpec, node: str) -> tuple[str, ...]:
        return (*self._dev(dev), "alua", node)

    def _tpg(self, target: str) -> tuple[str, ...]:
        return (self.fabric, target, f"tpgt_{self.tpgt}")

    def _np(self, target: str) -> tuple[str, ...]:
        return (*self._tpg(target), "np")

    def _shown(self, *parts: str) -> str:
        return self.configfs.path(*parts)

    # -- reading -------------------------------------------------------------

    def loaded(self) -> bool:
        return self.configfs.loaded()

    def group_states(self, node: str) -> dict[str, str | None]:
        states: dict[str, str | None] = {}
        for dev in self.devices:
            raw = self.configfs.read_text(*self._group(dev, node), "alua_access_state")
            states[str(dev)] = None if raw is None else state_name(raw.strip())
        return states

    def set_group_state(self, node: str, state: str) -> None:
        code = str(STATE_CODES[state])
        for dev in self.devices:
            self.configfs.write(code, *self._group(dev, node), "alua_access_state")

    def _members(self, dev: DeviceSpec, group: str) -> list[str]:
        """The LUNs in a group as ``members`` lists them: fabric_name/wwn/tpgt_N/lun_M."""
        text = self.configfs.read_text(*self._group(dev, group), "members") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _is_local_lun(self, member: str, target: str) -> bool:
        # The first component is the fabric's name ("iSCSI"), not its configfs directory ("iscsi").
        parts = member.split("/")
        return len(parts) == 4 and parts[1] == target and parts[2] == f"tpgt_{self.tpgt}"

    def local_problems(self, topology: Topology) -> list[str]:
        problems: list[str] = []
        local = topology.local
        for dev in self.devices:
            groups = self.configfs.entries(*self._dev(dev), "alua")
            if groups is None:
                problems.append(f"backstore {dev} is gone ({self._shown(*self._dev(dev))} missing)")
                continue
            for port in topology.ports:
                if port.node not in groups:
                    problems.append(f"target port group {port.node} is missing from backstore {dev}")
            if local is None:
                continue
            if local.node in groups and not any(
                self._is_local_lun(m, local.target) for m in self._members(dev, local.node)
            ):
                problems.append(
                    f"no LUN of local target {local.target} tpgt_{self.tpgt} is in target port group "
                    f"{local.node} of backstore {dev} (was the LUN removed or moved to another group?)"
                )
            strays = [
                m.rsplit("/", 1)[-1] for m in self._members(dev, DEFAULT_GROUP) if self._is_local_lun(m, local.target)
            ]
            if strays:
                problems.append(
                    f"{', '.join(strays)} of local target {local.target} exporting {dev} is in {DEFAULT_GROUP}, "
                    "which stays active/optimized whatever the cluster decides"
                )
        return problems

    def not_loaded(self) -> str:
        return f"LIO is not loaded ({self.configfs.path('core')} missing)"

    def target_problems(self, local: NodePort) -> list[str]:
        problems = []
        tpg = self._tpg(local.target)
        enabled = self.configfs.read_text(*tpg, "enable")
        if enabled is None:
            problems.append(f"local target {local.target} has no tpgt_{self.tpgt} ({self._shown(*tpg)} missing)")
        elif enabled.strip() != "1":
            problems.append(f"local target {local.target} tpgt_{self.tpgt} is not enabled")
        for dev in self.devices:
            problem = self._serial_problem(dev)
            if problem:
                problems.append(problem)
        if self.check_rtpi:
            problem = self._rtpi_problem(local)
            if problem:
                problems.append(problem)
        return problems

    def _serial_problem(self, dev: DeviceSpec) -> str | None:
        text = self.configfs.read_text(*self._dev(dev), "wwn", "vpd_unit_serial")
        if text is None:
            return None  # the backstore is gone: local_problems says so
        actual = text.partition(":")[2].strip()
        if actual == dev.serial:
            return None
        return (
            f"backstore {dev} presents unit serial {actual!r}, parameter 'devices' expects {dev.serial!r}: "
            "both nodes must present the same serial or multipath will not merge their paths"
        )

    def _rtpi_problem(self, local: NodePort) -> str | None:
        tpg = self._tpg(local.target)
        raw = self.configfs.read_text(*tpg, "rtpi")
        if raw is None:
            return (
                f"parameter 'rel_tgt_ids' is set but this kernel has no {self._shown(*tpg, 'rtpi')} "
                "(before Linux 6.4 LIO assigns relative target port ids itself): remove the parameter"
            )
        try:
            rtpi = int(raw.strip(), 0)
        except ValueError:
            return f"{self._shown(*tpg, 'rtpi')} reads {raw.strip()!r}, not a number"
        if rtpi != local.rel_tgt_id:
            return (
                f"local target {local.target} tpgt_{self.tpgt} has relative target port id {rtpi}, "
                f"parameter 'rel_tgt_ids' says {local.rel_tgt_id} (set {self._shown(*tpg, 'rtpi')} "
                "while the TPG is disabled)"
            )
        return None

    def target_view(self, local: NodePort) -> TargetView:
        """Sessions: the TPG's dynamic_sessions (one initiator a line) where the kernel has it."""
        tpg = self._tpg(local.target)
        enabled, sessions = (self.configfs.read_text(*tpg, name) for name in ("enable", "dynamic_sessions"))
        return TargetView(f"{local.target} tpgt_{self.tpgt}", enabled and enabled.strip(),
                          self.configfs.entries(*tpg, "np") or (), None if sessions is None else len(sessions.split()))

    # -- building ------------------------------------------------------------

    def ensure_topology(self, topology: Topology, initial: dict[str, str]) -> None:
        local = topology.local
        if local is None:
            raise OcfError("this node has no target in parameter 'targets'", ExitStatus.NOT_CONFIGURED)
        self._check_local_target(local)
        # Look at everything before changing anything: a conflict leaves the configuration as it was.
        joining = {str(dev): self._check_device(dev, topology, local) for dev in self.devices}
        for dev in self.devices:
            for port in topology.ports:
                self._ensure_group(dev, port, initial[port.node])
            for lun in joining[str(dev)]:
                self.log.info(f"moving {lun} of {local.target} ({dev}) into target port group {local.node}")
                self.configfs.write(local.node, *self._tpg(local.target), "lun", lun, "alua_tg_pt_gp")

    def _check_local_target(self, local: NodePort) -> None:
        if not self.configfs.is_dir(self.fabric):
            raise OcfError(
                f"LIO fabric {self.fabric} is not set up ({self._shown(self.fabric)} missing): restore the "
                "saved LIO configuration before starting this resource"
            )
        tpg = self._tpg(local.target)
        if not self.configfs.is_dir(self.fabric, local.target):
            raise OcfError(f"local target {local.target} is not configured in LIO fabric {self.fabric}")
        if not self.configfs.is_dir(*tpg):
            raise OcfError(f"local target {local.target} has no tpgt_{self.tpgt} ({self._shown(*tpg)} missing)")
        if self.check_rtpi:
            problem = self._rtpi_problem(local)
            if problem:
                raise _conflict(problem)

    def _check_device(self, dev: DeviceSpec, topology: Topology, local: NodePort) -> list[str]:
        """Raise on anything that disagrees with the parameters; the local LUNs that must join."""
        if not self.configfs.is_dir(*self._dev(dev)):
            raise OcfError(f"LIO backstore {dev} does not exist ({self._shown(*self._dev(dev))} missing)")
        enabled = self.configfs.read_text(*self._dev(dev), "enable")
        if enabled is not None and enabled.strip() != "1":
            raise OcfError(f"LIO backstore {dev} is not enabled (configured)")
        problem = self._serial_problem(dev)
        if problem:
            raise _conflict(problem)
        ports = {port.node: port for port in topology.ports}
        wanted = {str(port.group_id): port.node for port in topology.ports}
        for group in self.configfs.entries(*self._dev(dev), "alua") or ():
            group_id = (self.configfs.read_text(*self._group(dev, group), "tg_pt_gp_id") or "").strip()
            port = ports.get(group)
            if port is not None:
                if group_id not in ("", str(port.group_id)):
                    raise _conflict(
                        f"target port group {group} of backstore {dev} has tg_pt_gp_id {group_id}, "
                        f"expected {port.group_id}"
                    )
            elif group_id in wanted:
                raise _conflict(
                    f"target port group {group} of backstore {dev} (not a cluster node name) has "
                    f"tg_pt_gp_id {group_id}, the id of node {wanted[group_id]}; remove that group first"
                )
        luns = self._local_luns(dev, local)
        if not luns:
            raise OcfError(
                f"local target {local.target} tpgt_{self.tpgt} exports no LUN of backstore {dev}: "
                "add the LUN to the saved LIO configuration"
            )
        joining = []
        for lun, group in luns:
            if group == local.node:
                continue
            if group == DEFAULT_GROUP:
                joining.append(lun)
            elif group in ports:
                raise _conflict(
                    f"{lun} of local target {local.target} ({dev}) is in target port group {group} of "
                    "another node; each node's LUNs belong to its own group"
                )
            else:
                raise _conflict(
                    f"{lun} of local target {local.target} ({dev}) is in target port group {group}, "
                    f"which is not a cluster node name; move it back to {DEFAULT_GROUP} first"
                )
        return joining

    def _local_luns(self, dev: DeviceSpec, local: NodePort) -> list[tuple[str, str]]:
        """(lun_M, its group) for every LUN of the local TPG that exports ``dev``."""
        lun_dir = (*self._tpg(local.target), "lun")
        found = []
        for lun in self.configfs.entries(*lun_dir) or ():
            for entry in self.configfs.entries(*lun_dir, lun) or ():
                link = self.configfs.readlink(*lun_dir, lun, entry)
                if link is not None and link.rstrip("/").split("/")[-3:] == list(self._dev(dev)):
                    info = self.configfs.read_text(*lun_dir, lun, "alua_tg_pt_gp") or ""
                    # "TG Port Alias: <group>" is the first line.
                    found.append((lun, info.partition("\n")[0].partition(":")[2].strip()))
                    break
        return found

    def _ensure_group(self, dev: DeviceSpec, port: NodePort, initial: str) -> None:
        """Create what is missing of one node's group (conflicts were checked before)."""
        group = self._group(dev, port.node)
        created = False
        if not self.configfs.exists(*group):
            self.log.info(f"creating target port group {port.node} in backstore {dev}")
            self.configfs.mkdir(*group)
            created = True
        if (self.configfs.read_text(*group, "tg_pt_gp_id") or "").strip() == "":
            # Without an id a group is invisible to initiators and refuses state writes:
            # it was never in use, so it is as new as a created one.
            self.configfs.write(str(port.group_id), *group, "tg_pt_gp_id")
            created = True
        if (self.configfs.read_text(*group, "alua_access_type") or "").strip() != _IMPLICIT_ONLY_SHOWN:
            self.configfs.write(IMPLICIT_ONLY, *group, "alua_access_type")
        if created:
            # A new group starts active/optimized: give it its state before any LUN joins.
            self.configfs.write(str(STATE_CODES[initial]), *group, "alua_access_state")

    # -- access ----------------------------------------------------------------

    def _local_portals(self, topology: Topology) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """(the local TPG's np directory, the local node's portals, "of <target> tpgt_N")."""
        local = topology.local
        if local is None:
            return (), (), ""
        return self._np(local.target), self.portals.get(local.node, ()), f"of {local.target} tpgt_{self.tpgt}"

    def open_access(self, topology: Topology, *, reassert: bool = False) -> None:
        """Create the local target's network portals (parameter 'portals'): initiators log in only now."""
        np_dir, portals, of = self._local_portals(topology)
        for portal in portals:
            if self.configfs.is_dir(*np_dir, portal):
                continue
            if reassert:
                self.log.warning(f"network portal {portal} {of} is gone; opening it again")
            else:
                self.log.info(f"opening network portal {portal} {of}")
            # LIO binds with IP_FREEBIND: an address this node does not have is accepted too.
            try:
                self.configfs.mkdir(*np_dir, portal)
            except LioError as e:
                # Pacemaker keeps 128 characters of a reason: the errno first, the long path last.
                why = e.reason.rpartition(": ")[2]
                raise LioError(f"cannot open network portal {portal}: {why} ({self._shown(*np_dir, portal)})") from e

    def close_access(self, topology: Topology) -> None:
        """Remove the local target's network portals named in parameter 'portals'."""
        np_dir, portals, of = self._local_portals(topology)
        for portal in portals:
            if self.configfs.is_dir(*np_dir, portal):
                self.log.info(f"closing network portal {portal} {of}")
                self.configfs.rmdir(*np_dir, portal)
