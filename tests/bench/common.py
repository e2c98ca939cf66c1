"""Shared pieces of the benchmarks: run timing.py, summarise, print figures."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT / "tests", ROOT / "lib"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

BASELINE = ["/usr/bin/python3", "-I", "-c", "pass"]


class Timings:
    """Wall times and exit codes per command label, and each command's peak memory."""

    def __init__(self, data: dict) -> None:
        self.samples: dict[str, list[tuple[float, int]]] = data["samples"]
        self.peak_kib: dict[str, int] = data["peak_kib"]

    def median_ms(self, label: str) -> float:
        return median_ms(self.samples[label])

    def codes(self, label: str) -> set[int]:
        return {code for _, code in self.samples[label]}


def time_commands(commands: dict[str, dict], *, runs: int, prefix: list[str] | None = None,
                  warmup: int = 3) -> Timings:
    spec = {"runs": runs, "warmup": warmup, "commands": commands}
    proc = subprocess.run([*(prefix or []), "/usr/bin/python3", str(HERE / "timing.py")], input=json.dumps(spec),
                          capture_output=True, text=True, check=True, timeout=600)
    return Timings(json.loads(proc.stdout))


def median_ms(samples: list[tuple[float, int]]) -> float:
    return statistics.median(s[0] for s in samples) * 1000


def figure(name: str, value: float, unit: str, *, baseline: float | None = None, baseline_name: str = "",
           target: str = "", extra: str = "") -> str:
    line = f"{name}: median {value:.1f} {unit}"
    if baseline is not None:
        line += f" | baseline {baseline_name} {baseline:.1f} {unit} | ratio {value / baseline:.2f}x"
    if target:
        line += f" | target {target}"
    if extra:
        line += f" | {extra}"
    print(line, flush=True)
    return line
