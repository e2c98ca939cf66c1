"""Processes as /proc shows them: pid files, liveness, stopping a daemon.

Monitors check a daemon without running a tool (no pgrep, no killall): the
pid file names a pid, /proc/<pid>/stat says whether it still lives (a zombie
does not), and /proc/<pid>/comm says whether that pid is still the daemon
and not a recycled number.
"""

from __future__ import annotations

import os
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from alua.ocf.log import Logger
    from alua.ocf.context import Deadline

PROC = "/proc"


def read_pidfile(path: str) -> int | None:
    """The pid in a daemon's pid file, or None when missing, empty or garbled."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(64)
    except OSError:
        return None
    first = text.split()[0] if text.split() else ""
    if first.isdigit() and int(first) > 0:
        return int(first)
    return None


def process_comm(pid: int, proc: str = PROC) -> str | None:
    """The command name of a live process, or None when it is gone or a zombie."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    close = stat.rfind(")")
    state = stat[close + 2 : close + 3] if close > 0 else ""
    if state in ("Z", "X", "x", ""):
        return None
    try:
        with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


def is_running(pid: int, comm: str, proc: str = PROC) -> bool:
    """Whether pid is a live (non-zombie) process named comm (the kernel keeps 15 characters)."""
    return process_comm(pid, proc) == comm[:15]


def executable_name(pid: int, proc: str = PROC) -> str | None:
    """The file name of the program pid runs (for a script: its interpreter's)."""
    try:
        target = os.readlink(f"{proc}/{pid}/exe")
    except OSError:
        return None
    return os.path.basename(target.removesuffix(" (deleted)"))


def pids_named(comm: str, proc: str = PROC) -> list[int]:
    """Live processes of the binary ``comm``, found by scanning /proc (no pgrep).

    The command name alone is not enough: an OCF agent is named after what it
    manages (ocf:alua:lvmlockd runs as "lvmlockd"), so the executable must be
    the binary itself, and the caller never counts.
    """
    found: list[int] = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        if is_running(pid, comm, proc) and executable_name(pid, proc) == comm:
            found.append(pid)
    return sorted(found)


def open_file_holders(matches: Callable[[str], bool], proc: str = PROC) -> dict[int, str]:
    """Processes with an open file whose path satisfies ``matches``: pid -> path."""
    holders: dict[int, str] = {}
    try:
        entries = os.listdir(proc)
    except OSError:
        return holders
    for entry in entries:
        if not entry.isdigit():
            continue
        fd_dir = f"{proc}/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if matches(target):
                holders[int(entry)] = target
                break
    return holders


class Daemon:
    """A daemon known by its command name and the pid file it writes."""

    def __init__(self, comm: str, pidfile: str, proc: str = PROC) -> None:
        self.comm = comm
        self.pidfile = pidfile
        self._proc = proc

    def pid(self) -> int | None:
        """The daemon's pid: from its pid file, else (pid file lost) from a /proc scan of its binary."""
        pid = read_pidfile(self.pidfile)
        if pid is not None and pid != os.getpid() and is_running(pid, self.comm, self._proc):
            return pid
        others = pids_named(self.comm, self._proc)
        return others[0] if others else None

    def alive(self, pid: int) -> bool:
        return is_running(pid, self.comm, self._proc)

    def wait_gone(self, pid: int, seconds: float, *, poll: float = 0.1) -> bool:
        """Wait up to ``seconds`` for pid to exit; True when it did."""
        end = time.monotonic() + max(seconds, 0.0)
        while self.alive(pid):
            if time.monotonic() >= end:
                return False
            time.sleep(poll)
        return True

    def terminate(self, pid: int, deadline: Deadline, *, reserve: float = 1.0) -> str:
        """SIGTERM, wait, then SIGKILL: "stopped", "killed", or "alive" (it survived both).

        Two thirds of the time left (less ``reserve`` to report back) go to a
        clean exit; SIGKILL gets the rest.
        """
        if not self.send(pid, signal.SIGTERM):
            return "stopped"
        budget = max(deadline.remaining() - reserve, 0.0)
        if self.wait_gone(pid, budget * 2 / 3):
            return "stopped"
        if not self.send(pid, signal.SIGKILL):
            return "stopped"
        if self.wait_gone(pid, max(deadline.remaining() - reserve, 0.2)):
            return "killed"
        return "alive"

    def stop(self, pid: int, deadline: Deadline, log: Logger, *, reserve: float = 1.0) -> None:
        """terminate(), logged; raise OcfError when the daemon survives even SIGKILL."""
        from alua.ocf.errors import OcfError

        outcome = self.terminate(pid, deadline, reserve=reserve)
        if outcome == "alive":
            raise OcfError(f"{self.comm} (pid {pid}) survived SIGTERM and SIGKILL")
        if outcome == "killed":
            log.warning(f"{self.comm} (pid {pid}) ignored SIGTERM and was killed")
        log.info(f"stopped {self.comm} (pid {pid})")

    def send(self, pid: int, signum: int) -> bool:
        """Send signum to pid if it is still the daemon; False when it is already gone."""
        if not self.alive(pid):
            return False
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return False
        return True


def refuse_globally_unique(meta: Mapping[str, str], daemon: str) -> None:
    """A node-wide daemon runs once per node: a globally-unique clone would start it twice."""
    from alua.ocf.environment import is_true
    from alua.ocf.errors import OcfError
    from alua.ocf.exitstatus import ExitStatus

    if is_true(meta.get("OCF_RESKEY_CRM_meta_globally_unique", "")):
        raise OcfError(
            f"{daemon} runs once per node: clone it with globally-unique=false",
            ExitStatus.NOT_CONFIGURED,
        )


_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/+@:")


def check_pidfile_path(path: str) -> None:
    """A pid file parameter: an absolute, plain path (it is passed to daemons and opened here)."""
    if not path.startswith("/"):
        raise ValueError("is not an absolute path")
    bad = sorted({c for c in path if c not in _PATH_CHARS})
    if bad:
        raise ValueError(f"contains characters a pid file path should not have: {''.join(bad)!r}")
    if "/../" in path + "/" or path.endswith("/") or "//" in path:
        raise ValueError("is not a plain file path")
