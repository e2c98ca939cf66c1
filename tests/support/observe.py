"""Observing a Pacemaker cluster: crm_mon's XML and pacemaker-controld's log lines, parsed once.

Used by tests/cluster (live clusters in namespaces) and by the real-kernel lab (tests/lab/ulab),
so that both read Pacemaker the same way.
Standard library only: tools/demo runs it with Debian's python3.
"""

from __future__ import annotations

import re
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable


class ClusterError(AssertionError):
    """Something in the live cluster did not happen in time (message has crm_mon's view)."""


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    context: Callable[[], str] | None = None,
    interval: float = 0.2,
) -> Any:
    """Poll ``predicate`` until it returns something true; bounded, with a clear failure."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (ClusterError, OSError, subprocess.SubprocessError, ET.ParseError) as e:
            last_error = e
        if time.monotonic() >= deadline:
            details = f"\nlast error: {last_error}" if last_error else ""
            raise ClusterError(
                f"timed out after {timeout:.0f}s waiting for {what}{details}" + (f"\n{context()}" if context else "")
            )
        time.sleep(interval)


class Status:
    """What ``crm_mon --output-as=xml`` says, reduced to what the tests look at."""

    def __init__(self, xml: str, primitive: str) -> None:
        self.xml = xml
        root = ET.fromstring(xml)
        dc = root.find("./summary/current_dc")
        self.dc = dc.get("name") if dc is not None and dc.get("present") == "true" else None
        self.quorate = dc is not None and dc.get("with_quorum") == "true"
        options = root.find("./summary/cluster_options")
        self.maintenance = options is not None and options.get("maintenance-mode") == "true"
        self.online = sorted(n.get("name", "") for n in root.iterfind("./nodes/node") if n.get("online") == "true")
        #: node -> role of the primitive's instance there (Promoted, Unpromoted, Started, ...)
        self.roles: dict[str, str] = {}
        self.failed: list[str] = []
        for rsc in root.iter("resource"):
            if rsc.get("id") != primitive:
                continue
            for node in rsc.iterfind("node"):
                self.roles[node.get("name", "")] = rsc.get("role", "")
                if rsc.get("failed") == "true":
                    self.failed.append(node.get("name", ""))
        self.failures = [dict(f.attrib) for f in root.iterfind("./failures/failure")]
        self.fail_counts: dict[str, int] = {}
        for node in root.iterfind("./node_history/node"):
            for history in node.iterfind("resource_history"):
                if history.get("id") == primitive and history.get("fail-count"):
                    count = history.get("fail-count", "0")
                    self.fail_counts[node.get("name", "")] = 1000000 if count == "INFINITY" else int(count)

    @property
    def promoted(self) -> list[str]:
        return sorted(n for n, role in self.roles.items() if role == "Promoted")

    @property
    def unpromoted(self) -> list[str]:
        return sorted(n for n, role in self.roles.items() if role == "Unpromoted")


def active_roles(xml: str) -> dict[str, dict[str, str]]:
    """Every primitive's active, not failed instances: {primitive: {node: role}} (clone suffixes ":N" dropped)."""
    roles: dict[str, dict[str, str]] = {}
    for rsc in ET.fromstring(xml).iter("resource"):
        if rsc.get("active") != "true" or rsc.get("failed") == "true":
            continue
        for node in rsc.iterfind("node"):
            roles.setdefault(rsc.get("id", "").split(":")[0], {})[node.get("name", "")] = rsc.get("role", "")
    return roles


def failure_lines(xml: str) -> list[str]:
    """crm_mon's failed actions, one line each: "OP_KEY on NODE: exit reason (or status)"."""
    return [
        f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('exitstatus')}"
        for f in ET.fromstring(xml).iter("failure")
    ]


def _stamp(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"


@dataclass
class Fencing:
    """One fencing as the cluster logged it."""

    time: float
    target: str
    action: str
    by: str
    client: str
    result: str

    def __repr__(self) -> str:
        return f"{_stamp(self.time)} {self.target} fenced ({self.action}) by {self.by} for {self.client}: {self.result}"


@dataclass
class Operation:
    """One executed operation as the cluster logged it."""

    time: float
    node: str
    task: str  # probe, start, stop, promote, demote, notify, monitor
    rsc: str
    result: str
    rc: int | None

    def __repr__(self) -> str:
        return f"{_stamp(self.time)} {self.node} {self.task} {self.rsc}: {self.result} (rc={self.rc})"


_RESULT = re.compile(
    r"^(\w{3} +\d+ \d{2}:\d{2}:\d{2}(?:\.\d+)?) \S+ pacemaker-controld.*?"
    r"Result of (\S+) operation for (\S+) on (\S+): (.*?)(?: \| (.*))?$"
)


_FENCED = re.compile(
    r"^(\w{3} +\d+ \d{2}:\d{2}:\d{2}(?:\.\d+)?) \S+ pacemaker-controld.*?"
    r"Peer (\S+) was terminated \((\w+)\) by (\S+) on behalf of (\S+): (.*?)(?: \| event=(\S+))?$"
)
_NOTIFY = re.compile(
    r"^(\w{3} +\d+ \d{2}:\d{2}:\d{2}(?:\.\d+)?) \S+ pacemaker-controld.*?"
    r"Initiating notify operation (\S+) (?:locally )?on (\S+)"
)


def _log_time(stamp: str, year: int) -> float:
    base, _, fraction = stamp.partition(".")
    seconds = time.mktime(time.strptime(f"{year} {base}", "%Y %b %d %H:%M:%S"))
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


def log_matches(logs: Iterable[Path], pattern: re.Pattern[str], since: float) -> list[tuple[float, tuple[str, ...]]]:
    """(time, the other groups) of every line of the logs ``pattern`` matches (group 1: the stamp), in time order."""
    found = []
    year = time.localtime().tm_year
    for log in logs:
        if not log.exists():
            continue
        for line in log.read_text(errors="replace").splitlines():
            match = pattern.match(line)
            if match is not None:
                when = _log_time(match.group(1), year)
                if when >= since:
                    found.append((when, match.groups()[1:]))
    return sorted(found)


def operations(logs: Iterable[Path], *, since: float = 0.0) -> list[Operation]:
    """Every operation the executors ran, in time order, from pacemaker-controld logs
    ("Result of <task> operation for <rsc> on <node>: <result> | ... rc=N")."""
    found = []
    for when, (task, rsc, where, result, details) in log_matches(logs, _RESULT, since):
        rc = re.search(r"\brc=(\d+)", details or "")
        found.append(Operation(when, where, task, rsc, result.strip(), int(rc.group(1)) if rc else None))
    return sorted(found, key=lambda op: op.time)


def fencings(logs: Iterable[Path], *, since: float = 0.0) -> list[Fencing]:
    """Every fencing the controllers heard of ("Peer X was terminated (reboot) by Y on behalf
    of Z: OK | event=..."), once per event (each node logs it), in time order."""
    seen: dict[str, Fencing] = {}
    for when, (target, action, by, client, result, event) in log_matches(logs, _FENCED, since):
        key = event or f"{target}/{when}"
        if key not in seen:
            seen[key] = Fencing(when, target, action, by, client, result)
    return sorted(seen.values(), key=lambda f: f.time)


def notifications(logs: Iterable[Path], *, since: float = 0.0) -> list[tuple[float, str, str]]:
    """(time, key, node) of every notify operation a DC initiated, e.g.
    (..., "p_scst_post_notify_stop_0", "hpms02"), in time order."""
    return [(when, key, node) for when, (key, node) in log_matches(logs, _NOTIFY, since)]
