#!/usr/bin/python3
"""SCST sysfs emulator: serves /sys/kernel/scst_tgt through FUSE, for tests.

The SCST kernel module cannot run on the test machines, so this process
reproduces, at the file-system boundary, the layout and the store/show
behaviour of SCST's sysfs tree for everything the ALUA agent touches
(device groups, target groups, targets, devices).  Every behaviour is taken
from SCST's source; see SCST-FACTS.md beside this file for the facts and
their sources.

CLI::

    scst_sysfs.py --state-dir DIR [--config FILE.json]
                  [--mountpoint /sys/kernel/scst_tgt] [--new-namespace]

``--new-namespace``: unshare a private mount namespace, mount a tmpfs on
/sys/kernel in it, create the mount point and mount there.  Without it the
file system is mounted in the current mount namespace (the caller, e.g. a
cluster-node namespace entered with nsenter, provides a writable parent).

When serving, DIR/ready holds the PID (written atomically); run commands in
the emulator's namespace with ``nsenter --mount=/proc/PID/ns/mnt -- CMD`` or
reach the files from outside via ``/proc/PID/root/sys/kernel/scst_tgt``.

Files in DIR: ``ready``, ``control.sock`` (JSON lines), ``writes.jsonl``
(one object per write(2) attempt: ts, path, data, result, pid, by),
``emulator.log``.

Control operations (one JSON object per line, one JSON answer per line,
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``)::

    {"op": "ping"}
    {"op": "dump"}                              -> {"ok": true, "state": STATE}
    {"op": "fault", "path": "device_groups/dg/target_groups/n1/state",
     "kind": "eio"|"einval"|"<any errno name>"|"hang"|"eagain",
     "on": "read"|"write"|"both", "seconds": null|N}
    {"op": "clear_faults"}
    {"op": "unregister_target", "driver": "iscsi", "target": "T"}
    {"op": "register_target", "driver": "iscsi", "target": "T",
     "rel_tgt_id": N, "enabled": 1}
    {"op": "set", "path": REL, "value": V}      # backdoor store, logged by=backdoor
    {"op": "remove_device", "name": D}

Fault kinds: an errno name fails the system call at once without applying
it; "hang" blocks until the request is interrupted (then EINTR), the fault is
cleared or ``seconds`` pass (then the store is applied normally); "eagain"
models SCST's 15 s sysfs-work timeout: write(2) fails with EAGAIN, the store is
applied ``seconds`` (default 1) later, and meanwhile ``last_sysfs_mgmt_res``
reads fail with EAGAIN.

STATE (the ``--config`` file and ``dump`` share this shape; every key is
optional in a config)::

    {
      "version": "3.9.0",
      "drivers": {"iscsi": {"enabled": 1}},   # "enabled" defaults to 0
      "devices": {
        "vg1": {"handler": "vdisk_blockio", "filename": "/dev/drbd0",
                "t10_dev_id": "509f7d73-vg1", "usn": "509f7d73",
                "active": 1, "bind_alua_state": 1, "blocked": 0,
                "read_only": 0, "nv_cache": 0, "cluster_mode": 0,
                "blocksize": 512, "size": 1073741824}},
      "targets": {
        "iscsi": {
          "iqn.2016-02.local.virtual:hpms01.vg1": {
            "rel_tgt_id": 1, "enabled": 1, "luns": {"0": "vg1"},
            "ini_groups": {"g": {"luns": {"0": "vg1"}, "initiators": ["iqn..."]}}}}},
      "device_groups": {
        "vg1": {
          "devices": ["vg1"],
          "target_groups": {
            "hpms01": {"group_id": 1, "preferred": 0, "state": "active",
                       "members": {
                         "iqn.2016-02.local.virtual:hpms01.vg1":
                           {"kind": "local", "driver": "iscsi", "rel_tgt_id": 1}}},
            "hpms02": {"group_id": 2, "preferred": 0, "state": "nonoptimized",
                       "members": {
                         "iqn.2016-02.local.virtual:hpms02.vg1":
                           {"kind": "remote", "rel_tgt_id": 2}}}}}},
      "faults": [{"path": "...", "kind": "eio", "on": "write", "seconds": null}],
      "last_sysfs_mgmt_res": 0
    }

A "local" member names a registered target (its rel_tgt_id is informative);
a "remote" member is a directory with its own rel_tgt_id.  A config may make
a member "remote" even when a target of that name exists (the kernel decides
local/remote only when the name is added).
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import signal
import socketserver
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

try:  # imported as part of the tests package
    from . import fuse
except ImportError:  # run as a script
    import fuse  # type: ignore[no-redef]

Directory = fuse.Directory
FuseError = fuse.FuseError
RequestContext = fuse.RequestContext
Symlink = fuse.Symlink


class ScstAttr(fuse.AttributeFile):
    """An attribute that remembers its store, so the backdoor can reuse it."""

    store: Optional[Callable[[bytes], None]] = None
    work: bool = False

KEY = "[key]"
ALUA_STATES = ("active", "nonoptimized", "standby", "unavailable", "offline",
               "transitioning")
DEFAULT_VERSION = "3.9.0"
SCST_MAX_REL_TGT_ID = 0xFFFF
DEV_TYPE_DISK = "0 - Direct-access device (e.g., magnetic disk)\n"
DEV_TYPE_ROM = "5 - CD-ROM device\n"
#: handler -> (type line, add_device parameters, attributes present)
HANDLERS: Dict[str, Tuple[str, Tuple[str, ...], Tuple[str, ...]]] = {
    "vdisk_blockio": (DEV_TYPE_DISK,
                      ("active", "bind_alua_state", "blocksize", "cluster_mode",
                       "dif_filename", "dif_mode", "dif_static_app_tag", "dif_type",
                       "filename", "numa_node_id", "nv_cache", "read_only",
                       "removable", "rotational", "thin_provisioned", "tst",
                       "write_through"),
                      ("active", "bind_alua_state", "size", "size_mb", "blocksize",
                       "read_only", "nv_cache", "filename", "cluster_mode",
                       "resync_size", "t10_dev_id", "usn")),
    "vdisk_fileio": (DEV_TYPE_DISK,
                     ("async", "blocksize", "cluster_mode", "dif_filename", "dif_mode",
                      "dif_static_app_tag", "dif_type", "filename", "numa_node_id",
                      "nv_cache", "o_direct", "read_only", "removable", "rotational",
                      "thin_provisioned", "tst", "write_through"),
                     ("size", "size_mb", "blocksize", "read_only", "nv_cache",
                      "filename", "cluster_mode", "resync_size", "t10_dev_id", "usn")),
    "vdisk_nullio": (DEV_TYPE_DISK,
                     ("blocksize", "cluster_mode", "dif_mode", "dif_static_app_tag",
                      "dif_type", "dummy", "numa_node_id", "read_only", "removable",
                      "rotational", "size", "size_mb", "tst"),
                     ("size", "size_mb", "blocksize", "read_only", "cluster_mode",
                      "t10_dev_id", "usn")),
    "vcdrom": (DEV_TYPE_ROM, ("tst",), ("size", "size_mb", "filename", "t10_dev_id", "usn")),
}
T10_DEV_ID_MAX = 25   # approximate, see SCST-FACTS.md
USN_MAX = 16          # approximate, see SCST-FACTS.md

log = logging.getLogger("scst_sysfs")


# --- kernel string parsing, reproduced -------------------------------------

def c_string(data: bytes) -> bytes:
    """What kasprintf("%.*s") keeps: everything before the first NUL."""
    return data.split(b"\0", 1)[0]


def first_line(data: bytes) -> bytes:
    """The ALUA mgmt/state stores replace the first '\\n' with NUL."""
    return c_string(data).split(b"\n", 1)[0]


def kstrtoul(data: bytes, signed: bool = False) -> int:
    """Linux kstrtoul/kstrtol with base 0: optional sign, 0x/0 prefixes,
    at most one trailing newline, nothing else (EINVAL), overflow ERANGE."""
    s = c_string(data)
    negative = False
    if s[:1] == b"+":
        s = s[1:]
    elif signed and s[:1] == b"-":
        negative, s = True, s[1:]
    base = 10
    if s[:1] == b"0":
        if s[1:2] in (b"x", b"X") and s[2:3] and s[2:3] in b"0123456789abcdefABCDEF":
            base, s = 16, s[2:]
        else:
            base = 8
    digits = re.match(rb"[0-9a-fA-F]*", s).group(0)
    n = 0  # the longest prefix of digits valid in this base
    while n < len(digits) and int(chr(digits[n]), 16) < base:
        n += 1
    if n == 0:
        raise FuseError(errno.EINVAL)
    rest = s[n:]
    if rest[:1] == b"\n":
        rest = rest[1:]
    if rest:
        raise FuseError(errno.EINVAL)
    value = int(s[:n], base)
    limit = (1 << 63) if signed else (1 << 64)
    if value >= limit + (1 if negative else 0):
        raise FuseError(errno.ERANGE)
    return -value if negative else value


def lexems(data: bytes) -> List[str]:
    """scst_get_next_lexem(): tokens separated by white space or ';'."""
    return [t.decode("utf-8", "surrogateescape")
            for t in re.split(rb"[ \t\n\v\f\r;]+", data) if t]


def sysfs_name(name: str) -> str:
    """kobject names cannot contain '/': the kernel turns it into '!'."""
    return name.replace("/", "!")


def errname(err: int) -> str:
    return errno.errorcode.get(err, str(err))


def default_dev_id(name: str) -> str:
    return f"{zlib.crc32(name.encode()):08x}"


# --- model -----------------------------------------------------------------

@dataclass
class Device:
    name: str
    handler: str
    filename: Optional[str] = None
    t10_dev_id: str = ""
    t10_dev_id_set: bool = False
    usn: str = ""
    usn_set: bool = False
    active: int = 1
    bind_alua_state: int = 1
    blocked: int = 0
    read_only: int = 0
    nv_cache: int = 0
    cluster_mode: int = 0
    blocksize: int = 512
    size: int = 1 << 30
    dir: Optional[Directory] = None


@dataclass
class Acg:
    """An access control group: a target's default LUN set or an ini_group."""
    name: Optional[str]
    luns: Dict[int, Tuple[str, int]] = field(default_factory=dict)  # lun -> (dev, ro)
    initiators: List[str] = field(default_factory=list)
    luns_dir: Optional[Directory] = None
    ini_dir: Optional[Directory] = None
    dir: Optional[Directory] = None


