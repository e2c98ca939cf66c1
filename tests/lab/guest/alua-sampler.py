#!/usr/bin/python3
"""Sample this node's ALUA target port group states every 0.25 s (lab, both backends).

Appends one JSON line per sample to /lab/nodes/<node>/alua.jsonl:
{"t": epoch seconds, "groups": {"<device group or backstore>/<group>": "<state>"},
 "exposed": {"<device group>/<group>": true if an enabled local target is in the group (SCST)},
 "cpu": [user, nice, system, idle, iowait, irq, softirq] (clock ticks, /proc/stat)}
with the states named as SCST names them (LIO's codes are translated).  The
host (ulab.alua_samples) merges both nodes' samples and fails the run if two
groups were active/optimized at one moment.  Reads only: sysfs / configfs.
"""

import glob
import json
import os
import sys
import time

SCST = "/sys/kernel/scst_tgt/device_groups/*/target_groups/*/state"
LIO = "/sys/kernel/config/target/core/*/*/alua/*/alua_access_state"
LIO_STATES = {0: "active", 1: "nonoptimized", 2: "standby", 3: "unavailable", 14: "offline", 15: "transitioning"}


def first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return None


SCST_TARGETS = "/sys/kernel/scst_tgt/targets"


def scst_exposed(tg_dir: str) -> bool:
    """Whether an initiator can reach the group through this node: one of its member targets is a
    local target that is enabled (SCST offers a disabled target nowhere)."""
    for member in glob.glob(os.path.join(tg_dir, "*", "")):
        name = os.path.basename(member.rstrip("/"))
        for enabled in glob.glob(os.path.join(SCST_TARGETS, "*", name, "enabled")):
            if first_line(enabled) == "1":
                return True
    return False


def sample(tries: int = 5) -> tuple[dict[str, str], dict[str, bool]]:
    """One consistent view: two passes over the state files that read the same.  A pass reads
    the groups one after the other, so the agent's two writes of a promotion (the peer's group
    to nonoptimized, then its own to active, 1 ms apart) can fall between its reads and show
    the old peer state beside the new own state, a moment the kernel never had (seen once on
    2026-12-06; SCST's own log shows the order, and an initiator's RTPG is answered under
    SCST's lock).  After ``tries`` passes that never repeat, the last one counts."""
    last = read_pass()
    for _ in range(tries):
        now = read_pass()
        if now == last:
            return now
        last = now
    return last


def read_pass() -> tuple[dict[str, str], dict[str, bool]]:
    groups: dict[str, str] = {}
    exposed: dict[str, bool] = {}
    for path in glob.glob(SCST):
        parts = path.split("/")  # .../device_groups/<dg>/target_groups/<tg>/state
        state = first_line(path)
        if state is not None:
            groups[f"{parts[-4]}/{parts[-2]}"] = state
            exposed[f"{parts[-4]}/{parts[-2]}"] = scst_exposed(os.path.dirname(path))
    for path in glob.glob(LIO):
        parts = path.split("/")  # .../core/<hba>/<dev>/alua/<tg_pt_gp>/alua_access_state
        if parts[-2] == "default_tg_pt_gp":
            continue  # the agent moves every LUN out of it before the portals open
        code = first_line(path)
        if code is not None and code.isdigit():
            groups[f"{parts[-4]}/{parts[-2]}"] = LIO_STATES.get(int(code), code)
    return groups, exposed


def cpu() -> list[int]:
    """This node's CPU time so far, in clock ticks: user, nice, system, idle, iowait, irq, softirq
    (/proc/stat's first line): the host tells from two samples how busy the node was between them."""
    line = first_line("/proc/stat") or ""
    return [int(v) for v in line.split()[1:8]] if line.startswith("cpu ") else []


def main() -> int:
    node = sys.argv[1]
    out = f"/lab/nodes/{node}/alua.jsonl"
    with open(out, "a", encoding="utf-8") as f:
        while not os.path.exists("/run/lab-alua-sampler.stop"):
            groups, exposed = sample()
            f.write(json.dumps({"t": round(time.time(), 3), "groups": groups, "exposed": exposed,
                                "cpu": cpu()}) + "\n")
            f.flush()
            time.sleep(0.25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
