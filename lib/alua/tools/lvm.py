"""LVM through its command-line tools: names, the VG's PVs and LVs, (de)activation, lockspaces.

Only start, stop and validate-all come here (monitor reads device-mapper in
sysfs, see dm.py), so reports are read as JSON (``--reportformat json``,
lvm2 >= 2.02.158) and ``json`` is imported inside the functions that parse.
Name rules are lvm2's own (lib/misc/lvm-string.c), checked against
lvcreate 2.03.16 in tests/drbd_lvm/fixtures/lvm/lvcreate_name_rules.tsv.
"""

from __future__ import annotations

from alua import Record
from alua.host.validate import charset, check_characters, parse_names
from alua.ocf.errors import OcfError
from alua.host.run import CommandFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from alua.host.run import CommandRunner, Result

NAME_MAX = 127  # NAME_LEN (128) less the terminating NUL
_NAME_CHARS = charset("._-+")
_RESERVED_LV_PREFIXES = ("snapshot", "pvmove")
_RESERVED_LV_PARTS = (
    "_cdata",
    "_cmeta",
    "_corig",
    "_cpool",
    "_cvol",
    "_imeta",
    "_iorig",
    "_mimage",
    "_mlog",
    "_pmspare",
    "_rimage",
    "_rmeta",
    "_tdata",
    "_tmeta",
    "_vdata",
    "_vorigin",
    "_wcorig",
)

MISSING_PV = "[unknown]"  # how reports name a PV whose device LVM cannot find

# The tools every action that changes something needs (lvmconfig, vgs, ... are links to lvm).
TOOLS = ("lvm", "vgs", "lvs", "vgchange", "lvchange", "lvmconfig")


def check_vg_name(name: str) -> None:
    """Raise ValueError unless name is a valid LVM volume group name."""
    check_characters(name, _NAME_CHARS, "contains {bad!r}; LVM names use only letters, digits and . _ - +")
    if name.startswith("-"):
        raise ValueError("starts with '-', which LVM does not allow")
    if name in (".", ".."):
        raise ValueError("is not a usable LVM name")
    if len(name) > NAME_MAX:
        raise ValueError(f"is longer than LVM's {NAME_MAX} characters")


def check_lv_name(name: str) -> None:
    """Raise ValueError unless name is a valid, unreserved LVM logical volume name."""
    check_vg_name(name)
    for prefix in _RESERVED_LV_PREFIXES:
        if name.startswith(prefix):
            raise ValueError(f"starts with {prefix!r}, which LVM reserves")
    for part in _RESERVED_LV_PARTS:
        if part in name:
            raise ValueError(f"contains {part!r}, which LVM reserves for internal volumes")


def parse_lv_names(raw: str) -> tuple[str, ...]:
    """Whitespace-separated LV names (without the VG), each once."""
    for name in raw.split():
        if "/" in name:
            raise ValueError(f"has {name!r}: give LV names without the volume group")
    return parse_names(raw, check_lv_name, kind="LV name", none="lists no logical volume")


def _report(stdout: str, kind: str) -> list[dict[str, str]]:
    """The rows of an ``--reportformat json`` report ({"report": [{kind: [...]}]})."""
    import json

    try:
        data = json.loads(stdout)
        rows: list[dict[str, str]] = []
        for section in data["report"]:
            rows.extend(section.get(kind, []))
        return rows
    except (ValueError, KeyError, TypeError) as e:
        raise OcfError(f"cannot parse the LVM {kind} report: {e}") from None


def not_found(result: Result, vg: str) -> bool:
    """Whether an LVM command failed because it cannot see the VG on this node."""
    return f'Volume group "{vg}" not found' in result.stderr


def last_line(result: Result) -> str:
    """LVM's own reason for a failure: the last line it printed."""
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    # "Cannot process volume group X" and "Run `cmd --help'" only repeat the failure.
    telling = [line for line in lines if not line.startswith(("Cannot process volume group", "Run `"))]
    chosen = telling or lines
    return chosen[-1] if chosen else f"exit code {result.returncode}"


class VolumeGroup(Record):
    """A VG as LVM reports it here: its lock type ("" for local, "dlm", "sanlock") and PVs."""

    __slots__ = ("name", "lock_type", "pvs")

    def __init__(self, name: str, lock_type: str, pvs: Sequence[str]) -> None:
        self.name = name
        self.lock_type = lock_type
        self.pvs = tuple(pvs)

    @property
    def is_shared(self) -> bool:
        return self.lock_type in ("dlm", "sanlock", "idm")