@dataclass
class Target:
    driver: str
    name: str
    rel_tgt_id: int = 0
    enabled: int = 0
    default_acg: Acg = field(default_factory=lambda: Acg(None))
    groups: Dict[str, Acg] = field(default_factory=dict)
    dir: Optional[Directory] = None


@dataclass
class Member:
    name: str
    target: Optional[Target]  # None: remote entry
    rel_tgt_id: int = 0       # remote entries only
    node: Any = None


@dataclass
class TargetGroup:
    name: str
    group_id: int = 0
    preferred: int = 0
    state: str = "active"
    members: Dict[str, Member] = field(default_factory=dict)
    dir: Optional[Directory] = None


@dataclass
class DeviceGroup:
    name: str
    devices: List[str] = field(default_factory=list)
    tgs: Dict[str, TargetGroup] = field(default_factory=dict)
    dir: Optional[Directory] = None
    dev_dir: Optional[Directory] = None
    tg_dir: Optional[Directory] = None


@dataclass
class Fault:
    path: str
    kind: str
    on: str = "write"
    seconds: Optional[float] = None
    cleared: threading.Event = field(default_factory=threading.Event)

    def applies(self, direction: str) -> bool:
        return self.on in (direction, "both")

    def errno_value(self) -> int:
        return getattr(errno, self.kind.upper())

    def wait(self, interrupted: threading.Event) -> str:
        """Block like a stuck kernel store; says why it stopped."""
        deadline = None if self.seconds is None else time.monotonic() + self.seconds
        while True:
            if interrupted.is_set():
                return "interrupted"
            if self.cleared.is_set():
                return "cleared"
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout"
            interrupted.wait(0.02)

    def as_json(self) -> Dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "on": self.on,
                "seconds": self.seconds}


Show = Callable[[], str]
Store = Callable[[bytes], None]

MGMT_HELP_DG = ('Usage: echo "create group_name" >mgmt\n'
                '       echo "del group_name" >mgmt\n')
MGMT_HELP_DG_DEVS = ('Usage: echo "add device" >mgmt\n'
                     '       echo "del device" >mgmt\n')
MGMT_HELP_TG = ('Usage: echo "add target" >mgmt\n'
                '       echo "del target" >mgmt\n')
MGMT_HELP_LUNS = ('Usage: echo "add H:C:I:L lun [parameters]" >mgmt\n'
                  '       echo "add VNAME lun [parameters]" >mgmt\n'
                  '       echo "del lun" >mgmt\n'
                  '       echo "replace H:C:I:L lun [parameters]" >mgmt\n'
                  '       echo "replace VNAME lun [parameters]" >mgmt\n'
                  '       echo "clear" >mgmt\n'
                  '\n'
                  "where parameters are one or more param_name=value pairs "
                  "separated by ';'\n"
                  '\nThe following parameters available: read_only.\n')
MGMT_HELP_INI_GROUPS = ('Usage: echo "create GROUP_NAME" >mgmt\n'
                        '       echo "del GROUP_NAME" >mgmt\n')
MGMT_HELP_INITIATORS = ('Usage: echo "add INITIATOR_NAME" >mgmt\n'
                        '       echo "del INITIATOR_NAME" >mgmt\n'
                        '       echo "move INITIATOR_NAME DEST_GROUP_NAME" >mgmt\n'
                        '       echo "clear" >mgmt\n')
MGMT_HELP_TGTT = ('Usage: echo "add_target target_name [parameters]" >mgmt\n'
                  '       echo "del_target target_name" >mgmt\n'
                  '\n'
                  "where parameters are one or more param_name=value pairs "
                  "separated by ';'\n\n\n")


