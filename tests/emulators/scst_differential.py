"""The SCST emulator held against the real SCST: run scst_probe.py on both, compare step by step.

The real side comes from the lab (tests/lab/ulab/scst_probe.py: SCST 3.11 in a
User-Mode Linux instance); this module runs the same script against
scst_sysfs.py and reports every step whose outcome differs.  Only the values
listed in MACHINE_DEPENDENT are compared by their shape instead of their text:
they depend on the machine the real SCST ran on, not on SCST's behaviour.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .client import PYTHON, ScstEmulator

PROBE = Path(__file__).resolve().parent / "scst_probe.py"

# path (as the probe names it) -> why its text is not compared, and the pattern both must match
MACHINE_DEPENDENT: dict[str, tuple[str, str]] = {}

# The emulator's starting state for the probe, as the lab's: SCST, scst_vdisk and iscsi-scst loaded,
# iscsi-scstd running and nothing configured (so the iSCSI driver is disabled).
START = {"drivers": {"iscsi": {}}}


def run_emulator(device: str = "/dev/ubdb", config: dict[str, Any] | None = None) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="scst-diff-") as tmp, \
            ScstEmulator(tmp, config or START) as emulator:
        proc = subprocess.run([PYTHON, str(PROBE), "--root", emulator.path(), "--device", device],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"scst_probe.py on the emulator failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout)["steps"]


def _comparable(step: dict) -> Any:
    rule = MACHINE_DEPENDENT.get(step["path"])
    if rule is not None and step["op"] == "read" and isinstance(step["result"], str):
        return ("matches", rule[1]) if re.fullmatch(rule[1], step["result"], re.S) else step["result"]
    return step["result"]


def compare(real: list[dict], emulated: list[dict]) -> list[str]:
    """One line per step whose outcome differs (empty: the emulator behaves as SCST did)."""
    diffs: list[str] = []
    if len(real) != len(emulated):
        diffs.append(f"the runs have {len(real)} (real) and {len(emulated)} (emulator) steps")
    for r, e in zip(real, emulated):
        if (r["op"], r["path"], r.get("data")) != (e["op"], e["path"], e.get("data")):
            diffs.append(f"step {r['n']}: the scripts differ ({r['op']} {r['path']} vs {e['op']} {e['path']})")
            break
        if _comparable(r) != _comparable(e):
            what = f"{r['op']} {r['path']}" + (f" {r['data']!r}" if "data" in r else "")
            diffs.append(f"step {r['n']}: {what}: real {json.dumps(r['result'])} emulator {json.dumps(e['result'])}")
    return diffs
