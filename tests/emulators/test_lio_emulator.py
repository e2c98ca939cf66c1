"""Tests of the LIO configfs emulator itself, through the real FUSE mount.

Each kernel behaviour the agent relies on (LIO-FACTS.md) is checked with
plain shell commands inside the emulator's mount namespace or with Python
file I/O through /proc/PID/root, as the agent and targetcli would see it.
"""
from __future__ import annotations

import errno
import os

import pytest

from .lio_client import EmulatorError, LioEmulator
from .lio_fixtures import lio_emulator  # noqa: F401  (pytest fixture)
from .test_scst_emulator import _REASON

pytestmark = pytest.mark.skipif(bool(_REASON), reason=_REASON or "supported")

WWN = "iqn.2003-01.org.linux-iscsi.n1:san"
DEV = "target/core/iblock_0/vg1"
ALUA = f"{DEV}/alua"
LUN = f"target/iscsi/{WWN}/tpgt_1/lun/lun_0"
BASE = {
    "backstores": {"iblock_0/vg1": {"serial": "5f3d2c1a", "udev_path": "/dev/drbd0"},
                   "fileio_1/spare": {"serial": "0ddba11"}},
    "targets": {"iscsi": {WWN: {"tpgs": {"1": {"enable": 1, "luns": {
        "0": {"backstore": "iblock_0/vg1", "alias": "3cdfad2095"}}}}}}},
}


def sh_ok(em: LioEmulator, script: str) -> str:
    result = em.sh(f"cd /sys/kernel/config && {script}", timeout=20)
    assert result.returncode == 0, f"{script!r} failed: {result.stderr}"
    return result.stdout


def write_errno(em: LioEmulator, rel: str, value: str) -> int:
    try:
        em.write(rel, value)
    except OSError as exc:
        return exc.errno
    return 0


def mkdir_errno(em: LioEmulator, rel: str) -> int:
    try:
        os.mkdir(em.path(rel))
    except OSError as exc:
        return exc.errno
    return 0


@pytest.fixture
def em(lio_emulator) -> LioEmulator:  # noqa: F811
    return lio_emulator(BASE, name="lio")


def new_group(em: LioEmulator, name: str, group_id: int | None = None) -> None:
    assert mkdir_errno(em, f"{ALUA}/{name}") == 0
    if group_id is not None:
        assert write_errno(em, f"{ALUA}/{name}/tg_pt_gp_id", f"{group_id}\n") == 0


# -- layout ----------------------------------------------------------------------------


def test_the_tree_targetcli_and_the_agent_walk(em: LioEmulator) -> None:
    out = sh_ok(em, "cat target/version; ls target/core/iblock_0/vg1; cat target/core/iblock_0/vg1/wwn/vpd_unit_serial;"
                    f" readlink {LUN}/3cdfad2095; cat {LUN}/alua_tg_pt_gp; ls {ALUA}")
    assert out.startswith("Target Engine Core ConfigFS Infrastructure v5.0 on Linux/")
    for name in ("alua", "attrib", "enable", "info", "pr", "statistics", "udev_path", "wwn"):
        assert f"{name}\n" in out
    assert "T10 VPD Unit Serial Number: 5f3d2c1a\n" in out
    assert "../../../../../../target/core/iblock_0/vg1\n" in out, "a relative link to the backstore"
    assert "TG Port Alias: default_tg_pt_gp\nTG Port Group ID: 0\n" in out
    assert "TG Port Primary Access State: Active/Optimized\n" in out
    assert out.endswith("default_tg_pt_gp\n"), "a new device has only its default group"
    assert sh_ok(em, f"readlink -f {LUN}/3cdfad2095") == f"/sys/kernel/config/{DEV}\n"


