"""DRBD state as this node sees it: DRBD 9 and the DRBD 8.4 module mainline kernels ship.

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

Callers that know the minors ask by minor (:meth:`DrbdReader.minor_problems`;
drbd-lvm reads them from its LVs' device-mapper slaves): on 8.4 /proc/drbd
answers alone, links or not.

``drbdsetup status --json`` (DRBD 9 only) is parsed by
:func:`parse_status_json` into the same objects for callers that hold it;
the agents use events2, which needs no json import on the monitor path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from alua.host.run import CommandRunner

PROC_DRBD = "/proc/drbd"
BY_RES = "/dev/drbd/by-res"
DRBD_MAJOR = 147

PRIMARY = "Primary"
SECONDARY = "Secondary"
UP_TO_DATE = "UpToDate"
UNCONFIGURED = "Unconfigured"

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-+")


def check_resource_name(name: str) -> None:
    """Raise ValueError unless name can be a DRBD resource name (and is not drbdadm's "all")."""
    if not name:
        raise ValueError("is empty")
    bad = sorted({c for c in name if c not in _NAME_CHARS})
    if bad:
        raise ValueError(f"contains {''.join(bad)!r}")
    if name.startswith("-") or name in (".", "..", "all"):
        raise ValueError("is not a usable DRBD resource name")


def parse_resource_names(raw: str) -> tuple[str, ...]:
    """Whitespace-separated DRBD resource names, each once."""
    names: list[str] = []
    for name in raw.split():
        try:
            check_resource_name(name)
        except ValueError as e:
            raise ValueError(f"has resource name {name!r} that {e}") from None
        if name in names:
            raise ValueError(f"names {name} twice")
        names.append(name)
    if not names:
        raise ValueError("lists no DRBD resource")
    return tuple(names)


# -- state objects ----------------------------------------------------------


# A returning node's disk is Inconsistent while it catches up from its peer.
INCONSISTENT = "Inconsistent"
SYNC_TARGET_STATES = frozenset({"SyncTarget", "PausedSyncT", "WFBitMapT", "WFSyncUUID"})
RESYNCING = "resyncing from a peer"


class DrbdVolume:
    """One local volume (device) of a resource."""

    __slots__ = ("volume", "minor", "disk_state", "quorum")

    def __init__(self, volume: int, minor: int | None, disk_state: str, quorum: bool = True) -> None:
        self.volume = volume
        self.minor = minor
        self.disk_state = disk_state
        self.quorum = quorum

    def __repr__(self) -> str:
        return f"DrbdVolume({self.volume}, minor={self.minor}, {self.disk_state})"


class DrbdPeerDevice:
    """One volume as seen over one connection."""

    __slots__ = ("volume", "replication_state", "peer_disk_state")

    def __init__(self, volume: int, replication_state: str, peer_disk_state: str) -> None:
        self.volume = volume
        self.replication_state = replication_state
        self.peer_disk_state = peer_disk_state


class DrbdConnection:
    """The connection to one peer ("peer" on DRBD 8.4)."""

    __slots__ = ("name", "peer_node_id", "connection_state", "peer_role", "peer_devices")

    def __init__(self, name: str, peer_node_id: int | None, connection_state: str, peer_role: str) -> None:
        self.name = name
        self.peer_node_id = peer_node_id
        self.connection_state = connection_state
        self.peer_role = peer_role
        self.peer_devices: dict[int, DrbdPeerDevice] = {}


class DrbdResource:
    """A resource on this node: its role, its local volumes and its connections.

    ``kind`` is "resource", or "device" when only a minor is known (its name
    is then drbdN).
    """

    __slots__ = ("name", "kind", "role", "suspended", "volumes", "connections")

    def __init__(self, name: str, role: str = "Unknown", suspended: str = "no", *, kind: str = "resource") -> None:
        self.name = name
        self.kind = kind
        self.role = role
        self.suspended = suspended
        self.volumes: dict[int, DrbdVolume] = {}
        self.connections: dict[str, DrbdConnection] = {}

    @property
    def disk_states(self) -> list[str]:
        return [self.volumes[v].disk_state for v in sorted(self.volumes)]

    @property
    def minors(self) -> list[int]:
        return [v.minor for _, v in sorted(self.volumes.items()) if v.minor is not None]

    @property
    def is_primary_uptodate(self) -> bool:
        return self.problem() is None

    def state_text(self) -> str:
        """ "Secondary/Outdated"; one disk state per volume when they differ."""
        states = self.disk_states
        if not states:
            return f"{self.role}/no volumes"
        if len(set(states)) == 1:
            return f"{self.role}/{states[0]}"
        shown = ", ".join(f"volume {v} {self.volumes[v].disk_state}" for v in sorted(self.volumes))
        return f"{self.role} ({shown})"

    @property
    def resyncing(self) -> bool:
        """Some local volume is Inconsistent and being brought UpToDate from a peer."""
        syncing = any(
            pd.replication_state in SYNC_TARGET_STATES
            for c in self.connections.values()
            for pd in c.peer_devices.values()
        )
        return syncing and INCONSISTENT in self.disk_states

    def problem(self) -> str | None:
        """Why this resource is not Primary with every local volume UpToDate here, or None."""
        states = self.disk_states
        if self.role != PRIMARY or not states or any(s != UP_TO_DATE for s in states):
            if self.resyncing:
                return f"DRBD {self.kind} {self.name} is {self.state_text()} ({RESYNCING})"
            return f"DRBD {self.kind} {self.name} is {self.state_text()}"
        lost = [v for v in sorted(self.volumes) if not self.volumes[v].quorum]
        if lost:
            return f"DRBD {self.kind} {self.name} is {self.state_text()} but has lost quorum"
        return None

    def __repr__(self) -> str:
        return f"DrbdResource({self.name!r}, {self.state_text()})"


def not_configured(name: str, why: str = "", *, kind: str = "resource") -> str:
    """The problem text for a resource (or device) this node does not have."""
    return f"DRBD {kind} {name} is not configured on this node{why}"


# -- parsers ------------------------------------------------------------------


def _fields(tokens: Iterable[str]) -> dict[str, str]:
    fields = {}
    for token in tokens:
        key, sep, value = token.partition(":")
        if sep:
            fields[key] = value
    return fields


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def parse_events2(text: str) -> dict[str, DrbdResource]:
    """Resources from ``drbdsetup events2`` output (DRBD 9, or 8.4 via drbdsetup-84).

    ``--now`` prints only "exists" lines and a final "exists -"; a recorded
    stream (create/change/destroy) is applied in order, so the result is the
    state after the last line.  Statistics, helpers and paths are ignored.
    """
    resources: dict[str, DrbdResource] = {}
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) > 2 and tokens[0][:1].isdigit() and "T" in tokens[0]:
            tokens = tokens[1:]  # --timestamps
        if len(tokens) < 3 or tokens[0] not in ("exists", "create", "change", "destroy"):
            continue
        action, kind = tokens[0], tokens[1]
        fields = _fields(tokens[2:])
        name = fields.get("name")
        if not name:
            continue
        if action == "destroy" and kind == "resource":
            resources.pop(name, None)
            continue
        resource = resources.get(name)
        if resource is None:
            if action == "destroy":
                continue
            resource = resources[name] = DrbdResource(name)
        if kind == "resource":
            resource.role = fields.get("role", resource.role)
            resource.suspended = fields.get("suspended", resource.suspended)
        elif kind == "device":
            _apply_device(resource, action, fields)
        elif kind == "connection":
            _apply_connection(resource, action, fields)
        elif kind == "peer-device":
            _apply_peer_device(resource, action, fields)
    return resources


