"""Storage nodes for promotable ALUA agent tests: one emulated kernel and one agent per node.

Shared by every ALUA backend (tests/scst, tests/lio, the scenario table in
this directory).  The agent runs unmodified in its emulator's mount
namespace, with the environment Pacemaker would give it on that node (node
name, clone meta, notify variables); ``bin/crm_attribute`` stands in for the
cluster's promotion score.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from conftest import AGENTS_DIR, AgentResult, ocf_environment

HERE = Path(__file__).resolve().parent
FAKE_BIN = HERE / "bin"
NODES = ("hpms01", "hpms02")
CLONE_META = {"clone_max": "2", "clone_node_max": "1", "notify": "true", "promoted_max": "1",
              "promoted_node_max": "1", "globally_unique": "false"}

#: A write-log entry as a state change: (ALUA unit, group, state name), or None if it is not one.
StateWrite = Callable[[dict], "tuple[str, str, str] | None"]


class StorageNode:
    """A storage node as Pacemaker sees it: a name, its kernel, its agent instance."""

    def __init__(self, name: str, emulator, workdir: Path, params: dict[str, str], *, agent: str,
                 resource: str) -> None:
        self.name = name
        self.emulator = emulator
        self.workdir = workdir
        self.agent = agent
        self.resource = resource
        self.rsctmp = workdir / "rsctmp"
        self.crm_dir = workdir / "crm"
        self.rsctmp.mkdir(parents=True, exist_ok=True)
        self.crm_dir.mkdir(parents=True, exist_ok=True)
        self.params = params
        self.env: dict[str, str] = {}  # more environment for the agent (test-only settings)
        self.past_writes: list[dict] = []  # writes of kernels this node had before a crash

    def crash_and_reboot(self, factory, config: dict) -> None:
        """The node dies (its kernel state with it) and boots again with a fresh kernel."""
        assert self.emulator is not None
        self.past_writes += self.emulator.writes()
        self.emulator.stop()
        self.past_writes.append({"ts": time.time_ns(), "path": "", "data": "", "result": "crash"})
        self.clear_rsctmp()  # a tmpfs: empty after the reboot
        self.emulator = factory(config, name=f"{self.name}-boot{len(self.past_writes)}")

    def clear_rsctmp(self) -> None:
        """What the agents kept in HA_RSCTMP is gone (a reboot, or the cluster stack restarted)."""
        for path in self.rsctmp.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

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
        env = ocf_environment(self.agent, self.params if params is None else params, meta=all_meta,
                              rsctmp=self.rsctmp, instance=f"{self.resource}:0",
                              extra={"FAKE_CRM_DIR": str(self.crm_dir), **self.env})
        env["PATH"] = f"{FAKE_BIN}:{env['PATH']}"
        argv = [str(AGENTS_DIR / self.agent), action]
        if self.emulator is None:
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
        path = self.crm_dir / f"master-{self.resource}"
        return path.read_text() if path.exists() else None


def notify_env(kind: str, operation: str, resource: str = "p_scst", **lists: str) -> dict[str, str]:
    """The notify variables Pacemaker sets, with the deprecated names too."""
    env = {"type": kind, "operation": operation}
    for key, value in lists.items():
        env[f"{key}_uname"] = value
        env[f"{key}_resource"] = " ".join(f"{resource}:{i}" for i, _ in enumerate(value.split()))
        legacy = {"promoted": "master", "unpromoted": "slave"}.get(key)
        if legacy:
            env[f"{legacy}_uname"] = value
    return env


def replay_never_two_active(writes: Iterable[dict], state_write: StateWrite) -> list[str]:
    """Replay one kernel's write log; return the moments two groups of one unit were active."""
    state: dict[tuple[str, str], str] = {}
    problems = []
    for w in writes:
        change = state_write(w) if w.get("result") == "ok" else None
        if change is None:
            continue
        unit, group, value = change
        state[(unit, group)] = value
        active = sorted(g for (u, g), s in state.items() if u == unit and s == "active")
        if len(active) > 1:
            problems.append(f"{w['ts']}: {unit} has {active} active")
    return problems


def nodes_active_at_once(nodes: Iterable[StorageNode], state_write: StateWrite) -> list[str]:
    """Across nodes: the moments two nodes reported their own group active (a crash clears a node)."""
    events = []
    for node in nodes:
        for w in node.all_writes():
            if w.get("result") == "crash":
                events.append((w["ts"], node.name, "crash"))
                continue
            change = state_write(w) if w.get("result") == "ok" else None
            if change is not None and change[1] == node.name:
                events.append((w["ts"], node.name, change[2]))
    own: dict[str, str] = {}
    problems = []
    for ts, name, state in sorted(events):
        own[name] = state  # a crashed node's groups are gone with its kernel
        if sum(s == "active" for s in own.values()) > 1:
            problems.append(f"two nodes active at {ts}: {own}")
    return problems
