"""Both storage nodes' ALUA group states over time (guest/alua-sampler.py) and the one rule
they must keep: never two active/optimized groups at one moment.

A node's target reports its own group (the group named after the node) to the initiator
through its own ports, so two nodes whose own groups are both active at one moment give
the initiator two active/optimized path groups: the hazard promoted-max=1 exists to prevent.
One node's view with two active groups in one device group is the same hazard seen from
one target.  A node's last sample counts for ``stale`` seconds (a dead or frozen node's
target answers nothing after that).

A node's own group counts only while an initiator can reach it through that node: SCST
offers a disabled target nowhere, and ocf:alua:scst creates the node's target group (SCST
creates it active/optimized) and sets its state before it enables the target (lab Finding
22). The sampler records that (``exposed``); ``load(..., node, raw=True)`` ignores it, so
the report shows both counts.
"""

from __future__ import annotations

import bisect
import json
import os

ACTIVE = "active"


UNEXPOSED = " (target disabled)"


def load(path: str, node: str = "", raw: bool = False) -> list[tuple[float, dict[str, str]]]:
    """One node's samples, in time order (a torn last line, from a node killed while writing, is skipped).

    Unless raw, node's own group is marked UNEXPOSED at moments when the sampler saw no enabled
    local target in it (it is then no active/optimized path for any initiator)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                s = json.loads(line)
            except ValueError:
                continue
            groups = dict(s["groups"])
            if not raw:
                for key, exposed in (s.get("exposed") or {}).items():
                    if not exposed and key.rsplit("/", 1)[1] == node and key in groups:
                        groups[key] += UNEXPOSED
            out.append((float(s["t"]), groups))
    out.sort(key=lambda x: x[0])
    return out


def own_active(node: str, groups: dict[str, str]) -> set[str]:
    """Device groups (or backstores) in which node's own group is active in node's own view."""
    return {key.rsplit("/", 1)[0] for key, state in groups.items()
            if state == ACTIVE and key.rsplit("/", 1)[1] == node}


def two_active(samples: dict[str, list[tuple[float, dict[str, str]]]], stale: float = 1.0) -> list[dict]:
    """Every moment at which two groups were active/optimized (empty: the rule held)."""
    problems: list[dict] = []
    for node, series in samples.items():
        for t, groups in series:
            per_dg: dict[str, list[str]] = {}
            for key, state in groups.items():
                if state == ACTIVE:
                    dg, group = key.rsplit("/", 1)
                    per_dg.setdefault(dg, []).append(group)
            for dg, active in per_dg.items():
                if len(active) > 1:
                    problems.append({"t": t, "what": f"{node}'s view of {dg}: {sorted(active)} all active"})
    times = {node: [t for t, _ in series] for node, series in samples.items()}
    moments = sorted({t for series in samples.values() for t, _ in series})
    for t in moments:
        active_by_dg: dict[str, list[str]] = {}
        for node, series in samples.items():
            i = bisect.bisect_right(times[node], t) - 1
            if i < 0 or t - series[i][0] > stale:
                continue
            for dg in own_active(node, series[i][1]):
                active_by_dg.setdefault(dg, []).append(node)
        for dg, nodes in active_by_dg.items():
            if len(nodes) > 1:
                problems.append({"t": t, "what": f"{dg}: own groups of {sorted(nodes)} active at once"})
    return problems


def summary(samples: dict[str, list[tuple[float, dict[str, str]]]]) -> dict:
    """Counts and the longest gap between one node's samples (a check that sampling went on)."""
    out = {}
    for node, series in samples.items():
        gaps = [b[0] - a[0] for a, b in zip(series, series[1:])]
        out[node] = {"samples": len(series), "longest_gap": round(max(gaps), 2) if gaps else None}
    return out


def cpu_busy(path: str, t_from: float, t_to: float) -> float | None:
    """How busy the node's CPU was between two moments (0..1), from the /proc/stat counters its
    sampler records: the last sample at or before t_from and the first at or after t_to; None
    without two such samples."""
    points: list[tuple[float, list[int]]] = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    s = json.loads(line)
                    if len(s.get("cpu") or ()) >= 5:
                        points.append((float(s["t"]), [int(v) for v in s["cpu"]]))
                except (ValueError, KeyError, TypeError):
                    continue
    points.sort(key=lambda p: p[0])
    before = [p for p in points if p[0] <= t_from]
    after = [p for p in points if p[0] >= t_to]
    if not before or not after:
        return None
    a, b = before[-1][1], after[0][1]
    total = sum(b) - sum(a)
    idle = (b[3] + b[4]) - (a[3] + a[4])  # idle + iowait
    return None if total <= 0 else round(1 - idle / total, 3)
