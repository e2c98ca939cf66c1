"""drbdsetup's outputs parsed: ``events2 --now`` (DRBD 9 and 8.4's drbdsetup-84) and ``status --json``."""

from __future__ import annotations

from alua.tools.drbd.state import DrbdConnection, DrbdPeerDevice, DrbdResource, DrbdVolume

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

def key_values(tokens: Iterable[str]) -> dict[str, str]:
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
        fields = key_values(tokens[2:])
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
