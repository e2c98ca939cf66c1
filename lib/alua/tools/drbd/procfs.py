"""/proc/drbd as DRBD 8.4 prints it: every minor's role, disk and connection state."""

from __future__ import annotations

from alua.tools.drbd import UNCONFIGURED
from alua.tools.drbd.events import key_values

PROC_DRBD = "/proc/drbd"


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
        self.minor, self.connection_state, self.role, self.peer_role = minor, connection_state, role, peer_role
        self.disk_state, self.peer_disk_state, self.suspended = disk_state, peer_disk_state, suspended

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
        fields = key_values(tokens)
        role, _, peer_role = fields.get("ro", f"{UNCONFIGURED}/Unknown").partition("/")
        disk, _, peer_disk = fields.get("ds", f"{UNCONFIGURED}/DUnknown").partition("/")
        flags = [t for t in tokens if ":" not in t]
        suspended = bool(flags) and flags[-1][:1] == "s"
        minors[int(head)] = ProcMinor(
            int(head), fields.get("cs", UNCONFIGURED), role, peer_role, disk, peer_disk, suspended
        )
    return ProcDrbd(version, minors)
