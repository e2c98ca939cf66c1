"""The state behind the fake tools in bin/, kept in one directory ($ALUA_FAKE_STATE).

Layout of the directory:

    lvm.json        {"config": {"global/use_lvmlockd": "1"}, "lockspaces": [...],
                     "vgs": {VG: {"uuid", "lock_type", "pvs": [...], "lvs": {LV: {"uuid", "skip"}}}},
                     "open": [dm names held open, so deactivation and removal fail]}
    drbd.json       {"version": "8.4.11" | "9.2.12", "resources": {NAME: {...}}} (absent: no drbd module)
    proc_drbd       /proc/drbd as that kernel would show it (rendered from drbd.json)
    sys_block/      /sys/block: dm-N/dm/{name,uuid,suspended}, dm-N/slaves/drbdM, dm-N/holders/
    behaviour.json  {"hang": [PREFIX, ...], "fail": {PREFIX: [rc, stderr]}}; PREFIX is the
                    start of "tool arg arg..." (e.g. "vgchange --lock-start", "dd")
    calls.log       one JSON argv per tool invocation

Independent of lib/alua on purpose: the fakes must not share a bug with the
code they test (the device-mapper name escaping is written again here).
"""

from __future__ import annotations

import json
import os
import shutil
import string
import zlib
from pathlib import Path

STATE_ENV = "ALUA_FAKE_STATE"
HERE = Path(__file__).resolve().parent
BIN = HERE / "bin"
KERNEL_NS = HERE / "kernel_ns.py"

DRBD84 = "8.4.11"
DRBD9 = "9.2.12"


def _uuid(seed: str) -> str:
    """A stable LVM-style uuid (32 characters in 6-4-4-4-4-4-6 groups) derived from seed."""
    alphabet = string.ascii_letters + string.digits
    value = zlib.crc32(seed.encode()) * 2654435761 + len(seed)
    chars = []
    for _ in range(32):
        value, rest = divmod(value * 31 + 7, len(alphabet))
        chars.append(alphabet[rest])
        value += zlib.crc32(("".join(chars) + seed).encode())
    s = "".join(chars)
    return "-".join([s[:6], s[6:10], s[10:14], s[14:18], s[18:22], s[22:26], s[26:]])


def dm_name(vg: str, lv: str) -> str:
    return f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"


def dm_belongs(name: str, vg: str) -> bool:
    """Whether a device-mapper name is one of vg's (LV or layer)."""
    escaped = vg.replace("-", "--") + "-"
    return name.startswith(escaped) and not name[len(escaped) :].startswith("-")


def minor_of(pv: str) -> int | None:
    base = os.path.basename(pv)
    return int(base[4:]) if base.startswith("drbd") and base[4:].isdigit() else None


