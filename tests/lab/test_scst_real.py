"""The real SCST (3.11, in a User-Mode Linux instance of the lab's kernel) and the emulator held against it.

`tools/lab scst-probe` boots one instance with scst, scst_vdisk and iscsi-scst
loaded and iscsi-scstd running, runs tests/emulators/scst_probe.py (every mgmt
verb ocf:alua:scst uses and their errors, reads of every mgmt file, layout,
symlink targets, states, last_sysfs_mgmt_res, the errno of each failing write)
and tests/bench/scst_real.py (the agent's monitor and promote with 1/16/256
device groups).  The differential test runs the same script on the emulator:
any difference fails.  About 2-4 minutes; ALUA_LAB=0 leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
from emulators import scst_differential  # noqa: E402
from ulab import lab, safety, scst_probe  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ALUA_LAB") == "0", reason="ALUA_LAB=0: the real-kernel lab is left out"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

WORKDIR = os.environ.get("ALUA_LAB_DIR", "/var/tmp/alua-lab")


@pytest.fixture(scope="module")
def real() -> dict:
    guard = safety.HostGuard()
    proc = subprocess.run([os.path.join(TOP, "tools", "lab"), "scst-probe"], capture_output=True, text=True,
                          timeout=2400)
    changed = guard.changed()
    assert not changed, f"HOST FILES CHANGED BY THE LAB: {changed}"
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    with open(os.path.join(scst_probe.result_dir(WORKDIR), "scst-real.json"), encoding="utf-8") as f:
        result = json.load(f)
    assert result["probe_sha256"] == scst_probe.probe_sha256(), "the real run used another version of the probe"
    runs = os.path.join(WORKDIR, "runs")
    run_dir = max((os.path.join(runs, r) for r in os.listdir(runs) if r.endswith("-scst-probe")), key=os.path.getmtime)
    left = lab.leftovers(os.path.realpath(run_dir))
    assert not left, f"processes of the probe's run left behind: {left}"
    bench = os.path.join(scst_probe.result_dir(WORKDIR), "scst-bench.json")
    if os.path.exists(bench):
        with open(bench, encoding="utf-8") as f:
            result["bench"] = json.load(f)
    return result


def test_it_was_the_real_scst(real):
    assert real["version"].splitlines()[0] == "SCST version: 3.11.0-pre", real["version"]
    assert real["kernel"] == "6.1.192", real["kernel"]
    first = real["steps"][0]
    assert first["op"] == "list" and first["path"] == "" and "device_groups" in first["result"]


def test_emulator_matches_the_real_scst(real):
    emulated = scst_differential.run_emulator()
    diffs = scst_differential.compare(real["steps"], emulated)
    assert not diffs, f"{len(diffs)} step(s) differ:\n" + "\n".join(diffs[:80])


def test_agent_ran_on_real_scst_with_1_16_256_device_groups(real):
    results = {r["device_groups"]: r for r in real["bench"]["results"]}
    assert sorted(results) == [1, 16, 256]
    for r in results.values():
        assert r["monitor_ms"] > 0 and r["baseline_ms"] > 0 and r["promote_ms"] > 0, r


def test_initiator_sees_what_the_agent_relies_on(real):
    """What ocf:alua:scst's order (place, state, then enable) and its states rest on, on the real SCST:
    an unplaced LUN is served without ALUA, a port in no target group reports active/optimized,
    unpromoted (nonoptimized) and promoted (active) paths carry I/O, inactive states refuse it."""
    with open(os.path.join(scst_probe.result_dir(WORKDIR), "scst-hazard.json"), encoding="utf-8") as f:
        steps = {s["step"]: s for s in json.load(f)["steps"]}
    assert "stopped" not in steps, steps.get("stopped")
    unplaced = steps["enabled, device in no device group"]
    assert unplaced["tpgs"] == "0" and unplaced["write"].startswith("rc=0"), unplaced
    assert "active/optimized" in steps["target in no target group, peer group active"]["rtpg"]
    for state in ("nonoptimized", "active"):
        step = steps[f"own group {state}"]
        assert step["read"].startswith("rc=0") and step["write"].startswith("rc=0"), step
    for state in ("standby", "unavailable", "offline"):
        step = steps[f"own group {state}"]
        assert not step["write"].startswith("rc=0"), step
