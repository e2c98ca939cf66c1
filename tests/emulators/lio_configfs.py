#!/usr/bin/python3
"""LIO configfs emulator: serves /sys/kernel/config/target through FUSE, for tests.

The test machines have no kernel target modules, so this process
reproduces, at the file-system boundary, the part of LIO's configfs tree the
ALUA agent touches: backstores with their unit serial and ALUA target port
groups, fabric targets with their TPGs and LUNs, each LUN's group
membership, and iSCSI network portals (tpgt_N/np, made by mkdir).  Every
behaviour comes from the kernel's target_core_configfs.c, target_core_alua.c,
target_core_fabric_configfs.c and iscsi_target_configfs.c, or was measured on
a real Linux 6.1 target; see LIO-FACTS.md beside this file for the facts and
their sources.

It reuses the SCST emulator's kernel number parsing, fault model and control
socket, so both emulators are driven the same way (client.py).

CLI::

    lio_configfs.py --state-dir DIR [--config FILE.json]
                    [--mountpoint /sys/kernel/config] [--new-namespace]

The mount point is configfs' own (/sys/kernel/config); the tree starts with
``target/``.  Files in DIR: ``ready`` (PID), ``control.sock``,
``writes.jsonl`` (one object per write(2), mkdir(2) or rmdir(2) attempt: ts,
op, path, data, result, pid, by), ``emulator.log``.

Control operations (JSON lines, as the SCST emulator's)::

    {"op": "ping"} | {"op": "dump"} | {"op": "clear_faults"}
    {"op": "fault", "path": "target/core/iblock_0/vg1/alua/n1/alua_access_state",
     "kind": "eio"|"<errno name>"|"hang", "on": "read"|"write"|"both"|"mkdir"|"rmdir",
     "seconds": null|N}
    {"op": "set", "path": REL, "value": V}   # backdoor store, logged by=backdoor
    {"op": "remove_lun", "fabric": "iscsi", "target": WWN, "tpgt": 1, "lun": 0}
    {"op": "remove_target", "fabric": "iscsi", "target": WWN}   # as iSCSITarget stop

STATE (``--config`` and ``dump``; every key optional in a config)::

    {
      "kernel": "6.1.0",
      "rtpi": false,                      # true: TPGs have rtpi (Linux 6.4 and later)
      "interfaces": {"lo": 1, "eth0": 2}, # names and indexes an IPv6 link-local %scope can use
      "backstores": {
        "iblock_0/vg1": {"serial": "5f3d...", "udev_path": "/dev/drbd0", "enabled": 1,
                         "alua": {"n1": {"tg_pt_gp_id": 1, "state": 1, "access_type": 1,
                                         "preferred": 0, "members": [...] (dump only)}}}},
      "targets": {
        "iscsi": {
          "iqn.2003-01.org.linux-iscsi.n1:san": {
            "tpgs": {"1": {"enable": 1, "rtpi": 1,
                           "luns": {"0": {"backstore": "iblock_0/vg1", "alias": "3cdfad2095",
                                          "group": "default_tg_pt_gp"}},
                           "portals": ["192.168.122.51:3260", "[fd00::51]:3260"]}}}}},
      "faults": [...]
    }

``access_type`` is the value written to alua_access_type (0 none, 1 implicit,
2 explicit, 3 both); ``tg_pt_gp_id`` null means never set.  ``portals`` are
the TPG's network portals (``tpgt_N/np/<name>``) in creation order; a config
entry is checked like a mkdir (a refused one stops the emulator from starting).
A write-log entry of a refused np mkdir also has ``dmesg``: what the kernel logs.
"""
from __future__ import annotations

import errno
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

try:  # imported as part of the tests package
    from .base import Directory, EmulatorBase, Fault, FuseError, RequestContext, Symlink, fuse
    from .base import c_string, errname, kstrtoul, serve
except ImportError:  # run as a script
    from base import Directory, EmulatorBase, Fault, FuseError, RequestContext, Symlink, fuse  # type: ignore
    from base import c_string, errname, kstrtoul, serve  # type: ignore[no-redef]

log = logging.getLogger("lio_configfs")

TARGET_CORE_VERSION = "v5.0"
DEFAULT_GROUP = "default_tg_pt_gp"
# target_core_alua.h
TPGS_IMPLICIT_ALUA, TPGS_EXPLICIT_ALUA = 0x10, 0x20
ALUA_T_SUP, ALUA_O_SUP, ALUA_LBD_SUP = 0x80, 0x40, 0x10
ALUA_U_SUP, ALUA_S_SUP, ALUA_AN_SUP, ALUA_AO_SUP = 0x08, 0x04, 0x02, 0x01
STATE_AO, STATE_AN, STATE_S, STATE_U, STATE_LBD, STATE_O, STATE_T = 0, 1, 2, 3, 4, 0xE, 0xF
STATE_NAMES = {STATE_AO: "Active/Optimized", STATE_AN: "Active/NonOptimized", STATE_LBD: "LBA Dependent",
               STATE_S: "Standby", STATE_U: "Unavailable", STATE_O: "Offline", STATE_T: "Transitioning"}
STATE_SUPPORT = {STATE_AO: ALUA_AO_SUP, STATE_AN: ALUA_AN_SUP, STATE_S: ALUA_S_SUP, STATE_U: ALUA_U_SUP,
                 STATE_LBD: ALUA_LBD_SUP, STATE_O: ALUA_O_SUP, STATE_T: ALUA_T_SUP}
STATUS_NAMES = {0: "None", 1: "Altered by Explicit STPG", 2: "Altered by Implicit ALUA"}
ALUA_STATUS_ALTERED_BY_IMPLICIT_ALUA = 2
ALUA_DEFAULT_NONOP_DELAY_MSECS, ALUA_MAX_NONOP_DELAY_MSECS = 100, 10000
ALUA_MAX_TRANS_DELAY_MSECS, ALUA_MAX_IMPLICIT_TRANS_SECS = 30000, 255
TG_PT_GROUP_NAME_BUF = 256
INQUIRY_VPD_SERIAL_LEN = 254
#: configfs directory name -> the fabric's name in "members" (tfo->fabric_name)
FABRIC_NAMES = {"iscsi": "iSCSI", "loopback": "loopback", "qla2xxx": "qla2xxx", "srpt": "srpt",
                "tcm_fc": "fc", "vhost": "vhost", "xen-pvscsi": "xen-pvscsi"}