def test_a_new_group_has_the_kernel_defaults_and_no_id(em: LioEmulator) -> None:
    new_group(em, "n1")
    group = f"{ALUA}/n1"
    assert em.read(f"{group}/tg_pt_gp_id") == ""
    assert em.read(f"{group}/alua_access_state") == "0\n"
    assert em.read(f"{group}/alua_access_type") == "Implicit and Explicit\n"
    assert em.read(f"{group}/alua_access_status") == "None\n"
    assert em.read(f"{group}/nonop_delay_msecs") == "100\n"
    assert em.read(f"{group}/alua_support_lba_dependent") == "0\n"
    assert em.read(f"{group}/alua_support_offline") == "1\n"
    assert em.read(f"{group}/members") == ""
    assert em.dump()["backstores"]["iblock_0/vg1"]["alua"]["n1"]["tg_pt_gp_id"] is None


def test_mkdir_and_rmdir_rules(em: LioEmulator) -> None:
    new_group(em, "n1", 1)
    assert mkdir_errno(em, f"{ALUA}/n1") == errno.EEXIST
    assert mkdir_errno(em, f"{DEV}/wwn/x") == errno.EPERM, "only alua/ makes groups here"
    assert write_errno(em, f"{LUN}/alua_tg_pt_gp", "n1\n") == 0
    assert em.sh(f"rmdir /sys/kernel/config/{ALUA}/default_tg_pt_gp").returncode != 0
    sh_ok(em, f"rmdir {ALUA}/n1")
    assert "TG Port Alias: default_tg_pt_gp" in em.read(f"{LUN}/alua_tg_pt_gp"), "members fall back"
    ops = [(w["op"], w["path"], w["result"]) for w in em.writes() if w["op"] != "write"]
    # The VFS itself answers EEXIST for a name that exists: that mkdir never reaches configfs.
    assert ops == [("mkdir", f"{ALUA}/n1", "ok"), ("rmdir", f"{ALUA}/default_tg_pt_gp", "EPERM"),
                   ("rmdir", f"{ALUA}/n1", "ok")]


# -- tg_pt_gp_id -------------------------------------------------------------------------


def test_tg_pt_gp_id_is_set_once_unique_and_0_means_the_next_free(em: LioEmulator) -> None:
    new_group(em, "n1", 2)
    assert em.read(f"{ALUA}/n1/tg_pt_gp_id") == "2\n"
    assert write_errno(em, f"{ALUA}/n1/tg_pt_gp_id", "2\n") == errno.EINVAL, "only once, even the same id"
    new_group(em, "n2")
    assert write_errno(em, f"{ALUA}/n2/tg_pt_gp_id", "2\n") == errno.EINVAL, "taken in this device"
    assert write_errno(em, f"{ALUA}/n2/tg_pt_gp_id", "65536\n") == errno.EINVAL
    assert write_errno(em, f"{ALUA}/n2/tg_pt_gp_id", "two\n") == errno.EINVAL
    assert write_errno(em, f"{ALUA}/n2/tg_pt_gp_id", "0\n") == 0
    assert em.read(f"{ALUA}/n2/tg_pt_gp_id") == "1\n", "the default group took 0"
    assert mkdir_errno(em, "target/core/fileio_1/spare/alua/n1") == 0
    assert write_errno(em, "target/core/fileio_1/spare/alua/n1/tg_pt_gp_id", "2\n") == 0, "ids are per device"


# -- alua_access_state ---------------------------------------------------------------------


def test_a_state_needs_an_id_and_implicit_alua(em: LioEmulator) -> None:
    new_group(em, "n1")
    state = f"{ALUA}/n1/alua_access_state"
    assert write_errno(em, state, "1\n") == errno.EINVAL, "no id yet"
    assert write_errno(em, f"{ALUA}/n1/tg_pt_gp_id", "1\n") == 0
    assert write_errno(em, state, "1\n") == 0
    assert em.read(state) == "1\n" and em.read(f"{ALUA}/n1/alua_access_status") == "Altered by Implicit ALUA\n"
    assert write_errno(em, f"{ALUA}/n1/alua_access_type", "2\n") == 0
    assert em.read(f"{ALUA}/n1/alua_access_type") == "Explicit\n"
    assert write_errno(em, state, "2\n") == errno.EINVAL, "configfs writes are implicit transitions"
    assert write_errno(em, f"{ALUA}/n1/alua_access_type", "1\n") == 0
    assert em.read(f"{ALUA}/n1/alua_access_type") == "Implicit\n"
    assert write_errno(em, f"{ALUA}/n1/alua_access_type", "4\n") == errno.EINVAL


