"""Python API for driving the SCST sysfs emulator from tests.

Used by the pytest fixtures, the ocf-tester test and live-cluster harnesses:
it starts ``scst_sysfs.py`` as a separate process (normally in its own mount
namespace), talks to its control socket and reads its write log.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

EMULATOR = Path(__file__).resolve().parent / "scst_sysfs.py"
PYTHON = "/usr/bin/python3"
DEFAULT_MOUNTPOINT = "/sys/kernel/scst_tgt"

PathLike = Union[str, "os.PathLike[str]"]


class EmulatorError(RuntimeError):
    """The emulator failed to start, or refused a control request."""


class ScstEmulator:
    """One emulated SCST sysfs tree served by a child process.

    ``launcher`` is prepended to the emulator's command line, e.g.
    ``["nsenter", "--net=/run/netns/n1", "--mount=/run/ns/n1.mnt", "--"]`` to
    run it inside a cluster node's namespaces (then usually with
    ``new_namespace=False`` and a writable parent of ``mountpoint``).
    """

    #: the emulator program (a subclass serves another kernel interface)
    script: Path = EMULATOR

    def __init__(self, state_dir: PathLike, config: Optional[Mapping[str, Any]] = None,
                 new_namespace: bool = True, mountpoint: str = DEFAULT_MOUNTPOINT,
                 launcher: Sequence[str] = (), python: str = PYTHON,
                 ready_timeout: float = 15.0) -> None:
        self.state_dir = Path(state_dir)
        self.config: Dict[str, Any] = dict(config or {})
        self.new_namespace = new_namespace
        self.mountpoint = mountpoint
        self.launcher = list(launcher)
        self.python = python
        self.ready_timeout = ready_timeout
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self._pid: Optional[int] = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> "ScstEmulator":
        """Spawn the emulator and wait (bounded) until it serves."""
        if self.proc is not None:
            raise EmulatorError("already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.state_dir / "config.json"
        config_path.write_text(json.dumps(self.config, indent=2))
        ready = self.state_dir / "ready"
        ready.unlink(missing_ok=True)
        argv = [*self.launcher, self.python, str(self.script), "--state-dir",
                str(self.state_dir), "--config", str(config_path),
                "--mountpoint", self.mountpoint]
        if self.new_namespace:
            argv.append("--new-namespace")
        stderr_path = self.state_dir / "stderr.txt"
        with open(stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr,
                                         start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmulatorError(f"emulator exited with {self.proc.returncode}: "
                                    f"{stderr_path.read_text(errors='replace').strip()}")
            text = ready.read_text().strip() if ready.exists() else ""
            if text:
                self._pid = int(text)
                return self
            time.sleep(0.02)
        self.stop()
        raise EmulatorError(f"emulator not ready after {self.ready_timeout}s: "
                            f"{stderr_path.read_text(errors='replace').strip()}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, bounded wait, then SIGKILL.  Idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._pid = None

    def __enter__(self) -> "ScstEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        if self._pid is None:
            raise EmulatorError("emulator not running")
        return self._pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- reaching the mount ---------------------------------------------------------

    def nsenter_prefix(self) -> List[str]:
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", "--"]

    def run(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
            timeout: float = 30.0, input: Optional[str] = None,
            check: bool = False) -> "subprocess.CompletedProcess[str]":
        """Run a command in the emulator's mount namespace (cwd becomes /)."""
        return subprocess.run([*self.nsenter_prefix(), *argv], env=None if env is None
                              else dict(env), input=input, capture_output=True, text=True,
                              timeout=timeout, check=check)

    def sh(self, script: str, timeout: float = 30.0) -> "subprocess.CompletedProcess[str]":
        return self.run(["sh", "-c", script], timeout=timeout)

    def path(self, rel: str = "") -> str:
        """Host-side path of ``mountpoint/rel``, through /proc/PID/root, for
        plain Python file I/O from outside the namespace."""
        base = f"/proc/{self.pid}/root{self.mountpoint}"
        return f"{base}/{rel.strip('/')}" if rel.strip("/") else base

    def read(self, rel: str) -> str:
        with open(self.path(rel), encoding="utf-8") as fh:
            return fh.read()

    def write(self, rel: str, value: Union[str, bytes]) -> None:
        """One write(2) of ``value`` (raises OSError like a real store)."""
        data = value.encode() if isinstance(value, str) else value
        fd = os.open(self.path(rel), os.O_WRONLY)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    # -- control socket -----------------------------------------------------------

    def request(self, obj: Mapping[str, Any], timeout: float = 10.0) -> Dict[str, Any]:
        """Send one control request; raise EmulatorError unless it succeeded."""
        reply = self.request_raw(obj, timeout)
        if not reply.get("ok"):
            raise EmulatorError(f"{obj.get('op')}: {reply.get('error')}")
        return reply

    def request_raw(self, obj: Mapping[str, Any], timeout: float = 10.0) -> Dict[str, Any]:
        dir_fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(f"/proc/self/fd/{dir_fd}/control.sock")
                sock.sendall((json.dumps(obj) + "\n").encode())
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise EmulatorError("control connection closed")
                    data += chunk
        finally:
            os.close(dir_fd)
        return json.loads(data)

    def dump(self) -> Dict[str, Any]:
        return self.request({"op": "dump"})["state"]

    def fault(self, path: str, kind: str = "eio", on: str = "write",
              seconds: Optional[float] = None) -> None:
        self.request({"op": "fault", "path": path, "kind": kind, "on": on,
                      "seconds": seconds})

    def clear_faults(self) -> None:
        self.request({"op": "clear_faults"})

    def unregister_target(self, target: str, driver: str = "iscsi") -> None:
        self.request({"op": "unregister_target", "driver": driver, "target": target})

    def register_target(self, target: str, driver: str = "iscsi", rel_tgt_id: int = 0,
                        enabled: int = 1) -> None:
        self.request({"op": "register_target", "driver": driver, "target": target,
                      "rel_tgt_id": rel_tgt_id, "enabled": enabled})

    def set(self, path: str, value: Union[str, int]) -> Dict[str, Any]:
        """Backdoor store (drift by another actor); raises on a refused value."""
        return self.request({"op": "set", "path": path, "value": value})

    def remove_device(self, name: str) -> None:
        self.request({"op": "remove_device", "name": name})

    # -- write log ----------------------------------------------------------------

    def writes(self) -> List[Dict[str, Any]]:
        path = self.state_dir / "writes.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
