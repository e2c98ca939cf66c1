"""scst benchmarks: monitor start-up cost, and promote time against the number of device groups."""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import BASELINE, figure, median_ms, time_commands  # noqa: E402

from conftest import AGENTS_DIR, ocf_environment  # noqa: E402
from emulators.client import ScstEmulator  # noqa: E402
from scst.harness import CLONE_META, NODES, node_config, params_for  # noqa: E402

AGENT = str(AGENTS_DIR / "scst")


def agent_env(params: dict[str, str], rsctmp: Path, **meta: str) -> dict[str, str]:
    env = ocf_environment("scst", params, meta={**CLONE_META, "on_node": NODES[0], **meta}, rsctmp=rsctmp,
                          instance="p_scst:0")
    fakes = Path(__file__).resolve().parents[1] / "backends" / "bin"
    if not (fakes / "crm_attribute").exists():
        raise SystemExit(f"no stand-in crm_attribute in {fakes}: every monitor would run the real one")
    env["PATH"] = f"{fakes}:{env['PATH']}"
    env["FAKE_CRM_DIR"] = str(rsctmp)
    return env


def run_checked(emulator: ScstEmulator, env: dict[str, str], action: str) -> None:
    proc = emulator.run([AGENT, action], env=env, timeout=120)
    if proc.returncode not in (0, 8):
        raise SystemExit(f"scst {action} failed ({proc.returncode}): {proc.stderr}")


def snapshot_prefix(emulator: ScstEmulator, snapshot: Path) -> list[str]:
    """Run inside the emulator's namespace with a tmpfs copy of its tree mounted over it.

    The emulator answers every path lookup in a Python process, so reads cost
    far more than in the kernel's sysfs.  A copy on tmpfs (same files, same
    symlinks, same contents) reads at kernel speed and measures the agent.
    """
    # Write-only attributes (resync_size, ...) cannot be copied; the monitor never reads them.
    emulator.sh(f"cp -a /sys/kernel/scst_tgt/. {snapshot}/ 2>/dev/null; true")
    script = 'mount -t tmpfs snap /sys/kernel/scst_tgt && cp -a "$0"/. /sys/kernel/scst_tgt/ && exec "$@"'
    return [*emulator.nsenter_prefix(), "unshare", "--mount", "--propagation", "private", "sh", "-c", script,
            str(snapshot)]


def bench_monitor(work: Path, runs: int) -> None:
    params = params_for()
    with ScstEmulator(work / "monitor", node_config(NODES[0])) as emulator:
        env = agent_env(params, work, timeout="20000")
        run_checked(emulator, env, "start")
        run_checked(emulator, env, "promote")
        monitor_env = agent_env(params, work, timeout="20000", interval="10000")
        commands = {"baseline": {"argv": BASELINE, "env": {}},
                    "monitor": {"argv": [AGENT, "monitor"], "env": monitor_env}}
        snapshot = work / "snapshot"
        snapshot.mkdir()
        results = {
            "kernel-speed sysfs (tmpfs copy of the tree)": time_commands(
                commands, runs=runs, prefix=snapshot_prefix(emulator, snapshot)),
            "through the FUSE emulator": time_commands(commands, runs=runs, prefix=emulator.nsenter_prefix()),
        }
    for where, timings in results.items():
        if timings.codes("monitor") != {8}:
            raise SystemExit(f"monitor returned {timings.codes('monitor')}, expected 8 (running promoted)")
        base, mon = timings.median_ms("baseline"), timings.median_ms("monitor")
        figure(f"scst monitor, promoted, {where}", mon, "ms", baseline=base,
               baseline_name="python3 -I -c pass", target="<= 1.3x" if "kernel" in where else "",
               extra=f"peak RSS {timings.peak_kib['monitor']} KiB vs {timings.peak_kib['baseline']} KiB")


def bench_promote(work: Path, runs: int) -> None:
    results = {}
    for count in (1, 16, 256):
        devices = tuple(f"lun{i}" for i in range(count))
        params = params_for(device_groups=" ".join(devices))
        times = []
        for run in range(runs):
            config = node_config(NODES[0], devices=devices)
            with ScstEmulator(work / f"promote-{count}-{run}", config) as emulator:
                env = agent_env(params, work / f"promote-{count}-{run}", timeout="120000")
                run_checked(emulator, env, "start")
                timings = time_commands({"promote": {"argv": [AGENT, "promote"], "env": env}}, runs=1, warmup=0,
                                        prefix=emulator.nsenter_prefix())
                if timings.codes("promote") != {0}:
                    raise SystemExit(f"promote with {count} device groups failed")
                times.append(timings.samples["promote"][0])
        results[count] = median_ms(times)
    for count, value in results.items():
        figure(f"scst promote, {count} device group(s)", value, "ms", baseline=results[1],
               baseline_name="1 device group", target="< 1000 ms for 256, roughly linear",
               extra=f"per group {value / count:.2f} ms")


def main(quick: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="alua-bench-") as tmp:
        work = Path(tmp)
        bench_monitor(work, runs=10 if quick else 40)
        bench_promote(work, runs=1 if quick else 5)


if __name__ == "__main__":
    main()
