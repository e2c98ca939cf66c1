#!/usr/bin/python3
"""SCST sysfs emulator: serves /sys/kernel/scst_tgt through FUSE, for tests.

The SCST kernel module cannot run on the test machines, so this process
reproduces, at the file-system boundary, the layout and the store/show
behaviour of SCST 3.11's sysfs tree for everything the ALUA agent touches
(device groups, target groups, targets, devices, the iSCSI driver), held
against the real SCST by scst_differential.py.  Every behaviour is taken
from SCST's source or measured; see SCST-FACTS.md beside this file.

The tree has every entry the real one has.  Attributes whose store is not
modelled (the *_FIXED tables) read SCST's value for a new object and refuse
a write with EOPNOTSUPP, leaving last_sysfs_mgmt_res alone.  SCST's copy
manager (targets/copy_manager/copy_manager_tgt) gives every device a LUN, as
the kernel does; it is derived state, so it is neither in a config nor in a
dump.

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
      "version": "3.11.0-pre",
      "drivers": {"iscsi": {"enabled": 1}},   # the only driver; "enabled" defaults to 0
      "devices": {
        "vg1": {"handler": "vdisk_blockio", "filename": "/dev/drbd0",
                "t10_dev_id": "509f7d73-vg1", "usn": "509f7d73",
                "active": 1, "bind_alua_state": 1, "blocked": 0,
                "read_only": 0, "nv_cache": 0, "cluster_mode": 0,
                "blocksize": 512, "size": 1073741824, "thin_provisioned": 1}},
      "targets": {
        "iscsi": {
          "iqn.2016-02.local.virtual:hpms01.vg1": {
            "rel_tgt_id": 1, "enabled": 1, "luns": {"0": "vg1"}, "aen_disabled": 1,
            "allowed_portals": ["192.168.122.98"],
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

import errno
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

try:  # imported as part of the tests package
    from .base import Directory, EmulatorBase, Fault, FuseError, RequestContext, Symlink, fuse
    from .base import c_string, errname, kstrtoul, serve
except ImportError:  # run as a script
    from base import Directory, EmulatorBase, Fault, FuseError, RequestContext, Symlink, fuse  # type: ignore
    from base import c_string, errname, kstrtoul, serve  # type: ignore[no-redef]


class ScstAttr(fuse.AttributeFile):
    """An attribute that remembers its store, so the backdoor can reuse it."""

    store: Optional[Callable[[bytes], None]] = None
    work: bool = False


class Refused(FuseError):
    """A store's own check failed before SCST queued its sysfs work: the
    write(2) fails, but last_sysfs_mgmt_res keeps its value (only the work
    itself sets it, scst_sysfs.c sysfs_work_thread_fn)."""


KEY = "[key]"
ALUA_STATES = ("active", "nonoptimized", "standby", "unavailable", "offline",
               "transitioning")
DEFAULT_VERSION = "3.11.0-pre"
SCST_MAX_REL_TGT_ID = 0xFFFF
SCST_MAX_LUN = (1 << 14) - 1          # scst_const.h
VDEV_NAME_MAX = 64                    # struct scst_vdisk_dev name[64 + 1]
T10_DEV_ID_MAX = 16 + 8 + 1           # t10_dev_id[16 + 8 + 2] less the NUL
USN_MAX = 20                          # MAX_USN_LEN (20 + 1) less the NUL
VDISK_NULLIO_SIZE = 5 * 1024 ** 4 // 2
DEV_TYPE_DISK = "0 - Direct-access device (e.g., magnetic disk)\n"
DEV_TYPE_ROM = "5 - CD-ROM device\n"
SCST_PR_DIR = "/var/lib/scst/pr"
UNMODELLED = errno.EOPNOTSUPP         # what a write to an attribute that is not modelled gets
EMULATED_CPU_MASK = "1"               # cpu_mask of a one-CPU machine (the lab's UML instance)
#: iSCSI's MaxRecvDataSegmentLength & co: ISCSI_CONN_IOV_MAX << PAGE_SHIFT on x86_64
ISCSI_MAX_DATA_SEG_LEN = (4096 // 16) << 12


@dataclass(frozen=True)
class Handler:
    """A vdisk device handler as scst_vdisk.c registers it."""
    type_line: str
    params: Tuple[str, ...]      # add_device_parameters, in their order (the mgmt help lists them)
    attrs: Tuple[str, ...]       # dev_attrs: the device attributes the handler adds
    threads_num: int             # after init_scst_vdisk_driver() (fileio, vcdrom: num_threads = 8)
    vendor: str                  # t10_vend_id of a new device
    bind_alua_state: int         # of a new device
    filename_required: bool


_VDISK_IDS = ("t10_vend_id", "vend_specific_id", "prod_id", "prod_rev_lvl", "scsi_device_name",
              "t10_dev_id", "naa_id", "eui64_id", "usn", "inq_vend_specific")
HANDLERS: Dict[str, Handler] = {
    "vdisk_blockio": Handler(
        DEV_TYPE_DISK,
        ("active", "bind_alua_state", "blocksize", "cluster_mode", "dif_filename", "dif_mode",
         "dif_static_app_tag", "dif_type", "filename", "numa_node_id", "nv_cache", "read_only",
         "removable", "rotational", "thin_provisioned", "tst", "t10_dev_id", "write_through"),
        ("active", "bind_alua_state", "size", "size_mb", "blocksize", "opt_trans_len", "read_only",
         "write_through", "expl_alua", "nv_cache", "tst", "removable", "rotational", "filename",
         "cluster_mode", "resync_size", "sync", *_VDISK_IDS, "thin_provisioned", "lb_per_pb_exp"),
        1, "SCST_BIO", 1, True),
    "vdisk_fileio": Handler(
        DEV_TYPE_DISK,
        ("active", "async", "bind_alua_state", "blocksize", "cluster_mode", "dif_filename",
         "dif_mode", "dif_static_app_tag", "dif_type", "filename", "numa_node_id", "nv_cache",
         "o_direct", "read_only", "removable", "rotational", "thin_provisioned", "tst",
         "t10_dev_id", "write_through"),
        ("active", "bind_alua_state", "size", "size_mb", "blocksize", "opt_trans_len", "read_only",
         "write_through", "thin_provisioned", "tst", "rotational", "expl_alua", "nv_cache",
         "o_direct", "removable", "filename", "cluster_mode", "resync_size", "sync", *_VDISK_IDS,
         "async", "lb_per_pb_exp"),
        8, "SCST_FIO", 0, True),
    "vdisk_nullio": Handler(
        DEV_TYPE_DISK,
        ("blocksize", "cluster_mode", "dif_mode", "dif_static_app_tag", "dif_type", "dummy",
         "numa_node_id", "read_only", "removable", "rotational", "size", "size_mb", "tst",
         "t10_dev_id"),
        ("size", "size_mb", "blocksize", "opt_trans_len", "read_only", "tst", "dummy", "read_zero",
         "removable", "cluster_mode", *_VDISK_IDS, "rotational"),
        1, "SCST_FIO", 1, False),
    "vcdrom": Handler(
        DEV_TYPE_ROM, ("tst",),
        ("size", "size_mb", "filename", "tst", *_VDISK_IDS),
        8, "SCST_FIO", 1, False),
}
#: writable add_device parameters only fileio leaves unchecked (its allowed list is NULL)
VDISK_NUMERIC_PARAMS = ("write_through", "nv_cache", "o_direct", "read_only", "dummy", "removable",
                        "active", "bind_alua_state", "rotational", "tst", "thin_provisioned", "async",
                        "size", "size_mb", "cluster_mode", "blocksize", "dif_type",
                        "dif_static_app_tag", "lb_per_pb_exp")

log = logging.getLogger("scst_sysfs")


def trace_level_text(tbl_help: str = "") -> str:
    """scst_trace_level_show() of a TRACING (not DEBUG) build at its default flags:
    TRACE_OUT_OF_MEM | TRACE_MGMT | TRACE_PID | TRACE_SPECIAL for the core, the
    dev handlers and iscsi-scst alike."""
    return ("out_of_mem | pid | special | mgmt\n\n\nUsage:\n"
            '\techo "all|none|default" >trace_level\n'
            '\techo "value DEC|0xHEX|0OCT" >trace_level\n'
            '\techo "add|del TOKEN" >trace_level\n'
            "\nwhere TOKEN is one of [function, line, pid, out_of_mem, special, scsi, mgmt, minor,"
            f" scsi_serializing, retry, pr{tbl_help}]\n")


def version_text(version: str) -> str:
    """scst_version_show() of a module built out of tree with CONFIG_SCST_TRACING."""
    return (f"SCST version: {version}\nSCST build date: \nSCST build number: \n"
            "SCST git commit sha1: \nSCST kver: \nSCST arch type: \nSCST config: TRACING\n")


# --- kernel string parsing, reproduced -------------------------------------

C_SPACE = " \t\n\v\f\r"


def first_line(data: bytes) -> bytes:
    """The ALUA mgmt/state stores replace the first '\\n' with NUL."""
    return c_string(data).split(b"\n", 1)[0]


class Tokens:
    """A command buffer read with scst_lib.c's in-place tokenizers."""

    def __init__(self, data: Any) -> None:
        self.s = (c_string(data).decode("utf-8", "surrogateescape")
                  if isinstance(data, bytes) else data)
        self.pos = 0

    def lexem(self) -> str:
        """scst_get_next_lexem(): the next word; white space and '=' separate words."""
        s, i = self.s, self.pos
        while i < len(s) and (s[i] in C_SPACE or s[i] == "="):
            i += 1
        j = i
        while j < len(s) and s[j] not in C_SPACE and s[j] != "=":
            j += 1
        self.pos = j + 1 if j < len(s) else j
        return s[i:j]

    def verb(self, *verbs: str) -> str:
        """The command word, lower-cased: EINVAL unless it is one of ``verbs`` (the kernel's "unknown action")."""
        verb = self.lexem().lower()
        if verb not in verbs:
            raise FuseError(errno.EINVAL)
        return verb

    def required(self) -> str:
        """The next word: EINVAL when there is none (the kernel's "... expected")."""
        word = self.lexem()
        if not word:
            raise FuseError(errno.EINVAL)
        return word

    def token_str(self) -> Optional[str]:
        """scst_get_next_token_str(): up to the next '\\n' or ';'; None at an empty one."""
        s, i = self.s, self.pos
        j = i
        while j < len(s) and s[j] not in "\n;":
            j += 1
        if j == i:
            return None
        self.pos = j + 1 if j < len(s) else j
        return s[i:j]