# iscsi_target_configfs.c, include/linux/inet.h, include/uapi/linux/limits.h
MAX_PORTAL_LEN = 256
INET_ADDRSTRLEN, INET6_ADDRSTRLEN = 16, 48
NAME_MAX = 255
AF_INET, AF_INET6 = 2, 10
DEFAULT_INTERFACES = {"lo": 1, "eth0": 2}
SUPPORT_ATTRS = (("alua_support_transitioning", ALUA_T_SUP), ("alua_support_offline", ALUA_O_SUP),
                 ("alua_support_unavailable", ALUA_U_SUP), ("alua_support_standby", ALUA_S_SUP),
                 ("alua_support_active_nonoptimized", ALUA_AN_SUP),
                 ("alua_support_active_optimized", ALUA_AO_SUP))

Show = Callable[[], str]
Store = Callable[[bytes], None]


class LioAttr(fuse.AttributeFile):
    """A configfs attribute that remembers its store, so the backdoor can reuse it."""

    store: Store | None = None


# --- model -----------------------------------------------------------------

@dataclass
class TgPtGp:
    name: str
    dev: Backstore
    id: int | None = None
    state: int = STATE_AO
    status: int = 0
    access_type: int = TPGS_IMPLICIT_ALUA | TPGS_EXPLICIT_ALUA
    supported: int = ALUA_T_SUP | ALUA_O_SUP | ALUA_U_SUP | ALUA_S_SUP | ALUA_AN_SUP | ALUA_AO_SUP
    preferred: int = 0
    write_metadata: int = 0
    nonop_delay_msecs: int = ALUA_DEFAULT_NONOP_DELAY_MSECS
    trans_delay_msecs: int = 0
    implicit_trans_secs: int = 0
    members: list[Lun] = field(default_factory=list)
    dir: Directory | None = None


@dataclass
class Backstore:
    hba: str
    name: str
    serial: str = ""
    udev_path: str = ""
    enabled: int = 1
    groups: dict[str, TgPtGp] = field(default_factory=dict)  # with an id: the kernel's tg_pt_gps_list
    counter: int = 0  # alua_tg_pt_gps_counter
    exports: list[Lun] = field(default_factory=list)
    dir: Directory | None = None
    alua_dir: Directory | None = None

    @property
    def key(self) -> str:
        return f"{self.hba}/{self.name}"


@dataclass
class Tpg:
    fabric: str
    wwn: str
    tag: int
    enabled: int = 0
    rtpi: int = 0
    luns: dict[int, Lun] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)  # tpg_gnp_list, in creation order
    dir: Directory | None = None
    lun_dir: Directory | None = None
    np_dir: Directory | None = None


@dataclass
class Portal:
    """One iSCSI network portal (struct iscsi_tpg_np): the directory's name and the socket address it bound."""

    tpg: Tpg
    name: str
    family: int
    address: bytes
    port: int
    scope: int = 0
    dir: Directory | None = None

    def same_socket(self, family: int, address: bytes, port: int) -> bool:
        """iscsit_check_np_match(): same address and port (and transport: TCP here)."""
        return (self.family, self.address, self.port) == (family, address, port)


@dataclass
class Lun:
    tpg: Tpg
    index: int
    backstore: Backstore | None
    alias: str
    group: TgPtGp | None = None
    offline: int = 0
    secondary_status: int = 0
    write_md: int = 0
    dir: Directory | None = None

    def member_line(self) -> str:
        fabric = FABRIC_NAMES.get(self.tpg.fabric, self.tpg.fabric)
        return f"{fabric}/{self.tpg.wwn}/tpgt_{self.tpg.tag}/lun_{self.index}"


def kstrtou16(data: bytes) -> int:
    value = kstrtoul(data)
    if value > 0xFFFF:
        raise FuseError(errno.ERANGE)
    return value


def zero_or_one(data: bytes) -> int:
    value = kstrtoul(data)
    if value > 1:
        raise FuseError(errno.EINVAL)
    return value


# --- network portal names: lio_target_call_addnptotpg() and net/core/utils.c ---------------

class PortalRefused(Exception):
    """fabric_make_np() failed: what the kernel logs (target_fabric_make_np() returns EINVAL for all)."""

    def __init__(self, dmesg: str) -> None:
        super().__init__(dmesg)
        self.dmesg = dmesg


# net/core/utils.c: xdigit2bin() classes
IN6PTON_XDIGIT, IN6PTON_DIGIT = 0x00010000, 0x00020000
IN6PTON_COLON_MASK, IN6PTON_COLON_1, IN6PTON_COLON_2, IN6PTON_COLON_1_2 = 0x00700000, 0x00100000, 0x00200000, 0x00400000
IN6PTON_DOT, IN6PTON_DELIM, IN6PTON_NULL, IN6PTON_UNKNOWN = 0x00800000, 0x10000000, 0x20000000, 0x40000000


def _xdigit2bin(c: int, delim: int) -> int:
    if c == delim or c == 0:
        return IN6PTON_DELIM
    if c == ord(":"):
        return IN6PTON_COLON_MASK
    if c == ord("."):
        return IN6PTON_DOT
    char = chr(c)
    if char in "0123456789abcdefABCDEF":
        val = int(char, 16)
        return val | IN6PTON_XDIGIT | (IN6PTON_DIGIT if val < 10 else 0)
    if delim == -1:
        return IN6PTON_DELIM
    return IN6PTON_UNKNOWN


def in4_pton(src: bytes, delim: int) -> tuple[bytes | None, int]:
    """The kernel's in4_pton(): (4 bytes or None, index where parsing stopped).

    Each octet is decimal up to 255, leading zeros allowed ("098" is 98); a
    colon ends the address like the delimiter does.
    """
    s, srclen, w, out = 0, len(src), 0, bytearray()
    while True:
        c = _xdigit2bin(src[s] if srclen > 0 else 0, delim)
        if not c & (IN6PTON_DIGIT | IN6PTON_DOT | IN6PTON_DELIM | IN6PTON_COLON_MASK):
            return None, s
        if c & (IN6PTON_DOT | IN6PTON_DELIM | IN6PTON_COLON_MASK):
            if w == 0:
                return None, s
            out.append(w & 0xFF)
            w = 0
            if c & (IN6PTON_DELIM | IN6PTON_COLON_MASK):
                if len(out) != 4:
                    return None, s
                break
        else:
            w = (w * 10 + c) & 0xFFFFFFFF  # the digit classes ride along in the high bits
            if (w & 0xFFFF) > 255:
                return None, s
        if len(out) >= 4:
            return None, s
        s += 1
        srclen -= 1
    return bytes(out), s


