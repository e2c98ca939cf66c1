"""alua-status's judgement and output: what is wrong in a collected status, its exit code, the text.

The status is the JSON object ``alua-status --json`` prints (keys documented in alua-status(8));
``collect`` in status.py fills it in, :func:`judge` adds the problems and the verdict, and
:func:`render` prints it for a person.  Nothing here reads the system.
"""

from __future__ import annotations

from alua.targets.roles import ACTIVE, INACTIVE_STATES, NONOPTIMIZED
from alua.tools.crm_mon import OFFLINE, PROMOTED, STANDBY, STOPPED, UNPROMOTED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEGRADED, BROKEN, UNKNOWN = "degraded", "broken", "unknown"
HEALTH = {None: ("healthy", 0), DEGRADED: ("degraded", 1), BROKEN: ("broken", 2), UNKNOWN: ("unknown", 3)}
_RANK = (UNKNOWN, BROKEN, DEGRADED)  # the worst first: "cannot tell" wins, as the exit code says
VERSION = 1
# DRBD connection states (8.4's cs: too) in which the peer is not connected.
UNCONNECTED = frozenset({"StandAlone", "Disconnecting", "Unconnected", "Timeout", "BrokenPipe", "NetworkFailure",
                         "ProtocolError", "TearDown", "Connecting", "WFConnection", "WFReportParams", "Unknown"})


def new_status(node: str | None = None) -> dict[str, Any]:
    """An empty status: every key the JSON always has."""
    return {"version": VERSION, "node": node, "health": "unknown", "exit_code": 3, "problems": [],
            "cluster": None, "alua": None, "drbd": {}, "vgs": {}}


def add(status: dict[str, Any], severity: str, text: str) -> None:
    status["problems"].append({"severity": severity, "text": text})


def judge(status: dict[str, Any]) -> dict[str, Any]:
    """Add what is wrong to status["problems"] and set "health" and "exit_code"; returns status."""
    cluster, alua = status["cluster"], status["alua"]
    if cluster is not None:
        _cluster_problems(status, cluster)
        if alua is not None:
            _alua_problems(status, cluster, alua)
    runs_here = _runs_here(status)
    for name, drbd in status["drbd"].items():
        _drbd_problems(status, name, drbd, runs_here)
    for vg, view in status["vgs"].items():
        if runs_here and view["clone"] and not view["active_lvs"]:
            add(status, BROKEN, f"VG {vg} has no LV active here while {alua['primitive']} runs here")
        missing = [lv for lv in view["expected_lvs"] if lv not in view["active_lvs"]]
        if runs_here and view["active_lvs"] and missing:
            add(status, BROKEN, f"VG {vg}: LV {', '.join(missing)} not active here while {alua['primitive']} runs here")
    worst = next((s for s in _RANK if any(p["severity"] == s for p in status["problems"])), None)
    status["health"], status["exit_code"] = HEALTH[worst]
    return status


def _runs_here(status: dict[str, Any]) -> bool:
    alua, cluster = status["alua"], status["cluster"]
    if alua is None or cluster is None or status["node"] not in cluster["nodes"]:
        return False
    return cluster["nodes"][status["node"]]["alua_role"] != STOPPED


def _cluster_problems(status: dict[str, Any], cluster: dict[str, Any]) -> None:
    if not cluster["quorate"]:
        add(status, BROKEN, "this partition has no quorum (its resources stop)")
    for name, node in cluster["nodes"].items():
        if node["state"] == OFFLINE:
            add(status, DEGRADED, f"node {name} is offline")
        elif node["state"] == STANDBY:
            add(status, DEGRADED, f"node {name} is in standby")
    for failure in cluster["failures"]:
        add(status, DEGRADED, f"failed action {failure}")