def flag(data: bytes, *, signed: bool = False) -> int:
    """A 0/1 attribute's store: kstrtoul() (kstrtol() when ``signed``), EINVAL for anything else."""
    value = kstrtoul(data, signed=signed)
    if value not in (0, 1):
        raise FuseError(errno.EINVAL)
    return value


def lexems(data: bytes) -> List[str]:
    """Every word scst_get_next_lexem() finds in the buffer (';' is no separator)."""
    tokens, words = Tokens(data), []
    while True:
        word = tokens.lexem()
        if not word:
            return words
        words.append(word)


def params(tokens: Tokens, device: str) -> List[Tuple[str, str]]:
    """The name=value pairs after a command, as vdev_parse_add_dev_params() and
    scst_parse_add_repl_param() split them: ';'- or newline-separated, each
    exactly two words (else EINVAL); an empty one ends the list."""
    pairs = []
    while True:
        param = tokens.token_str()
        if param is None:
            return pairs
        words = Tokens(param)
        name, value = words.lexem(), ""
        if name:
            value = words.lexem()
        if not name or not value or words.lexem():
            log.info("device %s: syntax error in parameter %r", device, param)
            raise FuseError(errno.EINVAL)
        pairs.append((name, value))


def sysfs_name(name: str) -> str:
    """kobject names cannot contain '/': the kernel turns it into '!'."""
    return name.replace("/", "!")


def _crc32c_table() -> List[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """The kernel's crc32c(seed, data, len): Castagnoli, reflected, no pre- or post-inversion."""
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def dev_id_num(name: str, setup_id: int = 0) -> int:
    """vdisk_gen_dev_id_num(): the CRC32C of the name with its NUL, setup_id above it."""
    return (setup_id << 32) | crc32c(name.encode() + b"\0")


def default_ids(name: str, setup_id: int = 0) -> Tuple[str, str]:
    """(t10_dev_id, usn) of a new vdisk device: "%llx-%s" and "%llx" (vdev_create_node)."""
    num = dev_id_num(name, setup_id)
    return f"{num:x}-{name}"[:T10_DEV_ID_MAX], f"{num:x}"[:USN_MAX]


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
    vend_specific_id: str = ""
    active: int = 1
    bind_alua_state: int = 1
    blocked: int = 0
    read_only: int = 0
    nv_cache: int = 0
    cluster_mode: int = 0
    blocksize: int = 512
    size: int = 1 << 30
    thin_provisioned: int = 0
    exported_lun_num: int = 0   # dev_exported_lun_num: names exportN, never reused
    dir: Optional[Directory] = None
    exported: Optional[Directory] = None


@dataclass
class Acg:
    """An access control group: a target's default LUN set or an ini_group."""
    name: Optional[str]
    luns: Dict[int, Tuple[str, int]] = field(default_factory=dict)  # lun -> (dev, ro)
    links: Dict[int, str] = field(default_factory=dict)             # lun -> exportN of its device
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
    aen_disabled: int = 0
    default_acg: Acg = field(default_factory=lambda: Acg(None))
    groups: Dict[str, Acg] = field(default_factory=dict)
    portals: Dict[str, str] = field(default_factory=dict)  # iSCSI allowed_portal: address -> file
    dir: Optional[Directory] = None

    @property
    def counts_enabled(self) -> bool:
        """__scst_is_relative_target_port_id_unique() skips only targets whose driver
        can say they are disabled; the copy manager's cannot (no is_target_enabled)."""
        return self.enabled == 1 or self.driver == CM_DRIVER


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


Show = Callable[[], str]
Store = Callable[[bytes], None]
Text = Any  # str, or a Show computing it

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
                  '       echo "replace_no_ua H:C:I:L lun [parameters]" >mgmt\n'
                  '       echo "replace_no_ua VNAME lun [parameters]" >mgmt\n'
                  '       echo "clear" >mgmt\n'
                  '\n'
                  "where parameters are one or more param_name=value pairs "
                  "separated by ';'\n"
                  '\nThe following parameters available: read_only\n')