def in6_pton(src: bytes, delim: int) -> tuple[bytes | None, int]:
    """The kernel's in6_pton() state machine: (16 bytes or None, index where parsing stopped)."""
    dbuf = bytearray(16)
    d, dc, tok = 0, -1, -1
    state = IN6PTON_COLON_1_2 | IN6PTON_XDIGIT | IN6PTON_NULL
    w, s, srclen = 0, 0, len(src)
    while True:
        c = _xdigit2bin(src[s] if srclen > 0 else 0, delim)
        if not c & state:
            return None, s
        if c & (IN6PTON_DELIM | IN6PTON_COLON_MASK):
            if not state & IN6PTON_NULL:  # one 16-bit word done
                dbuf[d], dbuf[d + 1] = (w >> 8) & 0xFF, w & 0xFF
                d += 2
            w = 0
            if c & IN6PTON_DELIM:
                break
            colon = state & IN6PTON_COLON_MASK
            if colon == IN6PTON_COLON_2:
                dc = d
                state = IN6PTON_XDIGIT | IN6PTON_DELIM
                if dc >= 16:
                    state |= IN6PTON_NULL
            elif colon == IN6PTON_COLON_1 | IN6PTON_COLON_1_2:
                state = IN6PTON_XDIGIT | IN6PTON_COLON_2
            elif colon == IN6PTON_COLON_1:
                state = IN6PTON_XDIGIT
            elif colon == IN6PTON_COLON_1_2:
                state = IN6PTON_COLON_2
            else:
                state = 0
            tok = s + 1
        elif c & IN6PTON_DOT:
            start = tok if tok >= 0 else s
            v4, end = in4_pton(src[start:], delim)
            s = start + end
            if v4 is None:
                return None, s
            dbuf[d:d + 4] = v4
            d += 4
            break
        else:
            w = (w << 4) | (0xFF & c)
            state = IN6PTON_COLON_1 | IN6PTON_DELIM
            if not w & 0xF000:
                state |= IN6PTON_XDIGIT
            if dc < 0 and d + 2 < 16:
                state |= IN6PTON_COLON_1_2
                state &= ~IN6PTON_DELIM
            if d + 2 >= 16:
                state &= ~(IN6PTON_COLON_1 | IN6PTON_COLON_1_2)
        if (dc >= 0 and d + 4 < 16) or d + 4 == 16:
            state |= IN6PTON_DOT
        if d >= 16:
            state &= ~(IN6PTON_XDIGIT | IN6PTON_COLON_MASK)
        s += 1
        srclen -= 1
    if dc < 0:
        return bytes(dbuf), s
    dst = bytearray(16)
    i, d = 15, d - 1
    while d >= dc:
        dst[i] = dbuf[d]
        i, d = i - 1, d - 1
    while i >= dc:
        dst[i] = 0
        i -= 1
    while i >= 0:
        dst[i] = dbuf[d]
        i, d = i - 1, d - 1
    return bytes(dst), s


def is_link_local6(address: bytes) -> bool:
    return address[0] == 0xFE and address[1] & 0xC0 == 0x80


def inet_pton_with_scope(ip: bytes, port: bytes, interfaces: dict[str, int]) -> tuple[int, bytes, int, int] | None:
    """AF_UNSPEC: IPv4 first, then IPv6 with an optional %scope; None where the kernel returns -EINVAL."""
    try:
        port_num = kstrtou16(port)
    except FuseError:
        return None
    if len(ip) <= INET_ADDRSTRLEN:
        v4, _ = in4_pton(ip, ord("\n"))
        if v4 is not None:
            return AF_INET, v4, port_num, 0
    if len(ip) > INET6_ADDRSTRLEN:
        return None
    v6, end = in6_pton(ip, ord("%"))
    if v6 is None:
        return None
    scope = 0
    if is_link_local6(v6) and end != len(ip) and ip[end:end + 1] == b"%":
        scope_id = ip[end + 1:][:15].decode("utf-8", "surrogateescape")
        if scope_id in interfaces:  # dev_get_by_name()
            scope = interfaces[scope_id]
        else:
            try:
                scope = kstrtoul(scope_id.encode("utf-8", "surrogateescape"))
            except FuseError:
                return None
            if scope > 0xFFFFFFFF:
                return None
    return AF_INET6, v6, port_num, scope


