"""scst on the real SCST (lab) beside the emulator: monitor and promote with 1, 16 and 256 device groups.

The real figures come from the last ``tools/lab scst-probe`` (tests/bench/scst_real.py inside a
User-Mode Linux instance with SCST 3.11; tests/lab/test_scst_real.py runs it in every suite
run); the emulator's are measured here with the same agent, parameters and counts.  Each
figure is a ratio: monitor against ``python3 -I -c pass`` on the same machine (the UML
instance for the real SCST), promote against 1 device group, and the real ratio against the
emulator's.  Absolute times in UML are not comparable with the host's: a process start there
costs 3-10 times more.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

from bench_scst import AGENT, agent_env, run_checked
from common import BASELINE, figure, time_commands
from emulators.client import ScstEmulator
from scst.harness import NODES, node_config, params_for

COUNTS = (1, 16, 256)


def real_results() -> dict[int, dict] | None:
    workdir = os.environ.get("ALUA_LAB_DIR", "/var/tmp/alua-lab")
    path = Path(workdir) / "scst-probe" / "scst-bench.json"
    if not path.exists():
        return None
    return {r["device_groups"]: r for r in json.loads(path.read_text())["results"]}


def emulator_results(work: Path, monitor_runs: int, promote_runs: int) -> dict[int, dict]:
    out = {}
    for count in COUNTS:
        devices = tuple(f"lun{i}" for i in range(count))
        params = params_for(device_groups=" ".join(devices))
        promote = []
        with ScstEmulator(work / f"emu-{count}", node_config(NODES[0], devices=devices)) as emulator:
            env = agent_env(params, work / f"emu-{count}", timeout="120000")
            run_checked(emulator, env, "start")
            for _ in range(promote_runs):
                t = time_commands({"promote": {"argv": [AGENT, "promote"], "env": env}}, runs=1, warmup=0,
                                  prefix=emulator.nsenter_prefix())
                promote.append(t.samples["promote"][0][0])
                run_checked(emulator, env, "demote")
            run_checked(emulator, env, "promote")
            mon_env = agent_env(params, work / f"emu-{count}", timeout="20000", interval="10000")
            t = time_commands({"baseline": {"argv": BASELINE, "env": {}},
                               "monitor": {"argv": [AGENT, "monitor"], "env": mon_env}},
                              runs=monitor_runs, prefix=emulator.nsenter_prefix())
            if t.codes("monitor") != {8}:
                raise SystemExit(f"emulator monitor with {count} device groups returned {t.codes('monitor')}")
        out[count] = {"monitor_ms": t.median_ms("monitor"), "baseline_ms": t.median_ms("baseline"),
                      "promote_ms": statistics.median(promote) * 1000}
    return out


def main(quick: bool = False) -> None:
    real = real_results()
    if real is None or sorted(real) != list(COUNTS):
        print("scst on real SCST: skipped (no lab results: run tools/lab scst-probe as root)", flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="alua-bench-real-") as tmp:
        emu = emulator_results(Path(tmp), monitor_runs=10 if quick else 30, promote_runs=2 if quick else 5)
    for count in COUNTS:
        r, e = real[count], emu[count]
        real_ratio = r["monitor_ms"] / r["baseline_ms"]
        emu_ratio = e["monitor_ms"] / e["baseline_ms"]
        figure(f"scst monitor, {count} device group(s), real SCST in UML", r["monitor_ms"], "ms",
               baseline=r["baseline_ms"], baseline_name="python3 -I -c pass in UML",
               extra=f"emulator {e['monitor_ms']:.1f} ms = {emu_ratio:.2f}x its baseline; "
                     f"real/emulator ratio {real_ratio / emu_ratio:.2f}")
    for count in COUNTS:
        r, e = real[count], emu[count]
        real_ratio = r["promote_ms"] / real[1]["promote_ms"]
        emu_ratio = e["promote_ms"] / emu[1]["promote_ms"]
        figure(f"scst promote, {count} device group(s), real SCST in UML", r["promote_ms"], "ms",
               baseline=real[1]["promote_ms"], baseline_name="1 device group, real",
               extra=f"emulator {e['promote_ms']:.1f} ms = {emu_ratio:.2f}x its 1 group; "
                     f"per group real {r['promote_ms'] / count:.2f} ms")


if __name__ == "__main__":
    main()