@pytest.mark.parametrize(("value", "err"), [("0", 0), ("1", 0), ("2", 0), ("3", 0), ("14", 0), ("15", 0),
                                            ("0xe", 0), ("4", errno.EINVAL), ("5", errno.EINVAL),
                                            ("16", errno.EINVAL), ("active", errno.EINVAL),
                                            ("1 2", errno.EINVAL), ("-1", errno.EINVAL)])
def test_state_values(em: LioEmulator, value: str, err: int) -> None:
    new_group(em, "n1", 1)
    assert write_errno(em, f"{ALUA}/n1/alua_access_state", value + "\n") == err


def test_an_unsupported_state_and_an_unconfigured_device_are_refused(lio_emulator) -> None:  # noqa: F811
    config = {"backstores": {"iblock_0/vg1": {"serial": "x", "enabled": 0}}}
    em = lio_emulator(config, name="lio")
    new_group(em, "n1", 1)
    assert write_errno(em, f"{ALUA}/n1/alua_access_state", "1\n") == errno.ENODEV
    assert write_errno(em, f"{DEV}/enable", "0\n") == errno.EINVAL
    assert write_errno(em, f"{DEV}/enable", "1\n") == 0
    assert write_errno(em, f"{DEV}/enable", "1\n") == errno.EEXIST
    assert write_errno(em, f"{ALUA}/n1/alua_support_offline", "0\n") == 0
    assert write_errno(em, f"{ALUA}/n1/alua_access_state", "14\n") == errno.EINVAL
    assert write_errno(em, f"{ALUA}/n1/alua_access_state", "3\n") == 0


def test_a_group_without_members_takes_a_state(em: LioEmulator) -> None:
    new_group(em, "peer", 2)
    assert write_errno(em, f"{ALUA}/peer/alua_access_state", "14\n") == 0
    assert em.read(f"{ALUA}/peer/members") == ""


# -- LUN membership --------------------------------------------------------------------------


def test_a_lun_joins_a_group_by_name_and_null_means_default(em: LioEmulator) -> None:
    new_group(em, "nameless")  # no id: not findable
    assert write_errno(em, f"{LUN}/alua_tg_pt_gp", "nameless\n") == errno.ENODEV
    assert write_errno(em, f"{LUN}/alua_tg_pt_gp", "nosuch\n") == errno.ENODEV
    new_group(em, "n1", 1)
    assert write_errno(em, f"{LUN}/alua_tg_pt_gp", "n1\n") == 0
    assert em.read(f"{LUN}/alua_tg_pt_gp").startswith("TG Port Alias: n1\nTG Port Group ID: 1\n")
    with open(em.path(f"{ALUA}/n1/members"), "rb") as members:
        raw = members.read()
    assert raw == f"iSCSI/{WWN}/tpgt_1/lun_0\n\0".encode(), "the fabric's name, and a NUL after each line"
    assert em.read(f"{ALUA}/default_tg_pt_gp/members") == ""
    assert write_errno(em, f"{LUN}/alua_tg_pt_gp", "NULL\n") == 0
    assert em.read(f"{ALUA}/n1/members") == ""
    assert write_errno(em, f"{LUN}/alua_tg_pt_gp", "x" * 300) == errno.EINVAL


def test_the_unit_serial_cannot_change_under_an_export(em: LioEmulator) -> None:
    serial = "target/core/fileio_1/spare/wwn/vpd_unit_serial"
    assert write_errno(em, serial, "  new-serial \n") == 0
    assert em.read(serial) == "T10 VPD Unit Serial Number: new-serial\n"
    assert write_errno(em, serial, "x" * 254) == errno.EOVERFLOW
    assert write_errno(em, f"{DEV}/wwn/vpd_unit_serial", "other\n") == errno.EINVAL, "lun_0 exports it"