class LogicalVolume(Record):
    """An LV as ``lvs`` reports it: name, whether it is a public (user-visible) LV, skip flag."""

    __slots__ = ("name", "public", "skip_activation")

    def __init__(self, name: str, public: bool, skip_activation: bool) -> None:
        self.name, self.public, self.skip_activation = name, public, skip_activation


def use_lvmlockd(runner: CommandRunner) -> bool:
    """Whether the effective LVM configuration has global/use_lvmlockd=1.

    ``--type full`` includes defaults: ``--type current`` fails with
    "Configuration node global/use_lvmlockd not found" when it is unset.
    """
    result = runner.run(["lvmconfig", "--type", "full", "global/use_lvmlockd"], check=True)
    for line in result.stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "use_lvmlockd":
            return value.strip() == "1"
    raise OcfError(f"lvmconfig printed no use_lvmlockd setting: {result.stdout.strip()!r}")


def volume_group(runner: CommandRunner, vg: str) -> VolumeGroup | None:
    """The VG with its PVs, or None when LVM cannot see it on this node."""
    result = runner.run(["vgs", "--reportformat", "json", "--options", "vg_name,vg_lock_type,pv_name", "--", vg])
    if not result.ok:
        if not_found(result, vg):
            return None
        raise OcfError(f"vgs {vg} failed: {last_line(result)}")
    rows = [row for row in _report(result.stdout, "vg") if row.get("vg_name") == vg]
    if not rows:
        return None
    pvs = [row["pv_name"] for row in rows if row.get("pv_name")]
    return VolumeGroup(vg, rows[0].get("vg_lock_type", ""), pvs)


def logical_volumes(runner: CommandRunner, vg: str) -> list[LogicalVolume]:
    """Every LV of vg (hidden ones included, marked not public)."""
    result = runner.run(
        ["lvs", "--reportformat", "json", "--all", "--options", "lv_name,lv_role,lv_skip_activation", "--", vg]
    )
    if not result.ok:
        raise OcfError(f"lvs {vg} failed: {last_line(result)}")
    volumes = []
    for row in _report(result.stdout, "lv"):
        name = row.get("lv_name", "").strip("[]")
        roles = row.get("lv_role", "").split(",")
        volumes.append(LogicalVolume(name, "public" in roles, bool(row.get("lv_skip_activation"))))
    return volumes


def activation_flag(mode: str, lvmlockd: bool) -> str:
    """-a's value: shared (sy) or exclusive (ey) under lvmlockd, plain y for a shared local VG."""
    if mode == "exclusive":
        return "ey"
    return "sy" if lvmlockd else "y"


def _targets(vg: str, lvs: Sequence[str]) -> tuple[str, list[str]]:
    if lvs:
        return "lvchange", [f"{vg}/{lv}" for lv in lvs]
    return "vgchange", [vg]


def activate(runner: CommandRunner, vg: str, lvs: Sequence[str], flag: str) -> None:
    """Activate the listed LVs (all of vg when none are listed); raise with LVM's reason."""
    tool, targets = _targets(vg, lvs)
    try:
        runner.run([tool, f"--activate={flag}", "--", *targets], check=True)
    except CommandFailed as e:
        raise OcfError(f"activating {' '.join(targets)} failed: {last_line(e.result)}") from None


def deactivate(runner: CommandRunner, vg: str, lvs: Sequence[str]) -> Result:
    """Deactivate the listed LVs (all of vg when none); the caller judges the result."""
    tool, targets = _targets(vg, lvs)
    return runner.run([tool, "--activate=n", "--", *targets])


def lock_start(runner: CommandRunner, vg: str) -> None:
    """Join the VG's lockspace (lvmlockd); succeeds when it is already started."""
    try:
        runner.run(["vgchange", "--lock-start", "--", vg], check=True)
    except CommandFailed as e:
        raise OcfError(f"starting the lvmlockd lockspace of {vg} failed: {last_line(e.result)}") from None


def lock_stop(runner: CommandRunner, vg: str) -> Result:
    """Leave the VG's lockspace; the caller judges the result."""
    return runner.run(["vgchange", "--lock-stop", "--", vg])


def valid_lv_names(tokens: Iterable[str]) -> list[str]:
    """The tokens that are valid LV names, in order (stop keeps them from a bad logical_volumes)."""
    valid = []
    for token in tokens:
        try:
            check_lv_name(token)
        except ValueError:
            continue
        valid.append(token)
    return valid
