"""resource-agents' ocf-tester passes on the installed lio agent, against the LIO configfs emulator.

ocf-tester runs in the emulator's mount namespace, where the emulated tree
is at /sys/kernel/config/target; there is no cluster, so the node name is
uname's and the promotion score cannot be set (which must not fail anything).
"""

from __future__ import annotations

import os
import subprocess

from backends.adapters import LIO_DEVICE, LIO_SERIAL, lio_node_config, lio_target
from emulators.lio_fixtures import lio_emulator  # noqa: F401 - fixture

NODE = os.uname().nodename
PEER = "peer-node"
OPTIONS = ["-o", f"devices={LIO_DEVICE}={LIO_SERIAL}",
           "-o", f"targets={NODE}={lio_target(NODE)} {PEER}={lio_target(PEER)}"]


def test_ocf_tester_passes(lio_emulator, installed_agents) -> None:  # noqa: F811
    emulator = lio_emulator(lio_node_config(NODE), name="tester")
    proc = emulator.run(["ocf-tester", "-n", "p_lio", *OPTIONS, str(installed_agents / "lio")], timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "lio passed all tests" in output
    groups = emulator.dump()["backstores"][LIO_DEVICE]["alua"]
    assert groups[NODE]["state"] == 14, "ocf-tester ends with stop: offline"
    assert groups[NODE]["members"] == [f"iSCSI/{lio_target(NODE)}/tpgt_1/lun_0"]
    assert groups[PEER]["members"] == []


def test_ocf_tester_passes_with_portals(lio_emulator, installed_agents) -> None:  # noqa: F811
    """The target created without portals: start opens this node's, stop closes them, the peer's never appear."""
    emulator = lio_emulator(lio_node_config(NODE), name="tester")
    portals = f"portals={NODE}=192.168.122.51:3260,[fd00::51]:3260 {PEER}=192.168.122.52:3260"
    proc = emulator.run(["ocf-tester", "-n", "p_lio", *OPTIONS, "-o", portals, str(installed_agents / "lio")],
                        timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "lio passed all tests" in output
    np_dir = f"target/iscsi/{lio_target(NODE)}/tpgt_1/np/"
    done = [(w["op"], w["path"].removeprefix(np_dir), w["result"]) for w in emulator.writes()
            if w["path"].startswith(np_dir)]
    opened = {name for op, name, result in done if op == "mkdir" and result == "ok"}
    assert opened == {"192.168.122.51:3260", "[fd00::51]:3260"}, done
    assert all(result == "ok" for _, _, result in done), done
    assert done[-2:] == [("rmdir", "192.168.122.51:3260", "ok"), ("rmdir", "[fd00::51]:3260", "ok")], done
    assert emulator.portals(lio_target(NODE)) == [], "ocf-tester ends with stop: portals closed"
    assert emulator.dump()["backstores"][LIO_DEVICE]["alua"][NODE]["state"] == 14


def test_ocf_tester_fails_without_lio(installed_agents) -> None:
    """The same run on this machine's real /sys, which has no kernel target, must not pass."""
    proc = subprocess.run(["ocf-tester", "-n", "p_lio", *OPTIONS, str(installed_agents / "lio")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "LIO is not loaded" in proc.stdout + proc.stderr