def test_tpg_enable_and_rtpi(lio_emulator) -> None:  # noqa: F811
    em = lio_emulator({**BASE, "rtpi": True}, name="lio")
    tpg = f"target/iscsi/{WWN}/tpgt_1"
    assert em.read(f"{tpg}/rtpi") == "0x1\n"
    assert write_errno(em, f"{tpg}/rtpi", "5\n") == errno.EINVAL, "only while the TPG is disabled"
    assert write_errno(em, f"{tpg}/enable", "2\n") == errno.EINVAL
    assert write_errno(em, f"{tpg}/enable", "0\n") == 0
    assert write_errno(em, f"{tpg}/rtpi", "0\n") == errno.EINVAL
    assert write_errno(em, f"{tpg}/rtpi", "70000\n") == errno.ERANGE
    assert write_errno(em, f"{tpg}/rtpi", "0x10\n") == 0
    assert em.read(f"{tpg}/rtpi") == "0x10\n"


def test_no_rtpi_before_linux_6_4(em: LioEmulator) -> None:
    assert not os.path.exists(em.path(f"target/iscsi/{WWN}/tpgt_1/rtpi"))


# -- faults, write log, control ----------------------------------------------------------------


def test_faults_fail_or_hang_one_attribute_and_are_logged(em: LioEmulator) -> None:
    new_group(em, "n1", 1)
    state = f"{ALUA}/n1/alua_access_state"
    em.fault(state, kind="eio", on="write")
    assert write_errno(em, state, "1\n") == errno.EIO
    assert em.read(state) == "0\n", "a failed store changes nothing"
    em.fault(state, kind="hang", on="write", seconds=0.3)
    assert write_errno(em, state, "1\n") == 0, "a hang that ends applies the store"
    em.fault(f"{ALUA}/n2", kind="enospc", on="mkdir")
    assert mkdir_errno(em, f"{ALUA}/n2") == errno.ENOSPC
    em.clear_faults()
    result = em.sh(f"timeout -s INT 1 sh -c 'echo 1 > /sys/kernel/config/{state}'; echo done")
    assert "done" in result.stdout
    log = [(w["op"], w["path"], w["data"], w["result"], w["by"]) for w in em.writes()]
    assert (("write", state, "1\n", "EIO", "fuse")) in log
    assert (("mkdir", f"{ALUA}/n2", "", "ENOSPC", "fuse")) in log


def test_backdoor_and_lun_removal(em: LioEmulator) -> None:
    new_group(em, "n1", 1)
    em.set(f"{LUN}/alua_tg_pt_gp", "n1")
    assert em.dump()["backstores"]["iblock_0/vg1"]["alua"]["n1"]["members"] == [f"iSCSI/{WWN}/tpgt_1/lun_0"]
    assert em.writes()[-1]["by"] == "backdoor"
    with pytest.raises(Exception, match="EINVAL"):
        em.set(f"{ALUA}/n1/alua_access_state", "9")
    em.remove_lun(WWN)
    assert em.dump()["backstores"]["iblock_0/vg1"]["alua"]["n1"]["members"] == []
    assert not os.path.exists(em.path(LUN))
    assert write_errno(em, "target/core/iblock_0/vg1/wwn/vpd_unit_serial", "now-free\n") == 0


# -- network portals (tpgt_N/np) -----------------------------------------------------------

NP = f"target/iscsi/{WWN}/tpgt_1/np"


def np_mkdirs(em: LioEmulator) -> list[tuple[str, str, str]]:
    """(name, result, dmesg) of every np mkdir that reached the emulated kernel."""
    return [(w["path"].rsplit("/", 1)[1], w["result"], w.get("dmesg", "")) for w in em.writes()
            if w["op"] == "mkdir" and w["path"].startswith(f"{NP}/")]


