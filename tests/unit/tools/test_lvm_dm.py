"""lib/alua/tools/lvm.py over output captured from lvm2 2.03.16, and lib/alua/tools/dm.py over a sysfs tree."""

from __future__ import annotations

import subprocess

import pytest
from alua.tools import dm
from alua.tools import lvm
from alua.ocf.errors import OcfError
from alua.host.run import CommandRunner
from drbd_lvm.harness import kernel  # noqa: F401 - fixture
from drbd_lvm.states import FIXTURES, captured
from fakes.fakestate import FakeStorage

VGS = ["vgs", "--reportformat", "json", "--options", "vg_name,vg_lock_type,pv_name", "--"]
LVS = ["lvs", "--reportformat", "json", "--all", "--options", "lv_name,lv_role,lv_skip_activation", "--"]


def register(fp, argv: list[str], name: str) -> None:
    stdout, stderr, rc = captured(name)
    fp.register(argv, stdout=stdout, stderr=stderr, returncode=rc)


# -- names --------------------------------------------------------------------------


def name_rules() -> list[tuple[int, str]]:
    rows = []
    for line in (FIXTURES / "lvm" / "lvcreate_name_rules.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        rc, name, _ = line.split("\t", 2)
        rows.append((int(rc), name))
    return rows


@pytest.mark.parametrize(("rc", "name"), name_rules(), ids=[n[:20] for _, n in name_rules()])
def test_lv_name_rules_match_lvcreate(rc: int, name: str) -> None:
    if rc == 0:
        lvm.check_lv_name(name)
    else:
        with pytest.raises(ValueError):
            lvm.check_lv_name(name)


@pytest.mark.parametrize("name", ["", "-vg", ".", "..", "vg;reboot", "vg/x", "v g", "vg\n", "a" * 128, "$(id)"])
def test_bad_vg_names(name: str) -> None:
    with pytest.raises(ValueError):
        lvm.check_vg_name(name)


def test_lv_name_list() -> None:
    assert lvm.parse_lv_names("lun-1  lun_2") == ("lun-1", "lun_2")
    for raw in ("vg-san/lun-1", "lun1 lun1", "", "lun;1", "snapshot0"):
        with pytest.raises(ValueError):
            lvm.parse_lv_names(raw)


# -- reports and commands, over the captures -------------------------------------------


def test_volume_group_from_captured_report(fp) -> None:
    register(fp, [*VGS, "vg-san"], "vgs_vg_lock_pv")
    vg = lvm.volume_group(CommandRunner(), "vg-san")
    assert vg is not None and (vg.name, vg.lock_type, vg.pvs, vg.is_shared) == ("vg-san", "", ("/dev/loop0",), False)


def test_missing_volume_group_is_none(fp) -> None:
    register(fp, [*VGS, "nosuchvg"], "vgs_vg_lock_pv_missing")
    assert lvm.volume_group(CommandRunner(), "nosuchvg") is None


def test_logical_volumes_from_captured_report(fp) -> None:
    register(fp, [*LVS, "vg-san"], "lvs_all_roles")
    found = {lv.name: (lv.public, lv.skip_activation) for lv in lvm.logical_volumes(CommandRunner(), "vg-san")}
    assert found == {"lun-1": (True, False), "lun_2": (True, False), "snapskip": (True, True)}


@pytest.mark.parametrize(("name", "expected"), [("lvmconfig_full_lockd", False), ("lvmconfig_full_lockd_cfg1", True)])
def test_use_lvmlockd(fp, name: str, expected: bool) -> None:
    register(fp, ["lvmconfig", "--type", "full", "global/use_lvmlockd"], name)
    assert lvm.use_lvmlockd(CommandRunner()) is expected


def test_lvmconfig_failure_is_an_error(fp) -> None:
    register(fp, ["lvmconfig", "--type", "full", "global/use_lvmlockd"], "lvmconfig_current_lockd")
    with pytest.raises(OcfError, match="Configuration node global/use_lvmlockd not found"):
        lvm.use_lvmlockd(CommandRunner())


def test_failed_activation_reports_lvm_reason(fp) -> None:
    register(fp, ["vgchange", "--activate=sy", "--", "vg-san"], "vgchange_activate_sy")
    with pytest.raises(OcfError, match="activating vg-san failed: Incompatible libdevmapper"):
        lvm.activate(CommandRunner(), "vg-san", (), "sy")


def test_lvchange_for_listed_lvs(fp) -> None:
    register(fp, ["lvchange", "--activate=sy", "--", "vg-san/lun-1"], "lvchange_activate_sy")
    with pytest.raises(OcfError, match="activating vg-san/lun-1 failed"):
        lvm.activate(CommandRunner(), "vg-san", ("lun-1",), "sy")


def test_deactivating_a_vg_lvm_cannot_see(fp) -> None:
    register(fp, ["vgchange", "--activate=n", "--", "nosuchvg"], "vgchange_activate_n_missing")
    result = lvm.deactivate(CommandRunner(), "nosuchvg", ())
    assert not result.ok and lvm.not_found(result, "nosuchvg")
    assert lvm.last_line(result) == 'Volume group "nosuchvg" not found'


def test_lock_start_without_lvmlockd_succeeds_quietly(fp) -> None:
    """Why validate-all checks use_lvmlockd itself: lvm only warns, exit code 0."""
    register(fp, ["vgchange", "--lock-start", "--", "vg-san"], "vgchange_lock_start_nolockd")
    lvm.lock_start(CommandRunner(), "vg-san")


@pytest.mark.parametrize(
    ("mode", "lvmlockd", "flag"),
    [("shared", True, "sy"), ("exclusive", True, "ey"), ("shared", False, "y"), ("exclusive", False, "ey")],
)
def test_activation_flag(mode: str, lvmlockd: bool, flag: str) -> None:
    assert lvm.activation_flag(mode, lvmlockd) == flag


# -- device-mapper names and sysfs ---------------------------------------------------------


def test_dm_name_matches_lvm_dm_path() -> None:
    stdout, _, _ = captured("lvs_dm_path")
    assert '"lv_dm_path":"/dev/mapper/vg--san-lun--1"' in stdout
    assert dm.lvm_dm_name("vg-san", "lun-1") == "vg--san-lun--1"
    assert dm.lvm_dm_name("vg-san", "lun_2") == "vg--san-lun_2"


@pytest.mark.parametrize(
    ("vg", "lv", "layer"),
    [
        ("vg-san", "lun-1", None),
        ("vg", "lv", None),
        ("a-", "b", None),
        ("a--b", "c---d", None),
        ("vg", "pool_tdata", None),
        ("vg-san", "lun-1", "real"),
        ("vg", "snap", "cow"),
        ("v.g+1", "l.v", "tpool"),
    ],
)
def test_dm_name_round_trip(vg: str, lv: str, layer: str | None) -> None:
    assert dm.split_lvm_dm_name(dm.lvm_dm_name(vg, lv, layer)) == (vg, lv, layer)


@pytest.mark.parametrize("name", ["vg", "", "-lv", "vg-", "vg--only"])
def test_not_lvm_dm_names(name: str) -> None:
    assert dm.split_lvm_dm_name(name) is None


def test_active_lvs_from_sysfs(kernel) -> None:  # noqa: F811
    kernel.dm("vg--san-lun--1")
    kernel.dm("vg--san-lun_2", suspended=True)
    kernel.dm("vg--san-snap-cow")  # a layer, not an LV
    kernel.dm("vg-other")  # VG "vg", not "vg-san"
    kernel.dm("vg--san-crypt", uuid="CRYPT-LUKS2-0123-vg--san-crypt")  # not LVM's
    active = dm.active_lvs("vg-san")
    assert sorted(active) == ["lun-1", "lun_2"]
    assert active["lun_2"].suspended and not active["lun-1"].suspended
    assert sorted(dm.active_lvs("vg")) == ["other"]
    assert [d.name for d in dm.vg_devices("vg-san")] == ["vg--san-lun--1", "vg--san-lun_2", "vg--san-snap-cow"]


def test_underlying_devices_through_layers(kernel) -> None:  # noqa: F811
    tdata = kernel.dm("vg-pool_tdata", slaves=("drbd0", "drbd1"))
    tpool = kernel.dm("vg-pool-tpool", slaves=(tdata,))
    thin = kernel.dm("vg-thin1", slaves=(tpool,))
    (kernel.sys_block / tdata / "holders" / tpool).write_text("")
    (kernel.sys_block / tpool / "holders" / thin).write_text("")
    active = dm.active_lvs("vg")
    assert dm.underlying([active["thin1"]]) == {"drbd0", "drbd1"}
    order = [d.name for d in dm.removal_order(dm.vg_devices("vg"))]
    assert order.index("vg-thin1") < order.index("vg-pool-tpool") < order.index("vg-pool_tdata")


def test_no_device_mapper_at_all(tmp_path) -> None:
    assert dm.dm_devices(str(tmp_path / "missing")) == []


# -- the fakes print what lvm2 prints -----------------------------------------------------


def test_fake_vgs_prints_the_captured_layout(tmp_path) -> None:
    store = FakeStorage(tmp_path)
    store.add_vg("vg-san", ("/dev/loop0",), ("lun-1",), lock_type="")
    proc = subprocess.run([*VGS, "vg-san"], env=store.env(), capture_output=True, text=True, check=False)
    assert proc.stdout == captured("vgs_vg_lock_pv")[0]
    missing = subprocess.run([*VGS, "nosuchvg"], env=store.env(), capture_output=True, text=True, check=False)
    stdout, stderr, rc = captured("vgs_vg_lock_pv_missing")
    assert (missing.returncode, missing.stderr) == (rc, stderr)


def test_fake_lvs_prints_the_captured_layout(tmp_path) -> None:
    store = FakeStorage(tmp_path)
    store.add_vg("vg-san", ("/dev/loop0",), ("lun-1", "lun_2", "snapskip"), lock_type="", skip=("snapskip",))
    proc = subprocess.run([*LVS, "vg-san"], env=store.env(), capture_output=True, text=True, check=False)
    assert proc.stdout == captured("lvs_all_roles")[0]


def test_fake_lock_start_without_lvmlockd_prints_what_lvm_prints(tmp_path) -> None:
    store = FakeStorage(tmp_path)
    store.add_vg("vg-san", ("/dev/loop0",), ("lun-1",), lock_type="")
    proc = subprocess.run(
        ["vgchange", "--lock-start", "--", "vg-san"], env=store.env(), capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, *captured("vgchange_lock_start_nolockd")[:2])
