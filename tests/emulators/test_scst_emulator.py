"""Tests of the SCST sysfs emulator itself, through the real FUSE mount.

Commands run with plain shell redirections inside the emulator's mount
namespace (nsenter), and with Python file I/O through /proc/PID/root.
Every subprocess and control call is bounded in time.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from typing import Any, Dict

import pytest

from .client import ScstEmulator
from .fixtures import scst_emulator  # noqa: F401  (pytest fixture)


def _why_unsupported() -> str:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    if os.geteuid() != 0:
        return "needs root (mount(2) and setns)"
    return ""


_REASON = _why_unsupported()
if _REASON:
    print(f"SCST emulator tests skipped: {_REASON}", file=sys.stderr)
pytestmark = pytest.mark.skipif(bool(_REASON), reason=_REASON or "supported")

T1 = "iqn.2016-02.local.virtual:hpms01.vg1"
T2 = "iqn.2016-02.local.virtual:hpms02.vg1"
DG = "device_groups"
BASE: Dict[str, Any] = {
    "devices": {"vg1": {"handler": "vdisk_blockio", "filename": "/dev/drbd0",
                        "t10_dev_id": "509f7d73-vg1", "usn": "509f7d73"}},
    "targets": {"iscsi": {T1: {"rel_tgt_id": 1, "enabled": 1}}},
    "device_groups": {},
}
TOPOLOGY: Dict[str, Any] = {
    **BASE,
    "device_groups": {"vg1": {"devices": ["vg1"], "target_groups": {
        "hpms01": {"group_id": 1, "preferred": 0, "state": "active",
                   "members": {T1: {"kind": "local"}}},
        "hpms02": {"group_id": 2, "preferred": 0, "state": "nonoptimized",
                   "members": {T2: {"kind": "remote", "rel_tgt_id": 2}}}}}},
}
TG1 = f"{DG}/vg1/target_groups/hpms01"
TG2 = f"{DG}/vg1/target_groups/hpms02"


def sh_ok(em: ScstEmulator, script: str) -> str:
    result = em.sh(f"cd /sys/kernel/scst_tgt && {script}", timeout=20)
    assert result.returncode == 0, f"{script!r} failed: {result.stderr}"
    return result.stdout


def write_errno(em: ScstEmulator, rel: str, value: str) -> int:
    """Write through Python file I/O; return 0 or the errno of the failure."""
    try:
        em.write(rel, value)
    except OSError as exc:
        return exc.errno
    return 0


def raw_read(em: ScstEmulator, rel: str) -> str:
    """One read(2); errors surface as OSError (io.open().read() turns EAGAIN
    into a TypeError, see SCST-FACTS.md)."""
    fd = os.open(em.path(rel), os.O_RDONLY)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


# --- layout ---------------------------------------------------------------------

def test_layout_and_read_formats(scst_emulator) -> None:
    em = scst_emulator(BASE)
    assert em.read("version").startswith("SCST version: 3.11.0-pre\nSCST build date: \n")
    assert em.read(f"{DG}/mgmt") == ('Usage: echo "create group_name" >mgmt\n'
                                     '       echo "del group_name" >mgmt\n')
    dev = "devices/vg1"
    assert os.readlink(em.path(f"{dev}/handler")) == "../../handlers/vdisk_blockio"
    assert os.readlink(em.path("handlers/vdisk_blockio/vg1")) == "../../devices/vg1"
    assert em.read(f"{dev}/t10_dev_id") == "509f7d73-vg1\n[key]\n"
    assert em.read(f"{dev}/usn") == "509f7d73\n[key]\n"
    assert em.read(f"{dev}/filename") == "/dev/drbd0\n[key]\n\n"
    assert em.read(f"{dev}/bind_alua_state") == "1\n"
    assert em.read(f"{dev}/block") == "0 0\n"
    tgt = f"targets/iscsi/{T1}"
    assert em.read(f"{tgt}/enabled") == "1\n"
    assert em.read(f"{tgt}/rel_tgt_id") == "1\n[key]\n"
    for entry in ("luns/mgmt", "ini_groups/mgmt", "sessions"):
        assert os.path.exists(em.path(f"{tgt}/{entry}")), entry
    assert os.path.isfile(em.path("targets/iscsi/mgmt"))
    # iscsi-scstd's "%d\n" plus the kernel's "\n"; disabled when no config enables it (probe step 11)
    assert em.read("targets/iscsi/enabled") == "0\n\n"
    # sysfs-like metadata: 4096-byte regular files, read returns real length
    assert os.stat(em.path(f"{dev}/usn")).st_size == 4096
    listing = sh_ok(em, "ls devices/vg1 && cat devices/vg1/type")
    assert "Direct-access" in listing and "t10_dev_id" in listing


def test_read_only_attribute_refuses_write_open(scst_emulator) -> None:
    em = scst_emulator(BASE)
    with pytest.raises(PermissionError):
        em.write("version", "1\n")
    assert not os.path.exists(em.path("devices/nope"))
    assert em.sh("echo 1 > /sys/kernel/scst_tgt/newfile").returncode != 0


# --- device groups ----------------------------------------------------------------

def test_create_and_delete_device_group(scst_emulator) -> None:
    em = scst_emulator(BASE)
    sh_ok(em, f"echo create dg1 > {DG}/mgmt && echo add dg2 > {DG}/mgmt")
    assert sorted(os.listdir(em.path(DG))) == ["dg1", "dg2", "mgmt"]
    assert sorted(os.listdir(em.path(f"{DG}/dg1"))) == ["devices", "target_groups"]
    assert em.read(f"{DG}/dg1/devices/mgmt").startswith('Usage: echo "add device"')
    assert write_errno(em, f"{DG}/mgmt", "create dg1\n") == errno.EEXIST
    assert write_errno(em, f"{DG}/mgmt", "del nosuch\n") == errno.EINVAL
    assert write_errno(em, f"{DG}/mgmt", "create\n") == errno.EINVAL
    assert write_errno(em, f"{DG}/mgmt", "CREATE dg3") == 0  # verbs are case-blind
    sh_ok(em, f"echo del dg1 > {DG}/mgmt")
    assert sorted(os.listdir(em.path(DG))) == ["dg2", "dg3", "mgmt"]
    assert set(em.dump()["device_groups"]) == {"dg2", "dg3"}


def test_add_device_creates_symlink(scst_emulator) -> None:
    em = scst_emulator({**BASE, "devices": {**BASE["devices"],
                                            "vg2": {"handler": "vdisk_fileio",
                                                    "filename": "/tmp/x"}}})
    sh_ok(em, f"echo create dg1 > {DG}/mgmt && echo add vg1 > {DG}/dg1/devices/mgmt")
    link = em.path(f"{DG}/dg1/devices/vg1")
    assert os.path.islink(link)
    assert os.readlink(link) == "../../../devices/vg1"
    assert sh_ok(em, f"cat {DG}/dg1/devices/vg1/t10_dev_id") == "509f7d73-vg1\n[key]\n"
    sh_ok(em, f"echo create dg2 > {DG}/mgmt")
    assert write_errno(em, f"{DG}/dg2/devices/mgmt", "add vg1") == errno.EEXIST
    assert write_errno(em, f"{DG}/dg2/devices/mgmt", "add nosuch") == errno.EINVAL
    assert write_errno(em, f"{DG}/dg2/devices/mgmt", "del vg1") == errno.EINVAL
    assert write_errno(em, f"{DG}/dg2/devices/mgmt", "remove vg2") == errno.EINVAL
    assert em.read("devices/vg2/bind_alua_state") == "0\n"  # fileio has it too (3.11), off by default
    sh_ok(em, f"echo del vg1 > {DG}/dg1/devices/mgmt")
    assert not os.path.lexists(link)


def test_target_group_attributes(scst_emulator) -> None:
    em = scst_emulator(BASE)
    tg = f"{DG}/dg1/target_groups/n1"
    sh_ok(em, f"echo create dg1 > {DG}/mgmt && "
              f"echo create n1 > {DG}/dg1/target_groups/mgmt")
    assert sorted(os.listdir(em.path(tg))) == ["group_id", "mgmt", "preferred", "state"]
    assert em.read(f"{tg}/group_id") == "0\n[key]\n"
    assert em.read(f"{tg}/state") == "active\n[key]\n"
    assert em.read(f"{tg}/preferred") == "0\n"  # [key] only when 1 (probe steps 137, 186)
    sh_ok(em, f"echo 1 > {tg}/group_id && echo standby > {tg}/state && "
              f"echo 1 > {tg}/preferred")
    assert em.read(f"{tg}/group_id") == "1\n[key]\n"
    assert first_line(em.read(f"{tg}/state")) == "standby"
    assert first_line(em.read(f"{tg}/preferred")) == "1"
    for state in ("active", "nonoptimized", "standby", "unavailable", "offline",
                  "transitioning"):
        em.write(f"{tg}/state", state)  # without trailing newline too
        assert first_line(em.read(f"{tg}/state")) == state
    assert write_errno(em, f"{DG}/nosuch/state", "active") == errno.ENOENT


def test_einval_cases(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    cases = [
        (f"{TG1}/state", "bogus\n"), (f"{TG1}/state", "lba_dependent\n"),
        (f"{TG1}/state", "Active\n"), (f"{TG1}/state", " active\n"),
        (f"{TG1}/state", "active \n"), (f"{TG1}/group_id", "0\n"),
        (f"{TG1}/group_id", "65536\n"), (f"{TG1}/group_id", "one\n"),
        (f"{TG1}/preferred", "2\n"), (f"{DG}/mgmt", "frobnicate x\n"),
        (f"{DG}/vg1/target_groups/mgmt", "remove hpms01\n"), (f"{TG1}/mgmt", "put x\n"),
        (f"{DG}/vg1/devices/mgmt", "\n"),
    ]
    for path, value in cases:
        assert write_errno(em, path, value) == errno.EINVAL, (path, value)
    state = em.dump()["device_groups"]["vg1"]["target_groups"]["hpms01"]
    assert (state["state"], state["group_id"], state["preferred"]) == ("active", 1, 0)
    bad = [w for w in em.writes() if w["result"] == "EINVAL"]
    assert len(bad) == len(cases)
    # the shell sees the failure too
    assert em.sh(f"echo bogus > /sys/kernel/scst_tgt/{TG1}/state").returncode != 0


def test_embedded_newline_is_one_store(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.write(f"{TG1}/state", "standby\n")
    before = len(em.writes())
    em.write(f"{TG1}/state", "active\nstandby")
    assert first_line(em.read(f"{TG1}/state")) == "active"  # cut at the first \n
    em.write(f"{DG}/mgmt", "create a\ncreate b\n")
    assert set(em.dump()["device_groups"]) == {"vg1", "a"}
    log = em.writes()[before:]
    assert [(w["data"], w["result"]) for w in log] == [
        ("active\nstandby", "ok"), ("create a\ncreate b\n", "ok")]


# --- members ---------------------------------------------------------------------------

def test_local_and_remote_members(scst_emulator) -> None:
    em = scst_emulator(BASE)
    tg = f"{DG}/dg1/target_groups/n1"
    sh_ok(em, f"echo create dg1 > {DG}/mgmt && "
              f"echo create n1 > {DG}/dg1/target_groups/mgmt && "
              f"echo create n2 > {DG}/dg1/target_groups/mgmt && "
              f"echo add {T1} > {tg}/mgmt && echo add {T2} > {tg}/mgmt")
    local = em.path(f"{tg}/{T1}")
    assert os.path.islink(local)
    assert os.readlink(local) == f"../../../../targets/iscsi/{T1}"
    assert first_line(em.read(f"{tg}/{T1}/rel_tgt_id")) == "1"  # through the link
    remote = em.path(f"{tg}/{T2}")
    assert os.path.isdir(remote) and not os.path.islink(remote)
    assert os.listdir(remote) == ["rel_tgt_id"]
    assert em.read(f"{tg}/{T2}/rel_tgt_id") == "0\n[key]\n"
    sh_ok(em, f"echo 2 > {tg}/{T2}/rel_tgt_id")
    assert em.read(f"{tg}/{T2}/rel_tgt_id") == "2\n[key]\n"
    assert write_errno(em, f"{tg}/{T2}/rel_tgt_id", "0") == errno.EINVAL
    # one name, one target group per device group
    assert write_errno(em, f"{DG}/dg1/target_groups/n2/mgmt", f"add {T1}") == errno.EEXIST
    # local/remote is decided when the name is added
    em.register_target(T2, rel_tgt_id=2)
    assert os.path.isdir(remote) and not os.path.islink(remote)
    members = em.dump()["device_groups"]["dg1"]["target_groups"]["n1"]["members"]
    assert members == {T1: {"kind": "local", "driver": "iscsi", "rel_tgt_id": 1},
                       T2: {"kind": "remote", "rel_tgt_id": 2}}
    sh_ok(em, f"echo del {T2} > {tg}/mgmt && echo add {T2} > {tg}/mgmt")
    assert os.path.islink(remote)
    assert write_errno(em, f"{tg}/mgmt", "del nosuch") == errno.EINVAL


def test_unregister_target_drops_membership(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    assert os.path.islink(em.path(f"{TG1}/{T1}"))
    em.register_target(T2, rel_tgt_id=2)
    em.unregister_target(T1)
    assert not os.path.lexists(em.path(f"{TG1}/{T1}"))
    assert not os.path.exists(em.path(f"targets/iscsi/{T1}"))
    state = em.dump()
    assert state["device_groups"]["vg1"]["target_groups"]["hpms01"]["members"] == {}
    assert T1 not in state["targets"]["iscsi"]
    # a remote entry of a registered name is not touched
    em.unregister_target(T2)
    assert os.path.isdir(em.path(f"{TG2}/{T2}"))
    with pytest.raises(Exception):
        em.unregister_target(T1)


def test_rel_tgt_id_and_enable_rules(scst_emulator) -> None:
    em = scst_emulator(BASE)
    em.register_target(T2, rel_tgt_id=0, enabled=0)
    t2 = f"targets/iscsi/{T2}"
    assert em.read(f"{t2}/rel_tgt_id") == "0\n"
    assert write_errno(em, f"{t2}/rel_tgt_id", "1") == 0  # duplicates allowed while disabled
    assert write_errno(em, f"{t2}/enabled", "1") == errno.EBADSLT
    em.write(f"{t2}/rel_tgt_id", "0")
    em.write(f"{t2}/enabled", "1")  # auto-generated id
    assert em.read(f"{t2}/rel_tgt_id") == "2\n[key]\n"
    assert write_errno(em, f"{t2}/rel_tgt_id", "1") == errno.EBADSLT
    # 0 clashes with the copy manager's target, which always counts (probe step 90)
    assert write_errno(em, f"{t2}/rel_tgt_id", "0") == errno.EBADSLT
    assert write_errno(em, f"{t2}/rel_tgt_id", "7") == 0  # change while enabled
    assert write_errno(em, f"{t2}/enabled", "x") == errno.EINVAL
    assert em.dump()["targets"]["iscsi"][T2] == {"rel_tgt_id": 7, "enabled": 1, "luns": {}}
    assert em.read(f"{t2}/aen_disabled") == "0\n"
    assert write_errno(em, f"{t2}/aen_disabled", "1\n") == 0  # synchronous: last res stays
    assert write_errno(em, f"{t2}/aen_disabled", "y") == errno.EINVAL
    assert em.read(f"{t2}/aen_disabled") == "1\n[key]\n"
    assert em.dump()["targets"]["iscsi"][T2]["aen_disabled"] == 1


def test_parse_errors_before_the_work_leave_last_sysfs_mgmt_res(scst_emulator) -> None:  # noqa: F811
    """Probe steps 69 and 75: what a store checks before queueing its sysfs work
    fails the write but is not a work result."""
    em = scst_emulator(BASE)
    t1 = f"targets/iscsi/{T1}"
    assert write_errno(em, f"{t1}/luns/mgmt", "frob") == errno.EINVAL  # in the work
    assert raw_read(em, "last_sysfs_mgmt_res") == "-22\n"
    assert write_errno(em, f"{t1}/luns/mgmt", "add vg1 0") == 0
    assert raw_read(em, "last_sysfs_mgmt_res") == "0\n"
    for path, value in ((f"{t1}/rel_tgt_id", "abc"), (f"{t1}/enabled", "2"), ("threads", "0"),
                        ("devices/vg1/opt_trans_len", "1")):
        assert write_errno(em, path, value) in (errno.EINVAL, errno.EOPNOTSUPP), path
        assert raw_read(em, "last_sysfs_mgmt_res") == "0\n", path
    assert write_errno(em, f"{t1}/rel_tgt_id", "70000") == errno.EINVAL  # range: in the work
    assert raw_read(em, "last_sysfs_mgmt_res") == "-22\n"


def test_add_device_as_vdisk_parses_it(scst_emulator) -> None:  # noqa: F811
    em = scst_emulator({"drivers": {"iscsi": {}}})
    hm = "handlers/vdisk_blockio/mgmt"
    assert write_errno(em, hm, "add_device d1 filename=relative/path") == errno.EINVAL
    assert write_errno(em, hm, "add_device d1 filename=/dev/x; nosuchparam=1") == errno.EINVAL
    assert write_errno(em, hm, "add_device d1 filename=/dev/x;o_direct=1") == errno.EINVAL  # fileio's
    assert write_errno(em, hm, "add_device d1 filename=/dev/x;bind_alua_state=0") == 0
    assert em.read("devices/d1/bind_alua_state") == "0\n[key]\n"
    assert write_errno(em, hm, "add_device d1 filename=relative") == errno.EEXIST  # the name first
    assert write_errno(em, "handlers/vdisk_fileio/mgmt", "add_device f1 filename=/srv/f;o_direct=1") == 0
    assert em.read("devices/f1/bind_alua_state") == "0\n"  # fileio: off by default
    assert em.read("devices/f1/t10_vend_id") == "SCST_FIO\n"
    assert em.read("devices/d1/t10_vend_id") == "SCST_BIO\n"
    assert em.read("devices/d1/prod_id") == "d1\n"
    assert write_errno(em, "handlers/vdisk_fileio/mgmt", "del_device d1") == 0  # one list for vdisk
    assert em.read("handlers/vdisk_blockio/mgmt").endswith("t10_dev_id, write_through\n\n")


def test_derived_device_ids_and_setup_id(scst_emulator) -> None:  # noqa: F811
    from .scst_sysfs import crc32c
    em = scst_emulator({"drivers": {"iscsi": {}}})
    em.write("handlers/vdisk_blockio/mgmt", "add_device vg1 filename=/dev/x")
    assert em.read("devices/vg1/t10_dev_id") == "509f7d73-vg1\n"  # probe step 41
    assert em.read("devices/vg1/usn") == "509f7d73\n"             # probe step 42
    assert em.read("devices/vg1/vend_specific_id") == "509f7d73-vg1\n"
    em.write("setup_id", "0x2a")
    em.write("handlers/vdisk_nullio/mgmt", "add_device vg2")
    assert em.read("devices/vg2/usn") == f"2a{crc32c(b'vg2' + bytes(1)):08x}\n"


def test_copy_manager_exports_every_device(scst_emulator) -> None:  # noqa: F811
    """Probe step 87: one LUN on an iSCSI target, two exports (the copy manager's first)."""
    em = scst_emulator({**BASE, "devices": {**BASE["devices"], "vg2": {"filename": "/dev/drbd1"}}})
    cm = "targets/copy_manager/copy_manager_tgt"
    assert sorted(os.listdir(em.path(f"{cm}/luns"))) == ["0", "1", "mgmt"]
    assert os.readlink(em.path(f"{cm}/luns/1/device")) == "../../../../../devices/vg2"
    em.write(f"targets/iscsi/{T1}/luns/mgmt", "add vg1 5")
    exported = em.path("devices/vg1/exported")
    assert sorted(os.listdir(exported)) == ["export0", "export1"]
    assert os.readlink(f"{exported}/export1") == f"../../../targets/iscsi/{T1}/luns/5"
    em.write(f"targets/iscsi/{T1}/luns/mgmt", "del 5")
    em.write(f"targets/iscsi/{T1}/luns/mgmt", "add vg1 5")
    assert sorted(os.listdir(exported)) == ["export0", "export2"]  # numbers are not reused
    em.write("handlers/vdisk_blockio/mgmt", "del_device vg1")
    em.write("handlers/vdisk_blockio/mgmt", "add_device vg3 filename=/dev/drbd3")
    assert sorted(os.listdir(em.path(f"{cm}/luns"))) == ["1", "2", "mgmt"]  # scst_cm_next_lun goes on
    assert "copy_manager" not in em.dump()["targets"]


def test_unmodelled_attributes_read_defaults_and_refuse_writes(scst_emulator) -> None:  # noqa: F811
    em = scst_emulator(BASE)
    tgt = f"targets/iscsi/{T1}"
    assert em.read(f"{tgt}/QueuedCommands") == "32\n"
    assert em.read(f"{tgt}/per_portal_acl") == "0\n\n"
    assert em.read(f"{tgt}/tid") == "1\n"
    assert em.read("devices/vg1/threads_num") == "1\n"               # probe step 46
    assert em.read("devices/vg1/threads_pool_type") == "per_initiator\n"
    assert em.read("devices/vg1/pr_file_name") == "/var/lib/scst/pr/vg1\n"
    assert em.read("handlers/vdisk_blockio/trace_level").startswith("out_of_mem | pid | special | mgmt\n")
    assert write_errno(em, f"{tgt}/QueuedCommands", "64") == errno.EOPNOTSUPP
    assert write_errno(em, "targets/iscsi/mgmt", f"add_target_attribute {T1} IncomingUser u p") \
        == errno.EOPNOTSUPP
    assert raw_read(em, "last_sysfs_mgmt_res") == "0\n"


def test_allowed_portal_target_attributes(scst_emulator) -> None:  # noqa: F811
    em = scst_emulator(BASE)
    mgmt, tgt = "targets/iscsi/mgmt", f"targets/iscsi/{T1}"
    for address in ("192.168.122.98", "10.0.0.1"):
        em.write(mgmt, f"add_target_attribute {T1} allowed_portal {address}")
    assert em.read(f"{tgt}/allowed_portal") == "192.168.122.98\n[key]\n\n"
    assert em.read(f"{tgt}/allowed_portal1") == "10.0.0.1\n[key]\n\n"
    assert write_errno(em, mgmt, f"add_target_attribute {T1} allowed_portal 10.0.0.1") == errno.EINVAL
    assert write_errno(em, mgmt, f"add_target_attribute {T2} allowed_portal 10.0.0.2") == errno.ENOENT
    assert write_errno(em, mgmt, "add_attribute allowed_portal 10.0.0.2") == errno.EINVAL
    em.write(mgmt, f"del_target_attribute {T1} allowed_portal 192.168.122.98")
    assert write_errno(em, mgmt, f"del_target_attribute {T1} allowed_portal 192.168.122.98") == errno.EINVAL
    em.write(mgmt, f"add_target_attribute {T1} allowed_portal 10.0.0.3")
    assert em.read(f"{tgt}/allowed_portal") == "10.0.0.3\n[key]\n\n"  # the first free name
    assert em.dump()["targets"]["iscsi"][T1]["allowed_portals"] == ["10.0.0.1", "10.0.0.3"]


# --- faults ----------------------------------------------------------------------------

def test_eio_fault_and_clear(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.fault(f"{TG1}/state", "eio", on="both")
    assert write_errno(em, f"{TG1}/state", "standby\n") == errno.EIO
    with pytest.raises(OSError) as info:
        em.read(f"{TG1}/state")
    assert info.value.errno == errno.EIO
    assert em.dump()["device_groups"]["vg1"]["target_groups"]["hpms01"]["state"] == "active"
    assert em.writes()[-1]["result"] == "EIO"
    em.fault(f"{TG2}/state", "ebusy")
    assert write_errno(em, f"{TG2}/state", "standby") == errno.EBUSY
    em.clear_faults()
    assert write_errno(em, f"{TG1}/state", "standby\n") == 0
    assert first_line(em.read(f"{TG1}/state")) == "standby"


HANG_CHILD = textwrap.dedent("""
    import json, os, signal, sys, time
    class Timeout(Exception):
        pass
    def on_alarm(signum, frame):
        raise Timeout()
    signal.signal(signal.SIGALRM, on_alarm)
    fd = os.open(sys.argv[1], os.O_WRONLY)
    start = time.monotonic()
    signal.alarm(1)
    try:
        os.write(fd, b"standby\\n")
        outcome = "written"
    except Timeout:
        outcome = "timeout"
    except OSError as exc:
        outcome = "oserror %d" % exc.errno
    print(json.dumps({"outcome": outcome, "elapsed": time.monotonic() - start,
                      "pid": os.getpid()}))
""")


def test_hang_fault_is_interrupted_by_sigalrm(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.fault(f"{TG1}/state", "hang")
    child = subprocess.Popen([sys.executable, "-c", HANG_CHILD, em.path(f"{TG1}/state")],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    # the loop keeps serving other requests while the store hangs
    t0 = time.monotonic()
    assert first_line(em.read(f"{TG2}/state")) == "nonoptimized"
    assert em.dump()["device_groups"]["vg1"]["target_groups"]["hpms01"]["state"] == "active"
    assert time.monotonic() - t0 < 1.0
    out, _ = child.communicate(timeout=10)
    report = json.loads(out)
    assert report["outcome"] == "timeout"
    assert 0.9 <= report["elapsed"] < 2.5
    last = em.writes()[-1]
    assert (last["path"], last["result"], last["pid"]) == (f"{TG1}/state", "EINTR",
                                                             report["pid"])
    assert em.dump()["device_groups"]["vg1"]["target_groups"]["hpms01"]["state"] == "active"


def test_hang_fault_with_seconds_then_applies(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.fault(f"{TG1}/state", "hang", seconds=0.5)
    t0 = time.monotonic()
    em.write(f"{TG1}/state", "offline\n")
    assert 0.4 <= time.monotonic() - t0 < 3.0
    assert first_line(em.read(f"{TG1}/state")) == "offline"
    assert em.writes()[-1]["result"] == "ok"


def test_eagain_fault_models_sysfs_work_timeout(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.fault(f"{TG1}/state", "eagain", seconds=0.5)
    assert write_errno(em, f"{TG1}/state", "standby\n") == errno.EAGAIN
    with pytest.raises(OSError) as info:
        raw_read(em, "last_sysfs_mgmt_res")
    assert info.value.errno == errno.EAGAIN
    deadline = time.monotonic() + 5
    while True:
        try:
            result = raw_read(em, "last_sysfs_mgmt_res")
            break
        except BlockingIOError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert result == "0\n"
    assert first_line(em.read(f"{TG1}/state")) == "standby"
    em.clear_faults()
    assert write_errno(em, f"{TG1}/state", "nope") == errno.EINVAL
    assert em.read("last_sysfs_mgmt_res") == "-22\n"


# --- write log, backdoor, dump --------------------------------------------------------

def test_write_log_order_and_content(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    script = (f"cd /sys/kernel/scst_tgt && echo $$ && "
              f"echo standby > {TG1}/state && echo 5 > {TG1}/group_id && "
              f"echo bad > {TG1}/state; echo active > {TG1}/state")
    result = em.sh(script)
    shell_pid = int(result.stdout.split()[0])
    log = em.writes()
    assert [(w["path"], w["data"], w["result"]) for w in log] == [
        (f"{TG1}/state", "standby\n", "ok"), (f"{TG1}/group_id", "5\n", "ok"),
        (f"{TG1}/state", "bad\n", "EINVAL"), (f"{TG1}/state", "active\n", "ok")]
    assert all(w["pid"] == shell_pid and w["by"] == "fuse" for w in log)
    stamps = [w["ts"] for w in log]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert abs(stamps[-1] - time.time_ns()) < 60 * 10**9


def test_backdoor_set_is_logged_and_validated(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.fault(f"{TG2}/state", "eio")
    em.set(f"{TG2}/state", "standby")  # faults do not apply to the backdoor
    assert first_line(em.read(f"{TG2}/state")) == "standby"
    with pytest.raises(Exception, match="EINVAL"):
        em.set(f"{TG2}/state", "bogus")
    log = em.writes()
    assert [(w["by"], w["result"], w["pid"]) for w in log] == [
        ("backdoor", "ok", None), ("backdoor", "EINVAL", None)]


def test_dump_config_round_trip(scst_emulator) -> None:
    config = json.loads(json.dumps(TOPOLOGY))
    config["targets"]["iscsi"][T1]["luns"] = {"0": "vg1"}
    config["device_groups"]["vg1"]["target_groups"]["hpms02"]["preferred"] = 1
    em = scst_emulator(config, name="a")
    state = em.dump()
    tgs = state["device_groups"]["vg1"]["target_groups"]
    assert tgs["hpms01"]["members"][T1] == {"kind": "local", "driver": "iscsi",
                                            "rel_tgt_id": 1}
    assert tgs["hpms02"] == {"group_id": 2, "preferred": 1, "state": "nonoptimized",
                             "members": {T2: {"kind": "remote", "rel_tgt_id": 2}}}
    assert state["devices"]["vg1"]["filename"] == "/dev/drbd0"
    assert os.readlink(em.path(f"targets/iscsi/{T1}/luns/0/device")) == \
        "../../../../../devices/vg1"
    assert em.read(f"{TG2}/{T2}/rel_tgt_id") == "2\n[key]\n"
    em2 = scst_emulator(state, name="b")
    assert em2.dump() == state


def test_bad_config_fails_start_with_message(tmp_path) -> None:
    bad = {**BASE, "device_groups": {"d": {"devices": ["nosuch"]}}}
    em = ScstEmulator(tmp_path / "bad", bad)
    with pytest.raises(Exception, match="nosuch"):
        em.start()
    em.stop()


def test_remove_device_leaves_device_group(scst_emulator) -> None:
    em = scst_emulator(TOPOLOGY)
    em.remove_device("vg1")
    assert not os.path.exists(em.path("devices/vg1"))
    assert not os.path.lexists(em.path(f"{DG}/vg1/devices/vg1"))
    assert em.dump()["device_groups"]["vg1"]["devices"] == []


def test_del_through_other_group_leaves_stale_link(scst_emulator) -> None:
    """scst_tg_tgt_remove_by_name() quirk: membership goes, the link stays."""
    em = scst_emulator(TOPOLOGY)
    em.write(f"{TG2}/mgmt", f"del {T1}\n")
    assert em.dump()["device_groups"]["vg1"]["target_groups"]["hpms01"]["members"] == {}
    assert os.path.islink(em.path(f"{TG1}/{T1}"))
    assert write_errno(em, f"{TG1}/mgmt", f"add {T1}") == errno.EEXIST


# --- processes and namespaces -------------------------------------------------------------

def test_two_emulators_are_isolated(scst_emulator) -> None:
    one = scst_emulator(BASE, name="one")
    two = scst_emulator({"devices": {"other": {"handler": "vdisk_nullio"}}}, name="two")
    sh_ok(one, f"echo create only_here > {DG}/mgmt")
    assert os.listdir(one.path("devices")) == ["vg1"]
    assert os.listdir(two.path("devices")) == ["other"]
    assert not os.path.exists(two.path(f"{DG}/only_here"))
    assert "only_here" not in sh_ok(two, f"ls {DG}")
    assert one.writes() and not two.writes()
    host = "/sys/kernel/scst_tgt"
    assert not os.path.exists(host) or not os.listdir(host)


def test_clean_stop_leaves_no_mount_or_process(scst_emulator) -> None:
    em = scst_emulator(BASE)
    pid, proc = em.pid, em.proc
    assert proc is not None
    assert "scst_sysfs" in open(f"/proc/{pid}/mountinfo").read()
    em.stop()
    assert proc.returncode == 0  # SIGTERM -> unmount -> clean exit
    assert not os.path.exists(f"/proc/{pid}")
    assert "scst_sysfs" not in open("/proc/self/mountinfo").read()
    assert not (em.state_dir / "ready").exists()
    log = (em.state_dir / "emulator.log").read_text()
    assert "shutting down" in log and "Traceback" not in log
    assert (em.state_dir / "stderr.txt").read_text() == ""


def test_exits_when_mount_goes_away(scst_emulator) -> None:
    em = scst_emulator(BASE)
    proc = em.proc
    assert proc is not None
    result = em.run(["umount", "-l", "/sys/kernel/scst_tgt"])
    assert result.returncode == 0, result.stderr
    assert proc.wait(timeout=10) == 0


def test_mounts_in_callers_namespace_without_new_namespace(scst_emulator) -> None:
    """As inside a cluster node: the caller owns the namespace and /sys/kernel."""
    launcher = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs tmpfs /sys/kernel && exec "$@"', "sh"]
    em = scst_emulator(TOPOLOGY, new_namespace=False, launcher=launcher)
    assert first_line(em.read(f"{TG1}/state")) == "active"
    sh_ok(em, f"echo standby > {TG1}/state")
    assert em.dump()["device_groups"]["vg1"]["target_groups"]["hpms01"]["state"] == "standby"


def test_kernel_parsing_helpers() -> None:
    from . import scst_sysfs as m
    assert [m.kstrtoul(v) for v in (b"5", b"+5\n", b"0x10", b"010", b"0")] == [5, 5, 16, 8, 0]
    for bad in (b"", b" 5", b"5\n\n", b"08", b"0x", b"5 ", b"-1", b"1e3"):
        with pytest.raises(m.FuseError) as info:
            m.kstrtoul(bad)
        assert info.value.errno == errno.EINVAL, bad
    with pytest.raises(m.FuseError) as info:
        m.kstrtoul(b"18446744073709551616")
    assert info.value.errno == errno.ERANGE
    assert m.kstrtoul(b"-3", signed=True) == -3
    assert m.kstrtoul(b"7\0junk") == 7
    assert m.lexems(b"  add\tvg1 ;x=y\n") == ["add", "vg1", ";x", "y"]  # '=' separates, ';' does not
    assert m.first_line(b"active\nstandby") == b"active"
    tokens = m.Tokens(b"add_device vg1 filename=/dev/a;;nv_cache=1")
    assert (tokens.lexem(), tokens.lexem()) == ("add_device", "vg1")
    assert m.params(tokens, "vg1") == [("filename", "/dev/a")]  # an empty token ends the list


def test_default_device_ids() -> None:
    """vdisk_gen_dev_id_num(): crc32c(0, name, strlen(name) + 1), setup_id in the upper half."""
    from . import scst_sysfs as m
    assert m.crc32c(b"123456789", 0xFFFFFFFF) ^ 0xFFFFFFFF == 0xE3069283  # the CRC-32C check value
    assert m.default_ids("vg1") == ("509f7d73-vg1", "509f7d73")  # measured, probe steps 41-42
    t10, usn = m.default_ids("vg1", setup_id=0x2A)
    assert (t10, usn) == ("2a509f7d73-vg1", "2a509f7d73")
    assert len(m.default_ids("a-rather-long-device-name")[0]) == m.T10_DEV_ID_MAX


FUSE_LIBRARY_SCRIPT = textwrap.dedent("""
    import errno, json, os, subprocess, sys, threading
    sys.path.insert(0, sys.argv[1])
    import fuse
    mnt = sys.argv[2]
    root = fuse.Directory()
    made = []
    def on_mkdir(ctx, name):
        made.append(name)
        d = fuse.Directory(name)
        d.add(fuse.AttributeFile("attr", lambda c: b"x\\n", lambda c, data: None))
        return groups.add(d)
    def on_rmdir(ctx, name):
        if name == "busy":
            raise fuse.FuseError(errno.EBUSY)
        groups.remove(name)
    groups = root.add(fuse.Directory("groups", on_mkdir=on_mkdir, on_rmdir=on_rmdir))
    root.add(fuse.Symlink("link", lambda: "groups"))
    server = fuse.FuseServer(root, subtype="libtest")
    server.mount(mnt)
    out = {}
    def client():
        try:
            run = lambda *a: subprocess.run(a, capture_output=True, text=True, timeout=10)
            os.mkdir(os.path.join(mnt, "groups", "g1"))
            os.mkdir(os.path.join(mnt, "groups", "busy"))
            out["list"] = sorted(os.listdir(os.path.join(mnt, "groups")))
            out["read"] = open(os.path.join(mnt, "link", "g1", "attr")).read()
            out["trunc"] = run("sh", "-c", f"echo y > {mnt}/groups/g1/attr").returncode
            try:
                os.rmdir(os.path.join(mnt, "groups", "busy"))
            except OSError as exc:
                out["rmdir_busy"] = exc.errno
            os.rmdir(os.path.join(mnt, "groups", "g1"))
            out["after"] = sorted(os.listdir(os.path.join(mnt, "groups")))
            try:
                os.mkdir(os.path.join(mnt, "nope"))
            except OSError as exc:
                out["mkdir_root"] = exc.errno
        finally:
            server.unmount_async()
    threading.Thread(target=client).start()
    server.serve()
    print(json.dumps(out))
""")


def test_fuse_library_mkdir_rmdir_readdir(tmp_path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(["unshare", "--mount", "--propagation", "private",
                             "/usr/bin/python3", "-c", FUSE_LIBRARY_SCRIPT, here, str(mnt)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {"list": ["busy", "g1"], "read": "x\n", "trunc": 0,
                   "rmdir_busy": errno.EBUSY, "after": ["busy"],
                   "mkdir_root": errno.EPERM}
