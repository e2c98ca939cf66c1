"""ALUA as the nodes' SCST shows it: target port groups (what sg_rtpg shows), and the write logs replayed.

The safety check of every failover test: two nodes must never report their own group active at once.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterable

from cluster.config import DEVICE_GROUP

#: Target port group states as sg_rtpg prints them (SPC-4 asymmetric access states).
RTPG_STATES = {
    "active": (0x0, "active/optimized"),
    "nonoptimized": (0x1, "active/non optimized"),
    "standby": (0x2, "standby"),
    "unavailable": (0x3, "unavailable"),
    "offline": (0xE, "offline"),
    "transitioning": (0xF, "transitioning between states"),
}


class GroupView:
    """One target port group as a node's SCST reports it (what sg_rtpg shows an initiator)."""

    def __init__(self, name: str, group_id: int, state: str) -> None:
        self.name = name
        self.group_id = group_id
        self.state = state

    def rtpg_line(self) -> str:
        code, text = RTPG_STATES.get(self.state, (-1, self.state))
        return (
            f"target port group id : 0x{self.group_id:x} ({self.name})  asymmetric access state : 0x{code:02x} ({text})"
        )


def alua_view(emulator: Any, dg: str = DEVICE_GROUP) -> list[GroupView]:
    """The target port groups of device group dg as this node's emulated sysfs has them."""
    if emulator is None:
        return []
    base = f"device_groups/{dg}/target_groups"
    try:
        names = sorted(n for n in os.listdir(emulator.path(base)) if n != "mgmt")
    except FileNotFoundError:
        return []
    views = []
    for name in names:
        group_id = emulator.read(f"{base}/{name}/group_id").split("\n", 1)[0].strip()
        state = emulator.read(f"{base}/{name}/state").split("\n", 1)[0].strip()
        views.append(GroupView(name, int(group_id or 0), state))
    return sorted(views, key=lambda v: v.group_id)


def two_active_moments(nodes: Iterable[Any]) -> list[str]:
    """Replay every node's SCST write log in time order: the moments two nodes reported
    their own group active at once (a crashed node reports nothing), and the moments one
    node's view had two groups active.  Empty: never two active."""
    overlaps, in_view = replay_writes(nodes)
    return [
        f"{start}..{end} ({(end - start) / 1e6:.0f} ms): nodes {nodes} each report their own group active"
        for start, end, nodes in overlaps
    ] + in_view

def replay_writes(nodes: Iterable[Any]) -> tuple[list[tuple[int, int, list[str]]], list[str]]:
    """(cross-node overlaps as (start ns, end ns, nodes), one-node moments with two groups active)."""
    events = sorted(
        ((int(w["ts"]), node.name, w) for node in nodes for w in node.writes()), key=lambda e: e[0]
    )
    own: dict[str, str] = {}
    views: dict[str, dict[str, str]] = {}
    overlaps: list[tuple[int, int, list[str]]] = []
    in_view: list[str] = []
    opened: tuple[int, list[str]] | None = None
    for ts, name, w in events:
        if w["result"] == "crash":
            own.pop(name, None)  # its groups are gone with its kernel
            views.pop(name, None)
        else:
            parts = w["path"].split("/")
            if w["result"] != "ok" or len(parts) != 5 or parts[0] != "device_groups" or parts[4] != "state":
                continue
            state = w["data"].strip()
            views.setdefault(name, {})[parts[3]] = state
            if parts[3] == name:
                own[name] = state
            active_view = sorted(g for g, s in views[name].items() if s == "active")
            if len(active_view) > 1:
                in_view.append(f"{ts}: {name}'s SCST has groups {active_view} active")
        active_nodes = sorted(n for n, s in own.items() if s == "active")
        if len(active_nodes) > 1 and opened is None:
            opened = (ts, active_nodes)
        elif len(active_nodes) <= 1 and opened is not None:
            overlaps.append((opened[0], ts, opened[1]))
            opened = None
    if opened is not None:
        overlaps.append((opened[0], time.time_ns(), opened[1]))
    return overlaps, in_view
