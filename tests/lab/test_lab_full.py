"""The whole real-kernel lab (tools/lab), as one test.  Takes 10-15 minutes and needs root,
/dev/net/tun and the user-mode-linux package: runs only with ALUA_LAB=1, e.g.

    ALUA_LAB=1 tools/run-tests tests/lab/test_lab_full.py
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
    pytest.mark.skipif(os.environ.get("ALUA_LAB") != "1", reason="the real-kernel lab runs with ALUA_LAB=1"),
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
    st = results["facts"]["stalls"]
    assert all(r["error"] == 0 and r["rc"] == 0 for r in results["facts"]["fio_rounds"])
    assert st["max_latency"] is not None
