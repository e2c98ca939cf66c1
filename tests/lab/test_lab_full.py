"""The whole real-kernel lab (tools/lab), as one test of the normal run (and so of CI).

It takes 8-10 minutes with a cached image (one more to build it), needs root and
/dev/net/tun, and installs the user-mode-linux package.  ALUA_LAB=0 leaves it out of a
quick local run:

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
from ulab import safety  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ALUA_LAB") == "0", reason="ALUA_LAB=0: the real-kernel lab is left out"),
]


def test_whole_lab_from_scratch():
    guard = safety.HostGuard()
    workdir = os.environ.get("ALUA_LAB_DIR", "/var/tmp/alua-lab")
    proc = subprocess.run([os.path.join(TOP, "tools", "lab")], capture_output=True, text=True, timeout=1800)
    changed = guard.changed()
    assert not changed, f"HOST FILES CHANGED BY THE LAB: {changed}"
    assert proc.returncode != 3, "the lab's own host guard failed"
    with open(os.path.join(workdir, "last", "results.json")) as f:
        results = json.load(f)
    failed = [s for s in results["stages"] if s["status"] != "passed"]
    assert proc.returncode == 0 and not failed, proc.stdout[-6000:] + proc.stderr[-3000:]
    facts = results["facts"]
    rounds = facts["fio_rounds"]
    assert rounds and all(r["error"] == 0 and r["rc"] == 0 for r in rounds), rounds
    # Unit attentions (ALUA state changed) are normal; a command the target failed is not.
    assert "critical target error" not in facts.get("initiator_scsi_errors", ""), facts["initiator_scsi_errors"]
    # The seed settled for a 10 s replacement timeout; the lab's target is below 5 s (report.txt).
    st = facts["stalls"]
    assert st["max_latency"] is not None and st["max_latency"] < 10, st
    journal = facts["failover_from_journal"]
    assert 0 < journal["promote_ok"] < 30, journal
    # TESTING 5: the text report and the SVG timeline, with the faults marked on it.
    run_dir = os.path.realpath(os.path.join(workdir, "last"))
    with open(os.path.join(run_dir, "report", "report.txt")) as f:
        assert "longest I/O latency" in f.read()
    from xml.etree import ElementTree

    svg = ElementTree.parse(os.path.join(run_dir, "report", "timeline.svg")).getroot()
    labels = " ".join(t.text or "" for t in svg.iter() if t.tag.endswith("text"))
    assert "link B down" in labels and f"{facts['node_failure_victim']} killed" in labels, labels
    # Clean-up: no process of this run is left (the lab kills by PID what it started).
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if run_dir in cmdline or f"umid={os.path.basename(run_dir)}-" in cmdline:
            leftovers.append(f"{pid}: {cmdline[:120]}")
    assert not leftovers, leftovers
