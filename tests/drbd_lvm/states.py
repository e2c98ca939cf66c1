"""Captured DRBD and LVM output, and the same captures with other states substituted.

Real captures show only some role x disk-state combinations.  The others
are made by putting the state words into a captured line, so spacing, field
order and the lines around them stay the real ones:

- DRBD 8.4 /proc/drbd: minor 0's lines of ganeti's proc_drbd84.txt;
- DRBD 9 events2: the ``events2 --statistics --now`` capture (Primary/UpToDate);
- DRBD 9 status --json: ha_cluster_exporter's SLE 15 capture;
- LVM: the vgs/lvs reports captured with lvm2 2.03.16, with the loop
  device PV renamed to the DRBD device it stands for.
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"

ROLES = ("Primary", "Secondary")
DISK_STATES = ("UpToDate", "Inconsistent", "Outdated", "Consistent", "Diskless")


def fixture(path: str) -> str:
    return (FIXTURES / path).read_text(encoding="utf-8")


def captured(name: str) -> tuple[str, str, int]:
    """(stdout, stderr, rc) of one captured LVM command in fixtures/lvm."""
    base = FIXTURES / "lvm" / name
    return (
        base.with_suffix(".stdout").read_text(),
        base.with_suffix(".stderr").read_text(),
        int(base.with_suffix(".rc").read_text().strip()),
    )


# -- DRBD 8.4 ---------------------------------------------------------------------

_PROC_HEAD = "\n".join(fixture("drbd84/proc_drbd_ganeti.txt").splitlines()[:2])
_PROC_LINE = fixture("drbd84/proc_drbd_ganeti.txt").splitlines()[2]  # " 0: cs:Connected ro:Primary/Secondary ..."
_PROC_STATS = fixture("drbd84/proc_drbd_ganeti.txt").splitlines()[3]


def proc_minor_line(
    minor: int,
    *,
    cs: str = "Connected",
    role: str = "Primary",
    peer_role: str = "Primary",
    disk: str = "UpToDate",
    peer_disk: str = "UpToDate",
) -> str:
    if not (cs == "Connected" or cs.startswith("Sync")):
        peer_role, peer_disk = "Unknown", "DUnknown"
    line = (
        _PROC_LINE.replace("cs:Connected", f"cs:{cs}")
        .replace("ro:Primary/Secondary", f"ro:{role}/{peer_role}")
        .replace("ds:UpToDate/UpToDate", f"ds:{disk}/{peer_disk}")
    )
    line = line.replace(" 0:", f"{minor:2d}:", 1)
    return f"{line}\n{_PROC_STATS}"


def proc_drbd(*lines: str) -> str:
    """A DRBD 8.4.2 /proc/drbd with the given minor lines."""
    return "\n".join([_PROC_HEAD, *lines]) + "\n"


# -- DRBD 9 -----------------------------------------------------------------------

_EVENTS9 = fixture("drbd9/events2_now_statistics_primary.txt")


def events2_v9(
    name: str = "r0",
    minor: int = 0,
    *,
    role: str = "Primary",
    disk: str = "UpToDate",
    connection: str = "Connected",
    peer_disk: str = "UpToDate",
    quorum: bool | None = None,
    replication: str = "Established",
) -> str:
    """The captured DRBD 9 events2 --now output of one resource with these states."""
    text = (
        _EVENTS9.replace("name:r0", f"name:{name}")
        .replace("role:Primary suspended", f"role:{role} suspended")
        .replace("minor:1 disk:UpToDate", f"minor:{minor} disk:{disk}")
        .replace("connection:Connected", f"connection:{connection}")
        .replace("peer-disk:UpToDate", f"peer-disk:{peer_disk}")
        .replace("replication:Established", f"replication:{replication}")
    )
    if connection != "Connected":
        text = text.replace("role:Secondary congested", "role:Unknown congested")
        text = text.replace("replication:Established", "replication:Off").replace(
            f"peer-disk:{peer_disk}", "peer-disk:DUnknown"
        )
    if quorum is not None:
        text = text.replace(f"disk:{disk} size", f"disk:{disk} quorum:{'yes' if quorum else 'no'} size")
    return text


def events2_v9_many(*outputs: str) -> str:
    """Several resources' events2 output as one ``events2 --now all``."""
    body = [line for text in outputs for line in text.splitlines() if line != "exists -"]
    return "\n".join([*body, "exists -"]) + "\n"


def status_json_v9(role: str, disk: str) -> str:
    data = json.loads(fixture("drbd9/status_json_sle15_secondary.json"))
    for item in data:
        item["role"] = role
        for device in item["devices"]:
            device["disk-state"] = disk
    return json.dumps(data)


# -- LVM --------------------------------------------------------------------------


def vgs_report(vg: str = "vg-san", pvs: tuple[str, ...] = ("/dev/drbd0",), lock_type: str = "dlm") -> str:
    """The captured vgs report with the VG's name, lock type and PVs replaced."""
    stdout, _, _ = captured("vgs_vg_lock_pv")
    row = '{"vg_name":"vg-san", "vg_lock_type":"", "pv_name":"/dev/loop0"}'
    assert row in stdout
    rows = ",\n                  ".join(
        f'{{"vg_name":"{vg}", "vg_lock_type":"{lock_type}", "pv_name":"{pv}"}}' for pv in pvs
    )
    return stdout.replace(row, rows)


def lvs_report() -> str:
    """The captured lvs report: lun-1 and lun_2 public, snapskip with the activation skip flag."""
    return captured("lvs_all_roles")[0]
