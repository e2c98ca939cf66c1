"""DRBD state objects: resources, volumes, connections, peer devices, one problem text each."""

from __future__ import annotations

from alua import Record
from alua.tools.drbd import INCONSISTENT, PRIMARY, RESYNCING, SYNC_TARGET_STATES, UP_TO_DATE


class DrbdVolume(Record):
    """One local volume (device) of a resource."""

    __slots__ = ("volume", "minor", "disk_state", "quorum")

    def __init__(self, volume: int, minor: int | None, disk_state: str, quorum: bool = True) -> None:
        self.volume, self.minor, self.disk_state, self.quorum = volume, minor, disk_state, quorum


class DrbdPeerDevice(Record):
    """One volume as seen over one connection."""

    __slots__ = ("volume", "replication_state", "peer_disk_state")

    def __init__(self, volume: int, replication_state: str, peer_disk_state: str) -> None:
        self.volume, self.replication_state, self.peer_disk_state = volume, replication_state, peer_disk_state


class DrbdConnection(Record):
    """The connection to one peer ("peer" on DRBD 8.4)."""

    __slots__ = ("name", "peer_node_id", "connection_state", "peer_role", "peer_devices")

    def __init__(self, name: str, peer_node_id: int | None, connection_state: str, peer_role: str) -> None:
        self.name, self.peer_node_id = name, peer_node_id
        self.connection_state, self.peer_role = connection_state, peer_role
        self.peer_devices: dict[int, DrbdPeerDevice] = {}


class DrbdResource:
    """A resource on this node: its role, its local volumes and its connections.

    ``kind`` is "resource", or "device" when only a minor is known (its name
    is then drbdN).
    """

    __slots__ = ("name", "kind", "role", "suspended", "volumes", "connections")

    def __init__(self, name: str, role: str = "Unknown", suspended: str = "no", *, kind: str = "resource") -> None:
        self.name, self.kind, self.role, self.suspended = name, kind, role, suspended
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
