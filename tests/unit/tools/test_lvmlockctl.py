"""lvmlockctl --info --dump and lvmconfig outputs captured from lvm2 2.03.16, parsed."""

from __future__ import annotations

from alua.tools import lvmlockctl
from lockgroup.harness import fixture

LV1 = "DUaQqG-6JTZ-rsdC-MHur-RikC-h2ZS-R3FJzg"  # vg1/lv1 in lvs-uuids.txt
LV2 = "32l4g5-8Dpf-gSiJ-0MwK-o8JU-qQvm-087Wcz"  # vg1/lv2
VG1 = "QU2pXo-tyMI-vlWx-903x-w3x3-k6oF-H4DcOD"


def info(name: str) -> lvmlockctl.LockdInfo:
    return lvmlockctl.parse_info_dump(fixture("lvm", name))


def test_idle_daemon_has_a_client_and_no_lockspace() -> None:
    i = info("lvmlockctl-info-dump-idle.txt")
    assert i.lockspaces == [] and len(i.clients) == 1


def test_started_shared_vg_has_global_and_vg_lockspaces_without_active_lvs() -> None:
    i = info("lvmlockctl-info-dump-lockspaces.txt")
    assert [ls.name for ls in i.running_lockspaces()] == ["lvm_global", "lvm_vg1"]
    assert i.lockspaces[1].vg_name == "vg1" and i.lockspaces[1].vg_uuid == VG1
    assert [(r.type, r.name, r.mode) for r in i.lockspaces[1].resources] == [
        ("vg", "VGLK", "un"),
        ("lv", LV1, "un"),
        ("lv", LV2, "un"),
    ]
    assert i.active_lvs() == []


def test_active_lvs_are_the_lv_locks_held_shared_or_exclusive() -> None:
    active = info("lvmlockctl-info-dump-lv-active.txt").active_lvs()
    assert [(ls.vg_name, r.name, r.held_mode) for ls, r in active] == [("vg1", LV1, "sh"), ("vg1", LV2, "ex")]


def test_busy_stop_leaves_the_vg_lockspace_with_its_lv_locks() -> None:
    i = info("lvmlockctl-info-dump-after-busy-stop.txt")
    assert [ls.name for ls in i.running_lockspaces()] == ["lvm_vg1"]
    assert len(i.active_lvs()) == 2
    assert [c["name"] for c in i.clients] == ["lvmlockctl", "."]  # the hung --stop-lockspaces


def test_a_lockspace_being_removed_is_not_running() -> None:
    i = info("lvmlockctl-info-dump-after-deactivate.txt")
    assert [ls.name for ls in i.lockspaces] == ["REM:lvm_vg1"]
    assert i.lockspaces[0].stopping and i.running_lockspaces() == [] and i.active_lvs() == []


def test_stopped_lockspaces_are_gone() -> None:
    assert info("lvmlockctl-info-dump-stopped.txt").lockspaces == []


def test_plain_info_text_is_not_mistaken_for_records() -> None:
    assert lvmlockctl.parse_info_dump(fixture("lvm", "lvmlockctl-info-lv-active.txt")).lockspaces == []


def test_active_lvs_are_named_from_device_mapper_sysfs(tmp_path) -> None:
    def dm(dev: str, name: str, uuid: str) -> None:
        d = tmp_path / dev / "dm"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "uuid").write_text(uuid + "\n")

    nodash = VG1.replace("-", "")
    dm("dm-0", "my--vg-lv1", f"LVM-{nodash}{LV1.replace('-', '')}")
    dm("dm-1", "my--vg-lv2-real", f"LVM-{nodash}{LV2.replace('-', '')}-real")  # a layer, not the LV
    dm("dm-2", "other", "CRYPT-LUKS2-0123")
    (tmp_path / "sda").mkdir()
    names = lvmlockctl.active_lv_names([LV1, LV2], str(tmp_path))
    assert names == {LV1: "my-vg/lv1"}