def _apply_device(resource: DrbdResource, action: str, fields: dict[str, str]) -> None:
    volume = _int(fields.get("volume"))
    if volume is None:
        return
    if action == "destroy":
        resource.volumes.pop(volume, None)
        return
    current = resource.volumes.get(volume)
    if current is None:
        current = resource.volumes[volume] = DrbdVolume(volume, None, "Unknown")
    current.minor = _int(fields.get("minor")) if "minor" in fields else current.minor
    current.disk_state = fields.get("disk", current.disk_state)
    if "quorum" in fields:
        current.quorum = fields["quorum"] != "no"


def _connection_key(fields: dict[str, str]) -> str:
    return fields.get("conn-name") or fields.get("peer-node-id") or "peer"


def _apply_connection(resource: DrbdResource, action: str, fields: dict[str, str]) -> None:
    key = _connection_key(fields)
    if action == "destroy":
        resource.connections.pop(key, None)
        return
    current = resource.connections.get(key)
    if current is None:
        current = resource.connections[key] = DrbdConnection(
            key, _int(fields.get("peer-node-id")), "Unknown", "Unknown"
        )
    current.connection_state = fields.get("connection", current.connection_state)
    current.peer_role = fields.get("role", current.peer_role)


def _apply_peer_device(resource: DrbdResource, action: str, fields: dict[str, str]) -> None:
    key = _connection_key(fields)
    volume = _int(fields.get("volume"))
    if volume is None:
        return
    connection = resource.connections.get(key)
    if action == "destroy":
        if connection is not None:
            connection.peer_devices.pop(volume, None)
        return
    if connection is None:  # the kernel may list peer devices before their connection
        connection = resource.connections[key] = DrbdConnection(
            key, _int(fields.get("peer-node-id")), "Unknown", "Unknown"
        )
    current = connection.peer_devices.get(volume)
    if current is None:
        current = connection.peer_devices[volume] = DrbdPeerDevice(volume, "Unknown", "DUnknown")
    current.replication_state = fields.get("replication", current.replication_state)
    current.peer_disk_state = fields.get("peer-disk", current.peer_disk_state)


