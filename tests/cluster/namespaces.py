"""A node's namespaces: its first process (nodeinit.py) that holds them, spawns and reaps; processes by PID."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
from pathlib import Path
from typing import Any

from cluster.config import NODEINIT, PYTHON
from cluster.nodeinit import descendants  # the same walk of /proc the node's first process does
from support.observe import ClusterError


def _alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 :][:1] != b"Z"


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), to tell it from a later one with the same PID."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


class NodeInit:
    """The first process of a node (or of the switch): holds its namespaces, spawns and reaps."""

    def __init__(self, name: str, directory: Path | None, log: Path, *, fence_bindir: Path | None = None) -> None:
        host_mnt = os.readlink("/proc/self/ns/mnt")
        if directory is None:
            unshare = ["unshare", "--net", "--"]
        else:
            unshare = ["unshare", "--net", "--mount", "--uts", "--propagation", "private", "--"]
        argv = [*unshare, PYTHON, str(NODEINIT), "--name", name, "--host-mnt-ns", host_mnt]
        if directory is not None:
            argv += ["--dir", str(directory)]
        if fence_bindir is not None:
            argv += ["--fence-bindir", str(fence_bindir)]
        with open(log, "ab") as stderr:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True
            )
        self.log = log
        self.pid = int(self._reply(15.0, f"{name}'s namespaces")["ready"])

    def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.close()
            raise ClusterError(
                f"{what}: no answer from nodeinit in {timeout}s; {self.log.read_text(errors='replace')[-2000:]}"
            )
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ClusterError(f"{what}: {reply['error']}")
        return reply

    def spawn(self, argv: list[str], env: dict[str, str], log: str) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": "spawn", "argv": argv, "env": env, "log": log}) + "\n").encode())
        self.proc.stdin.flush()
        return int(self._reply(10.0, f"spawn {argv[0]}")["pid"])

    def nsenter(self, *, mount: bool = True) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--net", *(["--mount", "--uts"] if mount else []), "--"]

    def close(self, timeout: float = 10.0) -> None:
        """Close its stdin: it SIGKILLs everything below it and exits; then it is SIGKILLed if still there."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in descendants(self.proc.pid):
                    _kill(pid)
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
