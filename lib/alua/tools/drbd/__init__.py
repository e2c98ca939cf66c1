"""DRBD: resource names and states here; the parsers, the by-res links and the reader in submodules.

DRBD state as this node sees it: DRBD 9 and the DRBD 8.4 module mainline kernels ship.

One reader for every agent that must not act on a replica that is not
Primary and UpToDate here (drbd-lvm before activating, scst before taking a
promotion score).

Where it looks, cheapest first:

- ``/proc/drbd`` missing: the drbd module is not loaded; nothing is
  configured, and no tool runs (drbdsetup would modprobe the module).
- DRBD 8.4 (``version: 8.4``): /proc/drbd lists every minor's role and disk
  state, but by minor, not by resource.  The udev links drbd-utils creates,
  ``/dev/drbd/by-res/<resource>/<volume>`` -> ``../../drbdN``, give the
  minors of a resource without running anything, so a monitor costs two
  file reads.  Without the links (no udev) it falls back to events2.
- DRBD 9 (its /proc/drbd lists no minors), and the 8.4 fallback:
  ``drbdsetup events2 --now all``, one line per object, the format
  drbd-utils' own agent parses; drbdsetup re-executes drbdsetup-84 on an
  8.4 kernel, which prints the same objects (with peer-node-id 0).

Callers that know the minors ask by minor (:meth:`reader.DrbdReader.minor_problems`;
drbd-lvm reads them from its LVs' device-mapper slaves): on 8.4 /proc/drbd
answers alone, links or not.

``drbdsetup status --json`` (DRBD 9 only) is parsed by
:func:`events.parse_status_json` into the same objects for callers that hold it;
the agents use events2, which needs no json import on the monitor path.
"""

from __future__ import annotations

from alua.host.validate import charset, check_characters, parse_names


PRIMARY = "Primary"
SECONDARY = "Secondary"
UP_TO_DATE = "UpToDate"
UNCONFIGURED = "Unconfigured"

_NAME_CHARS = charset("_.-+")


def check_resource_name(name: str) -> None:
    """Raise ValueError unless name can be a DRBD resource name (and is not drbdadm's "all")."""
    check_characters(name, _NAME_CHARS, "contains {bad!r}")
    if name.startswith("-") or name in (".", "..", "all"):
        raise ValueError("is not a usable DRBD resource name")


def parse_resource_names(raw: str) -> tuple[str, ...]:
    """Whitespace-separated DRBD resource names, each once."""
    return parse_names(raw, check_resource_name, kind="resource name", none="lists no DRBD resource")


# -- state objects ----------------------------------------------------------


# A returning node's disk is Inconsistent while it catches up from its peer.
INCONSISTENT = "Inconsistent"
SYNC_TARGET_STATES = frozenset({"SyncTarget", "PausedSyncT", "WFBitMapT", "WFSyncUUID"})
RESYNCING = "resyncing from a peer"
