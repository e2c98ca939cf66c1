"""Guards that keep the lab inside its work directory.

Every destructive step (rm -rf, mkfs over an existing file, a chroot
clean-up) calls :func:`check_inside` first; :func:`safe_rmtree` also
refuses to delete anything with a mount point under it, and never crosses
file systems.  :class:`HostGuard` snapshots checksums of host files the lab
must never change and compares them at the end.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat

GUARDED_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/var/lib/dpkg/statoverride",
    "/etc/fstab",
    "/etc/hosts",
    "/etc/resolv.conf",
)

# Paths a work directory may never be, nor contain.
_FORBIDDEN = {"/", "/etc", "/usr", "/var", "/var/lib", "/var/lib/dpkg", "/bin", "/sbin", "/lib",
              "/lib64", "/boot", "/home", "/root", "/tmp", "/var/tmp", "/opt", "/srv", "/run", "/proc",
              "/sys", "/dev", "/work"}


class UnsafePath(RuntimeError):
    pass


def check_workdir(workdir: str) -> str:
    """The work directory itself: absolute, not a system directory, at least two levels deep."""
    real = os.path.realpath(workdir)
    if not os.path.isabs(workdir) or real in _FORBIDDEN or real.count("/") < 2:
        raise UnsafePath(f"refusing work directory {workdir!r} (resolves to {real!r})")
    return real


def check_inside(workdir: str, path: str) -> str:
    """Return realpath(path) if it lies strictly below the work directory, else raise."""
    base = check_workdir(workdir)
    real = os.path.realpath(path)
    if real == base or not real.startswith(base + "/"):
        raise UnsafePath(f"refusing to touch {path!r} (resolves to {real!r}): not below {base}")
    if os.path.realpath(os.path.dirname(path)) != os.path.dirname(real):
        # a symlinked parent could redirect the operation elsewhere
        raise UnsafePath(f"refusing to touch {path!r}: a parent directory is a symbolic link")
    return real


def mounts_below(path: str) -> list[str]:
    """Mount points at or below path in this mount namespace."""
    real = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == real or point.startswith(real.rstrip("/") + "/"):
                found.append(point)
    return found


def safe_rmtree(workdir: str, path: str) -> None:
    """rm -rf path, only below workdir, never across a mount point or file system."""
    if not os.path.lexists(path):
        return
    real = check_inside(workdir, path)
    if os.path.islink(path) or not os.path.isdir(real):
        os.unlink(path)
        return
    mounted = mounts_below(real)
    if mounted:
        raise UnsafePath(f"refusing to remove {real}: mount points below it: {mounted}")
    dev = os.lstat(real).st_dev

    def onerror(func, p, exc):  # noqa: ANN001
        raise exc[1]

    # walk ourselves so a different st_dev (a mount we failed to see) stops the removal
    for root, dirs, _files in os.walk(real, topdown=True, followlinks=False):
        for d in dirs:
            st = os.lstat(os.path.join(root, d))
            if stat.S_ISDIR(st.st_mode) and st.st_dev != dev:
                raise UnsafePath(f"refusing to remove {real}: {os.path.join(root, d)} is another file system")
    shutil.rmtree(real, onerror=onerror)


def safe_unlink(workdir: str, path: str) -> None:
    if os.path.lexists(path):
        check_inside(workdir, path)
        os.unlink(path)


def file_digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return "missing"


class HostGuard:
    """Checksums of host files the lab must not change; compare() lists what changed."""

    def __init__(self, files: tuple[str, ...] = GUARDED_FILES) -> None:
        self.files = files
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, str]:
        return {p: file_digest(p) for p in self.files}

    def changed(self) -> list[str]:
        after = self.snapshot()
        return [p for p in self.files if after[p] != self.before[p]]

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for p in self.files:
                f.write(f"{self.before[p]}  {p}\n")

    @classmethod
    def load(cls, path: str) -> HostGuard:
        g = cls.__new__(cls)
        before = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                digest, p = line.rstrip("\n").split("  ", 1)
                before[p] = digest
        g.files = tuple(before)
        g.before = before
        return g
