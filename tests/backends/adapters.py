"""One adapter per ALUA kernel backend: what the shared scenarios need to know about it.

A scenario speaks of nodes, roles and group states; an adapter says what a
storage node's kernel looks like before the cluster touches ALUA, which
parameters the agent gets, where a group's state lives in the emulated tree,
how a state is written there and how an admin takes a node's own ports out
of its group.
"""

from __future__ import annotations

from alua.targets.lio.backend import STATE_CODES, state_name
from backends.harness import NODES, StorageNode
from scst import harness as scst


class Backend:
    """The interface every adapter fills in."""

    name = ""
    agent = ""
    resource = ""
    fixture = ""  # the emulator factory fixture
    not_loaded = ""  # what start's exit reason says without the kernel interface
    member_dropped = ""  # what a monitor's reason says once the local ports left the group

    def node_config(self, node: str) -> dict:
        raise NotImplementedError

    def params(self, **extra: str) -> dict[str, str]:
        raise NotImplementedError

    def node(self, name: str, emulator, workdir, params: dict[str, str] | None = None) -> StorageNode:
        return StorageNode(name, emulator, workdir, self.params() if params is None else params,
                           agent=self.agent, resource=self.resource)

    def states(self, node: StorageNode) -> dict[str, str | None]:
        """Every cluster node's group state as this node's kernel reports it (None: no group)."""
        raise NotImplementedError

    def state_path(self, group: str) -> str:
        """The emulator path of a group's state attribute (for faults)."""
        raise NotImplementedError

    def set_state(self, node: StorageNode, group: str, state: str) -> None:
        """Another actor (an old peer, an admin) stores a group state behind the agent's back."""
        raise NotImplementedError

    def state_write(self, w: dict) -> tuple[str, str, str] | None:
        raise NotImplementedError

    def drop_local_ports(self, node: StorageNode) -> None:
        """An admin takes the node's own ports out of its group."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class ScstBackend(Backend):
    name = agent = "scst"
    resource = "p_scst"
    fixture = "scst_emulator"
    not_loaded = "SCST is not loaded"
    member_dropped = "is not a member of target group"

    def node_config(self, node: str) -> dict:
        return scst.node_config(node)

    def params(self, **extra: str) -> dict[str, str]:
        return scst.params_for(**extra)

    def states(self, node: StorageNode) -> dict[str, str | None]:
        return {n: scst.group_state(node.emulator, "vg1", n) for n in NODES}

    def state_path(self, group: str) -> str:
        return f"device_groups/vg1/target_groups/{group}/state"

    def set_state(self, node: StorageNode, group: str, state: str) -> None:
        node.emulator.set(self.state_path(group), state)

    def state_write(self, w: dict) -> tuple[str, str, str] | None:
        return scst.state_write(w)

    def drop_local_ports(self, node: StorageNode) -> None:
        node.emulator.unregister_target(scst.target(node.name))


LIO_SERIAL = "5f3d2c1a-0b7e-4c55-9a0e-2d7f1f4e8a61"
LIO_DEVICE = "iblock_0/vg1"


def lio_target(node: str) -> str:
    return f"iqn.2003-01.org.linux-iscsi.{node}:san"


def lio_node_config(node: str, *, serial: str = LIO_SERIAL, luns: int = 1, rtpi: bool = False) -> dict:
    """What LIO looks like on a storage node after its saved configuration was restored."""
    return {
        "rtpi": rtpi,
        "backstores": {LIO_DEVICE: {"serial": serial, "udev_path": "/dev/drbd0"}},
        "targets": {"iscsi": {lio_target(node): {"tpgs": {"1": {
            "enable": 1,
            "luns": {str(i): {"backstore": LIO_DEVICE, "alias": f"3cdfad209{i}"} for i in range(luns)},
        }}}}},
    }


def lio_params(nodes=NODES, **extra: str) -> dict[str, str]:
    return {"devices": f"{LIO_DEVICE}={LIO_SERIAL}",
            "targets": " ".join(f"{n}={lio_target(n)}" for n in nodes), **extra}


class LioBackend(Backend):
    name = agent = "lio"
    resource = "p_lio"
    fixture = "lio_emulator"
    not_loaded = "LIO is not loaded"
    member_dropped = "no LUN of local target"

    def node_config(self, node: str) -> dict:
        return lio_node_config(node)

    def params(self, **extra: str) -> dict[str, str]:
        return lio_params(**extra)

    def states(self, node: StorageNode) -> dict[str, str | None]:
        groups = node.emulator.dump()["backstores"][LIO_DEVICE]["alua"]
        return {n: state_name(str(groups[n]["state"])) if n in groups else None for n in NODES}

    def state_path(self, group: str) -> str:
        return f"target/core/{LIO_DEVICE}/alua/{group}/alua_access_state"

    def set_state(self, node: StorageNode, group: str, state: str) -> None:
        node.emulator.set(self.state_path(group), str(STATE_CODES[state]))

    def state_write(self, w: dict) -> tuple[str, str, str] | None:
        parts = w["path"].split("/")
        if w.get("op", "write") != "write" or len(parts) != 7 or parts[:2] != ["target", "core"]:
            return None
        if parts[4] != "alua" or parts[6] != "alua_access_state":
            return None
        return f"{parts[2]}/{parts[3]}", parts[5], state_name(w["data"].strip())

    def drop_local_ports(self, node: StorageNode) -> None:
        # As "targetcli .../luns/lun0 set alua alua_tg_pt_gp_name=default_tg_pt_gp" would.
        node.emulator.set(f"target/iscsi/{lio_target(node.name)}/tpgt_1/lun/lun_0/alua_tg_pt_gp", "NULL")


BACKENDS = (ScstBackend(), LioBackend())