class FakeStorage:
    """Builds, changes and inspects one fake state directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sys_block").mkdir(exist_ok=True)
        for name, empty in (
            ("lvm.json", {"config": {}, "lockspaces": [], "vgs": {}, "open": []}),
            ("behaviour.json", {"hang": [], "fail": {}}),
        ):
            if not (self.root / name).exists():
                self._save(name, empty)

    @classmethod
    def from_env(cls) -> FakeStorage:
        root = os.environ.get(STATE_ENV)
        if not root:
            raise SystemExit(f"fake tool: {STATE_ENV} is not set")
        return cls(root)

    # -- files ------------------------------------------------------------

    def _load(self, name: str) -> dict:
        try:
            with open(self.root / name, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _save(self, name: str, data: dict) -> None:
        tmp = self.root / f".{name}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.root / name)

    @property
    def sys_block(self) -> Path:
        return self.root / "sys_block"

    @property
    def proc_drbd(self) -> Path:
        return self.root / "proc_drbd"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a process that should see the fakes: PATH first, state dir."""
        env = dict(base if base is not None else os.environ)
        env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        env[STATE_ENV] = str(self.root)
        return env

    def namespace_prefix(self) -> list[str]:
        """argv prefix that runs a command with this state as /sys/block and /proc/drbd."""
        return [
            "/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "/usr/bin/python3",
            str(KERNEL_NS),
            str(self.root),
            "--",
        ]

    # -- LVM ----------------------------------------------------------------

    def lvm(self) -> dict:
        return self._load("lvm.json")

    def save_lvm(self, data: dict) -> None:
        self._save("lvm.json", data)

    def set_lvm_config(self, key: str, value: str | None) -> None:
        data = self.lvm()
        if value is None:
            data["config"].pop(key, None)
        else:
            data["config"][key] = value
        self.save_lvm(data)

    def add_vg(
        self,
        name: str,
        pvs: tuple[str, ...] = ("/dev/drbd0",),
        lvs: tuple[str, ...] = ("lun1",),
        lock_type: str = "dlm",
        skip: tuple[str, ...] = (),
    ) -> None:
        data = self.lvm()
        data["vgs"][name] = {
            "uuid": _uuid(f"vg:{name}"),
            "lock_type": lock_type,
            "pvs": list(pvs),
            "lvs": {lv: {"uuid": _uuid(f"lv:{name}/{lv}"), "skip": lv in skip} for lv in lvs},
        }
        self.save_lvm(data)

    def set_open(self, names: list[str]) -> None:
        data = self.lvm()
        data["open"] = names
        self.save_lvm(data)

    # -- DRBD ---------------------------------------------------------------

    def drbd(self) -> dict | None:
        data = self._load("drbd.json")
        return data or None

    def set_drbd_version(self, version: str | None) -> None:
        """Load the drbd module of that version (None: unload it)."""
        if version is None:
            (self.root / "drbd.json").unlink(missing_ok=True)
            self.proc_drbd.unlink(missing_ok=True)
            return
        data = self.drbd() or {"resources": {}}
        data["version"] = version
        self.save_drbd(data)

    def save_drbd(self, data: dict) -> None:
        self._save("drbd.json", data)
        self.proc_drbd.write_text(render_proc_drbd(data), encoding="utf-8")

    def add_drbd_resource(
        self,
        name: str,
        minors: tuple[int, ...] = (0,),
        *,
        role: str = "Primary",
        disk: str = "UpToDate",
        connection: str = "Connected",
        replication: str = "Established",
        peer_role: str = "Primary",
        peer_disk: str = "UpToDate",
        quorum: bool = True,
    ) -> None:
        data = self.drbd() or {"version": DRBD84, "resources": {}}
        data["resources"][name] = {
            "role": role,
            "suspended": "no",
            "volumes": {str(v): {"minor": m, "disk": disk, "quorum": quorum} for v, m in enumerate(minors)},
            "connection": connection,
            "replication": replication,
            "peer_role": peer_role,
            "peer_disk": peer_disk,
        }
        self.save_drbd(data)

    def set_drbd_resource(self, name: str, **changes: object) -> None:
        """Change a resource: role, connection, replication, peer_role, peer_disk, or disk (every volume)."""
        data = self.drbd()
        assert data is not None, "no drbd module loaded"
        resource = data["resources"][name]
        for key, value in changes.items():
            if key in ("disk", "quorum"):
                for volume in resource["volumes"].values():
                    volume[key] = value
            else:
                resource[key] = value
        self.save_drbd(data)

    def remove_drbd_resource(self, name: str) -> None:
        data = self.drbd()
        if data is not None:
            data["resources"].pop(name, None)
            self.save_drbd(data)

    # -- device-mapper --------------------------------------------------------

    def dm(self) -> dict[str, str]:
        """dm name -> kernel name (dm-N) of every fake device-mapper device."""
        found = {}
        for entry in sorted(os.listdir(self.sys_block)):
            name_file = self.sys_block / entry / "dm" / "name"
            if name_file.exists():
                found[name_file.read_text().strip()] = entry
        return found

    def create_dm(self, name: str, uuid: str, slaves: list[str]) -> str:
        existing = self.dm()
        if name in existing:
            return existing[name]
        n = 0
        while (self.sys_block / f"dm-{n}").exists():
            n += 1
        kernel = f"dm-{n}"
        base = self.sys_block / kernel
        (base / "dm").mkdir(parents=True)
        (base / "slaves").mkdir()
        (base / "holders").mkdir()
        (base / "dm" / "name").write_text(name + "\n")
        (base / "dm" / "uuid").write_text(uuid + "\n")
        (base / "dm" / "suspended").write_text("0\n")
        (base / "dev").write_text(f"253:{n}\n")
        for slave in slaves:
            (base / "slaves" / slave).write_text("")
        return kernel

    def remove_dm(self, name: str) -> bool:
        kernel = self.dm().get(name)
        if kernel is None:
            return False
        shutil.rmtree(self.sys_block / kernel)
        return True

    def set_suspended(self, name: str, suspended: bool) -> None:
        kernel = self.dm()[name]
        (self.sys_block / kernel / "dm" / "suspended").write_text("1\n" if suspended else "0\n")

    def activate_lv(self, vg: str, lv: str) -> str:
        data = self.lvm()
        group = data["vgs"][vg]
        uuid = "LVM-" + group["uuid"].replace("-", "") + group["lvs"][lv]["uuid"].replace("-", "")
        slaves = [f"drbd{m}" if (m := minor_of(pv)) is not None else os.path.basename(pv) for pv in group["pvs"]]
        return self.create_dm(dm_name(vg, lv), uuid, slaves)

    # -- behaviour and calls ----------------------------------------------------

    def behaviour(self) -> dict:
        return self._load("behaviour.json") or {"hang": [], "fail": {}}

    def hang(self, prefix: str) -> None:
        data = self.behaviour()
        data["hang"].append(prefix)
        self._save("behaviour.json", data)

    def fail(self, prefix: str, rc: int, stderr: str) -> None:
        data = self.behaviour()
        data["fail"][prefix] = [rc, stderr]
        self._save("behaviour.json", data)

    def clear_behaviour(self) -> None:
        self._save("behaviour.json", {"hang": [], "fail": {}})

    def log_call(self, argv: list[str]) -> None:
        with open(self.root / "calls.log", "a", encoding="utf-8") as f:
            f.write(json.dumps(argv) + "\n")

    def calls(self) -> list[list[str]]:
        try:
            text = (self.root / "calls.log").read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def clear_calls(self) -> None:
        (self.root / "calls.log").unlink(missing_ok=True)