MGMT_HELP_INI_GROUPS = ('Usage: echo "create GROUP_NAME" >mgmt\n'
                        '       echo "del GROUP_NAME" >mgmt\n')
MGMT_HELP_INITIATORS = ('Usage: echo "add INITIATOR_NAME" >mgmt\n'
                        '       echo "del INITIATOR_NAME" >mgmt\n'
                        '       echo "move INITIATOR_NAME DEST_GROUP_NAME" >mgmt\n'
                        '       echo "clear" >mgmt\n')
MGMT_PARAMS_LINE = "where parameters are one or more param_name=value pairs separated by ';'\n\n"
# scst_tgtt_mgmt_show() with iscsi_template's tgtt_ and tgt_optional_attributes
MGMT_HELP_ISCSI = ('Usage: echo "add_target target_name [parameters]" >mgmt\n'
                   '       echo "del_target target_name" >mgmt\n'
                   '       echo "add_attribute <attribute> <value>" >mgmt\n'
                   '       echo "del_attribute <attribute> <value>" >mgmt\n'
                   '       echo "add_target_attribute target_name <attribute> <value>" >mgmt\n'
                   '       echo "del_target_attribute target_name <attribute> <value>" >mgmt\n'
                   '\n' + MGMT_PARAMS_LINE
                   + "The following target driver attributes available: IncomingUser, OutgoingUser\n"
                   "The following target attributes available: IncomingUser, OutgoingUser, "
                   "allowed_portal\n\n")
ALLOWED_PORTAL = "allowed_portal"


def handler_mgmt_help(handler: Handler) -> str:
    """scst_devt_mgmt_show() of a handler with add_device_parameters."""
    return ('Usage: echo "add_device device_name [parameters]" >mgmt\n'
            '       echo "del_device device_name" >mgmt\n'
            '\n' + MGMT_PARAMS_LINE
            + f"The following parameters available: {', '.join(handler.params)}\n\n")


ISCSI = "iscsi"
CM_DRIVER, CM_TARGET = "copy_manager", "copy_manager_tgt"  # scst_copy_mgr.c SCST_CM_NAME
DIF_CAPABILITIES = ("dif_supported, hw_dif_type1_supported, hw_dif_type2_supported, "
                    "hw_dif_type3_supported\n")

# Attributes the tree has but the emulator does not model: name -> (mode, text).
# The text is what SCST shows for a new object; a write fails with UNMODELLED.
# Values that are not constants of the source are marked; SCST-FACTS.md lists them.
ROOT_FIXED: Dict[str, Tuple[int, Text]] = {
    "measure_latency": (0o644, "0\n"),
    "async_lun_replace": (0o644, "0\n"),
    "max_tasklet_cmd": (0o644, "10\n"),        # SCST_DEF_MAX_TASKLET_CMD
    "poll_us": (0o644, "0\n"),                 # SCST_DEF_POLL_NS / 1000
    "suspend": (0o644, "0\n"),
    "trace_level": (0o644, trace_level_text()),
    "force_global_sgv_pool": (0o644, "0\n"),
    "trace_cmds": (0o444, ""),                 # no commands in flight: nothing
    "trace_mcmds": (0o444, ""),
    "cluster_name": (0o644, ""),               # unset: the show prints nothing
}
# iscsi-scstd's global attributes read through user space: its "%d\n" plus the kernel's "\n"
ISCSI_DRIVER_FIXED: Dict[str, Tuple[int, Text]] = {
    "iSNSServer": (0o644, "\n\n"),
    "internal_portal": (0o644, "\n\n"),
    "isns_entity_name": (0o644, "\n"),
    "link_local": (0o644, "1\n\n"),            # DEFAULT_SEND_TARGETS_LINK_LOCAL
    "open_state": (0o444, "open\n"),           # iscsi-scstd has the control device open
    "trace_level": (0o644, trace_level_text(", d_write, conn, conn_dbg, iov, pdu, net_page")),
}
CM_DRIVER_FIXED: Dict[str, Tuple[int, Text]] = {
    "allow_not_connected_copy": (0o644, "0\n"),  # SCST_ALLOW_NOT_CONN_COPY_DEF
    "dif_capabilities": (0o444, DIF_CAPABILITIES),
}
_COUNTERS = ("unknown_cmd_count", "write_cmd_count", "write_io_count_kb", "write_unaligned_cmd_count",
             "read_cmd_count", "read_io_count_kb", "read_unaligned_cmd_count", "bidi_cmd_count",
             "bidi_io_count_kb", "bidi_unaligned_cmd_count", "none_cmd_count")
ACG_FIXED: Dict[str, Tuple[int, Text]] = {
    "addr_method": (0o644, "PERIPHERAL\n"),    # iscsi_template's preferred_addr_method (0)
    "io_grouping_type": (0o644, "auto\n"),
    "black_hole": (0o644, "0\n"),
    "cpu_mask": (0o644, EMULATED_CPU_MASK + "\n"),  # all CPUs: machine-dependent
}
TARGET_FIXED: Dict[str, Tuple[int, Text]] = {
    **ACG_FIXED,
    "forward_src": (0o644, "0\n"),
    "forward_dst": (0o644, "0\n"),
    "forwarding": (0o644, "0\n"),
    "comment": (0o644, ""),
    "sg_tablesize": (0o444, "65535\n"),        # iscsi and copy_manager: 0xFFFF
    **{name: (0o444, "0\n") for name in _COUNTERS},  # no sessions, no commands
}
# iscsi-scstd's per-target attributes (user space: its text plus the kernel's "\n")
ISCSI_TARGET_FIXED: Dict[str, Tuple[int, Text]] = {
    "per_portal_acl": (0o644, "0\n\n"),
    "redirect": (0o644, "\n"),
    "alias": (0o644, "\n"),
    "InitialR2T": (0o644, "No\n"),
    "ImmediateData": (0o644, "Yes\n"),
    "MaxRecvDataSegmentLength": (0o644, f"{ISCSI_MAX_DATA_SEG_LEN}\n"),  # machine-dependent
    "MaxXmitDataSegmentLength": (0o644, f"{ISCSI_MAX_DATA_SEG_LEN}\n"),  # machine-dependent
    "MaxBurstLength": (0o644, f"{ISCSI_MAX_DATA_SEG_LEN}\n"),            # machine-dependent
    "FirstBurstLength": (0o644, "65536\n"),
    "MaxOutstandingR2T": (0o644, "32\n"),
    "HeaderDigest": (0o644, "None\n"),
    "DataDigest": (0o644, "None\n"),
    "RDMAExtensions": (0o644, "No\n"),
    "QueuedCommands": (0o644, "32\n"),
    "RspTimeout": (0o644, "90\n"),
    "NopInInterval": (0o644, "30\n"),
    "NopInTimeout": (0o644, "30\n"),
    "MaxSessions": (0o644, "0\n"),
}
CM_TARGET_FIXED: Dict[str, Tuple[int, Text]] = {
    "dif_capabilities": (0o444, DIF_CAPABILITIES),
    "dif_checks_failed": (0o644, "\tapp\tref\tguard\ntgt\t0\t0\t0\nscst\t0\t0\t0\ndev\t0\t0\t0\n"),
}
DEV_CORE_FIXED: Dict[str, Tuple[int, Text]] = {
    "max_tgt_dev_commands": (0o644, "64\n"),   # SCST_MAX_TGT_DEV_COMMANDS
    "numa_node_id": (0o644, "-1\n"),           # NUMA_NO_NODE
    "pr_state": (0o644, "version 1\ngeneration 0\n"),
    "dump_prs": (0o200, None),
    "threads_pool_type": (0o644, "per_initiator\n"),
}
VDISK_FIXED: Dict[str, Tuple[int, Text]] = {
    "opt_trans_len": (0o644, "524288\n"),      # DEF_OPT_TRANS_LEN
    "write_through": (0o444, "0\n"),
    "expl_alua": (0o644, "0\n"),
    "tst": (0o444, "1\n"),                     # DEF_TST: SCST_TST_1_SEP_TASK_SETS
    "removable": (0o444, "0\n"),
    "rotational": (0o444, "1\n"),
    "o_direct": (0o444, "0\n"),
    "async": (0o644, "0\n"),
    "dummy": (0o444, "0\n"),
    "read_zero": (0o644, "0\n"),
    "prod_rev_lvl": (0o644, "3110\n"),         # SCST_FIO_REV
    "scsi_device_name": (0o644, "\n"),
    "naa_id": (0o644, "\n"),
    "eui64_id": (0o644, "\n"),
    "inq_vend_specific": (0o644, "\n"),
    "lb_per_pb_exp": (0o644, "1\n"),           # DEF_LB_PER_PB_EXP
}


