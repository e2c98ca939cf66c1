"""The lab's network: one network namespace, bridges, one tap per instance interface.

The namespace is held by a `sleep` process started with `unshare --net`
(no /run/netns entry, nothing on the host's network); it dies with the lab
(PR_SET_PDEATHSIG) or when clean-up kills it by PID.  Bridges have no
uplink and the namespace has no route out.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class LabNet:
    def __init__(self, pidfile: str) -> None:
        self.pidfile = pidfile
        self.holder: subprocess.Popen | None = None
        self.links: list[str] = []

    @property
    def pid(self) -> int:
        assert self.holder is not None
        return self.holder.pid

    def start(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--", "sleep", "infinity"], preexec_fn=_die_with_parent,
            stdin=subprocess.DEVNULL,
        )
        with open(self.pidfile, "w") as f:
            f.write(f"{self.holder.pid}\n")
        # wait (bounded) until the holder is in its own namespace
        for _ in range(100):
            if os.readlink(f"/proc/{self.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            subprocess.run(["sleep", "0.02"])
        else:
            raise RuntimeError("network namespace holder did not unshare")
        self.ip("link", "set", "lo", "up")

    def nsenter(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", "--"]

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.nsenter(), "ip", *args], check=check, capture_output=True, text=True,
                              timeout=20)

    def bridge(self, name: str) -> None:
        self.ip("link", "add", name, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        self.ip("link", "set", name, "up")

    def tap(self, name: str, bridge: str) -> None:
        self.ip("tuntap", "add", "dev", name, "mode", "tap")
        self.ip("link", "set", name, "master", bridge, "up")

    def link(self, name: str, up: bool) -> None:
        """A cable pulled or plugged: the tap's bridge port goes down/up."""
        self.ip("link", "set", name, "up" if up else "down")

    def stop(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(timeout=10)
        self.holder = None
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
