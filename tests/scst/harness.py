"""Storage nodes for scst agent tests: one SCST emulator and one agent per node.

The agent runs unmodified in the emulator's mount namespace, where the
emulated tree is at /sys/kernel/scst_tgt, with the environment Pacemaker
would give it on that node (node name, clone meta, notify variables).
The node itself is backends.harness.StorageNode, shared with the lio agent's
tests and the backend scenario table; this module adds SCST's topology.
"""

from __future__ import annotations

from pathlib import Path

import backends.harness
from alua.targets.scst.layer_params import VAR_DIR_ENV
from backends.harness import CLONE_META, NODES  # noqa: F401 - re-exported for the scst tests
from emulators.client import ScstEmulator


def target(node: str, lun: str = "vg1") -> str:
    return f"iqn.2016-02.local.virtual:{node}.{lun}"


def params_for(nodes=NODES, device_groups: str = "vg1", **extra: str) -> dict[str, str]:
    return {"device_groups": device_groups, "targets": " ".join(f"{n}={target(n)}" for n in nodes), **extra}


def node_config(node: str, nodes=NODES, devices=("vg1",)) -> dict:
    """What SCST looks like on a storage node before the cluster touches ALUA."""
    rel = nodes.index(node) + 1
    return {
        "drivers": {"iscsi": {"enabled": 1}},  # scst.conf enables the driver (SCST leaves it disabled)
        "devices": {d: {"handler": "vdisk_blockio", "filename": f"/dev/drbd{i}", "usn": f"509f7d7{i}"}
                    for i, d in enumerate(devices)},
        "targets": {"iscsi": {target(node): {"rel_tgt_id": rel, "enabled": 1, "luns": {"0": devices[0]}}}},
    }


LUN_PATH = "/dev/vg1/lun1"  # the LV the SCST device is created on (crm/scst.crm)


def layer_params(nodes=NODES, **extra: str) -> dict[str, str]:
    """Parameters with which the agent owns the target layer: device vg1 on the LV, the local target."""
    return params_for(nodes, **{"devices": f"vg1={LUN_PATH}", **extra})


def bare_config(driver_enabled: int = 1) -> dict:
    """SCST loaded with scst_vdisk and iscsi-scst, and nothing configured (an empty scst.conf)."""
    return {"drivers": {"iscsi": {"enabled": driver_enabled}}}


def group_state(emulator: ScstEmulator, dg: str, tg: str) -> str | None:
    groups = emulator.dump().get("device_groups", {})
    return groups.get(dg, {}).get("target_groups", {}).get(tg, {}).get("state")


class StorageNode(backends.harness.StorageNode):
    """A storage node running the scst agent against its own SCST emulator."""

    def __init__(self, name: str, emulator: ScstEmulator | None, workdir: Path,
                 params: dict[str, str] | None = None) -> None:
        super().__init__(name, emulator, workdir, params if params is not None else params_for(),
                         agent="scst", resource="p_scst")
        # What SCST's make install creates in /var/lib/scst, where this node's agent looks for it.
        self.var_dir = workdir / "var-lib-scst"
        for sub in ("pr", "vdev_mode_pages", "dif_tags"):
            (self.var_dir / sub).mkdir(parents=True, exist_ok=True)
        self.env[VAR_DIR_ENV] = str(self.var_dir)

    def states(self, dg: str = "vg1") -> dict[str, str | None]:
        assert self.emulator is not None
        return {n: group_state(self.emulator, dg, n) for n in NODES}


def notify_env(kind: str, operation: str, **lists: str) -> dict[str, str]:
    """The notify variables Pacemaker sets for the p_scst clone."""
    return backends.harness.notify_env(kind, operation, "p_scst", **lists)


def state_write(w: dict) -> tuple[str, str, str] | None:
    """A write-log entry as (device group, target group, state) if it stores a target group's state."""
    parts = w["path"].split("/")
    if len(parts) != 5 or parts[0] != "device_groups" or parts[4] != "state":
        return None
    return parts[1], parts[3], w["data"].strip()


def replay_never_two_active(writes: list[dict], nodes=NODES) -> list[str]:
    """Replay one emulator's write log; return the moments two groups were active."""
    return backends.harness.replay_never_two_active(writes, state_write)