def parse_portal(name: str, interfaces: dict[str, int]) -> tuple[int, bytes, int, int]:
    """lio_target_call_addnptotpg() up to the address: (family, address, port, scope) or PortalRefused."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_PORTAL_LEN:
        raise PortalRefused(f"strlen(name): {len(raw)} exceeds MAX_PORTAL_LEN: {MAX_PORTAL_LEN}")
    bracket = raw.find(b"[")
    if bracket >= 0:
        close = raw.find(b"]", bracket)
        if close < 0:
            raise PortalRefused('Unable to locate trailing "]" in IPv6 iSCSI network portal address')
        ip = raw[bracket + 1:close]
        colon = raw.find(b":", close + 1)  # what lies between "]" and ":" is skipped
        if colon < 0:
            raise PortalRefused('Unable to locate ":port" in IPv6 iSCSI network portal address')
    else:
        colon = raw.find(b":")
        if colon < 0:
            raise PortalRefused('Unable to locate ":port" in IPv4 iSCSI network portal address')
        ip = raw[:colon]
    parsed = inet_pton_with_scope(ip, raw[colon + 1:], interfaces)
    if parsed is None:
        raise PortalRefused(f"malformed ip/port passed: {name}")
    return parsed


def show_address(family: int, address: bytes) -> str:
    """%pISc"""
    if family == AF_INET:
        return ".".join(str(b) for b in address)
    import ipaddress

    return str(ipaddress.IPv6Address(address))


class LioConfigfs(EmulatorBase):
    """The emulated target core: state, its configfs tree, faults and the write log."""

    ATTR = LioAttr
    FAULT_ON = ("read", "write", "both", "mkdir", "rmdir")

    def __init__(self, state_dir: str, config: dict[str, Any]) -> None:
        super().__init__(state_dir, fsname="configfs", subtype="lio_configfs", logger=log)
        self.kernel = str(config.get("kernel", "6.1.0"))
        self.has_rtpi = bool(config.get("rtpi", False))
        self.interfaces = {str(k): int(v) for k, v in (config.get("interfaces") or DEFAULT_INTERFACES).items()}
        self.backstores: dict[str, Backstore] = {}
        self.tpgs: dict[tuple[str, str, int], Tpg] = {}
        #: groups made by mkdir that have no id yet: not in the kernel's tg_pt_gps_list
        self.pending: dict[int, TgPtGp] = {}
        with self.lock:
            self._build_root()
            self._load(config)

    # -- write log and faults ---------------------------------------------------

    def _log(self, op: str, path: str, data: bytes, err: int, pid: int | None, by: str,
             dmesg: str = "") -> None:
        entry = {"ts": time.time_ns(), "op": op, "path": path, "data": data.decode("utf-8", "replace"),
                 "result": "ok" if err == 0 else errname(err), "pid": pid, "by": by}
        if dmesg:
            entry["dmesg"] = dmesg
            log.info("kernel: %s", dmesg)
        self._log_entry(entry)

    # -- attribute plumbing -------------------------------------------------------

    def _attr(self, parent: Directory, name: str, show: Show | None = None,
              store: Store | None = None) -> LioAttr:
        node = LioAttr(name)
        node.store = store
        if show is not None:
            node.reader = lambda ctx: self._read(ctx, node, show)
        if store is not None:
            node.writer = lambda ctx, data: self._write(ctx, node, store, data)
        # configfs: 0644 for a read-write attribute, 0444 read-only, 0200 write-only.
        node.mode = (node.mode & ~0o777) | (0o444 if show else 0) | (0o200 if store else 0)
        return parent.add(node)

    def _write(self, ctx: RequestContext, node: LioAttr, store: Store, data: bytes) -> None:
        path = node.rel_path()
        fault = self._fault_for(path, "write")
        if fault is not None:
            if fault.kind == "hang":
                if fault.wait(ctx.interrupted) == "interrupted":
                    with self.lock:
                        self._log("write", path, data, errno.EINTR, ctx.pid, "fuse")
                    raise FuseError(errno.EINTR)
            else:
                with self.lock:
                    self._log("write", path, data, fault.errno_value(), ctx.pid, "fuse")
                raise FuseError(fault.errno_value())
        err = self._apply(path, node, store, data, ctx.pid, "fuse")
        if err:
            raise FuseError(err)

    def _apply(self, path: str, node: LioAttr, store: Store, data: bytes, pid: int | None,
               by: str) -> int:
        with self.lock:
            err = 0
            if node.removed:
                err = errno.ENODEV
            else:
                try:
                    # configfs hands the store a NUL-terminated page: bytes after a NUL are unseen.
                    store(data)
                except FuseError as exc:
                    err = exc.errno
            self._log("write", path, data, err, pid, by)
            return err

    # -- static tree ----------------------------------------------------------------

    def _build_root(self) -> None:
        self.target_dir = self.root.subdir("target")
        self._attr(self.target_dir, "version", lambda: (
            f"Target Engine Core ConfigFS Infrastructure {TARGET_CORE_VERSION} on Linux/x86_64 "
            f"on {self.kernel}\n"))
        self._attr(self.target_dir, "dbroot", lambda: "/etc/target\n")
        self.core_dir = self.target_dir.subdir("core")
        lu_gp = self.core_dir.subdir("alua").subdir("lu_gps").subdir("default_lu_gp")
        self._attr(lu_gp, "lu_gp_id", lambda: "0\n")
        self._attr(lu_gp, "members", lambda: "".join(f"{b.key}\n\0" for b in self.backstores.values()))

    # -- backstores -----------------------------------------------------------------

    def add_backstore(self, key: str, serial: str = "", udev_path: str = "", enabled: int = 1) -> Backstore:
        hba, _, name = key.partition("/")
        if not name or "_" not in hba:
            raise ValueError(f"backstore {key!r}: expected <plugin>_<index>/<name>")
        if key in self.backstores:
            raise ValueError(f"backstore {key!r} twice")
        hba_dir = self.core_dir.get(hba)
        if not isinstance(hba_dir, Directory):
            hba_dir = self.core_dir.subdir(hba)
            plugin, index = hba.rsplit("_", 1)
            self._attr(hba_dir, "hba_info", lambda: (
                f"HBA Index: {index} plugin: {plugin} version: {TARGET_CORE_VERSION}\n"))
            self._attr(hba_dir, "hba_mode", lambda: "0\n")
        dev = Backstore(hba, name, serial, udev_path, int(enabled))
        self.backstores[key] = dev
        ddir = hba_dir.subdir(name)
        dev.dir = ddir
        self._attr(ddir, "enable", lambda: f"{dev.enabled}\n", lambda data: self._store_enable(dev, data))
        self._attr(ddir, "info", lambda: (
            f"Status: {'ACTIVATED' if dev.exports else 'DEACTIVATED'}  Max Queue Depth: 128  "
            f"SectorSize: 512  HwMaxSectors: 128\n        UDEV PATH: {dev.udev_path}\n"))
        self._attr(ddir, "udev_path", lambda: f"{dev.udev_path}\n" if dev.udev_path else "")
        self._attr(ddir, "alias", lambda: "")
        ddir.subdir("attrib")
        ddir.subdir("pr")
        ddir.subdir("statistics")
        wwn = ddir.subdir("wwn")
        self._attr(wwn, "vpd_unit_serial", lambda: f"T10 VPD Unit Serial Number: {dev.serial}\n",
                   lambda data: self._store_serial(dev, data))
        for ro in ("vpd_protocol_identifier", "vpd_assoc_logical_unit", "vpd_assoc_target_port",
                   "vpd_assoc_scsi_target_device"):
            self._attr(wwn, ro, lambda: "")
        dev.alua_dir = ddir.subdir("alua")
        dev.alua_dir.on_mkdir = lambda ctx, name: self._mkdir_group(ctx, dev, name)
        dev.alua_dir.on_rmdir = lambda ctx, name: self._rmdir_group(ctx, dev, name)
        default = self._new_group(dev, DEFAULT_GROUP)
        default.id = dev.counter  # core_alua_allocate_tg_pt_gp(dev, "default_tg_pt_gp", 1)
        dev.counter += 1
        dev.groups[DEFAULT_GROUP] = default
        return dev

    def _store_enable(self, dev: Backstore, data: bytes) -> None:
        if b"1" not in c_string(data):
            raise FuseError(errno.EINVAL)
        if dev.enabled:
            raise FuseError(errno.EEXIST)  # target_configure_device(): already configured
        dev.enabled = 1

    def _store_serial(self, dev: Backstore, data: bytes) -> None:
        text = c_string(data)
        if len(text) >= INQUIRY_VPD_SERIAL_LEN:
            raise FuseError(errno.EOVERFLOW)
        if dev.exports:
            raise FuseError(errno.EINVAL)  # never under an initiator's multipath
        dev.serial = text.decode("ascii", "replace").strip()

    # -- target port groups ------------------------------------------------------

    def _new_group(self, dev: Backstore, name: str) -> TgPtGp:
        group = TgPtGp(name, dev)
        assert dev.alua_dir is not None
        gdir = Directory(name)
        group.dir = gdir
        self._attr(gdir, "alua_access_state", lambda: f"{group.state}\n",
                   lambda data: self._store_state(group, data))
        self._attr(gdir, "alua_access_status", lambda: f"{STATUS_NAMES.get(group.status, 'Unknown')}\n",
                   lambda data: self._store_status(group, data))
        self._attr(gdir, "alua_access_type", lambda: self._show_access_type(group),
                   lambda data: self._store_access_type(group, data))
        for attr, bit in SUPPORT_ATTRS:
            self._attr(gdir, attr, lambda bit=bit: f"{int(bool(group.supported & bit))}\n",
                       lambda data, bit=bit: self._store_support(group, bit, data))
        self._attr(gdir, "alua_support_lba_dependent",
                   lambda: f"{int(bool(group.supported & ALUA_LBD_SUP))}\n")
        self._attr(gdir, "alua_write_metadata", lambda: f"{group.write_metadata}\n",
                   lambda data: setattr(group, "write_metadata", zero_or_one(data)))
        self._attr(gdir, "nonop_delay_msecs", lambda: f"{group.nonop_delay_msecs}\n",
                   lambda data: setattr(group, "nonop_delay_msecs",
                                        self._bounded(data, ALUA_MAX_NONOP_DELAY_MSECS)))
        self._attr(gdir, "trans_delay_msecs", lambda: f"{group.trans_delay_msecs}\n",
                   lambda data: setattr(group, "trans_delay_msecs",
                                        self._bounded(data, ALUA_MAX_TRANS_DELAY_MSECS)))
        self._attr(gdir, "implicit_trans_secs", lambda: f"{group.implicit_trans_secs}\n",
                   lambda data: setattr(group, "implicit_trans_secs",
                                        self._bounded(data, ALUA_MAX_IMPLICIT_TRANS_SECS)))
        self._attr(gdir, "preferred", lambda: f"{group.preferred}\n",
                   lambda data: setattr(group, "preferred", zero_or_one(data)))
        self._attr(gdir, "tg_pt_gp_id", lambda: "" if group.id is None else f"{group.id}\n",
                   lambda data: self._store_group_id(group, data))
        # Each member line carries its NUL terminator (cur_len++ in members_show).
        self._attr(gdir, "members", lambda: "".join(f"{lun.member_line()}\n\0" for lun in group.members))
        dev.alua_dir.add(gdir)
        return group

    def _mkdir_group(self, ctx: RequestContext, dev: Backstore, name: str) -> Directory:
        assert dev.alua_dir is not None
        path = f"{dev.alua_dir.rel_path()}/{name}"
        fault = self._fault_for(path, "mkdir")
        err = 0
        if fault is not None and fault.kind != "hang":
            err = fault.errno_value()
        elif dev.alua_dir.get(name) is not None:
            err = errno.EEXIST
        if err:
            self._log("mkdir", path, b"", err, ctx.pid, "fuse")
            raise FuseError(err)
        group = self._new_group(dev, name)
        self.pending[id(group)] = group
        self._log("mkdir", path, b"", 0, ctx.pid, "fuse")
        assert group.dir is not None
        return group.dir

    def _group_named(self, dev: Backstore, name: str) -> TgPtGp | None:
        if name in dev.groups:
            return dev.groups[name]
        for group in self.pending.values():
            if group.dev is dev and group.name == name:
                return group
        return None

    def _rmdir_group(self, ctx: RequestContext, dev: Backstore, name: str) -> None:
        assert dev.alua_dir is not None
        path = f"{dev.alua_dir.rel_path()}/{name}"
        group = self._group_named(dev, name)
        fault = self._fault_for(path, "rmdir")
        err = 0
        if fault is not None and fault.kind != "hang":
            err = fault.errno_value()
        elif group is None:
            err = errno.ENOENT
        elif name == DEFAULT_GROUP:
            err = errno.EPERM  # a default group of the device
        if err:
            self._log("rmdir", path, b"", err, ctx.pid, "fuse")
            raise FuseError(err)
        assert group is not None
        self.remove_group(group)
        self._log("rmdir", path, b"", 0, ctx.pid, "fuse")

    def remove_group(self, group: TgPtGp) -> None:
        """core_alua_free_tg_pt_gp(): members go back to default_tg_pt_gp."""
        dev = group.dev
        if dev.groups.get(group.name) is group:
            del dev.groups[group.name]
            dev.counter = (dev.counter - 1) & 0xFFFF  # the kernel decrements the counter here
        self.pending.pop(id(group), None)
        for lun in list(group.members):
            self._attach(lun, dev.groups[DEFAULT_GROUP])
        assert dev.alua_dir is not None
        dev.alua_dir.remove(group.name)

    def _store_group_id(self, group: TgPtGp, data: bytes) -> None:
        value = kstrtoul(data)
        if value > 0xFFFF:
            raise FuseError(errno.EINVAL)
        if group.id is not None:
            raise FuseError(errno.EINVAL)  # "may only be set once"
        dev = group.dev
        taken = {g.id for g in dev.groups.values()}
        if value == 0:  # the next free id from the device's counter
            while True:
                value = dev.counter
                dev.counter = (dev.counter + 1) & 0xFFFF
                if value not in taken:
                    break
        elif value in taken:
            raise FuseError(errno.EINVAL)
        group.id = value
        self.pending.pop(id(group), None)
        dev.groups[group.name] = group

    def _store_state(self, group: TgPtGp, data: bytes) -> None:
        if group.id is None:
            raise FuseError(errno.EINVAL)
        if not group.dev.enabled:
            raise FuseError(errno.ENODEV)
        new = kstrtoul(data)
        if not group.access_type & TPGS_IMPLICIT_ALUA:
            raise FuseError(errno.EINVAL)
        if group.access_type & TPGS_EXPLICIT_ALUA and new == STATE_LBD:
            raise FuseError(errno.EINVAL)
        # core_alua_check_transition(): a known state this group supports.
        if new not in STATE_SUPPORT or not group.supported & STATE_SUPPORT[new]:
            raise FuseError(errno.EINVAL)
        if group.state == new:
            return  # "Nothing to be done here"
        group.state = new
        group.status = ALUA_STATUS_ALTERED_BY_IMPLICIT_ALUA

    @staticmethod
    def _store_status(group: TgPtGp, data: bytes) -> None:
        if group.id is None:
            raise FuseError(errno.EINVAL)
        value = kstrtoul(data)
        if value not in STATUS_NAMES:
            raise FuseError(errno.EINVAL)
        group.status = value

    @staticmethod
    def _show_access_type(group: TgPtGp) -> str:
        implicit = group.access_type & TPGS_IMPLICIT_ALUA
        explicit = group.access_type & TPGS_EXPLICIT_ALUA
        if implicit and explicit:
            return "Implicit and Explicit\n"
        return "Implicit\n" if implicit else "Explicit\n" if explicit else "None\n"

    @staticmethod
    def _store_access_type(group: TgPtGp, data: bytes) -> None:
        value = kstrtoul(data)
        if value > 3:
            raise FuseError(errno.EINVAL)
        group.access_type = (TPGS_IMPLICIT_ALUA if value & 1 else 0) | (TPGS_EXPLICIT_ALUA if value & 2 else 0)

    @staticmethod
    def _store_support(group: TgPtGp, bit: int, data: bytes) -> None:
        if group.id is None:
            raise FuseError(errno.EINVAL)
        try:
            value = kstrtoul(data)
        except FuseError:
            raise FuseError(errno.EINVAL) from None
        if value > 1:
            raise FuseError(errno.EINVAL)
        group.supported = group.supported | bit if value else group.supported & ~bit

    @staticmethod
    def _bounded(data: bytes, maximum: int) -> int:
        value = kstrtoul(data)
        if value > maximum:
            raise FuseError(errno.EINVAL)
        return value

    # -- fabric targets, TPGs and LUNs --------------------------------------------

    def add_tpg(self, fabric: str, wwn: str, tag: int, enabled: int = 1, rtpi: int | None = None) -> Tpg:
        fdir = self.target_dir.get(fabric)
        if not isinstance(fdir, Directory):
            fdir = self.target_dir.subdir(fabric)
            fdir.subdir("discovery_auth")
        wdir = fdir.get(wwn)
        if not isinstance(wdir, Directory):
            wdir = fdir.subdir(wwn)
            wdir.subdir("fabric_statistics")
        if (fabric, wwn, tag) in self.tpgs:
            raise ValueError(f"{fabric}/{wwn}/tpgt_{tag} twice")
        tpg = Tpg(fabric, wwn, tag, int(enabled))
        taken = {t.rtpi for t in self.tpgs.values()}
        if rtpi is None:  # xa_alloc(): the lowest free id from 1
            rtpi = 1
            while rtpi in taken:
                rtpi += 1
        tpg.rtpi = int(rtpi)
        self.tpgs[(fabric, wwn, tag)] = tpg
        tdir = wdir.subdir(f"tpgt_{tag}")
        tpg.dir = tdir
        self._attr(tdir, "enable", lambda: f"{tpg.enabled}\n", lambda data: self._store_tpg_enable(tpg, data))
        if self.has_rtpi:
            self._attr(tdir, "rtpi", lambda: f"{tpg.rtpi:#x}\n", lambda data: self._store_rtpi(tpg, data))
        tpg.lun_dir = tdir.subdir("lun")
        for sub in ("acls", "np", "attrib", "param", "auth"):
            tdir.subdir(sub)
        np_dir = tdir.get("np")
        assert isinstance(np_dir, Directory)
        tpg.np_dir = np_dir
        np_dir.on_mkdir = lambda ctx, name: self._mkdir_portal(ctx, tpg, name)
        np_dir.on_rmdir = lambda ctx, name: self._rmdir_portal(ctx, tpg, name)
        return tpg

    def remove_target(self, fabric: str, wwn: str) -> None:
        """The admin (or iSCSITarget stop) deletes a target: LUNs, portals, TPGs, then the WWN."""
        tags = [tag for (f, w, tag) in self.tpgs if (f, w) == (fabric, wwn)]
        if not tags:
            raise KeyError(f"no target {fabric}/{wwn}")
        for tag in tags:
            tpg = self.tpgs.pop((fabric, wwn, tag))
            for index in list(tpg.luns):
                self.remove_lun(tpg, index)
            for portal in list(tpg.portals.values()):
                self.remove_portal(portal)
        fdir = self.target_dir.get(fabric)
        assert isinstance(fdir, Directory)
        fdir.remove(wwn)

    # -- network portals (iSCSI) ------------------------------------------------------

    def _new_portal(self, tpg: Tpg, name: str) -> Portal:
        """lio_target_call_addnptotpg() and iscsit_tpg_add_network_portal(); PortalRefused if the kernel says no."""
        family, address, port, scope = parse_portal(name, self.interfaces)
        for other in self.tpgs.values():  # iscsit_tpg_check_network_portal(): every TPG of this target
            if (other.fabric, other.wwn) != (tpg.fabric, tpg.wwn):
                continue
            if any(p.same_socket(family, address, port) for p in other.portals.values()):
                raise PortalRefused(f"Network Portal: {show_address(family, address)} already exists on a "
                                    f"different TPG on {tpg.wwn}")
        # iscsit_setup_np(): IP_FREEBIND, so any address binds; an IPv6 link-local one needs an interface.
        if family == AF_INET6 and is_link_local6(address):
            if scope == 0:
                raise PortalRefused(f"kernel_bind() failed: {-errno.EINVAL}")
            if scope not in self.interfaces.values():
                raise PortalRefused(f"kernel_bind() failed: {-errno.ENODEV}")
        portal = Portal(tpg, name, family, address, port, scope)
        assert tpg.np_dir is not None
        pdir = Directory(name)
        portal.dir = pdir
        for driver in ("iser", "cxgbit"):  # lio_target_portal_attrs
            self._attr(pdir, driver, lambda: "0\n", self._store_np_driver)
        tpg.np_dir.add(pdir)
        tpg.portals[name] = portal
        return portal

    @staticmethod
    def _store_np_driver(data: bytes) -> None:
        value = kstrtoul(data)
        if value > 0xFFFFFFFF:
            raise FuseError(errno.ERANGE)
        if value > 1:
            raise FuseError(errno.EINVAL)  # "Illegal value for tpg_enable"
        if value == 1:
            raise FuseError(errno.ENODEV)  # stand-in: no iSER or Chelsio hardware behind this emulator

    def _mkdir_portal(self, ctx: RequestContext, tpg: Tpg, name: str) -> Directory:
        assert tpg.np_dir is not None
        path = f"{tpg.np_dir.rel_path()}/{name}"
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise FuseError(errno.ENAMETOOLONG)  # configfs_lookup(), before any mkdir reaches LIO
        fault = self._fault_for(path, "mkdir")
        err, dmesg = 0, ""
        portal = None
        if fault is not None and fault.kind != "hang":
            err = fault.errno_value()
        elif tpg.np_dir.get(name) is not None:
            err = errno.EEXIST
        elif tpg.fabric != "iscsi":
            err, dmesg = errno.ENOSYS, "tf->tf_ops.fabric_make_np is NULL"
        else:
            try:
                portal = self._new_portal(tpg, name)
            except PortalRefused as refused:
                err, dmesg = errno.EINVAL, refused.dmesg  # target_fabric_make_np(): any failure is EINVAL
        self._log("mkdir", path, b"", err, ctx.pid, "fuse", dmesg)
        if err:
            raise FuseError(err)
        assert portal is not None and portal.dir is not None
        return portal.dir

    def _rmdir_portal(self, ctx: RequestContext, tpg: Tpg, name: str) -> None:
        assert tpg.np_dir is not None
        path = f"{tpg.np_dir.rel_path()}/{name}"
        fault = self._fault_for(path, "rmdir")
        portal = tpg.portals.get(name)
        err = 0
        if fault is not None and fault.kind != "hang":
            err = fault.errno_value()
        elif portal is None:
            err = errno.ENOENT
        self._log("rmdir", path, b"", err, ctx.pid, "fuse")
        if err:
            raise FuseError(err)
        assert portal is not None
        self.remove_portal(portal)

    def remove_portal(self, portal: Portal) -> None:
        """iscsit_tpg_del_network_portal(): no new logins there; sessions that exist stay (none emulated)."""
        tpg = portal.tpg
        del tpg.portals[portal.name]
        assert tpg.np_dir is not None
        tpg.np_dir.remove(portal.name)

    @staticmethod
    def _store_tpg_enable(tpg: Tpg, data: bytes) -> None:
        tpg.enabled = zero_or_one(data)

    def _store_rtpi(self, tpg: Tpg, data: bytes) -> None:
        value = kstrtou16(data)
        if value == 0 or tpg.enabled:
            raise FuseError(errno.EINVAL)
        tpg.rtpi = value

    def add_lun(self, tpg: Tpg, index: int, backstore: str | None, alias: str = "",
                group: str = DEFAULT_GROUP) -> Lun:
        if index in tpg.luns:
            raise ValueError(f"lun_{index} twice in {tpg.wwn}")
        dev = self.backstores.get(backstore) if backstore else None
        if backstore and dev is None:
            raise ValueError(f"lun_{index}: unknown backstore {backstore!r}")
        lun = Lun(tpg, index, dev, alias or f"{index:010x}")
        tpg.luns[index] = lun
        assert tpg.lun_dir is not None
        ldir = tpg.lun_dir.subdir(f"lun_{index}")
        lun.dir = ldir
        self._attr(ldir, "alua_tg_pt_gp", lambda: self._show_lun_group(lun),
                   lambda data: self._store_lun_group(lun, data))
        self._attr(ldir, "alua_tg_pt_offline", lambda: self._lun_value(lun, lun.offline),
                   lambda data: self._store_lun_offline(lun, data))
        self._attr(ldir, "alua_tg_pt_status", lambda: self._lun_value(lun, lun.secondary_status),
                   lambda data: self._store_lun_status(lun, data))
        self._attr(ldir, "alua_tg_pt_write_md", lambda: self._lun_value(lun, lun.write_md),
                   lambda data: setattr(lun, "write_md", zero_or_one(data)))
        ldir.subdir("statistics")
        if dev is not None:
            depth = len(ldir.rel_path().split("/"))
            ldir.add(Symlink(lun.alias, "../" * depth + f"target/core/{dev.key}"))
            dev.exports.append(lun)
            chosen = dev.groups.get(group) if group else None
            if chosen is None:
                raise ValueError(f"lun_{index}: no target port group {group!r} with an id in {dev.key}")
            self._attach(lun, chosen)
        return lun

    def remove_lun(self, tpg: Tpg, index: int) -> None:
        lun = tpg.luns.pop(index)
        if lun.group is not None:
            lun.group.members.remove(lun)
            lun.group = None
        if lun.backstore is not None:
            lun.backstore.exports.remove(lun)
        assert tpg.lun_dir is not None
        tpg.lun_dir.remove(f"lun_{index}")

    @staticmethod
    def _attach(lun: Lun, group: TgPtGp) -> None:
        if lun.group is not None:
            lun.group.members.remove(lun)
        lun.group = group
        group.members.append(lun)

    @staticmethod
    def _lun_value(lun: Lun, value: int) -> str:
        if lun.backstore is None:
            raise FuseError(errno.ENODEV)
        return f"{value}\n"

    @staticmethod
    def _show_lun_group(lun: Lun) -> str:
        if lun.backstore is None:
            raise FuseError(errno.ENODEV)
        group = lun.group
        if group is None:
            return ""
        return (f"TG Port Alias: {group.name}\nTG Port Group ID: {group.id}\n"
                f"TG Port Primary Access State: {STATE_NAMES.get(group.state, 'Unknown')}\n"
                f"TG Port Primary Access Status: {STATUS_NAMES.get(group.status, 'Unknown')}\n"
                f"TG Port Secondary Access State: {'Offline' if lun.offline else 'None'}\n"
                f"TG Port Secondary Access Status: {STATUS_NAMES.get(lun.secondary_status, 'Unknown')}\n")

    def _store_lun_group(self, lun: Lun, data: bytes) -> None:
        dev = lun.backstore
        if dev is None:
            raise FuseError(errno.ENODEV)
        if len(data) > TG_PT_GROUP_NAME_BUF:
            raise FuseError(errno.EINVAL)
        name = c_string(data).decode("utf-8", "surrogateescape").strip()
        if name == "NULL":
            self._attach(lun, dev.groups[DEFAULT_GROUP])
            return
        group = dev.groups.get(name)  # only groups with a valid id are found
        if group is None:
            raise FuseError(errno.ENODEV)
        self._attach(lun, group)

    @staticmethod
    def _store_lun_offline(lun: Lun, data: bytes) -> None:
        if lun.backstore is None:
            raise FuseError(errno.ENODEV)
        lun.offline = zero_or_one(data)

    @staticmethod
    def _store_lun_status(lun: Lun, data: bytes) -> None:
        value = kstrtoul(data)
        if value not in STATUS_NAMES:
            raise FuseError(errno.EINVAL)
        lun.secondary_status = value

    # -- config / dump --------------------------------------------------------------

    def _load(self, config: dict[str, Any]) -> None:
        for key, attrs in (config.get("backstores") or {}).items():
            attrs = dict(attrs or {})
            groups = attrs.pop("alua", {}) or {}
            dev = self.add_backstore(key, str(attrs.pop("serial", "")), str(attrs.pop("udev_path", "")),
                                     int(attrs.pop("enabled", 1)))
            if attrs:
                raise ValueError(f"backstore {key}: unknown keys {sorted(attrs)}")
            for name, gattrs in groups.items():
                self._load_group(dev, name, dict(gattrs or {}))
        for fabric, targets in (config.get("targets") or {}).items():
            for wwn, tattrs in (targets or {}).items():
                for tag, pattrs in ((tattrs or {}).get("tpgs") or {}).items():
                    pattrs = dict(pattrs or {})
                    tpg = self.add_tpg(fabric, wwn, int(tag), int(pattrs.get("enable", 1)), pattrs.get("rtpi"))
                    for name in pattrs.get("portals") or []:
                        if tpg.fabric != "iscsi":
                            raise ValueError(f"portal {name!r}: fabric {fabric} has no network portals")
                        if name in tpg.portals:
                            raise ValueError(f"portal {name!r} twice in {wwn}/tpgt_{tag}")
                        try:
                            self._new_portal(tpg, str(name))
                        except PortalRefused as refused:
                            raise ValueError(f"portal {name!r} in {wwn}/tpgt_{tag}: {refused.dmesg}") from None
                    for index, lattrs in (pattrs.get("luns") or {}).items():
                        lattrs = dict(lattrs or {})
                        self.add_lun(tpg, int(index), lattrs.get("backstore"), str(lattrs.get("alias", "")),
                                     str(lattrs.get("group", DEFAULT_GROUP)))
        for fault in config.get("faults") or []:
            self.set_fault(fault)

    def _load_group(self, dev: Backstore, name: str, attrs: dict[str, Any]) -> None:
        group = self._new_group(dev, name) if name != DEFAULT_GROUP else dev.groups[name]
        if name != DEFAULT_GROUP:
            if attrs.get("tg_pt_gp_id") is None:
                self.pending[id(group)] = group
            else:
                group.id = int(attrs["tg_pt_gp_id"])
                if any(g.id == group.id for g in dev.groups.values()):
                    raise ValueError(f"{dev.key}: tg_pt_gp_id {group.id} twice")
                dev.groups[name] = group
        group.state = int(attrs.get("state", STATE_AO))
        access = int(attrs.get("access_type", 3))
        group.access_type = (TPGS_IMPLICIT_ALUA if access & 1 else 0) | (TPGS_EXPLICIT_ALUA if access & 2 else 0)
        group.preferred = int(attrs.get("preferred", 0))

    def dump(self) -> dict[str, Any]:
        with self.lock:
            backstores: dict[str, Any] = {}
            for key, dev in self.backstores.items():
                groups: dict[str, Any] = {}
                every = list(dev.groups.values()) + [g for g in self.pending.values() if g.dev is dev]
                for group in every:
                    access = ((1 if group.access_type & TPGS_IMPLICIT_ALUA else 0)
                              | (2 if group.access_type & TPGS_EXPLICIT_ALUA else 0))
                    groups[group.name] = {"tg_pt_gp_id": group.id, "state": group.state, "access_type": access,
                                          "preferred": group.preferred,
                                          "members": [lun.member_line() for lun in group.members]}
                backstores[key] = {"serial": dev.serial, "udev_path": dev.udev_path, "enabled": dev.enabled,
                                   "alua": groups}
            targets: dict[str, Any] = {}
            for (fabric, wwn, tag), tpg in self.tpgs.items():
                luns = {str(i): {"backstore": lun.backstore.key if lun.backstore else None, "alias": lun.alias,
                                 "group": lun.group.name if lun.group else None}
                        for i, lun in sorted(tpg.luns.items())}
                entry = {"enable": tpg.enabled, "rtpi": tpg.rtpi, "luns": luns, "portals": list(tpg.portals)}
                targets.setdefault(fabric, {}).setdefault(wwn, {"tpgs": {}})["tpgs"][str(tag)] = entry
            return {"kernel": self.kernel, "rtpi": self.has_rtpi, "interfaces": dict(self.interfaces),
                    "backstores": backstores, "targets": targets,
                    "faults": [f.as_json() for f in self.faults.values()]}

    # -- control operations -----------------------------------------------------------

    def _check_fault(self, kind: str, on: str) -> None:
        if kind == "hang" and on in ("mkdir", "rmdir"):
            raise ValueError(f"a {on} cannot hang here (it is served on the request loop)")

    def _backdoor_apply(self, node: Any, data: bytes) -> int:
        return self._apply(node.rel_path(), node, node.store, data, None, "backdoor")

    def _own_op(self, op: Any, request: dict[str, Any]) -> dict[str, Any] | None:
        if op == "remove_lun":
            with self.lock:
                key = (str(request.get("fabric", "iscsi")), str(request["target"]), int(request.get("tpgt", 1)))
                self.remove_lun(self.tpgs[key], int(request.get("lun", 0)))
            return {"ok": True}
        if op == "remove_target":
            with self.lock:
                self.remove_target(str(request.get("fabric", "iscsi")), str(request["target"]))
            return {"ok": True}
        return None


# --- main ------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    return serve(argv, LioConfigfs, "lio_configfs", "/sys/kernel/config")


if __name__ == "__main__":
    sys.exit(main())
