"""Shared code of the fake lock-group tools (tests only, never installed).

Each fake keeps its state in the directory named by $ALUA_LOCKGROUP_FAKES,
records how it was called in <tool>.calls, hangs while <tool>.hang exists and
fails while <tool>.fail exists (printing that file).  Fake daemons detach like
the real ones (fork, setsid, stdio to /dev/null) and write their pid file
before the parent exits.
"""

import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "lockgroup", "fixtures")


def state_dir():
    path = os.environ.get("ALUA_LOCKGROUP_FAKES")
    if not path or not os.path.isdir(path):
        sys.stderr.write("fake tool: ALUA_LOCKGROUP_FAKES must name an existing directory\n")
        sys.exit(99)
    return path


def path(name):
    return os.path.join(state_dir(), name)


def read(name, default=None):
    try:
        with open(path(name), encoding="utf-8") as f:
            return f.read()
    except OSError:
        return default


def write(name, text):
    tmp = path(name) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path(name))


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as f:
        return f.read()


def begin(tool):
    """Record the call, then hang or fail when the test asked for it."""
    with open(path(f"{tool}.calls"), "a", encoding="utf-8") as f:
        f.write(" ".join(sys.argv[1:]) + "\n")
    if os.path.exists(path(f"{tool}.hang")):
        time.sleep(3600)
    failure = read(f"{tool}.fail")
    if failure is not None:
        sys.stderr.write(failure or f"{tool}: failed\n")
        sys.exit(1)


def pid_alive(pid, comm):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            stat = f.read()
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            name = f.read().strip()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX" and name == comm


def daemon_pid(pidfile, comm):
    try:
        with open(pidfile, encoding="ascii") as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid, comm) else None


def daemonize(pidfile, *, may_exit, die=False):
    """Detach like daemon(3); the child runs until SIGTERM finds may_exit() true."""
    child = os.fork()
    if child > 0:
        if not die:
            with open(pidfile + ".tmp", "w", encoding="ascii") as f:
                f.write(f"{child}\n")
            os.replace(pidfile + ".tmp", pidfile)
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if die:
        os._exit(1)

    def on_term(signum, frame):
        if may_exit():
            try:
                os.unlink(pidfile)
            except OSError:
                pass
            os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while True:
        signal.pause()