def parse_status_json(text: str) -> dict[str, DrbdResource]:
    """Resources from DRBD 9's ``drbdsetup status --json``.

    Its keys mix styles ("peer_devices" beside "peer-disk-state",
    "connection-state"); both spellings are accepted for each.
    """
    import json

    def get(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
        for spelling in (key, key.replace("-", "_"), key.replace("_", "-")):
            if spelling in obj:
                return obj[spelling]
        return default

    def number(value: Any) -> int | None:
        return int(value) if value is not None else None

    resources: dict[str, DrbdResource] = {}
    for item in json.loads(text):
        name = str(get(item, "name"))
        suspended = "yes" if get(item, "suspended", False) is True else "no"
        resource = DrbdResource(name, str(get(item, "role", "Unknown")), suspended)
        for device in get(item, "devices") or []:
            volume = int(get(device, "volume", 0))
            resource.volumes[volume] = DrbdVolume(
                volume,
                number(get(device, "minor")),
                str(get(device, "disk-state", "Unknown")),
                get(device, "quorum", True) is not False,
            )
        for conn in get(item, "connections") or []:
            node_id = number(get(conn, "peer-node-id"))
            key = str(get(conn, "name") or node_id or "peer")
            connection = DrbdConnection(
                key, node_id, str(get(conn, "connection-state", "Unknown")), str(get(conn, "peer-role", "Unknown"))
            )
            for peer in get(conn, "peer_devices") or []:
                volume = int(get(peer, "volume", 0))
                connection.peer_devices[volume] = DrbdPeerDevice(
                    volume,
                    str(get(peer, "replication-state", "Unknown")),
                    str(get(peer, "peer-disk-state", "DUnknown")),
                )
            resource.connections[key] = connection
        resources[name] = resource
    return resources


class ProcMinor:
    """One minor's line in DRBD 8's /proc/drbd."""

    __slots__ = ("minor", "connection_state", "role", "peer_role", "disk_state", "peer_disk_state", "suspended")

    def __init__(
        self,
        minor: int,
        connection_state: str,
        role: str = UNCONFIGURED,
        peer_role: str = "Unknown",
        disk_state: str = UNCONFIGURED,
        peer_disk_state: str = "DUnknown",
        suspended: bool = False,
    ) -> None:
        self.minor = minor
        self.connection_state = connection_state
        self.role = role
        self.peer_role = peer_role
        self.disk_state = disk_state
        self.peer_disk_state = peer_disk_state
        self.suspended = suspended

    @property
    def configured(self) -> bool:
        return self.connection_state != UNCONFIGURED


class ProcDrbd:
    """/proc/drbd: the module version, and on DRBD 8 every minor's state."""

    __slots__ = ("version", "minors")

    def __init__(self, version: str, minors: dict[int, ProcMinor]) -> None:
        self.version = version
        self.minors = minors

    @property
    def is_v8(self) -> bool:
        return self.version.startswith("8.")


def parse_proc_drbd(text: str) -> ProcDrbd:
    """Parse /proc/drbd (DRBD 8.3/8.4 list minors; DRBD 9 prints only versions).

    A minor line: `` 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----``;
    an unused minor: `` 2: cs:Unconfigured``.  The first letter of the
    flags is 's' while I/O is suspended.
    """
    version = ""
    minors: dict[int, ProcMinor] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("version:"):
            words = stripped.split()
            version = words[1] if len(words) > 1 else ""
            continue
        head, sep, rest = stripped.partition(":")
        if not sep or not head.isdigit() or not rest.lstrip().startswith("cs:"):
            continue
        tokens = rest.split()
        fields = _fields(tokens)
        role, _, peer_role = fields.get("ro", f"{UNCONFIGURED}/Unknown").partition("/")
        disk, _, peer_disk = fields.get("ds", f"{UNCONFIGURED}/DUnknown").partition("/")
        flags = [t for t in tokens if ":" not in t]
        suspended = bool(flags) and flags[-1][:1] == "s"
        minors[int(head)] = ProcMinor(
            int(head), fields.get("cs", UNCONFIGURED), role, peer_role, disk, peer_disk, suspended
        )
    return ProcDrbd(version, minors)


# -- where a resource's minors are ---------------------------------------------


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


# -- reading the state ----------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _from_proc(name: str, volumes: dict[int, int], proc: ProcDrbd, kind: str = "resource") -> DrbdResource | None:
    """A resource built from its minors' /proc/drbd lines; None if a minor is not there."""
    resource = DrbdResource(name, kind=kind)
    roles = []
    for volume, minor in sorted(volumes.items()):
        line = proc.minors.get(minor)
        if line is None or not line.configured:
            return None
        roles.append(line.role)
        resource.volumes[volume] = DrbdVolume(volume, minor, line.disk_state)
        connection = resource.connections.get("peer")
        if connection is None:
            connection = resource.connections["peer"] = DrbdConnection("peer", 0, line.connection_state, line.peer_role)
        connection.peer_devices[volume] = DrbdPeerDevice(volume, line.connection_state, line.peer_disk_state)
        if line.suspended:
            resource.suspended = "yes"
    # 8.4 keeps one role per resource; if minors disagree, show the weakest.
    resource.role = PRIMARY if roles and all(r == PRIMARY for r in roles) else next(r for r in roles if r != PRIMARY)
    return resource


class DrbdReader:
    """Reads DRBD state at most once per action, from the cheapest source available."""

    def __init__(self, runner: CommandRunner, *, proc_drbd: str | None = None, by_res: str | None = None) -> None:
        self._runner = runner
        self._proc_path = proc_drbd or PROC_DRBD
        self._by_res = by_res or BY_RES
        self._proc: ProcDrbd | None = None
        self._proc_read = False
        self._events: dict[str, DrbdResource] | None = None

    def proc(self) -> ProcDrbd | None:
        """/proc/drbd parsed, or None when the drbd module is not loaded."""
        if not self._proc_read:
            text = _read(self._proc_path)
            self._proc = parse_proc_drbd(text) if text is not None else None
            self._proc_read = True
        return self._proc

    @property
    def loaded(self) -> bool:
        return self.proc() is not None

    def all_resources(self) -> dict[str, DrbdResource]:
        """Every resource configured here, from ``drbdsetup events2 --now all``."""
        if self._events is None:
            if not self.loaded:
                self._events = {}
            else:
                result = self._runner.run(["drbdsetup", "events2", "--now", "all"], check=True)
                self._events = parse_events2(result.stdout)
        return self._events

    def resources(self, names: Sequence[str]) -> dict[str, DrbdResource | None]:
        """name -> its state here (None: not configured on this node)."""
        proc = self.proc()
        if proc is None:
            return {name: None for name in names}
        found: dict[str, DrbdResource | None] = {}
        missing = []
        for name in names:
            if proc.is_v8 and proc.minors:
                volumes = by_res_minors(name, self._by_res)
                resource = _from_proc(name, volumes, proc) if volumes else None
                if resource is not None:
                    found[name] = resource
                    continue
            missing.append(name)
        if missing:
            every = self.all_resources()
            for name in missing:
                found[name] = every.get(name)
        return found

    def resources_of_minors(self, minors: Iterable[int]) -> dict[int, DrbdResource | None]:
        """minor -> the resource it belongs to (None: no configured resource has it)."""
        wanted = sorted(set(minors))
        if not self.loaded:
            return {minor: None for minor in wanted}
        by_minor: dict[int, DrbdResource] = {}
        for resource in self.all_resources().values():
            for minor in resource.minors:
                by_minor[minor] = resource
        return {minor: by_minor.get(minor) for minor in wanted}

    def minor_problems(self, minors: Iterable[int], names: dict[int, str] | None = None) -> list[str]:
        """One reason per resource (or unknown device) among minors not Primary and UpToDate.

        names maps minors to resource names where the caller knows them
        (the reason then names the resource); on DRBD 8.4 /proc/drbd alone
        answers, on DRBD 9 events2 does.
        """
        wanted = sorted(set(minors))
        names = names or {}
        proc = self.proc()
        if proc is None:
            why = " (the drbd kernel module is not loaded)"
            return [not_configured(f"drbd{m}", why, kind="device") for m in wanted]
        problems: list[str] = []
        if proc.is_v8 and proc.minors:
            groups: dict[tuple[str, str], dict[int, int]] = {}
            for minor in wanted:
                key = (names[minor], "resource") if minor in names else (f"drbd{minor}", "device")
                volumes = groups.setdefault(key, {})
                volumes[len(volumes)] = minor
            for (label, kind), volumes in groups.items():
                resource = _from_proc(label, volumes, proc, kind)
                if resource is None:
                    problems.append(not_configured(label, kind=kind))
                elif resource.problem():
                    problems.append(resource.problem() or "")
            return problems
        seen: set[str] = set()
        for minor, owner in self.resources_of_minors(wanted).items():
            if owner is None:
                problems.append(not_configured(f"drbd{minor}", kind="device"))
            elif owner.name not in seen:
                seen.add(owner.name)
                problem = owner.problem()
                if problem:
                    problems.append(problem)
        return problems

    def problems(self, names: Sequence[str]) -> list[str]:
        """One reason per resource that is not Primary and UpToDate here."""
        found = self.resources(names)
        why = "" if self.loaded else " (the drbd kernel module is not loaded)"
        problems = []
        for name in names:
            resource = found.get(name)
            if resource is None:
                problems.append(not_configured(name, why))
                continue
            problem = resource.problem()
            if problem:
                problems.append(problem)
        return problems


def primary_uptodate_problems(resources: Sequence[str], runner: CommandRunner) -> list[str]:
    """Empty when every resource is Primary with all local volumes UpToDate on this node.

    Otherwise one reason per resource, e.g. "DRBD resource r0 is
    Secondary/Outdated" or "DRBD resource r0 is not configured on this node".
    On DRBD 8.4 with udev's by-res links this runs no command.
    """
    return DrbdReader(runner).problems(resources)
