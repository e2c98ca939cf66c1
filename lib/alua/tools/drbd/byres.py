"""udev's /dev/drbd/by-res/<resource>/<volume> links and DRBD device numbers: minors without a tool."""

from __future__ import annotations

import os

BY_RES = "/dev/drbd/by-res"
DRBD_MAJOR = 147


def _minor_of_path(path: str) -> int | None:
    """N of a drbdN device path or link target ("../../drbd0", "/dev/drbd12")."""
    base = os.path.basename(path)
    if base.startswith("drbd") and base[4:].isdigit():
        return int(base[4:])
    return None


def minor_of_device(path: str) -> int | None:
    """The DRBD minor of a block device path (a PV), or None when it is not DRBD.

    A name drbdN (after following links) is DRBD; any other existing block
    device is DRBD when its major is 147, so /dev/drbd/by-res/... and custom
    device names work too.
    """
    try:
        real = os.path.realpath(path)
    except OSError:
        real = path
    minor = _minor_of_path(real)
    if minor is not None:
        return minor
    try:
        rdev = os.stat(real).st_rdev
    except OSError:
        return None
    return os.minor(rdev) if os.major(rdev) == DRBD_MAJOR and rdev else None


def by_res_minors(name: str, by_res: str | None = None) -> dict[int, int]:
    """volume -> minor from udev's /dev/drbd/by-res/<name>/<volume> links (empty without udev)."""
    base = f"{by_res or BY_RES}/{name}"
    try:
        # drbd-utils 8.x udev rules linked /dev/drbd/by-res/<name> itself (one volume).
        minor = _minor_of_path(os.readlink(base))
        return {0: minor} if minor is not None else {}
    except OSError:
        pass  # not a link: the per-volume directory, or nothing
    try:
        entries = os.listdir(base)
    except OSError:
        return {}
    found = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            minor = _minor_of_path(os.readlink(f"{base}/{entry}"))
        except OSError:
            continue
        if minor is not None:
            found[int(entry)] = minor
    return found
