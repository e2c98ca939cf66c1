"""Storage nodes for scst agent tests: one SCST emulator and one agent per node.

The agent runs unmodified in the emulator's mount namespace, where the
emulated tree is at /sys/kernel/scst_tgt, with the environment Pacemaker
would give it on that node (node name, clone meta, notify variables).
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import AGENTS_DIR, AgentResult, ocf_environment
from emulators.client import ScstEmulator

HERE = Path(__file__).resolve().parent
NODES = ("hpms01", "hpms02")
CLONE_META = {"clone_max": "2", "clone_node_max": "1", "notify": "true", "promoted_max": "1",
              "promoted_node_max": "1", "globally_unique": "false"}


def target(node: str, lun: str = "vg1") -> str:
    return f"iqn.2016-02.local.virtual:{node}.{lun}"


def params_for(nodes=NODES, device_groups: str = "vg1", **extra: str) -> dict[str, str]:
    return {"device_groups": device_groups, "targets": " ".join(f"{n}={target(n)}" for n in nodes), **extra}


def node_config(node: str, nodes=NODES, devices=("vg1",)) -> dict:
    """What SCST looks like on a storage node before the cluster touches ALUA."""
    rel = nodes.index(node) + 1
    return {
        "devices": {d: {"handler": "vdisk_blockio", "filename": f"/dev/drbd{i}", "usn": f"509f7d7{i}"}
                    for i, d in enumerate(devices)},
        "targets": {"iscsi": {target(node): {"rel_tgt_id": rel, "enabled": 1, "luns": {"0": devices[0]}}}},
    }


def group_state(emulator: ScstEmulator, dg: str, tg: str) -> str | None:
    groups = emulator.dump().get("device_groups", {})
    return groups.get(dg, {}).get("target_groups", {}).get(tg, {}).get("state")


class StorageNode:
    """A storage node as Pacemaker sees it: a name, its kernel, its agent instance."""

    def __init__(self, name: str, emulator: ScstEmulator | None, workdir: Path,
                 params: dict[str, str] | None = None) -> None:
        self.name = name
        self.emulator = emulator
        self.workdir = workdir
        self.rsctmp = workdir / "rsctmp"
        self.crm_dir = workdir / "crm"
        self.rsctmp.mkdir(parents=True, exist_ok=True)
        self.crm_dir.mkdir(parents=True, exist_ok=True)
        self.params = params if params is not None else params_for()
        self.past_writes: list[dict] = []  # writes of kernels this node had before a crash

    def crash_and_reboot(self, factory, config: dict) -> None:
        """The node dies (its SCST state with it) and boots again with a fresh kernel."""
        import time as _time

        assert self.emulator is not None
        self.past_writes += self.emulator.writes()
        self.emulator.stop()
        self.past_writes.append({"ts": _time.time_ns(), "path": "", "data": "", "result": "crash"})
        for path in self.rsctmp.iterdir():
            path.unlink()
        self.emulator = factory(config, name=f"{self.name}-boot{len(self.past_writes)}")

    def all_writes(self) -> list[dict]:
        assert self.emulator is not None
        return self.past_writes + self.emulator.writes()

    def run(self, action: str, *, meta: dict[str, str] | None = None, notify: dict[str, str] | None = None,
            params: dict[str, str] | None = None, timeout_ms: int = 20000, interval_ms: int | None = None,
            timeout: float = 60) -> AgentResult:
        all_meta = {**CLONE_META, "on_node": self.name, "timeout": str(timeout_ms), **(meta or {})}
        if interval_ms is not None:
            all_meta["interval"] = str(interval_ms)
        for key, value in (notify or {}).items():
            all_meta[f"notify_{key}"] = value
        env = ocf_environment("scst", self.params if params is None else params, meta=all_meta,
                              rsctmp=self.rsctmp, instance="p_scst:0",
                              extra={"FAKE_CRM_DIR": str(self.crm_dir)})
        env["PATH"] = f"{HERE / 'bin'}:{env['PATH']}"
        argv = [str(AGENTS_DIR / "scst"), action]
        if self.emulator is None:
            import subprocess

            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        else:
            proc = self.emulator.run(argv, env=env, timeout=timeout)
        return AgentResult(proc.returncode, proc.stdout, proc.stderr, argv)

    def monitor(self, *, probe: bool = False) -> AgentResult:
        return self.run("monitor", interval_ms=0 if probe else 10000)

    def score_calls(self) -> list[list[str]]:
        path = self.crm_dir / "calls"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def score(self) -> str | None:
        path = self.crm_dir / "master-p_scst"
        return path.read_text() if path.exists() else None

    def states(self, dg: str = "vg1") -> dict[str, str | None]:
        assert self.emulator is not None
        return {n: group_state(self.emulator, dg, n) for n in NODES}


def notify_env(kind: str, operation: str, **lists: str) -> dict[str, str]:
    """The notify variables Pacemaker sets, with the deprecated names too."""
    env = {"type": kind, "operation": operation}
    for key, value in lists.items():
        env[f"{key}_uname"] = value
        env[f"{key}_resource"] = " ".join(f"p_scst:{i}" for i, _ in enumerate(value.split()))
        legacy = {"promoted": "master", "unpromoted": "slave"}.get(key)
        if legacy:
            env[f"{legacy}_uname"] = value
    return env


def replay_never_two_active(writes: list[dict], nodes=NODES) -> list[str]:
    """Replay one emulator's write log; return the moments two groups were active."""
    state: dict[tuple[str, str], str] = {}
    problems = []
    for w in writes:
        parts = w["path"].split("/")
        if w["result"] != "ok" or len(parts) != 5 or parts[0] != "device_groups" or parts[4] != "state":
            continue
        state[(parts[1], parts[3])] = w["data"].strip()
        for dg in {k[0] for k in state}:
            active = [tg for (d, tg), s in state.items() if d == dg and s == "active"]
            if len(active) > 1:
                problems.append(f"{w['ts']}: {dg} has {active} active")
    return problems