# -- renderings ---------------------------------------------------------------


def _cs84(resource: dict) -> str:
    if resource["connection"] == "Connected":
        return "Connected" if resource["replication"] == "Established" else resource["replication"]
    return {"Connecting": "WFConnection"}.get(resource["connection"], resource["connection"])


def render_proc_drbd(data: dict) -> str:
    """/proc/drbd of the fake module: minors with states on 8.4, versions only on 9."""
    version = data["version"]
    if not version.startswith("8."):
        return (
            f"version: {version} (api:2/proto:86-122)\n"
            "GIT-hash: 0000000000000000000000000000000000000000 build by fake@alua, 2024-01-01 00:00:00\n"
            f"Transports (api:21): tcp ({version})\n"
        )
    lines = [f"version: {version} (api:1/proto:86-101)", "srcversion: 0000000000000000FAKE000"]
    minors = []
    for resource in data["resources"].values():
        for volume in resource["volumes"].values():
            minors.append((volume["minor"], resource, volume))
    for minor, resource, volume in sorted(minors, key=lambda m: m[0]):
        connected = resource["connection"] == "Connected"
        peer_role = resource["peer_role"] if connected else "Unknown"
        peer_disk = resource["peer_disk"] if connected else "DUnknown"
        proto = "C" if resource["connection"] != "StandAlone" else " "
        flags = ("s" if resource.get("suspended", "no") != "no" else "r") + "-----"
        lines.append(
            f"{minor:2d}: cs:{_cs84(resource)} ro:{resource['role']}/{peer_role} "
            f"ds:{volume['disk']}/{peer_disk} {proto} {flags}"
        )
        lines.append("    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0")
    return "\n".join(lines) + "\n"


