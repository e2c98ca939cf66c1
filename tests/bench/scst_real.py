#!/usr/bin/python3
"""ocf:alua:scst on the real SCST sysfs: monitor and promote with 1, 16 and 256 device groups.

Runs inside a lab instance with SCST loaded (tests/lab/ulab/scst_probe.py
copies it there) and prints JSON; tests/bench/bench_scst.py prints the
figures beside the emulator's, as ratios.  Standard library only.

For each count N it creates N vdisk_nullio devices (one device group each),
registers and enables the local iSCSI target, runs the installed agent's
start, times promote + demote cycles and monitor (interleaved with the
baseline ``python3 -I -c pass``), then stops the agent and removes
everything it made.  The agent finds a stand-in crm_attribute on PATH (no
cluster runs in the instance).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = "/sys/kernel/scst_tgt"
T1 = "iqn.2016-02.local.virtual:hpms01.vg1"
T2 = "iqn.2016-02.local.virtual:hpms02.vg1"
BASELINE = ["/usr/bin/python3", "-I", "-c", "pass"]
QUIET = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]


def write(rel: str, value: str) -> None:
    fd = os.open(os.path.join(ROOT, rel), os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def spawn(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=QUIET)
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - t0, os.waitstatus_to_exitcode(status)


def agent_env(agent_params: dict[str, str], rsctmp: str, fakes: str, **meta: str) -> dict[str, str]:
    env = {
        "PATH": f"{fakes}:/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RA_VERSION_MAJOR": "1", "OCF_RA_VERSION_MINOR": "1", "OCF_RESOURCE_INSTANCE": "p_scst:0",
        "OCF_RESOURCE_TYPE": "scst", "OCF_RESOURCE_PROVIDER": "alua", "HA_LOGFACILITY": "none", "HA_debug": "0",
        "HA_RSCTMP": rsctmp, "FAKE_CRM_DIR": rsctmp,
    }
    for k, v in agent_params.items():
        env[f"OCF_RESKEY_{k}"] = v
    clone = {"clone_max": "2", "clone_node_max": "1", "promoted_max": "1", "promoted_node_max": "1",
             "notify": "true", "on_node": "hpms01", "timeout": "120000", **meta}
    for k, v in clone.items():
        env[f"OCF_RESKEY_CRM_meta_{k}"] = v
    return env


def checked(agent: str, action: str, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    seconds, code = spawn([agent, action], env)
    if code not in ok:
        raise SystemExit(f"scst {action} exited {code}")
    return seconds


def setup(count: int) -> list[str]:
    devices = [f"lun{i}" for i in range(count)]
    for dev in devices:
        write("handlers/vdisk_nullio/mgmt", f"add_device {dev}")
    write("targets/iscsi/mgmt", f"add_target {T1}")
    write(f"targets/iscsi/{T1}/rel_tgt_id", "1")
    write(f"targets/iscsi/{T1}/enabled", "1")
    return devices


def teardown(devices: list[str]) -> None:
    for dg in devices:
        write("device_groups/mgmt", f"del {dg}")
    write(f"targets/iscsi/{T1}/enabled", "0")
    write("targets/iscsi/mgmt", f"del_target {T1}")
    for dev in devices:
        write("handlers/vdisk_nullio/mgmt", f"del_device {dev}")


def measure(count: int, agent: str, fakes: str, monitor_runs: int, promote_runs: int) -> dict:
    devices = setup(count)
    try:
        with tempfile.TemporaryDirectory(prefix="scst-bench-") as rsctmp:
            params = {"device_groups": " ".join(devices), "targets": f"hpms01={T1} hpms02={T2}"}
            env = agent_env(params, rsctmp, fakes)
            checked(agent, "start", env)
            promote, demote = [], []
            for _ in range(promote_runs):
                promote.append(checked(agent, "promote", env))
                demote.append(checked(agent, "demote", env))
            checked(agent, "promote", env)
            mon_env = agent_env(params, rsctmp, fakes, interval="10000", timeout="20000")
            mon, base = [], []
            for i in range(3 + monitor_runs):
                m = spawn([agent, "monitor"], mon_env)
                b = spawn(BASELINE, {})
                if m[1] != 8:
                    raise SystemExit(f"monitor exited {m[1]}, expected 8 (promoted)")
                if i >= 3:
                    mon.append(m[0])
                    base.append(b[0])
            checked(agent, "demote", env)
            checked(agent, "stop", env)
    finally:
        teardown(devices)
    ms = lambda xs: round(statistics.median(xs) * 1000, 2)  # noqa: E731
    return {"device_groups": count, "monitor_ms": ms(mon), "baseline_ms": ms(base), "promote_ms": ms(promote),
            "demote_ms": ms(demote), "monitor_runs": monitor_runs, "promote_runs": promote_runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", default="/usr/lib/ocf/resource.d/alua/scst")
    ap.add_argument("--fakes", default="/lab/probe/bin", help="directory with the stand-in crm_attribute")
    ap.add_argument("--counts", default="1,16,256")
    ap.add_argument("--monitor-runs", type=int, default=30)
    ap.add_argument("--promote-runs", type=int, default=5)
    args = ap.parse_args(argv)
    results = [measure(int(n), args.agent, args.fakes, args.monitor_runs, args.promote_runs)
               for n in args.counts.split(",")]
    json.dump({"results": results, "version": open(os.path.join(ROOT, "version")).read().splitlines()[0]},
              sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
