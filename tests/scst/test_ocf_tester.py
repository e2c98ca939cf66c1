"""resource-agents' ocf-tester passes on the installed scst agent, against the SCST emulator.

ocf-tester runs in the emulator's mount namespace, where the emulated tree
is at /sys/kernel/scst_tgt; there is no cluster, so the node name is
uname's and the promotion score cannot be set (which must not fail anything).
"""

from __future__ import annotations

import os
import subprocess

from alua.targets.scst.layer_params import VAR_DIR_ENV
from emulators.fixtures import scst_emulator  # noqa: F401 - fixture
from scst.harness import LUN_PATH, bare_config, node_config, target

NODE = os.uname().nodename
PEER = "peer-node"


def test_ocf_tester_passes(scst_emulator, installed_agents) -> None:  # noqa: F811
    emulator = scst_emulator(node_config(NODE, nodes=(NODE, PEER)), name="tester")
    targets = f"{NODE}={target(NODE)} {PEER}={target(PEER)}"
    proc = emulator.run(
        ["ocf-tester", "-n", "p_scst", "-o", "device_groups=vg1", "-o", f"targets={targets}",
         str(installed_agents / "scst")],
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "scst passed all tests" in output
    groups = emulator.dump()["device_groups"]["vg1"]["target_groups"]
    assert groups[NODE]["state"] == "offline", "ocf-tester ends with stop"
    assert groups[PEER]["members"][target(PEER)]["kind"] == "remote"


def test_ocf_tester_fails_without_scst(installed_agents) -> None:
    """The same run on this machine's real /sys, which has no SCST, must not pass."""
    proc = subprocess.run(
        ["ocf-tester", "-n", "p_scst", "-o", "device_groups=vg1", "-o",
         f"targets={NODE}={target(NODE)} {PEER}={target(PEER)}", str(installed_agents / "scst")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode != 0
    assert "SCST is not loaded" in proc.stdout + proc.stderr


def test_ocf_tester_passes_with_the_target_layer(scst_emulator, installed_agents, tmp_path) -> None:  # noqa: F811
    """With devices=..., every start creates the device and target and every stop deletes them."""
    emulator = scst_emulator(bare_config(), name="tester-layer")
    var_dir = tmp_path / "var-lib-scst"
    for sub in ("pr", "vdev_mode_pages"):
        (var_dir / sub).mkdir(parents=True)
    targets = f"{NODE}={target(NODE)} {PEER}={target(PEER)}"
    proc = emulator.run(
        ["ocf-tester", "-n", "p_scst", "-o", "device_groups=vg1", "-o", f"devices=vg1={LUN_PATH}",
         "-o", f"targets={targets}", str(installed_agents / "scst")],
        env={**os.environ, VAR_DIR_ENV: str(var_dir)},
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "scst passed all tests" in output
    state = emulator.dump()
    assert state["devices"] == {} and state["targets"]["iscsi"] == {}, "ocf-tester ends with stop"
    created = [w for w in emulator.writes() if w["data"].startswith("add_device ")]
    deleted = [w for w in emulator.writes() if w["data"].startswith("del_device ")]
    assert len(created) == len(deleted) >= 2, "each start builds the layer, each stop removes it"