def test_mkdir_in_np_creates_a_portal_with_its_two_driver_attributes(em: LioEmulator) -> None:
    assert em.portals(WWN) == []
    assert sh_ok(em, f"ls {NP}") == ""
    sh_ok(em, f"mkdir {NP}/192.168.122.98:3260")
    out = sh_ok(em, f"ls {NP}; ls -l {NP}/192.168.122.98:3260; cat {NP}/192.168.122.98:3260/iser "
                    f"{NP}/192.168.122.98:3260/cxgbit")
    assert out.startswith("192.168.122.98:3260\n")
    assert out.count("-rw-r--r--") == 2 and " cxgbit\n" in out and " iser\n" in out
    assert out.endswith("0\n0\n"), "no iSER, no Chelsio offload"
    assert em.portals(WWN) == ["192.168.122.98:3260"]
    assert np_mkdirs(em) == [("192.168.122.98:3260", "ok", "")]


@pytest.mark.parametrize(("name", "dmesg"), [
    # measured on Linux 6.1 (UML), 2026-11-25: errno EINVAL and these kernel messages
    ("bogus", 'Unable to locate ":port" in IPv4 iSCSI network portal address'),
    ("192.168.122.98:99999", "malformed ip/port passed: 192.168.122.98:99999"),
    ("[fe80::1", 'Unable to locate trailing "]" in IPv6 iSCSI network portal address'),
    ("[fe80::1]:3260", "kernel_bind() failed: -22"),
    # from the source (lio_target_call_addnptotpg, inet_pton_with_scope, in4_pton, in6_pton)
    ("[fd00::1]", 'Unable to locate ":port" in IPv6 iSCSI network portal address'),
    ("192.168.122.98", 'Unable to locate ":port" in IPv4 iSCSI network portal address'),
    ("1.2.3:3260", "malformed ip/port passed: 1.2.3:3260"),
    ("256.1.1.1:3260", "malformed ip/port passed: 256.1.1.1:3260"),
    ("1.2.3.4:", "malformed ip/port passed: 1.2.3.4:"),
    ("1.2.3.4:3260x", "malformed ip/port passed: 1.2.3.4:3260x"),
    ("1.2.3.4:09", "malformed ip/port passed: 1.2.3.4:09"),
    ("[zz::1]:3260", "malformed ip/port passed: [zz::1]:3260"),
    ("[1::2::3]:3260", "malformed ip/port passed: [1::2::3]:3260"),
    ("fd00::1:3260", "malformed ip/port passed: fd00::1:3260"),
    ("[fe80::1%nosuch]:3260", "malformed ip/port passed: [fe80::1%nosuch]:3260"),
    ("[fe80::1%9]:3260", "kernel_bind() failed: -19"),
])
def test_a_bad_portal_name_is_einval_with_the_kernel_s_reason(em: LioEmulator, name: str, dmesg: str) -> None:
    assert mkdir_errno(em, f"{NP}/{name}") == errno.EINVAL, "target_fabric_make_np() turns every failure into EINVAL"
    assert em.portals(WWN) == [] and not os.path.exists(em.path(f"{NP}/{name}"))
    assert np_mkdirs(em) == [(name, "EINVAL", dmesg)]


@pytest.mark.parametrize(("name", "why"), [
    ("10.9.9.9:3260", "an address this node does not have: LIO binds with IP_FREEBIND (measured)"),
    ("192.168.122.98:0", "port 0 (measured)"),
    ("0.0.0.0:3261", "the wildcard address (measured)"),
    ("192.168.122.98:03260", "kstrtou16 base 0: octal 03260, port 1712 (measured: accepted)"),
    ("192.168.122.98:0xcbc", "hex port"),
    ("[fd00::98]:3260", "IPv6"),
    ("[::]:3260", "the IPv6 wildcard"),
    ("[fe80::1%eth0]:3260", "link-local with an interface scope"),
    ("[fe80::1%2]:3260", "link-local with an interface index"),
    ("[1.2.3.4]:3260", "IPv4 in brackets: AF_UNSPEC tries IPv4 first"),
])
def test_portal_names_lio_accepts(em: LioEmulator, name: str, why: str) -> None:
    assert mkdir_errno(em, f"{NP}/{name}") == 0, why
    assert em.portals(WWN) == [name], "the directory keeps the name as given"