def render_events2(data: dict, only: str | None = None) -> str:
    """``drbdsetup events2 --now``: DRBD 9's format, or drbdsetup-84's (peer-node-id 0)."""
    v9 = not data["version"].startswith("8.")
    lines = []
    for name, resource in sorted(data["resources"].items()):
        if only not in (None, "all", name):
            continue
        connected = resource["connection"] == "Connected"
        peer_role = resource["peer_role"] if connected else "Unknown"
        peer_disk = resource["peer_disk"] if connected else "DUnknown"
        replication = resource["replication"] if connected else "Off"
        node = "1" if v9 else "0"
        if v9:
            lines.append(
                f"exists resource name:{name} role:{resource['role']} suspended:{resource['suspended']} "
                "force-io-failures:no may_promote:no promotion_score:0"
            )
        else:
            lines.append(f"exists resource name:{name} role:{resource['role']} suspended:{resource['suspended']}")
        conn = "Connecting" if resource["connection"] == "WFConnection" else resource["connection"]
        lines.append(
            f"exists connection name:{name} peer-node-id:{node} conn-name:peer connection:{conn} role:{peer_role}"
        )
        for number, volume in sorted(resource["volumes"].items()):
            if v9:
                quorum = "yes" if volume.get("quorum", True) else "no"
                lines.append(
                    f"exists device name:{name} volume:{number} minor:{volume['minor']} backing_dev:/dev/vdb "
                    f"disk:{volume['disk']} client:no quorum:{quorum}"
                )
            else:
                lines.append(f"exists device name:{name} volume:{number} minor:{volume['minor']} disk:{volume['disk']}")
        for number in sorted(resource["volumes"]):
            extra = " peer-client:no" if v9 else ""
            lines.append(
                f"exists peer-device name:{name} peer-node-id:{node} conn-name:peer volume:{number} "
                f"replication:{replication} peer-disk:{peer_disk}{extra} resync-suspended:no"
            )
    lines.append("exists -")
    return "\n".join(lines) + "\n"


def render_status_json(data: dict, only: str | None = None) -> str:
    """DRBD 9's ``drbdsetup status --json`` (the layout drbd-utils 9.x prints)."""
    out = []
    for name, resource in sorted(data["resources"].items()):
        if only not in (None, "all", name):
            continue
        connected = resource["connection"] == "Connected"
        out.append(
            {
                "name": name,
                "node-id": 0,
                "role": resource["role"],
                "suspended": resource["suspended"] != "no",
                "write-ordering": "flush",
                "devices": [
                    {
                        "volume": int(n),
                        "minor": v["minor"],
                        "disk-state": v["disk"],
                        "client": False,
                        "quorum": v.get("quorum", True),
                        "size": 1048576,
                    }
                    for n, v in sorted(resource["volumes"].items())
                ],
                "connections": [
                    {
                        "peer-node-id": 1,
                        "name": "peer",
                        "connection-state": resource["connection"],
                        "congested": False,
                        "peer-role": resource["peer_role"] if connected else "Unknown",
                        "peer_devices": [
                            {
                                "volume": int(n),
                                "replication-state": resource["replication"] if connected else "Off",
                                "peer-disk-state": resource["peer_disk"] if connected else "DUnknown",
                                "peer-client": False,
                                "resync-suspended": "no",
                            }
                            for n in sorted(resource["volumes"])
                        ],
                    }
                ],
            }
        )
    return json.dumps(out, indent=2) + "\n"