def _alua_problems(status: dict[str, Any], cluster: dict[str, Any], alua: dict[str, Any]) -> None:
    nodes = cluster["nodes"]
    roles = {name: node["alua_role"] for name, node in nodes.items()}
    if not any(role == PROMOTED for role in roles.values()):
        add(status, BROKEN, f"{alua['clone']} is promoted on no node: no path is active/optimized")
    for name, node in nodes.items():
        if node["state"] not in (OFFLINE, STANDBY) and roles[name] == STOPPED:
            add(status, DEGRADED, f"{alua['primitive']} is stopped on online node {name}")
    if not alua["loaded"]:
        return
    unpromoted_state = alua.get("unpromoted_state", NONOPTIMIZED)
    for unit, states in alua["units"].items():
        active = sorted(n for n, s in states.items() if s == ACTIVE)
        if len(active) > 1:
            add(status, BROKEN, f"two groups active/optimized in {unit}: {', '.join(active)}")
        for name, state in states.items():
            role = roles.get(name, STOPPED)
            down = role == STOPPED or nodes.get(name, {}).get("state", OFFLINE) == OFFLINE
            shown = state or "missing"
            if role == PROMOTED and state != ACTIVE:
                add(status, BROKEN, f"{name} is promoted but its group in {unit} is {shown} in this node's view")
            elif state == ACTIVE and role != PROMOTED:
                add(status, BROKEN, f"{name}'s group in {unit} is active but {name} is not promoted ({role})")
            elif down and state is not None and state not in INACTIVE_STATES:
                add(status, BROKEN, f"{name} is {'stopped' if role == STOPPED else 'offline'} but its group in "
                    f"{unit} is {state} in this node's view (initiators would still use its paths)")
            elif role == UNPROMOTED and state != unpromoted_state:
                add(status, DEGRADED, f"{name} runs unpromoted but its group in {unit} is {shown} in this node's "
                    f"view (expected {unpromoted_state})")
    if _runs_here(status):
        for problem in alua["local_problems"]:
            add(status, BROKEN, f"{problem} (while {alua['primitive']} runs here)")


def _drbd_problems(status: dict[str, Any], name: str, drbd: dict[str, Any] | None, runs_here: bool) -> None:
    severity = BROKEN if runs_here else DEGRADED
    if drbd is None:
        add(status, severity, f"DRBD resource {name} is not configured on this node")
        return
    if drbd["resyncing"]:
        add(status, DEGRADED, drbd["problem"])
    elif drbd["problem"]:
        add(status, severity, drbd["problem"] + (" while the ALUA clone runs here" if runs_here else ""))
    for peer, view in drbd["peers"].items():
        if view["connection"] in UNCONNECTED:
            who = "the peer" if peer == "peer" else f"peer {peer}"  # DRBD 8.4 names no peer
            add(status, DEGRADED, f"DRBD resource {name}: {who} is {view['connection']}")


# -- text ------------------------------------------------------------------------------------------


def render(status: dict[str, Any]) -> str:
    """The status for a person: one screen, the problems last."""
    lines = [f"alua-status on {status['node'] or '?'}: {status['health'].upper()} (exit {status['exit_code']})"]
    cluster, alua = status["cluster"], status["alua"]
    if cluster is not None:
        quorum = "quorate" if cluster["quorate"] else "NO QUORUM"
        lines.append(f"cluster  DC {cluster['dc'] or 'none'}, {quorum}")
        clone = alua["clone"] if alua else "ALUA"
        for name, node in cluster["nodes"].items():
            me = "  (this node)" if name == status["node"] else ""
            lines.append(f"  {name:<16} {node['state']:<8} {clone} {node['alua_role']}{me}")
    if alua is not None:
        lines.append(f"ALUA     {alua['primitive']} ({alua['agent']}), as this node's {alua['kernel'].upper()} has it")
        for unit, states in alua["units"].items():
            shown = "  ".join(f"{n}={s or 'missing'}" for n, s in states.items())
            lines.append(f"  {unit:<16} {shown}")
        target = alua["target"]
        if target is not None:
            enabled = {True: "enabled", False: "DISABLED", None: "missing"}[target["enabled"]]
            portals = ", ".join(target["portals"]) or ("every address" if alua["kernel"] == "scst" else "none")
            sessions = "" if target["sessions"] is None else f", {target['sessions']} session(s)"
            lines.append(f"target   {target['name']} {enabled}, portals {portals}{sessions}")
    for name, drbd in status["drbd"].items():
        if drbd is None:
            lines.append(f"DRBD     {name} not configured here")
            continue
        peers = "; ".join(f"peer {p} {v['connection']} {v['role']}/{','.join(v['disks']) or '?'}"
                          for p, v in drbd["peers"].items())
        disks = ",".join(drbd["disks"]) or "?"
        lines.append(f"DRBD     {name} {drbd['role']}/{disks}" + (f", {peers}" if peers else ""))
    for vg, view in status["vgs"].items():
        lvs = ", ".join(view["active_lvs"]) or "none"
        lines.append(f"VG       {vg} ({view['clone'] or 'no clone'}): LVs active here: {lvs}")
    if status["problems"]:
        lines.append("problems")
        lines += [f"  {p['severity'].upper():<9}{p['text']}" for p in status["problems"]]
    else:
        lines.append("no problems")
    return "\n".join(lines) + "\n"
