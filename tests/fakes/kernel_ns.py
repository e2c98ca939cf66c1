"""Run a command with a fake /sys/block and /proc/drbd, inside a private mount namespace.

    unshare --mount --propagation private /usr/bin/python3 kernel_ns.py STATE_DIR -- CMD [ARG...]

/sys/block becomes STATE_DIR/sys_block (a bind mount).  /proc/drbd cannot
be faked the same way: procfs has no such file to bind over when the drbd
module is not loaded, and it refuses to be the lower layer of an overlay
("overlayfs: maximum fs stacking depth exceeded").  So /proc becomes a
tmpfs holding a fresh procfs instance at /proc/.host, a link to it for
every non-pid entry (self, mounts, meminfo, ...), and a link
/proc/drbd -> STATE_DIR/proc_drbd (a dangling link reads as "module not
loaded").  /proc/<pid> of other processes is absent; /proc/self works.
Nothing changes outside the namespace, so the agents run unmodified.
"""

from __future__ import annotations

import os
import subprocess
import sys


def _mount(*args: str) -> None:
    # The command's PATH may be the test's (even an empty directory): find mount(8) by itself.
    subprocess.run(["mount", *args], check=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def setup(state: str) -> None:
    state = os.path.abspath(state)
    sys_block = os.path.join(state, "sys_block")
    os.makedirs(sys_block, exist_ok=True)
    _mount("--bind", sys_block, "/sys/block")

    fake_proc = os.path.join(state, ".proc")
    os.makedirs(fake_proc, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=0555", "fakeproc", fake_proc)
    host = os.path.join(fake_proc, ".host")
    os.mkdir(host)
    _mount("-t", "proc", "proc", host)
    for entry in os.listdir(host):
        if not entry.isdigit() and entry != "drbd":
            os.symlink(f".host/{entry}", os.path.join(fake_proc, entry))
    os.symlink(os.path.join(state, "proc_drbd"), os.path.join(fake_proc, "drbd"))
    _mount("--rbind", fake_proc, "/proc")


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    setup(argv[1])
    os.execvp(argv[3], argv[3:])
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
