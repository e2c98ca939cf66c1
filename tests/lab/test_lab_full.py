"""The whole real-kernel lab (tools/lab), once per target variant, in the normal run (and so in CI):
SCST through the whole fault matrix, LIO through the seed's TESTING section.

Each variant takes 8-10 minutes with the kernel and image cached (building the kernel takes
about 7 more, the image one), needs root and /dev/net/tun, and installs linux-source-6.1 and
debootstrap.  ALUA_LAB=0 leaves it out of a quick local run:

    ALUA_LAB=0 tools/run-tests          # everything but the lab
    tools/run-tests tests/lab/test_lab_full.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ulab import lab, safety  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ALUA_LAB") == "0", reason="ALUA_LAB=0: the real-kernel lab is left out"),
]


#: which variants the suite runs: SCST through the fault matrix; LIO's TESTING run is left to
#: `ALUA_LAB_VARIANTS=scst,lio` and `tools/lab` to keep the suite in its time budget (README)
VARIANTS = os.environ.get("ALUA_LAB_VARIANTS", "scst").split(",")


@pytest.mark.parametrize("variant", ["scst", "lio"])
def test_whole_lab_from_scratch(variant):
    if variant not in VARIANTS:
        pytest.skip(f"ALUA_LAB_VARIANTS={','.join(VARIANTS)}: the {variant} variant runs with "
                    f"ALUA_LAB_VARIANTS=scst,lio or `tools/lab run --variant {variant}`")
    guard = safety.HostGuard()
    workdir = os.environ.get("ALUA_LAB_DIR", "/var/tmp/alua-lab")
    proc = subprocess.run([os.path.join(TOP, "tools", "lab"), "run", "--variant", variant], capture_output=True,
                          text=True, timeout=3600)
    changed = guard.changed()
    assert not changed, f"HOST FILES CHANGED BY THE LAB: {changed}"
    assert proc.returncode != 3, "the lab's own host guard failed"
    with open(os.path.join(workdir, "last", "results.json")) as f:
        results = json.load(f)
    failed = [s for s in results["stages"] if s["status"] != "passed"]
    # the failed stages' own reasons first: the report's tail alone does not say which stage failed
    why = "".join(f"stage {s['stage']}: {s['status']}: {s['details']}\n" for s in failed)
    assert proc.returncode == 0 and not failed, why + proc.stdout[-6000:] + proc.stderr[-3000:]
    facts = results["facts"]
    assert facts["variant"] == variant
    assert facts["two_active"] == [], facts["two_active"]
    rounds = facts["fio_rounds"]
    assert rounds and all(r["error"] == 0 and r["rc"] == 0 for r in rounds), rounds
    # Unit attentions (ALUA state changed) are normal; a command the target failed is not.
    assert "critical target error" not in facts.get("initiator_scsi_errors", ""), facts["initiator_scsi_errors"]
    # the fault table (issue 14): every fault with DRBD's fencing policy on, each in its own window
    table = facts["fault_table"]
    plan = facts["faults_plan"]
    assert plan == ("matrix" if variant == "scst" else "testing")
    faults = [row["fault"] for row in table]
    if plan == "matrix":
        assert len([f for f in faults if f.startswith("promoted-kill")]) >= 3, faults
        for fault in ("link-failure", "paths-cut", "switchover", "replication-cut", "unpromoted-kill", "freeze"):
            assert fault in faults, faults
        kills = [row["victim"] for row in table if row["fault"].startswith("promoted-kill")]
        assert all(a != b for a, b in zip(kills, kills[1:])), f"kills did not alternate: {kills}"
        assert len(set(facts["backing_sha256"].values())) == 1, facts["backing_sha256"]
    else:
        assert faults == ["link-failure", "promoted-kill"], faults
        journal = facts["failover_from_journal"]
        assert 0 < journal["promote_ok"] < 30, journal
    for row in table:
        assert row["io_errors"] == 0 and row["verify_errors"] == 0 and row["two_active"] == 0, row
        assert row["to_redundant"] is not None, row
        must_fence = row["fault"].startswith(("promoted-kill", "freeze", "replication-cut", "unpromoted-kill"))
        assert bool(row["fenced"]) == must_fence, row
        if must_fence and row["fault"] != "replication-cut":
            assert row["fenced"] == [row["victim"]], row
    # TESTING 5: the text report and the SVG timeline, with the faults marked on it.
    run_dir = os.path.realpath(os.path.join(workdir, "last"))
    with open(os.path.join(run_dir, "report", "report.txt")) as f:
        text = f.read()
    assert "longest I/O latency" in text and f"{variant.upper()} variant" in text
    if variant == "scst":  # the seed's own identity and RTPG: both groups through every path
        assert "vendor SCST_BIO, product vg1, TPGS=1" in text, text[:3000]
        assert all(len(groups) == 2 for groups in facts["rtpg_by_path"].values()), facts["rtpg_by_path"]
    assert "prio [50, 10], hwhandler='1 alua'" in text
    from xml.etree import ElementTree

    svg = ElementTree.parse(os.path.join(run_dir, "report", "timeline.svg")).getroot()
    labels = " ".join(t.text or "" for t in svg.iter() if t.tag.endswith("text"))
    assert "link B down" in labels and "killed" in labels, labels
    # Clean-up: no process of this run is left (the lab kills by PID what it started).
    left = lab.leftovers(run_dir)
    assert not left, left
    # The stall target, below 5 s for every fault.  With DRBD's fencing policy on, the survivor's
    # writes wait for the fencing and the handler: 11-20 s at first (tests/lab/README.md, Finding
    # 18), 2.8-4.3 s on 2026-12-07 with the instances pinned (Finding 32).  Issue 14: a stall of
    # 5 s or more fails the test.
    slow = [(row["fault"], row["stall"]) for row in table if row["stall"] >= 5]
    assert not slow, f"I/O stall of 5 s or more with fencing resource-and-stonith: {slow}"
