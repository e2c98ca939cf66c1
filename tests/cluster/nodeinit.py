#!/usr/bin/python3
"""The first process of an emulated cluster node (or of the network switch).

Started by the harness as ``unshare --net --mount --uts --propagation private
-- nodeinit.py ...``, so everything it does happens inside the node's new
namespaces: it sets the host name, mounts the node's private /run, /dev/shm,
/sys/kernel and its directories for Pacemaker and corosync (and, with
``--fence-bindir``, overlays that directory's fence agents on /usr/sbin, so
the fencer finds them in this node only), then becomes a
child subreaper and serves the harness over stdin/stdout (one JSON object a
line):

    {"op": "spawn", "argv": [...], "env": {...}, "log": PATH}  -> {"pid": N}
    {"op": "kill_all"}                                           -> {"killed": [...]}

Every process of the node descends from it, so orphans (a killed
pacemakerd's children, an agent that was running) are reaped here instead of
lingering as zombies, and ``kill_all`` reaches all of them.  When the harness
goes away (stdin closes) or on SIGTERM, it kills everything it spawned and
exits: nothing of a node outlives its harness.  Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36


def log(message: str) -> None:
    sys.stderr.write(f"nodeinit[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def descendants(root: int) -> list[int]:
    """PIDs below ``root`` (children first found, then theirs), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    queue = [root]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all(timeout: float = 5.0) -> list[int]:
    """SIGKILL every descendant until none is left (bounded)."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = descendants(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)  # no more forks while the rest is found
            except ProcessLookupError:
                pass
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
        reap()
    reap()
    return killed


def setup_node(name: str, directory: str, host_mnt_ns: str, fence_bindir: str | None = None) -> None:
    # Never touch the host's mounts: refuse to run outside a new mount namespace.
    if os.readlink("/proc/self/ns/mnt") == host_mnt_ns:
        raise SystemExit("nodeinit: still in the host's mount namespace; refusing to mount anything")
    socket.sethostname(name)
    mounts = [
        ["-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run"],
        ["-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm"],
        ["-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/sys/kernel"],
        ["--bind", f"{directory}/lib-pacemaker", "/var/lib/pacemaker"],
        ["--bind", f"{directory}/lib-corosync", "/var/lib/corosync"],
        ["--bind", f"{directory}/log", "/var/log/pacemaker"],
        ["--bind", f"{directory}/etc-corosync", "/etc/corosync"],
    ]
    if fence_bindir:
        # The test nodes' fence agents appear in /usr/sbin (where Pacemaker's fencer looks
        # for them) in this mount namespace only: a read-only overlay, the host's /usr/sbin
        # below.
        mounts.append(["-t", "overlay", "-o", f"ro,lowerdir={fence_bindir}:/usr/sbin", "overlay", "/usr/sbin"])
    for args in mounts:
        subprocess.run(["mount", *args], check=True)
    for path in ("/run/lock", "/run/resource-agents", "/var/run/crm"):
        os.makedirs(path, exist_ok=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def spawn(request: dict[str, Any]) -> dict[str, Any]:
    argv = request["argv"]
    log_path = request.get("log") or "/dev/null"
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawnp(argv[0], argv, request.get("env") or dict(os.environ), file_actions=actions, setsid=True)
    return {"pid": pid}


def serve() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, lambda *_: (kill_all(), os._exit(0)))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the harness, which cleans up
    print(json.dumps({"ready": os.getpid()}), flush=True)
    buffer = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.2)
        reap()
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                request = json.loads(line)
                op = request["op"]
                if op == "spawn":
                    reply = spawn(request)
                elif op == "kill_all":
                    reply = {"killed": kill_all()}
                else:
                    reply = {"error": f"unknown op {op!r}"}
            except Exception as e:  # answer, never die: the node must stay killable
                reply = {"error": f"{type(e).__name__}: {e}"}
            os.write(1, (json.dumps(reply) + "\n").encode())
    kill_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--dir", help="the node's directory (omit for the switch)")
    parser.add_argument("--host-mnt-ns", required=True)
    parser.add_argument("--fence-bindir", help="a directory of fence agents to overlay on /usr/sbin")
    args = parser.parse_args()
    if args.dir:
        setup_node(args.name, args.dir, args.host_mnt_ns, args.fence_bindir)
    serve()


if __name__ == "__main__":
    main()