class ScstSysfs:
    """The emulated SCST core: state, its sysfs tree, faults and the write log."""

    def __init__(self, state_dir: str, config: Dict[str, Any]) -> None:
        self.state_dir = state_dir
        self.root = Directory()
        self.server = fuse.FuseServer(self.root, fsname="scst_tgt", subtype="scst_sysfs",
                                      logger=log)
        self.lock = self.server.lock
        self.version = str(config.get("version", DEFAULT_VERSION))
        self.devices: Dict[str, Device] = {}
        self.drivers: Dict[str, Dict[str, Any]] = {}
        self.targets: Dict[Tuple[str, str], Target] = {}
        self.dgs: Dict[str, DeviceGroup] = {}
        self.faults: Dict[str, Fault] = {}
        self.last_mgmt_res = 0
        self.pending_works = 0
        self.threads = 8
        self.setup_id = 0
        self._writes = open(os.path.join(state_dir, "writes.jsonl"), "a", encoding="utf-8")
        with self.lock:
            self._build_root()
            self._load(config)

    # -- write log ------------------------------------------------------------

    def _log_write(self, path: str, data: bytes, err: int, pid: Optional[int],
                   by: str) -> None:
        entry = {"ts": time.time_ns(), "path": path,
                 "data": data.decode("utf-8", "replace"),
                 "result": "ok" if err == 0 else errname(err), "pid": pid, "by": by}
        self._writes.write(json.dumps(entry) + "\n")
        self._writes.flush()

    # -- attribute plumbing ---------------------------------------------------

    def _attr(self, parent: Directory, name: str, show: Optional[Show] = None,
              store: Optional[Store] = None, work: bool = False) -> ScstAttr:
        """Add a sysfs attribute; ``work`` marks stores that SCST runs as a
        sysfs work item (they set last_sysfs_mgmt_res and can time out)."""
        node = ScstAttr(name)
        node.store, node.work = store, work
        if show is not None:
            node.reader = lambda ctx: self._read(ctx, node, show)
        if store is not None:
            node.writer = lambda ctx, data: self._write(ctx, node, store, work, data)
        node.mode = (node.mode & ~0o777) | (0o444 if show else 0) | (0o200 if store else 0)
        return parent.add(node)

    def _fault_for(self, path: str, direction: str) -> Optional[Fault]:
        fault = self.faults.get(path)
        return fault if fault is not None and fault.applies(direction) else None

    def _read(self, ctx: RequestContext, node: ScstAttr, show: Show) -> bytes:
        fault = self._fault_for(node.rel_path(), "read")
        if fault is not None:
            if fault.kind == "hang":
                if fault.wait(ctx.interrupted) == "interrupted":
                    raise FuseError(errno.EINTR)
            elif fault.kind != "eagain":
                raise FuseError(fault.errno_value())
        with self.lock:
            if node.removed:
                raise FuseError(errno.ENODEV)
            return show().encode("utf-8", "surrogateescape")

    def _write(self, ctx: RequestContext, node: ScstAttr, store: Store, work: bool,
               data: bytes) -> None:
        path = node.rel_path()
        fault = self._fault_for(path, "write")
        if fault is not None:
            if fault.kind == "hang":
                if fault.wait(ctx.interrupted) == "interrupted":
                    with self.lock:
                        self._log_write(path, data, errno.EINTR, ctx.pid, "fuse")
                    raise FuseError(errno.EINTR)
            elif fault.kind == "eagain":
                self._defer(path, node, store, work, data, fault.seconds)
                with self.lock:
                    self._log_write(path, data, errno.EAGAIN, ctx.pid, "fuse")
                raise FuseError(errno.EAGAIN)
            else:
                with self.lock:
                    self._log_write(path, data, fault.errno_value(), ctx.pid, "fuse")
                raise FuseError(fault.errno_value())
        err = self._apply(path, node, store, work, data, ctx.pid, "fuse")
        if err:
            raise FuseError(err)

    def _apply(self, path: str, node: ScstAttr, store: Store, work: bool,
               data: bytes, pid: Optional[int], by: str) -> int:
        with self.lock:
            err = 0
            if node.removed:
                err = errno.ENODEV
            else:
                try:
                    store(data)
                except FuseError as exc:
                    err = exc.errno
            if work:
                self.last_mgmt_res = -err
            self._log_write(path, data, err, pid, by)
            return err

    def _defer(self, path: str, node: ScstAttr, store: Store, work: bool,
               data: bytes, seconds: Optional[float]) -> None:
        with self.lock:
            self.pending_works += 1

        def finish() -> None:
            time.sleep(1.0 if seconds is None else seconds)
            with self.lock:
                err = 0
                try:
                    if node.removed:
                        raise FuseError(errno.ENODEV)
                    store(data)
                except FuseError as exc:
                    err = exc.errno
                self.last_mgmt_res = -err
                self.pending_works -= 1
                log.info("deferred store %s=%r finished: %s", path, data,
                         errname(err) if err else "ok")

        threading.Thread(target=finish, name="deferred-store", daemon=True).start()

    # -- static tree ----------------------------------------------------------

    def _build_root(self) -> None:
        root = self.root
        self._attr(root, "version", lambda: f"{self.version}\n")
        self._attr(root, "last_sysfs_mgmt_res", self._show_last_mgmt_res)
        self._attr(root, "threads", lambda: f"{self.threads}\n",
                   self._store_threads, work=True)
        self._attr(root, "setup_id", lambda: f"0x{self.setup_id:x}\n"
                   + ("" if self.setup_id == 0 else KEY) + "\n", self._store_setup_id)
        self.targets_dir = root.subdir("targets")
        self.devices_dir = root.subdir("devices")
        root.subdir("sgv")
        self.handlers_dir = root.subdir("handlers")
        self.dgs_dir = root.subdir("device_groups")
        self._attr(self.dgs_dir, "mgmt", lambda: MGMT_HELP_DG, self._store_dgs_mgmt)
        for handler in HANDLERS:
            self._ensure_handler(handler)

    def _show_last_mgmt_res(self) -> str:
        if self.pending_works > 0:
            raise FuseError(errno.EAGAIN)
        return f"{self.last_mgmt_res}\n"

    def _store_threads(self, data: bytes) -> None:
        value = kstrtoul(data, signed=True)
        if value <= 0:
            raise FuseError(errno.EINVAL)
        self.threads = value

    def _store_setup_id(self, data: bytes) -> None:
        self.setup_id = kstrtoul(data) & 0xFFFFFFFF

    def _ensure_handler(self, handler: str) -> Directory:
        existing = self.handlers_dir.get(handler)
        if isinstance(existing, Directory):
            return existing
        hdir = self.handlers_dir.subdir(handler)
        type_line, params, _ = HANDLERS.get(handler, (DEV_TYPE_DISK, (), ()))
        self._attr(hdir, "type", lambda: type_line)
        help_text = ('Usage: echo "add_device device_name [parameters]" >mgmt\n'
                     '       echo "del_device device_name" >mgmt\n\n'
                     "where parameters are one or more param_name=value pairs "
                     "separated by ';'\n\n"
                     f"The following parameters available: {', '.join(params)}\n")
        self._attr(hdir, "mgmt", lambda: help_text,
                   lambda data: self._store_handler_mgmt(handler, data), work=True)
        return hdir

    def _ensure_driver(self, driver: str) -> Directory:
        existing = self.targets_dir.get(driver)
        if isinstance(existing, Directory):
            return existing
        self.drivers.setdefault(driver, {"enabled": 0})  # iscsi-scstd starts with it disabled
        ddir = self.targets_dir.subdir(driver)
        self._attr(ddir, "mgmt", lambda: MGMT_HELP_TGTT,
                   lambda data: self._store_tgtt_mgmt(driver, data), work=True)
        # iscsi-scstd prints "%d\n", iscsi_attr_show() adds "\n"
        self._attr(ddir, "enabled", lambda: f"{self.drivers[driver]['enabled']}\n\n",
                   lambda data: self._store_driver_enabled(driver, data))
        return ddir

    def _store_driver_enabled(self, driver: str, data: bytes) -> None:
        first = c_string(data)[:1]
        if first not in (b"0", b"1"):
            raise FuseError(errno.EINVAL)
        self.drivers[driver]["enabled"] = int(first)

    # -- devices ----------------------------------------------------------------

    def add_device(self, name: str, handler: str, **params: Any) -> Device:
        if name in self.devices:
            raise FuseError(errno.EEXIST)
        dev = Device(name, handler)
        dev.t10_dev_id = f"{default_dev_id(name)}-{name}"[:T10_DEV_ID_MAX]
        dev.usn = default_dev_id(name)[:USN_MAX]
        for key, value in params.items():
            if key in ("t10_dev_id", "usn"):
                setattr(dev, key, str(value))
                setattr(dev, f"{key}_set", True)
            elif key == "filename":
                dev.filename = str(value)
            elif key in ("active", "bind_alua_state", "blocked", "read_only", "nv_cache",
                         "cluster_mode", "blocksize", "size"):
                setattr(dev, key, int(value))
            elif key != "handler":
                raise ValueError(f"device {name}: unknown parameter {key!r}")
        self.devices[name] = dev
        self._build_device(dev)
        return dev

    def _build_device(self, dev: Device) -> None:
        name = sysfs_name(dev.name)
        ddir = self.devices_dir.subdir(name)
        dev.dir = ddir
        hdir = self._ensure_handler(dev.handler)
        type_line, _, attrs = HANDLERS.get(dev.handler, (DEV_TYPE_DISK, (), ()))
        self._attr(ddir, "type", lambda: type_line)
        ddir.add(Symlink("handler", f"../../handlers/{dev.handler}"))
        hdir.add(Symlink(name, f"../../devices/{name}"))
        ddir.subdir("exported")
        # "block" is an SCST core device attribute (see SCST-FACTS.md).
        self._attr(ddir, "block", lambda: f"{dev.blocked} 0\n",
                   lambda data: self._store_block(dev, data))
        builders: Dict[str, Callable[[], None]] = {
            "active": lambda: self._attr(
                ddir, "active", lambda: f"{dev.active}\n" + ("" if dev.active == 1 else KEY + "\n"),
                lambda data: self._store_active(dev, data), work=True),
            "bind_alua_state": lambda: self._attr(
                ddir, "bind_alua_state",
                lambda: f"{dev.bind_alua_state}\n"
                + ("" if dev.bind_alua_state == 1 else KEY + "\n"),
                lambda data: setattr(dev, "bind_alua_state",
                                     int(bool(kstrtoul(c_string(data)[:15]))))),
            "size": lambda: self._attr(ddir, "size", lambda: f"{dev.size}\n"),
            "size_mb": lambda: self._attr(ddir, "size_mb", lambda: f"{dev.size >> 20}\n"),
            "blocksize": lambda: self._attr(
                ddir, "blocksize", lambda: f"{dev.blocksize}\n"
                + ("" if dev.blocksize == 512 else KEY + "\n")),
            "read_only": lambda: self._attr(
                ddir, "read_only", lambda: f"{dev.read_only}\n"
                + (KEY + "\n" if dev.read_only else "")),
            "nv_cache": lambda: self._attr(
                ddir, "nv_cache", lambda: f"{dev.nv_cache}\n"
                + (KEY + "\n" if dev.nv_cache else "")),
            "filename": lambda: self._attr(ddir, "filename", lambda: self._show_filename(dev),
                                           lambda data: self._store_filename(dev, data),
                                           work=True),
            "cluster_mode": lambda: self._attr(
                ddir, "cluster_mode", lambda: f"{dev.cluster_mode}\n"
                + (KEY + "\n" if dev.cluster_mode else ""),
                lambda data: self._store_cluster_mode(dev, data), work=True),
            "resync_size": lambda: self._attr(ddir, "resync_size", None,
                                              lambda data: None, work=True),
            "t10_dev_id": lambda: self._attr(
                ddir, "t10_dev_id", lambda: f"{dev.t10_dev_id}\n"
                + (KEY + "\n" if dev.t10_dev_id_set else ""),
                lambda data: self._store_t10_dev_id(dev, data)),
            "usn": lambda: self._attr(
                ddir, "usn", lambda: f"{dev.usn}\n" + (KEY + "\n" if dev.usn_set else ""),
                lambda data: self._store_usn(dev, data)),
        }
        for attr in attrs:
            builders[attr]()

    def _show_filename(self, dev: Device) -> str:
        # vdev_sysfs_filename_show(): res_buf is "%s\n[key]\n", then "%s\n".
        if dev.filename is None:
            return "\n\n"
        return f"{dev.filename}\n{KEY}\n\n"

    def _store_filename(self, dev: Device, data: bytes) -> None:
        if dev.active:
            raise FuseError(errno.EINVAL)  # "still active"
        text = c_string(data).decode("utf-8", "surrogateescape").strip()
        if not text or not text.startswith("/"):
            raise FuseError(errno.EINVAL)
        dev.filename = text

    def _store_active(self, dev: Device, data: bytes) -> None:
        value = kstrtoul(data, signed=True)
        if value not in (0, 1):
            raise FuseError(errno.EINVAL)
        dev.active = value

    def _store_cluster_mode(self, dev: Device, data: bytes) -> None:
        value = kstrtoul(data, signed=True)
        if value not in (0, 1):
            raise FuseError(errno.EINVAL)
        dev.cluster_mode = value

    def _store_t10_dev_id(self, dev: Device, data: bytes) -> None:
        if dev.cluster_mode:
            raise FuseError(errno.EPERM)
        text = self._id_value(data, T10_DEV_ID_MAX)
        dev.t10_dev_id, dev.t10_dev_id_set = text, True

    def _store_usn(self, dev: Device, data: bytes) -> None:
        text = self._id_value(data, USN_MAX)
        dev.usn, dev.usn_set = text, True

    @staticmethod
    def _id_value(data: bytes, maximum: int) -> str:
        size = maximum + 1
        if len(data) > size or (len(data) == size and data[-1:] != b"\n"):
            raise FuseError(errno.EINVAL)
        return c_string(data).split(b"\n", 1)[0].decode("utf-8", "surrogateescape")

    def _store_block(self, dev: Device, data: bytes) -> None:
        text = c_string(data).strip()
        if text == b"1":
            dev.blocked += 1
        elif text == b"0":
            dev.blocked = max(0, dev.blocked - 1)
        else:
            raise FuseError(errno.EINVAL)

    def remove_device(self, name: str) -> None:
        dev = self.devices.get(name)
        if dev is None:
            raise FuseError(errno.ENOENT)
        for dg in self.dgs.values():
            if name in dg.devices:
                self._dg_dev_remove(dg, name)
        for target in self.targets.values():
            for acg in [target.default_acg, *target.groups.values()]:
                for lun in [l for l, (d, _) in acg.luns.items() if d == name]:
                    self._del_lun(acg, lun)
        hdir = self.handlers_dir.get(dev.handler)
        if isinstance(hdir, Directory) and sysfs_name(name) in hdir.children:
            hdir.remove(sysfs_name(name))
        self.devices_dir.remove(sysfs_name(name))
        del self.devices[name]

    def _store_handler_mgmt(self, handler: str, data: bytes) -> None:
        toks = lexems(c_string(data))
        verb = toks[0].lower() if toks else ""
        if verb not in ("add_device", "del_device") or len(toks) < 2:
            raise FuseError(errno.EINVAL)
        name = toks[1]
        if verb == "del_device":
            if len(toks) > 2:
                raise FuseError(errno.EINVAL)
            if name not in self.devices or self.devices[name].handler != handler:
                raise FuseError(errno.EINVAL)
            self.remove_device(name)
            return
        params: Dict[str, Any] = {}
        allowed = HANDLERS.get(handler, ("", (), ()))[1]
        rest = c_string(data).decode("utf-8", "surrogateescape").split(None, 2)
        for item in (rest[2] if len(rest) > 2 else "").split(";"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in allowed:
                raise FuseError(errno.EINVAL)
            if key in ("filename", "t10_dev_id", "usn"):
                params[key] = value
            elif key in ("active", "bind_alua_state", "read_only", "nv_cache",
                         "cluster_mode", "blocksize"):
                params[key] = kstrtoul(value.encode())
        if handler in ("vdisk_blockio", "vdisk_fileio") and "filename" not in params:
            raise FuseError(errno.EINVAL)
        if name in self.devices:
            raise FuseError(errno.EEXIST)
        self.add_device(name, handler, **params)

    # -- targets ----------------------------------------------------------------

    def find_target(self, name: str) -> Optional[Target]:
        """__lookup_tgt(): a target of that name under any driver."""
        for (_, tname), target in self.targets.items():
            if tname == name:
                return target
        return None

    def register_target(self, driver: str, name: str, rel_tgt_id: int = 0,
                        enabled: int = 0) -> Target:
        if (driver, name) in self.targets:
            raise FuseError(errno.EEXIST)
        ddir = self._ensure_driver(driver)
        target = Target(driver, name, int(rel_tgt_id), int(enabled))
        self.targets[(driver, name)] = target
        tdir = ddir.subdir(sysfs_name(name))
        target.dir = tdir
        self._attr(tdir, "enabled", lambda: f"{target.enabled}\n",
                   lambda data: self._store_tgt_enabled(target, data), work=True)
        self._attr(tdir, "rel_tgt_id",
                   lambda: f"{target.rel_tgt_id}\n"
                   + (KEY + "\n" if target.rel_tgt_id != 0 else ""),
                   lambda data: self._store_tgt_rel_tgt_id(target, data), work=True)
        tdir.subdir("sessions")
        target.default_acg.luns_dir = tdir.subdir("luns")
        self._attr(target.default_acg.luns_dir, "mgmt", lambda: MGMT_HELP_LUNS,
                   lambda data: self._store_luns_mgmt(target.default_acg, data), work=True)
        igdir = tdir.subdir("ini_groups")
        self._attr(igdir, "mgmt", lambda: MGMT_HELP_INI_GROUPS,
                   lambda data: self._store_ini_groups_mgmt(target, data), work=True)
        return target

    def unregister_target(self, driver: str, name: str) -> None:
        target = self.targets.get((driver, name))
        if target is None:
            raise FuseError(errno.ENOENT)
        # scst_tg_tgt_remove_by_tgt(): drop it from every target group where
        # it is a local member (remote entries of the same name stay).
        for dg in self.dgs.values():
            for tg in dg.tgs.values():
                for mname, member in list(tg.members.items()):
                    if member.target is target:
                        self._tg_member_remove(tg, mname, tg)
        ddir = self.targets_dir.get(driver)
        if isinstance(ddir, Directory):
            ddir.remove(sysfs_name(name))
        del self.targets[(driver, name)]

    def _rel_tgt_id_unique(self, value: int, target: Target) -> bool:
        return all(t.rel_tgt_id != value for t in self.targets.values() if t is not target)

    def _store_tgt_enabled(self, target: Target, data: bytes) -> None:
        first = c_string(data)[:1]
        if first not in (b"0", b"1"):
            raise FuseError(errno.EINVAL)
        enable = first == b"1"
        if enable:
            if target.rel_tgt_id == 0:
                target.rel_tgt_id = next(i for i in range(1, SCST_MAX_REL_TGT_ID + 1)
                                         if self._rel_tgt_id_unique(i, target))
            elif not self._rel_tgt_id_unique(target.rel_tgt_id, target):
                raise FuseError(errno.EBADSLT)
        target.enabled = int(enable)

    def _store_tgt_rel_tgt_id(self, target: Target, data: bytes) -> None:
        try:
            value = kstrtoul(data)
        except FuseError:
            raise FuseError(errno.EINVAL) from None
        if target.enabled and value != target.rel_tgt_id \
                and not self._rel_tgt_id_unique(value, target):
            raise FuseError(errno.EBADSLT)
        if not 1 <= value <= SCST_MAX_REL_TGT_ID and not (value == 0 and not target.enabled):
            raise FuseError(errno.EINVAL)
        target.rel_tgt_id = value

    def _store_tgtt_mgmt(self, driver: str, data: bytes) -> None:
        toks = lexems(c_string(data))
        verb = toks[0].lower() if toks else ""
        if verb not in ("add_target", "del_target"):
            raise FuseError(errno.EINVAL)
        if len(toks) < 2:
            raise FuseError(errno.EINVAL)
        if verb == "add_target":
            self.register_target(driver, toks[1])
        else:
            if len(toks) > 2:
                raise FuseError(errno.EINVAL)
            if (driver, toks[1]) not in self.targets:
                raise FuseError(errno.ENOENT)
            self.unregister_target(driver, toks[1])

    # -- LUNs and initiator groups -------------------------------------------------

    def _add_lun(self, acg: Acg, lun: int, dev_name: str, read_only: int = 0) -> None:
        acg.luns[lun] = (dev_name, read_only)
        assert acg.luns_dir is not None
        ldir = acg.luns_dir.subdir(str(lun))
        ro = read_only or self.devices[dev_name].read_only
        self._attr(ldir, "read_only", lambda: "1\n[key]\n" if ro else "0\n")
        depth = acg.luns_dir.rel_path().count("/") + 2
        ldir.add(Symlink("device", "../" * depth + f"devices/{sysfs_name(dev_name)}"))

    def _del_lun(self, acg: Acg, lun: int) -> None:
        del acg.luns[lun]
        assert acg.luns_dir is not None
        acg.luns_dir.remove(str(lun))

    def _store_luns_mgmt(self, acg: Acg, data: bytes) -> None:
        toks = lexems(c_string(data))
        verb = toks[0].lower() if toks else ""
        if verb not in ("add", "del", "replace", "clear"):
            raise FuseError(errno.EINVAL)
        if verb == "clear":
            if len(toks) > 1:
                raise FuseError(errno.EINVAL)
            for lun in list(acg.luns):
                self._del_lun(acg, lun)
            return
        if verb == "del":
            lun = kstrtoul(toks[1].encode() if len(toks) > 1 else b"")
            if len(toks) > 2 or lun not in acg.luns:
                raise FuseError(errno.EINVAL)
            self._del_lun(acg, lun)
            return
        dev_name = toks[1] if len(toks) > 1 else ""
        if dev_name not in self.devices:
            raise FuseError(errno.EINVAL)
        lun = kstrtoul(toks[2].encode() if len(toks) > 2 else b"")
        read_only = 0
        for param in toks[3:]:
            key, sep, value = param.partition("=")
            if not sep or key.lower() != "read_only":
                raise FuseError(errno.EINVAL)
            read_only = kstrtoul(value.encode())
        if lun in acg.luns:
            if verb == "add":
                raise FuseError(errno.EEXIST)
            self._del_lun(acg, lun)
        self._add_lun(acg, lun, dev_name, read_only)

    def _store_ini_groups_mgmt(self, target: Target, data: bytes) -> None:
        toks = lexems(c_string(data))
        verb = toks[0].lower() if toks else ""
        if verb not in ("create", "del") or len(toks) < 2:
            raise FuseError(errno.EINVAL)
        name = toks[1]
        if verb == "create":
            if name in target.groups:
                raise FuseError(errno.EINVAL)  # "acg name %s exist" is -EINVAL
            self.add_ini_group(target, name)
        else:
            if name not in target.groups:
                raise FuseError(errno.EINVAL)
            assert target.dir is not None
            igdir = target.dir.get("ini_groups")
            assert isinstance(igdir, Directory)
            igdir.remove(sysfs_name(name))
            del target.groups[name]

    def add_ini_group(self, target: Target, name: str) -> Acg:
        assert target.dir is not None
        igdir = target.dir.get("ini_groups")
        assert isinstance(igdir, Directory)
        acg = Acg(name)
        acg.dir = igdir.subdir(sysfs_name(name))
        acg.luns_dir = acg.dir.subdir("luns")
        self._attr(acg.luns_dir, "mgmt", lambda: MGMT_HELP_LUNS,
                   lambda data: self._store_luns_mgmt(acg, data), work=True)
        acg.ini_dir = acg.dir.subdir("initiators")
        self._attr(acg.ini_dir, "mgmt", lambda: MGMT_HELP_INITIATORS,
                   lambda data: self._store_initiators_mgmt(acg, data), work=True)
        target.groups[name] = acg
        return acg

    def _store_initiators_mgmt(self, acg: Acg, data: bytes) -> None:
        toks = lexems(c_string(data))
        verb = toks[0].lower() if toks else ""
        if verb == "clear":
            for name in list(acg.initiators):
                self._del_initiator(acg, name)
        elif verb in ("add", "del") and len(toks) >= 2:
            if verb == "add":
                if toks[1] in acg.initiators:
                    raise FuseError(errno.EEXIST)
                self._add_initiator(acg, toks[1])
            else:
                if toks[1] not in acg.initiators:
                    raise FuseError(errno.EINVAL)
                self._del_initiator(acg, toks[1])
        else:
            raise FuseError(errno.EINVAL)

    def _add_initiator(self, acg: Acg, name: str) -> None:
        assert acg.ini_dir is not None
        acg.initiators.append(name)
        self._attr(acg.ini_dir, sysfs_name(name), lambda: f"{name}\n")

    def _del_initiator(self, acg: Acg, name: str) -> None:
        assert acg.ini_dir is not None
        acg.initiators.remove(name)
        acg.ini_dir.remove(sysfs_name(name))

    # -- device groups (scst_tg.c + the ALUA part of scst_sysfs.c) ---------------

    def _store_dgs_mgmt(self, data: bytes) -> None:
        """scst_device_groups_mgmt_store(): synchronous, no sysfs work."""
        toks = lexems(first_line(data))
        verb = toks[0].lower() if toks else ""
        if verb in ("create", "add") and len(toks) >= 2:
            self.dg_add(toks[1])
        elif verb == "del" and len(toks) >= 2:
            dg = self.dgs.get(toks[1])
            if dg is None:
                raise FuseError(errno.EINVAL)
            self.dg_remove(dg)
        else:
            raise FuseError(errno.EINVAL)

    def dg_add(self, name: str) -> DeviceGroup:
        if name in self.dgs or sysfs_name(name) in self.dgs_dir.children:
            raise FuseError(errno.EEXIST)
        dg = DeviceGroup(name)
        dg.dir = self.dgs_dir.subdir(sysfs_name(name))
        dg.dev_dir = dg.dir.subdir("devices")
        self._attr(dg.dev_dir, "mgmt", lambda: MGMT_HELP_DG_DEVS,
                   lambda data: self._store_dg_devs_mgmt(dg, data), work=True)
        dg.tg_dir = dg.dir.subdir("target_groups")
        self._attr(dg.tg_dir, "mgmt", lambda: MGMT_HELP_DG,
                   lambda data: self._store_dg_tgs_mgmt(dg, data), work=True)
        self.dgs[name] = dg
        return dg

    def dg_remove(self, dg: DeviceGroup) -> None:
        """__scst_dg_remove(): states back to active, devices, then groups."""
        for tg in dg.tgs.values():
            tg.state = "active"
        for dev in list(dg.devices):
            self._dg_dev_remove(dg, dev)
        for tg_name in list(dg.tgs):
            self._tg_remove(dg, tg_name)
        self.dgs_dir.remove(sysfs_name(dg.name))
        del self.dgs[dg.name]

    def _store_dg_devs_mgmt(self, dg: DeviceGroup, data: bytes) -> None:
        toks = lexems(first_line(data))
        verb = toks[0].lower() if toks else ""
        if verb == "add" and len(toks) >= 2:
            self.dg_dev_add(dg, toks[1])
        elif verb == "del" and len(toks) >= 2:
            if toks[1] not in dg.devices:
                raise FuseError(errno.EINVAL)
            self._dg_dev_remove(dg, toks[1])
        else:
            raise FuseError(errno.EINVAL)

    def dg_dev_add(self, dg: DeviceGroup, name: str) -> None:
        """scst_dg_dev_add(): EEXIST if in any device group, EINVAL if unknown."""
        if any(name in other.devices for other in self.dgs.values()):
            raise FuseError(errno.EEXIST)
        if name not in self.devices:
            raise FuseError(errno.EINVAL)
        assert dg.dev_dir is not None
        dg.dev_dir.add(Symlink(sysfs_name(name), f"../../../devices/{sysfs_name(name)}"))
        dg.devices.append(name)

    def _dg_dev_remove(self, dg: DeviceGroup, name: str) -> None:
        assert dg.dev_dir is not None
        dg.devices.remove(name)
        if sysfs_name(name) in dg.dev_dir.children:
            dg.dev_dir.remove(sysfs_name(name))

    def _store_dg_tgs_mgmt(self, dg: DeviceGroup, data: bytes) -> None:
        toks = lexems(first_line(data))
        verb = toks[0].lower() if toks else ""
        if verb in ("create", "add") and len(toks) >= 2:
            self.tg_add(dg, toks[1])
        elif verb == "del" and len(toks) >= 2:
            if toks[1] not in dg.tgs:
                raise FuseError(errno.EINVAL)
            self._tg_remove(dg, toks[1])
        else:
            raise FuseError(errno.EINVAL)

    def tg_add(self, dg: DeviceGroup, name: str) -> TargetGroup:
        assert dg.tg_dir is not None
        if name in dg.tgs or sysfs_name(name) in dg.tg_dir.children:
            raise FuseError(errno.EEXIST)
        tg = TargetGroup(name)
        tg.dir = dg.tg_dir.subdir(sysfs_name(name))
        self._attr(tg.dir, "mgmt", lambda: MGMT_HELP_TG,
                   lambda data: self._store_tg_mgmt(dg, tg, data), work=True)
        self._attr(tg.dir, "group_id", lambda: f"{tg.group_id}\n{KEY}\n",
                   lambda data: setattr(tg, "group_id", self._parse_id16(data)))
        self._attr(tg.dir, "preferred", lambda: f"{tg.preferred}\n{KEY}\n",
                   lambda data: self._store_preferred(tg, data), work=True)
        self._attr(tg.dir, "state", lambda: f"{tg.state}\n{KEY}\n",
                   lambda data: self._store_state(tg, data), work=True)
        dg.tgs[name] = tg
        return tg

    def _tg_remove(self, dg: DeviceGroup, name: str) -> None:
        tg = dg.tgs.pop(name)
        for mname in list(tg.members):
            self._tg_member_remove(tg, mname, tg)
        assert dg.tg_dir is not None
        dg.tg_dir.remove(sysfs_name(name))

    @staticmethod
    def _parse_id16(data: bytes) -> int:
        """group_id / remote rel_tgt_id stores: at most 7 bytes, 1..65535."""
        value = kstrtoul(c_string(data)[:7])
        if value == 0 or value > 0xFFFF:
            raise FuseError(errno.EINVAL)
        return value

    @staticmethod
    def _store_preferred(tg: TargetGroup, data: bytes) -> None:
        value = kstrtoul(data)
        if value not in (0, 1):
            raise FuseError(errno.EINVAL)
        tg.preferred = value

    @staticmethod
    def _store_state(tg: TargetGroup, data: bytes) -> None:
        name = first_line(data).decode("utf-8", "surrogateescape")
        if name not in ALUA_STATES:
            raise FuseError(errno.EINVAL)
        tg.state = name

    def _store_tg_mgmt(self, dg: DeviceGroup, tg: TargetGroup, data: bytes) -> None:
        toks = lexems(first_line(data))
        verb = toks[0].lower() if toks else ""
        if verb == "add" and len(toks) >= 2:
            self.tg_member_add(dg, tg, toks[1])
        elif verb == "del" and len(toks) >= 2:
            owner = self._member_owner(dg, toks[1])
            if owner is None:
                raise FuseError(errno.EINVAL)
            # scst_tg_tgt_remove_by_name() looks the name up in the whole
            # device group but removes the sysfs entry from *this* group.
            self._tg_member_remove(owner, toks[1], tg)
        else:
            raise FuseError(errno.EINVAL)

    @staticmethod
    def _member_owner(dg: DeviceGroup, name: str) -> Optional[TargetGroup]:
        for tg in dg.tgs.values():
            if name in tg.members:
                return tg
        return None

    def tg_member_add(self, dg: DeviceGroup, tg: TargetGroup, name: str,
                      force_remote: bool = False, rel_tgt_id: int = 0) -> Member:
        """scst_tg_tgt_add(): EEXIST if the name is in any group of the device
        group; local iff a target of that name is registered right now."""
        assert tg.dir is not None
        if self._member_owner(dg, name) is not None or sysfs_name(name) in tg.dir.children:
            raise FuseError(errno.EEXIST)
        target = None if force_remote else self.find_target(name)
        member = Member(name, target, 0 if target else rel_tgt_id)
        if target is not None:
            member.node = tg.dir.add(Symlink(
                sysfs_name(name), f"../../../../targets/{target.driver}/{sysfs_name(name)}"))
        else:
            mdir = tg.dir.subdir(sysfs_name(name))
            member.node = mdir
            self._attr(mdir, "rel_tgt_id", lambda: f"{member.rel_tgt_id}\n{KEY}\n",
                       lambda data: setattr(member, "rel_tgt_id", self._parse_id16(data)))
        tg.members[name] = member
        return member

    def _tg_member_remove(self, owner: TargetGroup, name: str, sysfs_tg: TargetGroup) -> None:
        member = owner.members.pop(name)
        if member.target is None:  # kobject_del() finds the right parent
            assert owner.dir is not None
            owner.dir.remove(sysfs_name(name))
            return
        assert sysfs_tg.dir is not None
        if sysfs_tg.dir.get(sysfs_name(name)) is member.node:
            sysfs_tg.dir.remove(sysfs_name(name))
        else:
            log.warning("del %s via target group %s: stale link left in %s (kernel quirk)",
                        name, sysfs_tg.name, owner.name)

    # -- config / dump ------------------------------------------------------

    def _load(self, config: Dict[str, Any]) -> None:
        for driver, attrs in (config.get("drivers") or {}).items():
            self._ensure_driver(driver)
            self.drivers[driver]["enabled"] = int((attrs or {}).get("enabled", 0))
        for name, attrs in (config.get("devices") or {}).items():
            attrs = dict(attrs)
            self.add_device(name, attrs.pop("handler", "vdisk_blockio"), **attrs)
        for driver, targets in (config.get("targets") or {}).items():
            self._ensure_driver(driver)
            for name, attrs in (targets or {}).items():
                self._load_target(driver, name, attrs or {})
        for name, attrs in (config.get("device_groups") or {}).items():
            self._load_dg(name, attrs or {})
        for fault in config.get("faults") or []:
            self.set_fault(fault)
        self.last_mgmt_res = int(config.get("last_sysfs_mgmt_res", 0))

    def _load_target(self, driver: str, name: str, attrs: Dict[str, Any]) -> None:
        target = self.register_target(driver, name, int(attrs.get("rel_tgt_id", 0)),
                                      int(attrs.get("enabled", 0)))
        for lun, dev in (attrs.get("luns") or {}).items():
            self._load_lun(target.default_acg, lun, dev)
        for gname, gattrs in (attrs.get("ini_groups") or {}).items():
            acg = self.add_ini_group(target, gname)
            for lun, dev in (gattrs.get("luns") or {}).items():
                self._load_lun(acg, lun, dev)
            for ini in gattrs.get("initiators") or []:
                self._add_initiator(acg, ini)

    def _load_lun(self, acg: Acg, lun: Any, dev: Any) -> None:
        if isinstance(dev, dict):
            dev_name, read_only = dev["device"], int(dev.get("read_only", 0))
        else:
            dev_name, read_only = str(dev), 0
        if dev_name not in self.devices:
            raise ValueError(f"LUN {lun}: unknown device {dev_name!r}")
        self._add_lun(acg, int(lun), dev_name, read_only)

    def _load_dg(self, name: str, attrs: Dict[str, Any]) -> None:
        dg = self.dg_add(name)
        for dev in attrs.get("devices") or []:
            try:
                self.dg_dev_add(dg, dev)
            except FuseError as exc:
                raise ValueError(f"device group {name}: cannot add device {dev!r}: "
                                 f"{errname(exc.errno)}") from None
        for tg_name, tg_attrs in (attrs.get("target_groups") or {}).items():
            tg = self.tg_add(dg, tg_name)
            tg.group_id = int(tg_attrs.get("group_id", 0))
            tg.preferred = int(tg_attrs.get("preferred", 0))
            state = tg_attrs.get("state", "active")
            if state not in ALUA_STATES:
                raise ValueError(f"target group {tg_name}: bad state {state!r}")
            tg.state = state
            for mname, mattrs in (tg_attrs.get("members") or {}).items():
                self._load_member(dg, tg, mname, mattrs or {})

    def _load_member(self, dg: DeviceGroup, tg: TargetGroup, name: str,
                     attrs: Dict[str, Any]) -> None:
        kind = attrs.get("kind", "local" if self.find_target(name) else "remote")
        if kind == "local" and self.find_target(name) is None:
            raise ValueError(f"target group {tg.name}: local member {name!r} "
                             "is not a registered target")
        if kind not in ("local", "remote"):
            raise ValueError(f"member {name!r}: kind must be local or remote")
        try:
            self.tg_member_add(dg, tg, name, force_remote=(kind == "remote"),
                               rel_tgt_id=int(attrs.get("rel_tgt_id", 0)))
        except FuseError as exc:
            raise ValueError(f"target group {tg.name}: cannot add {name!r}: "
                             f"{errname(exc.errno)}") from None

    def dump(self) -> Dict[str, Any]:
        with self.lock:
            return {
                "version": self.version,
                "drivers": {d: dict(a) for d, a in self.drivers.items()},
                "devices": {n: self._dump_device(d) for n, d in self.devices.items()},
                "targets": self._dump_targets(),
                "device_groups": {n: self._dump_dg(dg) for n, dg in self.dgs.items()},
                "faults": [f.as_json() for f in self.faults.values()],
                "last_sysfs_mgmt_res": self.last_mgmt_res,
            }

    @staticmethod
    def _dump_device(dev: Device) -> Dict[str, Any]:
        out: Dict[str, Any] = {"handler": dev.handler}
        if dev.filename is not None:
            out["filename"] = dev.filename
        out.update(t10_dev_id=dev.t10_dev_id, usn=dev.usn, active=dev.active,
                   bind_alua_state=dev.bind_alua_state, blocked=dev.blocked,
                   read_only=dev.read_only, nv_cache=dev.nv_cache,
                   cluster_mode=dev.cluster_mode, blocksize=dev.blocksize, size=dev.size)
        return out

    def _dump_targets(self) -> Dict[str, Any]:
        out: Dict[str, Dict[str, Any]] = {d: {} for d in self.drivers}
        for (driver, name), t in self.targets.items():
            entry: Dict[str, Any] = {"rel_tgt_id": t.rel_tgt_id, "enabled": t.enabled,
                                     "luns": self._dump_luns(t.default_acg)}
            if t.groups:
                entry["ini_groups"] = {g: {"luns": self._dump_luns(a),
                                           "initiators": list(a.initiators)}
                                       for g, a in t.groups.items()}
            out.setdefault(driver, {})[name] = entry
        return out

    @staticmethod
    def _dump_luns(acg: Acg) -> Dict[str, Any]:
        return {str(lun): (dev if not ro else {"device": dev, "read_only": ro})
                for lun, (dev, ro) in sorted(acg.luns.items())}

    @staticmethod
    def _dump_dg(dg: DeviceGroup) -> Dict[str, Any]:
        tgs: Dict[str, Any] = {}
        for name, tg in dg.tgs.items():
            members: Dict[str, Any] = {}
            for mname, m in tg.members.items():
                if m.target is not None:
                    members[mname] = {"kind": "local", "driver": m.target.driver,
                                      "rel_tgt_id": m.target.rel_tgt_id}
                else:
                    members[mname] = {"kind": "remote", "rel_tgt_id": m.rel_tgt_id}
            tgs[name] = {"group_id": tg.group_id, "preferred": tg.preferred,
                         "state": tg.state, "members": members}
        return {"devices": list(dg.devices), "target_groups": tgs}

    # -- control operations -------------------------------------------------------

    def set_fault(self, spec: Dict[str, Any]) -> None:
        path = str(spec["path"]).strip("/")
        kind = str(spec.get("kind", "eio")).lower()
        on = str(spec.get("on", "write"))
        if on not in ("read", "write", "both"):
            raise ValueError("on must be read, write or both")
        if kind not in ("hang", "eagain") and not hasattr(errno, kind.upper()):
            raise ValueError(f"unknown fault kind {kind!r}")
        seconds = spec.get("seconds")
        with self.lock:
            old = self.faults.get(path)
            if old is not None:
                old.cleared.set()
            self.faults[path] = Fault(path, kind, on,
                                      None if seconds is None else float(seconds))

    def clear_faults(self) -> None:
        with self.lock:
            for fault in self.faults.values():
                fault.cleared.set()
            self.faults.clear()

    def backdoor_set(self, path: str, value: Any) -> int:
        """Store like a write(2) (same validation and side effects) but
        without faults, logged with by=backdoor: drift made by another actor."""
        with self.lock:
            node: Any = self.root
            for part in path.strip("/").split("/"):
                node = node.get(part) if isinstance(node, Directory) else None
            if not isinstance(node, ScstAttr) or node.store is None:
                raise ValueError(f"no writable attribute at {path!r}")
            data = value.encode() if isinstance(value, str) else str(value).encode()
            return self._apply(node.rel_path(), node, node.store, node.work, data,
                               None, "backdoor")

    def handle(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return control_reply(self, request, self._own_op)

    def _own_op(self, op: Any, request: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        with self.lock:
            if op == "unregister_target":
                self.unregister_target(request.get("driver", "iscsi"), request["target"])
            elif op == "register_target":
                self.register_target(request.get("driver", "iscsi"), request["target"],
                                     int(request.get("rel_tgt_id", 0)),
                                     int(request.get("enabled", 1)))
            elif op == "remove_device":
                self.remove_device(request["name"])
            else:
                return None
        return {"ok": True}


def control_reply(emulator: Any, request: Dict[str, Any],
                  own_op: Callable[[Any, Dict[str, Any]], Optional[Dict[str, Any]]]) -> Dict[str, Any]:
    """One control request answered: the ops every emulator has, then its own (None: unknown)."""
    op = request.get("op")
    try:
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "dump":
            return {"ok": True, "state": emulator.dump()}
        if op == "fault":
            emulator.set_fault(request)
            return {"ok": True}
        if op == "clear_faults":
            emulator.clear_faults()
            return {"ok": True}
        if op == "set":
            err = emulator.backdoor_set(str(request["path"]), request["value"])
            return {"ok": err == 0, "result": "ok" if not err else errname(err),
                    **({"error": errname(err)} if err else {})}
        reply = own_op(op, request)
        return reply if reply is not None else {"ok": False, "error": f"unknown op {op!r}"}
    except FuseError as exc:
        return {"ok": False, "error": errname(exc.errno)}
    except (KeyError, ValueError, TypeError) as exc:
        return {"ok": False, "error": f"bad request: {exc}"}


# --- control socket -------------------------------------------------------------

class _ControlHandler(socketserver.StreamRequestHandler):
    server: "_ControlServer"

    def handle(self) -> None:
        for line in self.rfile:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request must be a JSON object")
                reply = self.server.emulator.handle(request)
            except ValueError as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # never kill the server thread
                log.exception("control request failed")
                reply = {"ok": False, "error": f"internal error: {exc}"}
            self.wfile.write((json.dumps(reply) + "\n").encode())
            self.wfile.flush()


class _ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, emulator: ScstSysfs) -> None:
        self.emulator = emulator
        super().__init__(path, _ControlHandler)


def short_path(directory_fd: int, name: str) -> str:
    """Unix socket paths are limited to 108 bytes; go through /proc/self/fd."""
    return f"/proc/self/fd/{directory_fd}/{name}"


# --- main ------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]], description: str, default_mountpoint: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--config")
    parser.add_argument("--mountpoint", default=default_mountpoint)
    parser.add_argument("--new-namespace", action="store_true")
    return parser.parse_args(argv)


def prepare_mountpoint(mountpoint: str, new_namespace: bool) -> None:
    if new_namespace:
        fuse.unshare_mount_namespace()
        if mountpoint.startswith("/sys/kernel/"):
            fuse.mount_private_tmpfs("/sys/kernel")
    os.makedirs(mountpoint, exist_ok=True)


def write_ready(state_dir: str) -> None:
    tmp = os.path.join(state_dir, "ready.tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    os.rename(tmp, os.path.join(state_dir, "ready"))


def serve(argv: Optional[List[str]], emulator_class: Any, name: str, default_mountpoint: str) -> int:
    """The whole life of an emulator process (shared by the SCST and LIO emulators)."""
    args = parse_args(argv, f"{name} emulator (FUSE)", default_mountpoint)
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    logging.basicConfig(filename=os.path.join(state_dir, "emulator.log"), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    for stale in ("ready", "control.sock"):
        try:
            os.unlink(os.path.join(state_dir, stale))
        except FileNotFoundError:
            pass
    try:
        config: Dict[str, Any] = {}
        if args.config:
            with open(args.config, encoding="utf-8") as fh:
                config = json.load(fh)
        prepare_mountpoint(args.mountpoint, args.new_namespace)
        emulator = emulator_class(state_dir, config)
        emulator.server.mount(args.mountpoint)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("startup failed: %s", exc)
        print(f"{name}: startup failed: {exc}", file=sys.stderr)
        return 2
    dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    control = _ControlServer(short_path(dir_fd, "control.sock"), emulator)
    threading.Thread(target=control.serve_forever, name="control", daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: emulator.server.unmount_async())
    write_ready(state_dir)
    log.info("serving %s (pid %d)", args.mountpoint, os.getpid())
    emulator.server.serve()
    log.info("mount gone, shutting down")
    emulator.clear_faults()
    control.shutdown()
    control.server_close()
    for name in ("ready", "control.sock"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return serve(argv, ScstSysfs, "scst_sysfs", "/sys/kernel/scst_tgt")


if __name__ == "__main__":
    sys.exit(main())
