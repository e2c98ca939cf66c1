"""Process liveness from /proc: pid files, zombies, recycled pids, agents named like daemons."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alua.host import proc
from alua.ocf.context import Deadline

SLEEPER = """#!/usr/bin/python3 -I
import signal, sys, time
if "ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def named_script(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start a Python script whose file is named like a daemon; kill it afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(name: str, *args: str) -> subprocess.Popen[str]:
        path = tmp_path / name
        path.write_text(SLEEPER)
        path.chmod(0o755)
        p = subprocess.Popen([str(path), *args], stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
        p.wait()


def test_pidfile_contents(tmp_path: Path) -> None:
    f = tmp_path / "pid"
    for text, expected in (("1234\n", 1234), ("  77 extra", 77), ("", None), ("abc", None), ("-5", None), ("0", None)):
        f.write_text(text)
        assert proc.read_pidfile(str(f)) == expected, text
    assert proc.read_pidfile(str(tmp_path / "missing")) is None


def test_live_process_and_its_name() -> None:
    comm = Path("/proc/self/comm").read_text().strip()
    assert proc.is_running(os.getpid(), comm)
    assert not proc.is_running(os.getpid(), comm + "x")


def test_a_zombie_is_not_running() -> None:
    child = subprocess.Popen(["sleep", "0"])
    for _ in range(200):
        stat = Path(f"/proc/{child.pid}/stat").read_text()
        if stat[stat.rfind(")") + 2] == "Z":
            break
        time.sleep(0.01)
    try:
        assert proc.process_comm(child.pid) is None
        assert not proc.is_running(child.pid, "sleep")
    finally:
        child.wait()


def test_scan_finds_binaries_not_scripts_named_like_them(named_script) -> None:
    script = named_script("lvmlockd")
    assert proc.is_running(script.pid, "lvmlockd")  # comm is the script's name...
    assert script.pid not in proc.pids_named("lvmlockd")  # ...but its executable is python
    sleep = shutil.which("sleep")
    assert sleep is not None
    real = subprocess.Popen([sleep, "30"])
    try:
        assert real.pid in proc.pids_named("sleep")
    finally:
        real.kill()
        real.wait()


def test_the_caller_never_finds_itself(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    pidfile.write_text(f"{os.getpid()}\n")
    comm = Path("/proc/self/comm").read_text().strip()
    assert proc.Daemon(comm, str(pidfile)).pid() != os.getpid()
    assert os.getpid() not in proc.pids_named(comm)


def test_daemon_found_through_its_pid_file(named_script, tmp_path: Path) -> None:
    script = named_script("dlm_controld")
    pidfile = tmp_path / "dlm_controld.pid"
    pidfile.write_text(f"{script.pid}\n")
    assert proc.Daemon("dlm_controld", str(pidfile)).pid() == script.pid
    assert proc.Daemon("lvmlockd", str(pidfile)).pid() is None  # the pid is not that daemon


def test_terminate_stops_with_sigterm(named_script, tmp_path: Path) -> None:
    script = named_script("lvmlockd")
    daemon = proc.Daemon("lvmlockd", str(tmp_path / "none"))
    reaper = _reap_in_background(script)
    assert daemon.terminate(script.pid, Deadline(5), reserve=0.5) == "stopped"
    reaper.join()
    assert script.returncode == -signal.SIGTERM


def test_terminate_kills_a_daemon_that_ignores_sigterm(named_script, tmp_path: Path) -> None:
    script = named_script("lvmlockd", "ignore-term")
    daemon = proc.Daemon("lvmlockd", str(tmp_path / "none"))
    reaper = _reap_in_background(script)
    started = time.monotonic()
    assert daemon.terminate(script.pid, Deadline(3), reserve=0.5) == "killed"
    assert time.monotonic() - started < 3
    reaper.join()
    assert script.returncode == -signal.SIGKILL


def test_terminate_of_a_gone_process_is_stopped(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert proc.Daemon("python3", str(tmp_path / "x")).terminate(child.pid, Deadline(1)) == "stopped"


def test_open_file_holders(tmp_path: Path) -> None:
    target = tmp_path / "dlm_lvm_global"
    target.write_text("")
    with open(target) as f:  # noqa: F841 - held open for the scan
        holders = proc.open_file_holders(lambda p: os.path.basename(p) == "dlm_lvm_global")
    assert holders == {os.getpid(): str(target)}
    assert proc.open_file_holders(lambda p: os.path.basename(p) == "dlm_lvm_global") == {}


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/run/lvmlockd.pid", True),
        ("/run/dlm_controld/dlm_controld.pid", True),
        ("run/x.pid", False),
        ("/run/$(id).pid", False),
        ("/run/a b", False),
        ("/run/../etc/passwd", False),
        ("/run/", False),
        ("/run//x", False),
    ],
)
def test_pidfile_parameter_paths(path: str, ok: bool) -> None:
    if ok:
        proc.check_pidfile_path(path)
    else:
        with pytest.raises(ValueError):
            proc.check_pidfile_path(path)


def _reap_in_background(p: subprocess.Popen[str]):  # type: ignore[no-untyped-def]
    """Our child would stay a zombie (still 'running' for kill) unless someone waits for it."""
    import threading

    t = threading.Thread(target=p.wait)
    t.start()
    return t