def test_one_socket_address_once_per_target_whatever_its_spelling(lio_emulator) -> None:  # noqa: F811
    """The lab's EINVAL for 192.168.122.098:3260: in4_pton reads 098 as 98, an address the TPG had."""
    config = {**BASE, "targets": {"iscsi": {WWN: {"tpgs": {"1": {"portals": ["192.168.122.98:3260"]},
                                                           "2": {"enable": 0}}}}}}
    em = lio_emulator(config, name="lio")
    reason = f"Network Portal: 192.168.122.98 already exists on a different TPG on {WWN}"
    assert mkdir_errno(em, f"{NP}/192.168.122.098:3260") == errno.EINVAL
    assert mkdir_errno(em, f"{NP}/192.168.122.98:0xcbc") == errno.EINVAL
    assert mkdir_errno(em, f"target/iscsi/{WWN}/tpgt_2/np/192.168.122.98:3260") == errno.EINVAL, "any TPG"
    assert np_mkdirs(em) == [("192.168.122.098:3260", "EINVAL", reason), ("192.168.122.98:0xcbc", "EINVAL", reason)]
    assert mkdir_errno(em, f"{NP}/192.168.122.98:3261") == 0, "another port"
    assert mkdir_errno(em, f"{NP}/[::ffff:192.168.122.98]:3260") == 0, "another family"
    assert em.portals(WWN) == ["192.168.122.98:3260", "192.168.122.98:3261", "[::ffff:192.168.122.98]:3260"]


def test_an_existing_name_is_eexist_from_the_vfs_and_a_long_one_enametoolong(em: LioEmulator) -> None:
    sh_ok(em, f"mkdir {NP}/192.168.122.98:3260")
    assert mkdir_errno(em, f"{NP}/192.168.122.98:3260") == errno.EEXIST
    long_name = "1" * 250 + ".1.1.1:3260"
    assert mkdir_errno(em, f"{NP}/{long_name}") == errno.ENAMETOOLONG, "configfs_lookup: > NAME_MAX"
    assert np_mkdirs(em) == [("192.168.122.98:3260", "ok", "")], "neither reached LIO"
    assert em.portals(WWN) == ["192.168.122.98:3260"]


def test_rmdir_removes_a_portal_and_a_missing_one_is_enoent(em: LioEmulator) -> None:
    sh_ok(em, f"mkdir {NP}/192.168.122.98:3260 {NP}/192.168.152.98:3260")
    sh_ok(em, f"rmdir {NP}/192.168.122.98:3260")
    assert em.portals(WWN) == ["192.168.152.98:3260"]
    assert sh_ok(em, f"ls {NP}") == "192.168.152.98:3260\n"
    try:
        os.rmdir(em.path(f"{NP}/192.168.122.98:3260"))
        err = 0
    except OSError as exc:
        err = exc.errno
    assert err == errno.ENOENT
    assert em.sh(f"rmdir /sys/kernel/config/{NP}").returncode != 0, "np itself is a default group"
    ops = [(w["op"], w["path"].removeprefix(f"{NP}/"), w["result"]) for w in em.writes()]
    assert ops == [("mkdir", "192.168.122.98:3260", "ok"), ("mkdir", "192.168.152.98:3260", "ok"),
                   ("rmdir", "192.168.122.98:3260", "ok")], "ENOENT comes from the lookup, not from LIO"
    sh_ok(em, f"mkdir {NP}/192.168.122.98:3260")
    assert em.portals(WWN) == ["192.168.152.98:3260", "192.168.122.98:3260"], "the address is free again"