class ScstSysfs(EmulatorBase):
    """The emulated SCST core: state, its sysfs tree, faults and the write log."""

    ATTR = ScstAttr
    READ_PASS_KINDS = ("eagain",)  # an eagain fault defers writes; reads go through

    THREADS_DEFAULT = 8  # scst_threads: the number of CPUs, machine-dependent

    def __init__(self, state_dir: str, config: Dict[str, Any]) -> None:
        super().__init__(state_dir, fsname="scst_tgt", subtype="scst_sysfs", logger=log)
        self.version = str(config.get("version", DEFAULT_VERSION))
        self.devices: Dict[str, Device] = {}
        self.drivers: Dict[str, Dict[str, Any]] = {}
        self.targets: Dict[Tuple[str, str], Target] = {}
        self.dgs: Dict[str, DeviceGroup] = {}
        self.last_mgmt_res = 0
        self.pending_works = 0
        self.threads = self.THREADS_DEFAULT
        self.setup_id = 0
        self.next_tid = 0         # iscsi-scst's next_target_id
        self.next_rel_tgt_id = 1  # gen_relative_target_port_id()'s static rti
        self.cm_next_lun = 0      # scst_cm_next_lun
        with self.lock:
            self._build_root()
            self._load(config)

    # -- write log ------------------------------------------------------------

    def _log_write(self, path: str, data: bytes, err: int, pid: Optional[int],
                   by: str) -> None:
        entry = {"ts": time.time_ns(), "path": path,
                 "data": data.decode("utf-8", "replace"),
                 "result": "ok" if err == 0 else errname(err), "pid": pid, "by": by}
        self._log_entry(entry)

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

    @staticmethod
    def _store_unmodelled(data: bytes) -> None:
        """A store the emulator does not model: the write fails and changes nothing."""
        raise Refused(UNMODELLED)

    def _fixed(self, parent: Directory, name: str, mode: int, text: Text) -> ScstAttr:
        """An attribute SCST has whose store the emulator does not model: it reads
        ``text`` (a str or a Show), and a write fails with UNMODELLED."""
        show: Optional[Show] = None
        if mode & 0o444:
            show = text if callable(text) else (lambda: text)
        return self._attr(parent, name, show, self._store_unmodelled if mode & 0o200 else None)

    def _fixed_all(self, parent: Directory, table: Dict[str, Tuple[int, Text]]) -> None:
        for name, (mode, text) in table.items():
            self._fixed(parent, name, mode, text)

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

    def _run_store(self, node: ScstAttr, store: Store, work: bool, data: bytes) -> int:
        """One store; a sysfs work's result goes to last_sysfs_mgmt_res (not a Refused one)."""
        err, queued = 0, work
        try:
            if node.removed:
                raise FuseError(errno.ENODEV)
            store(data)
        except Refused as exc:
            err, queued = exc.errno, False
        except FuseError as exc:
            err = exc.errno
        if queued:
            self.last_mgmt_res = -err
        return err

    def _apply(self, path: str, node: ScstAttr, store: Store, work: bool,
               data: bytes, pid: Optional[int], by: str) -> int:
        with self.lock:
            err = self._run_store(node, store, work, data)
            self._log_write(path, data, err, pid, by)
            return err

    def _defer(self, path: str, node: ScstAttr, store: Store, work: bool,
               data: bytes, seconds: Optional[float]) -> None:
        with self.lock:
            self.pending_works += 1

        def finish() -> None:
            time.sleep(1.0 if seconds is None else seconds)
            with self.lock:
                err = self._run_store(node, store, True, data)
                self.pending_works -= 1
                log.info("deferred store %s=%r finished: %s", path, data,
                         errname(err) if err else "ok")

        threading.Thread(target=finish, name="deferred-store", daemon=True).start()

    # -- static tree ----------------------------------------------------------

    def _build_root(self) -> None:
        root = self.root
        self._attr(root, "version", lambda: version_text(self.version))
        self._attr(root, "last_sysfs_mgmt_res", self._show_last_mgmt_res)
        self._attr(root, "threads", lambda: f"{self.threads}\n"
                   + ("" if self.threads == self.THREADS_DEFAULT else KEY + "\n"),
                   self._store_threads, work=True)
        self._attr(root, "setup_id", lambda: f"0x{self.setup_id:x}\n"
                   + ("" if self.setup_id == 0 else KEY + "\n"), self._store_setup_id)
        self._fixed_all(root, ROOT_FIXED)
        self.targets_dir = root.subdir("targets")
        self.devices_dir = root.subdir("devices")
        root.subdir("sgv")
        self.handlers_dir = root.subdir("handlers")
        self.dgs_dir = root.subdir("device_groups")
        self._attr(self.dgs_dir, "mgmt", lambda: MGMT_HELP_DG, self._store_dgs_mgmt)
        for handler in HANDLERS:
            self._ensure_handler(handler)
        # scst_cm_init(): the copy manager's driver and target come with SCST itself
        cm_dir = self.targets_dir.subdir(CM_DRIVER)
        self._fixed_all(cm_dir, CM_DRIVER_FIXED)
        self.cm_target = self._new_target(CM_DRIVER, CM_TARGET, cm_dir)

    def _show_last_mgmt_res(self) -> str:
        if self.pending_works > 0:
            raise FuseError(errno.EAGAIN)
        return f"{self.last_mgmt_res}\n"

    def _store_threads(self, data: bytes) -> None:
        """scst_threads_store(): parsed before the work is queued."""
        try:
            value = kstrtoul(data, signed=True)
        except FuseError as exc:
            raise Refused(exc.errno) from None
        if value <= 0:
            raise Refused(errno.EINVAL)
        self.threads = value

    def _store_setup_id(self, data: bytes) -> None:
        self.setup_id = kstrtoul(data) & 0xFFFFFFFF

    def _ensure_handler(self, handler: str) -> Directory:
        existing = self.handlers_dir.get(handler)
        if isinstance(existing, Directory):
            return existing
        if handler not in HANDLERS:
            raise ValueError(f"unknown device handler {handler!r} (emulated: {', '.join(HANDLERS)})")
        spec = HANDLERS[handler]
        hdir = self.handlers_dir.subdir(handler)
        self._attr(hdir, "type", lambda: spec.type_line)
        help_text = handler_mgmt_help(spec)
        self._attr(hdir, "mgmt", lambda: help_text,
                   lambda data: self._store_handler_mgmt(handler, data), work=True)
        self._fixed(hdir, "trace_level", 0o644, trace_level_text(", order"))
        return hdir

    def _ensure_driver(self, driver: str) -> Directory:
        existing = self.targets_dir.get(driver)
        if isinstance(existing, Directory) and driver != CM_DRIVER:
            return existing
        if driver != ISCSI:
            raise ValueError(f"target driver {driver!r} is not emulated (only {ISCSI}; "
                             f"{CM_DRIVER} is SCST's own)")
        # iscsi-scst loaded and iscsi-scstd running; the daemon leaves the driver disabled
        self.drivers.setdefault(driver, {"enabled": 0})
        ddir = self.targets_dir.subdir(driver)
        self._attr(ddir, "mgmt", lambda: MGMT_HELP_ISCSI,
                   lambda data: self._store_tgtt_mgmt(driver, data), work=True)
        # user space prints "%d\n", iscsi_attr_show() adds "\n"; not a sysfs work
        self._attr(ddir, "enabled", lambda: f"{self.drivers[driver]['enabled']}\n\n",
                   lambda data: self._store_driver_enabled(driver, data))
        self._fixed_all(ddir, ISCSI_DRIVER_FIXED)
        self._fixed(ddir, "version", 0o444, lambda: f"{self.version}\nTRACING\n")
        return ddir

    def _store_driver_enabled(self, driver: str, data: bytes) -> None:
        """iscsi-scstd: the first word of the value must be 0 or 1."""
        word = Tokens(data).lexem()
        if word not in ("0", "1"):
            raise FuseError(errno.EINVAL)
        self.drivers[driver]["enabled"] = int(word)

    # -- devices ----------------------------------------------------------------

    def add_device(self, name: str, handler: str, **params: Any) -> Device:
        if name in self.devices:
            raise FuseError(errno.EEXIST)
        spec = HANDLERS.get(handler)
        if spec is None:
            raise ValueError(f"device {name}: unknown handler {handler!r}")
        dev = Device(name, handler, bind_alua_state=spec.bind_alua_state,
                     thin_provisioned=int(handler == "vdisk_blockio"),
                     size=VDISK_NULLIO_SIZE if handler == "vdisk_nullio" else 1 << 30)
        dev.t10_dev_id, dev.usn = default_ids(name, self.setup_id)
        dev.vend_specific_id = dev.t10_dev_id
        for key, value in params.items():
            if key in ("t10_dev_id", "usn"):
                setattr(dev, key, str(value))
                setattr(dev, f"{key}_set", True)
            elif key == "filename":
                dev.filename = str(value)
            elif key in ("active", "bind_alua_state", "blocked", "read_only", "nv_cache",
                         "cluster_mode", "blocksize", "size", "thin_provisioned"):
                setattr(dev, key, int(value))
            else:
                raise ValueError(f"device {name}: unknown parameter {key!r}")
        self.devices[name] = dev
        self._build_device(dev)
        self._cm_register(dev)
        return dev

    def _cm_register(self, dev: Device) -> None:
        """scst_cm_on_dev_register(): every vdisk device (auto_cm_assignment_possible)
        gets a LUN of the copy manager's target, numbered from scst_cm_next_lun on."""
        acg = self.cm_target.default_acg
        while True:
            lun = self.cm_next_lun
            self.cm_next_lun += 1
            if lun == SCST_MAX_LUN:
                self.cm_next_lun = 0
                continue
            if lun not in acg.luns:
                break
        self._add_lun(acg, lun, dev.name, 0)

    def _build_device(self, dev: Device) -> None:
        name = sysfs_name(dev.name)
        ddir = self.devices_dir.subdir(name)
        dev.dir = ddir
        hdir = self._ensure_handler(dev.handler)
        spec = HANDLERS[dev.handler]
        self._attr(ddir, "type", lambda: spec.type_line)
        ddir.add(Symlink("handler", f"../../handlers/{dev.handler}"))
        hdir.add(Symlink(name, f"../../devices/{name}"))
        dev.exported = ddir.subdir("exported")
        self._attr(ddir, "block", lambda: f"{dev.blocked} 0\n",
                   lambda data: self._store_block(dev, data))
        self._fixed_all(ddir, DEV_CORE_FIXED)
        self._fixed(ddir, "pr_file_name", 0o644, f"{SCST_PR_DIR}/{dev.name}\n")
        self._fixed(ddir, "threads_num", 0o644, f"{spec.threads_num}\n")

        def flag(value: Callable[[], int], default: int) -> Show:
            return lambda: f"{value()}\n" + ("" if value() == default else KEY + "\n")

        fixed_size = dev.handler in ("vdisk_fileio", "vcdrom")
        size_key = not (dev.handler == "vdisk_nullio" and dev.size == VDISK_NULLIO_SIZE)
        builders: Dict[str, Callable[[], None]] = {
            "active": lambda: self._attr(
                ddir, "active", flag(lambda: dev.active, 1),
                lambda data: self._store_active(dev, data), work=True),
            "bind_alua_state": lambda: self._attr(
                ddir, "bind_alua_state", flag(lambda: dev.bind_alua_state, spec.bind_alua_state),
                lambda data: setattr(dev, "bind_alua_state",
                                     int(bool(kstrtoul(c_string(data)[:15]))))),
            "size": lambda: self._attr(
                ddir, "size", lambda: f"{dev.size}\n" + (KEY + "\n" if size_key else ""),
                None if fixed_size else self._store_unmodelled),
            "size_mb": lambda: self._attr(ddir, "size_mb", lambda: f"{dev.size >> 20}\n",
                                          None if fixed_size else self._store_unmodelled),
            "blocksize": lambda: self._attr(ddir, "blocksize", flag(lambda: dev.blocksize, 512)),
            "read_only": lambda: self._attr(ddir, "read_only", flag(lambda: dev.read_only, 0)),
            "nv_cache": lambda: self._attr(ddir, "nv_cache", flag(lambda: dev.nv_cache, 0)),
            "thin_provisioned": lambda: self._attr(
                ddir, "thin_provisioned", lambda: f"{dev.thin_provisioned}\n"),
            "filename": lambda: self._attr(
                ddir, "filename", lambda: self._show_filename(dev),
                self._store_unmodelled if dev.handler == "vcdrom"  # vcdrom's changes the medium
                else (lambda data: self._store_filename(dev, data)), work=True),
            "cluster_mode": lambda: self._attr(
                ddir, "cluster_mode", flag(lambda: dev.cluster_mode, 0),
                lambda data: self._store_cluster_mode(dev, data), work=True),
            "resync_size": lambda: self._attr(ddir, "resync_size", None,
                                              lambda data: None, work=True),
            "sync": lambda: self._attr(ddir, "sync", None, lambda data: None),
            "t10_dev_id": lambda: self._attr(
                ddir, "t10_dev_id", lambda: f"{dev.t10_dev_id}\n"
                + (KEY + "\n" if dev.t10_dev_id_set else ""),
                lambda data: self._store_t10_dev_id(dev, data)),
            "usn": lambda: self._attr(
                ddir, "usn", lambda: f"{dev.usn}\n" + (KEY + "\n" if dev.usn_set else ""),
                lambda data: self._store_usn(dev, data)),
            "t10_vend_id": lambda: self._fixed(ddir, "t10_vend_id", 0o644, f"{spec.vendor}\n"),
            "vend_specific_id": lambda: self._fixed(ddir, "vend_specific_id", 0o644,
                                                    f"{dev.vend_specific_id}\n"),
            "prod_id": lambda: self._fixed(ddir, "prod_id", 0o644, f"{dev.name[:16]}\n"),
        }
        for attr in spec.attrs:
            if attr in builders:
                builders[attr]()
            else:
                mode, text = VDISK_FIXED[attr]
                self._fixed(ddir, attr, mode, text)
        if dev.thin_provisioned and "thin_provisioned" in spec.attrs:
            self._fixed(ddir, "gen_tp_soft_threshold_reached_UA", 0o200, None)

    @staticmethod
    def _show_filename(dev: Device) -> str:
        # vdev_sysfs_process_get_filename() makes "%s\n[key]\n" (or "none\n"),
        # vdev_sysfs_filename_show() prints that with "%s\n".
        if dev.filename is None:
            return "none\n\n"
        return f"{dev.filename}\n{KEY}\n\n"

    @staticmethod
    def _store_filename(dev: Device, data: bytes) -> None:
        if dev.active:
            raise FuseError(errno.EINVAL)  # "still active"
        text = c_string(data).decode("utf-8", "surrogateescape").strip(C_SPACE)
        if not text or not text.startswith("/"):
            raise FuseError(errno.EINVAL)
        dev.filename = text

    @staticmethod
    def _store_active(dev: Device, data: bytes) -> None:
        dev.active = flag(data, signed=True)

    @staticmethod
    def _store_cluster_mode(dev: Device, data: bytes) -> None:
        dev.cluster_mode = flag(data, signed=True)

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
        """vdev_set_t10_dev_id() / vdev_sysfs_usn_store(): at most ``maximum``
        characters (one more if it is the '\\n'), cut at the first '\\n'."""
        size = maximum + 1
        if len(data) > size or (len(data) == size and data[-1:] != b"\n"):
            raise FuseError(errno.EINVAL)
        return c_string(data).split(b"\n", 1)[0].decode("utf-8", "surrogateescape")

    @staticmethod
    def _store_block(dev: Device, data: bytes) -> None:
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
        """scst_process_devt_mgmt_store(), all of it in the sysfs work."""
        tokens = Tokens(data)
        verb = tokens.verb("add_device", "del_device")
        name = tokens.required()
        if verb == "del_device":
            if tokens.lexem():
                raise FuseError(errno.EINVAL)
            if name not in self.devices:  # vdev_find(): the vdisk handlers share one list
                raise FuseError(errno.EINVAL)
            self.remove_device(name)
            return
        self._add_device_cmd(handler, name, tokens)

    def _add_device_cmd(self, handler: str, name: str, tokens: Tokens) -> None:
        """vdisk_add_*_device(): vdev_create_node(), then vdev_parse_add_dev_params()."""
        if name in self.devices:
            raise FuseError(errno.EEXIST)
        if len(name.encode()) > VDEV_NAME_MAX:
            raise FuseError(errno.EINVAL)
        usn = default_ids(name, self.setup_id)[1]
        if any(d.usn == usn for d in self.devices.values()):
            raise FuseError(errno.EEXIST)  # "New usn %s conflicts with one of dev %s"
        spec = HANDLERS[handler]
        allowed = None if handler == "vdisk_fileio" else spec.params  # fileio passes NULL
        values: Dict[str, Any] = {}
        size = VDISK_NULLIO_SIZE if handler == "vdisk_nullio" else 0
        blocksize = 2048 if handler == "vcdrom" else 512
        for key, value in params(tokens, name):
            key = key.lower()
            if allowed is not None and key not in allowed:
                raise FuseError(errno.EINVAL)
            if key == "filename":
                if "filename" in values or not value.startswith("/"):
                    raise FuseError(errno.EINVAL)  # twice, or "must be global"
                values["filename"] = value
                continue
            if key == "dif_filename":
                if not value.startswith("/"):
                    raise FuseError(errno.EINVAL)
                continue
            if key == "dif_mode":
                modes = [m.lstrip(C_SPACE).lower() for m in value.split("|")]
                if any(m not in ("tgt", "scst", "dev_check", "dev_store") for m in modes if m):
                    raise FuseError(errno.EINVAL)
                continue
            if key == "t10_dev_id":
                values[key] = self._id_value(value.encode(), T10_DEV_ID_MAX)
                continue
            signed = kstrtoul(value.encode(), signed=True)
            if key == "numa_node_id":
                if signed < -1:
                    raise FuseError(errno.EINVAL)
                continue
            number = kstrtoul(value.encode())
            if key not in VDISK_NUMERIC_PARAMS:
                raise FuseError(errno.EINVAL)
            if (key == "dummy" and number > 1) or (key == "tst" and number not in (0, 1)):
                raise FuseError(errno.EINVAL)
            if key == "blocksize":
                if number < 512 or number & (number - 1):
                    raise FuseError(errno.EINVAL)
                blocksize = number
                values[key] = number
            elif key in ("size", "size_mb"):
                size = number << (20 if key == "size_mb" else 0)
            elif key in ("active", "bind_alua_state", "read_only", "nv_cache", "cluster_mode",
                         "thin_provisioned", "write_through"):
                values[key] = number & 1  # one-bit fields of struct scst_vdisk_dev
        if size % blocksize:
            raise FuseError(errno.EINVAL)
        if handler == "vdisk_fileio" and values.get("read_only") \
                and (values.get("write_through") or values.get("nv_cache")):
            raise FuseError(errno.EINVAL)  # "Write options on read only device"
        if spec.filename_required and "filename" not in values:
            raise FuseError(errno.EINVAL)  # "File name required"
        values.pop("write_through", None)
        if size and handler == "vdisk_nullio":
            values["size"] = size
        self.add_device(name, handler, **values)

    # -- targets ----------------------------------------------------------------

    def find_target(self, name: str) -> Optional[Target]:
        """__lookup_tgt(): a target of that name under any driver."""
        for (_, tname), target in self.targets.items():
            if tname == name:
                return target
        return None

    def register_target(self, driver: str, name: str, rel_tgt_id: int = 0,
                        enabled: int = 0) -> Target:
        if driver == CM_DRIVER:
            raise ValueError(f"{CM_DRIVER} has its one target, {CM_TARGET}")
        if (driver, name) in self.targets:
            raise FuseError(errno.EEXIST)
        target = self._new_target(driver, name, self._ensure_driver(driver))
        target.rel_tgt_id, target.enabled = int(rel_tgt_id), int(enabled)
        return target

    def _new_target(self, driver: str, name: str, ddir: Directory) -> Target:
        """scst_tgt_sysfs_create() plus the driver's own attributes."""
        target = Target(driver, name)
        self.targets[(driver, name)] = target
        tdir = ddir.subdir(sysfs_name(name))
        target.dir = tdir
        if driver == ISCSI:  # iscsi has enable_target and is_target_enabled
            self._attr(tdir, "enabled", lambda: f"{target.enabled}\n",
                       lambda data: self._store_tgt_enabled(target, data), work=True)
        self._attr(tdir, "rel_tgt_id",
                   lambda: f"{target.rel_tgt_id}\n"
                   + (KEY + "\n" if target.rel_tgt_id != 0 else ""),
                   lambda data: self._store_tgt_rel_tgt_id(target, data), work=True)
        self._attr(tdir, "aen_disabled", lambda: f"{target.aen_disabled}\n"
                   + (KEY + "\n" if target.aen_disabled else ""),
                   lambda data: self._store_aen_disabled(target, data))
        self._fixed_all(tdir, TARGET_FIXED)
        if driver == ISCSI:
            self.next_tid += 1
            self._fixed(tdir, "tid", 0o444, f"{self.next_tid}\n")
            self._fixed_all(tdir, ISCSI_TARGET_FIXED)
        else:
            self._fixed_all(tdir, CM_TARGET_FIXED)
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
        if target is None or driver == CM_DRIVER:
            raise FuseError(errno.ENOENT)
        # scst_tg_tgt_remove_by_tgt(): drop it from every target group where
        # it is a local member (remote entries of the same name stay).
        for dg in self.dgs.values():
            for tg in dg.tgs.values():
                for mname, member in list(tg.members.items()):
                    if member.target is target:
                        self._tg_member_remove(tg, mname, tg)
        for acg in [target.default_acg, *target.groups.values()]:
            for lun in list(acg.luns):
                self._del_lun(acg, lun)
        ddir = self.targets_dir.get(driver)
        if isinstance(ddir, Directory):
            ddir.remove(sysfs_name(name))
        del self.targets[(driver, name)]

    def _rel_tgt_id_unique(self, value: int, target: Optional[Target]) -> bool:
        """__scst_is_relative_target_port_id_unique(): among the enabled targets."""
        return all(t.rel_tgt_id != value for t in self.targets.values()
                   if t is not target and t.counts_enabled)

    def _gen_rel_tgt_id(self) -> int:
        """gen_relative_target_port_id(): the next free id from where the last one was taken."""
        start = self.next_rel_tgt_id
        while True:
            rti = self.next_rel_tgt_id
            self.next_rel_tgt_id = rti + 1 if rti < SCST_MAX_REL_TGT_ID else 1
            if self._rel_tgt_id_unique(rti, None):
                return rti
            if self.next_rel_tgt_id == start:
                raise FuseError(errno.EOVERFLOW)

    def _store_tgt_enabled(self, target: Target, data: bytes) -> None:
        """scst_tgt_enable_store(): the first byte is checked before the work is queued."""
        first = c_string(data)[:1]
        if first not in (b"0", b"1"):
            raise Refused(errno.EINVAL)
        enable = first == b"1"
        if enable:
            if target.rel_tgt_id == 0:
                target.rel_tgt_id = self._gen_rel_tgt_id()
            elif not self._rel_tgt_id_unique(target.rel_tgt_id, target):
                raise FuseError(errno.EBADSLT)
        target.enabled = int(enable)

    @staticmethod
    def _store_aen_disabled(target: Target, data: bytes) -> None:
        """scst_tgt_aen_disabled_store(): synchronous, only the first byte counts."""
        first = c_string(data)[:1]
        if first not in (b"0", b"1"):
            raise FuseError(errno.EINVAL)
        target.aen_disabled = int(first)

    def _store_tgt_rel_tgt_id(self, target: Target, data: bytes) -> None:
        """scst_rel_tgt_id_store() parses before queueing; scst_process_rel_tgt_id_store()."""
        try:
            value = kstrtoul(data)
        except FuseError:
            raise Refused(errno.EINVAL) from None
        enabled = target.counts_enabled
        if enabled and value != target.rel_tgt_id \
                and not self._rel_tgt_id_unique(value & 0xFFFF, target):
            raise FuseError(errno.EBADSLT)
        if not 1 <= value <= SCST_MAX_REL_TGT_ID and not (value == 0 and not enabled):
            raise FuseError(errno.EINVAL)
        target.rel_tgt_id = value

    def _store_tgtt_mgmt(self, driver: str, data: bytes) -> None:
        """scst_process_tgtt_mgmt_store(); iscsi-scstd answers add_target/del_target."""
        tokens = Tokens(data)
        verb = tokens.lexem().lower()
        if verb in ("add_attribute", "del_attribute", "add_target_attribute", "del_target_attribute"):
            self._iscsi_attribute_cmd(driver, verb, tokens)
            return
        if verb not in ("add_target", "del_target"):
            raise FuseError(errno.EINVAL)  # iscsi-scstd: "Syntax error"
        name = tokens.required()
        if verb == "add_target":
            if tokens.s[tokens.pos:].strip(C_SPACE):
                raise Refused(UNMODELLED)  # target parameters (IncomingUser=..., ...)
            self.register_target(driver, name)
        else:
            if tokens.lexem():
                raise FuseError(errno.EINVAL)
            if (driver, name) not in self.targets:
                raise FuseError(errno.ENOENT)
            self.unregister_target(driver, name)

    def _iscsi_attribute_cmd(self, driver: str, verb: str, tokens: Tokens) -> None:
        """iscsi-scstd's handle_e_mgmt_cmd(): allowed_portal target attributes are
        modelled; the CHAP users (IncomingUser, OutgoingUser) are not."""
        target = None
        if verb.endswith("_target_attribute"):
            target = self.targets.get((driver, tokens.lexem()))
            if target is None:
                raise FuseError(errno.ENOENT)  # "Target %s not found"
        attr = tokens.lexem()
        if re.fullmatch(r"(?i)(incoming|outgoing)user\d*", attr):
            raise Refused(UNMODELLED)
        if not re.fullmatch(r"(?i)allowed_portal\d*", attr) or target is None:
            raise FuseError(errno.EINVAL)  # "Syntax error", or "Target expected for attr"
        address = tokens.lexem()
        if verb.startswith("del"):
            name = target.portals.pop(address, None)
            if name is None:
                raise FuseError(errno.EINVAL)  # "Unknown portal"
            assert target.dir is not None
            target.dir.remove(name)
            return
        if not address or tokens.lexem() or address in target.portals:
            raise FuseError(errno.EINVAL)  # no value, two values, or "already exists"
        self._add_portal(target, address)

    def _add_portal(self, target: Target, address: str) -> None:
        """iscsi_attr_create(): allowed_portal, else allowed_portal1, 2, ... (the first free)."""
        used = set(target.portals.values())
        name, num = ALLOWED_PORTAL, 0
        while name in used:
            num += 1
            name = f"{ALLOWED_PORTAL}{num}"
        target.portals[address] = name
        assert target.dir is not None
        # user space: "%s\n" and add_key_mark(); iscsi_attr_show(): "\n"
        self._fixed(target.dir, name, 0o644, f"{address}\n{KEY}\n\n")

    # -- LUNs and initiator groups -------------------------------------------------

    def _add_lun(self, acg: Acg, lun: int, dev_name: str, read_only: int = 0) -> None:
        """scst_acg_add_lun(), scst_acg_dev_sysfs_create(): the LUN directory and
        the device's exported/exportN link to it."""
        acg.luns[lun] = (dev_name, read_only)
        assert acg.luns_dir is not None
        ldir = acg.luns_dir.subdir(str(lun))
        dev = self.devices[dev_name]
        self._attr(ldir, "read_only",
                   lambda: "1\n[key]\n" if read_only or dev.read_only else "0\n")
        depth = acg.luns_dir.rel_path().count("/") + 2
        ldir.add(Symlink("device", "../" * depth + f"devices/{sysfs_name(dev_name)}"))
        link = f"export{dev.exported_lun_num}"
        dev.exported_lun_num += 1
        assert dev.exported is not None
        dev.exported.add(Symlink(link, "../../../" + ldir.rel_path()))
        acg.links[lun] = link

    def _del_lun(self, acg: Acg, lun: int) -> None:
        dev_name, _ = acg.luns.pop(lun)
        assert acg.luns_dir is not None
        acg.luns_dir.remove(str(lun))
        link = acg.links.pop(lun)
        dev = self.devices.get(dev_name)
        if dev is not None and dev.exported is not None and link in dev.exported.children:
            dev.exported.remove(link)

    def _store_luns_mgmt(self, acg: Acg, data: bytes) -> None:
        """__scst_process_luns_mgmt_store(), all of it in the sysfs work."""
        tokens = Tokens(data)
        verb = tokens.verb("add", "del", "replace", "replace_no_ua", "clear")
        if verb == "clear":
            if tokens.lexem():
                raise FuseError(errno.EINVAL)
            for lun in list(acg.luns):
                self._del_lun(acg, lun)
            return
        if verb == "del":
            lun = kstrtoul(tokens.lexem().encode())
            if tokens.lexem() or lun not in acg.luns:
                raise FuseError(errno.EINVAL)
            self._del_lun(acg, lun)
            return
        dev_name = tokens.lexem()
        if dev_name not in self.devices:
            raise FuseError(errno.EINVAL)
        lun = kstrtoul(tokens.lexem().encode())  # scst_parse_add_repl_param()
        if lun > SCST_MAX_LUN:
            raise FuseError(errno.EINVAL)
        read_only = 0
        for key, value in params(tokens, dev_name):
            number = kstrtoul(value.encode())
            if key.lower() != "read_only":
                raise FuseError(errno.EINVAL)
            read_only = int(bool(number))
        if lun in acg.luns:
            if verb == "add":
                raise FuseError(errno.EEXIST)
            self._del_lun(acg, lun)
        self._add_lun(acg, lun, dev_name, read_only)

    def _store_ini_groups_mgmt(self, target: Target, data: bytes) -> None:
        """scst_process_ini_group_mgmt_store()."""
        tokens = Tokens(data)
        verb = tokens.verb("create", "del")
        name = tokens.required()
        if verb == "create":
            if name in target.groups:
                raise FuseError(errno.EEXIST)  # "acg name %s exist"
            self.add_ini_group(target, name)
        else:
            if name not in target.groups:
                raise FuseError(errno.EINVAL)
            acg = target.groups.pop(name)
            for lun in list(acg.luns):
                self._del_lun(acg, lun)
            assert target.dir is not None
            igdir = target.dir.get("ini_groups")
            assert isinstance(igdir, Directory)
            igdir.remove(sysfs_name(name))

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
                   lambda data: self._store_initiators_mgmt(target, acg, data), work=True)
        self._fixed_all(acg.dir, ACG_FIXED)
        if target.driver == ISCSI:
            self._fixed(acg.dir, "per_sess_dedicated_tgt_threads", 0o644, "0\n")
        target.groups[name] = acg
        return acg

    def _store_initiators_mgmt(self, target: Target, acg: Acg, data: bytes) -> None:
        """scst_process_acg_ini_mgmt_store()."""
        tokens = Tokens(data)
        verb = tokens.lexem().lower()
        if verb == "clear":
            for name in list(acg.initiators):
                self._del_initiator(acg, name)
            return
        if verb not in ("add", "del", "move"):
            raise FuseError(errno.EINVAL)
        name = tokens.required()
        if verb == "add":
            if name in acg.initiators:
                raise FuseError(errno.EEXIST)
            self._add_initiator(acg, name)
            return
        if name not in acg.initiators:
            raise FuseError(errno.EINVAL)
        if verb == "del":
            self._del_initiator(acg, name)
            return
        group = tokens.lexem()
        dest = target.groups.get(group)
        if not group or dest is None:
            raise FuseError(errno.EINVAL)
        if name in dest.initiators:
            raise FuseError(errno.EEXIST)
        self._del_initiator(acg, name)
        self._add_initiator(dest, name)

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
        # scst_tg_preferred_show(): [key] only when preferred
        self._attr(tg.dir, "preferred", lambda: f"{tg.preferred}\n" + (KEY + "\n" if tg.preferred else ""),
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
        tg.preferred = flag(data)

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
            if driver == CM_DRIVER:
                raise ValueError(f"targets: {CM_DRIVER} is SCST's own (a LUN for every device)")
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
        target.aen_disabled = int(attrs.get("aen_disabled", 0))
        for lun, dev in (attrs.get("luns") or {}).items():
            self._load_lun(target.default_acg, lun, dev)
        for address in attrs.get("allowed_portals") or []:
            if driver != ISCSI or address in target.portals:
                raise ValueError(f"target {name}: bad allowed_portals entry {address!r}")
            self._add_portal(target, str(address))
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
                   cluster_mode=dev.cluster_mode, blocksize=dev.blocksize, size=dev.size,
                   thin_provisioned=dev.thin_provisioned)
        return out

    def _dump_targets(self) -> Dict[str, Any]:
        out: Dict[str, Dict[str, Any]] = {d: {} for d in self.drivers}
        for (driver, name), t in self.targets.items():
            if driver == CM_DRIVER:
                continue
            entry: Dict[str, Any] = {"rel_tgt_id": t.rel_tgt_id, "enabled": t.enabled,
                                     "luns": self._dump_luns(t.default_acg)}
            if t.aen_disabled:
                entry["aen_disabled"] = t.aen_disabled
            if t.portals:
                entry["allowed_portals"] = list(t.portals)
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

    def _backdoor_apply(self, node: Any, data: bytes) -> int:
        return self._apply(node.rel_path(), node, node.store, node.work, data, None, "backdoor")

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


def main(argv: Optional[List[str]] = None) -> int:
    return serve(argv, ScstSysfs, "scst_sysfs", "/sys/kernel/scst_tgt")


if __name__ == "__main__":
    sys.exit(main())
