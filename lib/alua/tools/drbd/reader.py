"""One DRBD reader for every agent: /proc/drbd and the by-res links first, drbdsetup events2 when needed."""

from __future__ import annotations

from alua.tools.drbd import PRIMARY, byres, procfs
from alua.tools.drbd.events import parse_events2
from alua.ocf.errors import OcfError
from alua.tools.drbd.state import DrbdConnection, DrbdPeerDevice, DrbdResource, DrbdVolume, not_configured

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from alua.host.run import CommandRunner
    from alua.tools.drbd.procfs import ProcDrbd

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
        self._proc_path = proc_drbd or procfs.PROC_DRBD
        self._by_res = by_res or byres.BY_RES
        self._proc: ProcDrbd | None = None
        self._proc_read = False
        self._events: dict[str, DrbdResource] | None = None

    def proc(self) -> ProcDrbd | None:
        """/proc/drbd parsed, or None when the drbd module is not loaded."""
        if not self._proc_read:
            text = _read(self._proc_path)
            self._proc = procfs.parse_proc_drbd(text) if text is not None else None
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
                volumes = byres.by_res_minors(name, self._by_res)
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

    def suspended_minors(self, minors: Iterable[int]) -> list[int]:
        """Those of minors whose I/O DRBD holds suspended now (its fencing policy freezes a
        Primary's I/O from losing the peer until the fence-peer handler answers; suspend-io)."""
        wanted = sorted(set(minors))
        proc = self.proc()
        if proc is None:
            return []
        if proc.is_v8 and proc.minors:
            return [m for m in wanted if m in proc.minors and proc.minors[m].suspended]
        # events2 says why: suspended:user, :fencing, :no-data, :quorum (comma-joined), or :no
        return [m for m, owner in self.resources_of_minors(wanted).items()
                if owner is not None and owner.suspended not in ("no", "")]

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

    def hint(self) -> str:
        """Why LVM may not see the VG: DRBD devices that are not Primary/UpToDate here."""
        try:
            if not self.loaded:
                return " (the drbd kernel module is not loaded)"
            problems = [r.problem() for r in self.all_resources().values()]
        except OcfError:
            return ""
        shown = [p for p in problems if p]
        return f" ({'; '.join(shown)})" if shown else ""


def primary_uptodate_problems(resources: Sequence[str], runner: CommandRunner) -> list[str]:
    """Empty when every resource is Primary with all local volumes UpToDate on this node.

    Otherwise one reason per resource, e.g. "DRBD resource r0 is
    Secondary/Outdated" or "DRBD resource r0 is not configured on this node".
    On DRBD 8.4 with udev's by-res links this runs no command.
    """
    return DrbdReader(runner).problems(resources)