def test_the_driver_attributes_accept_0_only(em: LioEmulator) -> None:
    sh_ok(em, f"mkdir {NP}/192.168.122.98:3260")
    iser = f"{NP}/192.168.122.98:3260/iser"
    assert write_errno(em, iser, "0\n") == 0
    assert write_errno(em, iser, "2\n") == errno.EINVAL
    assert write_errno(em, iser, "x\n") == errno.EINVAL
    assert write_errno(em, iser, "1\n") == errno.ENODEV, "no iSER hardware here"
    assert em.read(iser) == "0\n"


def test_np_faults_and_other_fabrics(lio_emulator) -> None:  # noqa: F811
    config = {**BASE, "targets": {**BASE["targets"], "loopback": {"naa.5001405aaaaaaaaa": {"tpgs": {"1": {}}}}}}
    em = lio_emulator(config, name="lio")
    em.fault(f"{NP}/192.168.122.98:3260", kind="enomem", on="mkdir")
    assert mkdir_errno(em, f"{NP}/192.168.122.98:3260") == errno.ENOMEM
    assert em.portals(WWN) == []
    em.clear_faults()
    sh_ok(em, f"mkdir {NP}/192.168.122.98:3260")
    em.fault(f"{NP}/192.168.122.98:3260", kind="ebusy", on="rmdir")
    assert em.sh(f"rmdir /sys/kernel/config/{NP}/192.168.122.98:3260").returncode != 0
    assert em.portals(WWN) == ["192.168.122.98:3260"], "a failed rmdir changes nothing"
    em.clear_faults()
    sh_ok(em, f"rmdir {NP}/192.168.122.98:3260")
    loop_np = "target/loopback/naa.5001405aaaaaaaaa/tpgt_1/np"
    assert mkdir_errno(em, f"{loop_np}/192.168.122.98:3260") == errno.ENOSYS, "only iSCSI has network portals"
    log = [(w["op"], w["path"], w["result"]) for w in em.writes()]
    assert log == [("mkdir", f"{NP}/192.168.122.98:3260", "ENOMEM"), ("mkdir", f"{NP}/192.168.122.98:3260", "ok"),
                   ("rmdir", f"{NP}/192.168.122.98:3260", "EBUSY"), ("rmdir", f"{NP}/192.168.122.98:3260", "ok"),
                   ("mkdir", f"{loop_np}/192.168.122.98:3260", "ENOSYS")]


def test_portals_in_a_saved_config_and_removing_a_target(lio_emulator) -> None:  # noqa: F811
    config = {**BASE, "targets": {"iscsi": {WWN: {"tpgs": {"1": {
        "luns": BASE["targets"]["iscsi"][WWN]["tpgs"]["1"]["luns"],
        "portals": ["192.168.122.98:3260", "[fd00::98]:3260"]}}}}}}
    em = lio_emulator(config, name="lio")
    assert em.portals(WWN) == ["192.168.122.98:3260", "[fd00::98]:3260"]
    assert sh_ok(em, f"ls {NP}").split() == sorted(["192.168.122.98:3260", "[fd00::98]:3260"])
    assert em.writes() == [], "a config is not a write"
    em.remove_target(WWN)
    assert em.portals(WWN) == [] and WWN not in em.dump()["targets"].get("iscsi", {})
    assert not os.path.exists(em.path(f"target/iscsi/{WWN}"))
    assert em.read(f"{ALUA}/default_tg_pt_gp/members") == "", "its LUNs went with it"


@pytest.mark.parametrize("portals", [["bogus"], ["[fe80::1]:3260"], ["1.1.1.1:3260", "1.1.1.1:3260"],
                                     ["1.1.1.1:3260", "1.1.1.01:3260"]])
def test_a_config_with_a_portal_lio_refuses_does_not_start(lio_emulator, portals) -> None:  # noqa: F811
    config = {**BASE, "targets": {"iscsi": {WWN: {"tpgs": {"1": {"portals": portals}}}}}}
    with pytest.raises(EmulatorError, match="portal"):
        lio_emulator(config, name="lio")
