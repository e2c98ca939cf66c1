"""drbd-lvm run as Pacemaker runs it, against a fake node that keeps state.

The fake node is tests/fakes: lvm, dmsetup, drbdsetup and dd on PATH acting
on one state directory, and a private mount namespace in which /sys/block
and /proc/drbd are that directory's (kernel_ns.py).  The agent itself runs
unmodified, from agents/ or installed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import assert_no_traceback, run_agent
from drbd_lvm.harness import run_in_namespace, storage  # noqa: F401 - fixture
from fakes.fakestate import DRBD9, FakeStorage

RECURRING = {"interval": "30000"}
PROBE = {"interval": "0"}


def run(
    store: FakeStorage,
    action: str,
    params: dict[str, str] | None = None,
    *,
    meta: dict[str, str] | None = None,
    rsctmp: Path,
    **kwargs,
):
    result = run_in_namespace(store, action, params, meta=meta, rsctmp=rsctmp, **kwargs)
    assert_no_traceback(result)
    return result


def test_lifecycle_on_drbd84(storage, rsctmp) -> None:  # noqa: F811
    assert run(storage, "validate-all", rsctmp=rsctmp).rc == 0
    assert run(storage, "monitor", meta=PROBE, rsctmp=rsctmp).rc == 7
    assert run(storage, "start", rsctmp=rsctmp).rc == 0
    assert sorted(storage.dm()) == ["vg--san-lun--1", "vg--san-lun_2"]
    assert storage.lvm()["lockspaces"] == ["vg-san"]
    storage.clear_calls()
    assert run(storage, "monitor", meta=RECURRING, rsctmp=rsctmp).rc == 0
    assert run(storage, "monitor", meta=PROBE, rsctmp=rsctmp).rc == 0
    assert storage.calls() == [], "on DRBD 8.4 monitor reads sysfs and /proc/drbd only"
    assert run(storage, "stop", rsctmp=rsctmp).rc == 0
    assert storage.dm() == {} and storage.lvm()["lockspaces"] == []
    assert run(storage, "monitor", meta=RECURRING, rsctmp=rsctmp).rc == 7


def test_lifecycle_on_drbd9(storage, rsctmp) -> None:  # noqa: F811
    storage.set_drbd_version(DRBD9)
    assert run(storage, "start", rsctmp=rsctmp).rc == 0
    storage.clear_calls()
    assert run(storage, "monitor", meta=RECURRING, rsctmp=rsctmp).rc == 0
    assert storage.calls() == [["drbdsetup", "events2", "--now", "all"]]
    assert run(storage, "stop", rsctmp=rsctmp).rc == 0


@pytest.mark.parametrize("version", ["8.4.11", DRBD9])
@pytest.mark.parametrize(
    ("role", "disk"),
    [("Secondary", "UpToDate"), ("Primary", "Outdated"), ("Primary", "Diskless"), ("Secondary", "Inconsistent")],
)
def test_drbd_dropping_under_a_running_vg_fails_monitor_and_stop_survives(storage, rsctmp, version, role, disk) -> None:  # noqa: F811
    storage.set_drbd_version(version)
    assert run(storage, "start", rsctmp=rsctmp).rc == 0
    storage.set_drbd_resource("r0", role=role, disk=disk)
    for meta in (RECURRING, PROBE):
        result = run(storage, "monitor", meta=meta, rsctmp=rsctmp)
        assert result.rc == 1, str(result)
        assert result.reason == f"volume group vg-san: DRBD resource r0 is {role}/{disk}"
    assert run(storage, "stop", rsctmp=rsctmp).rc == 0
    assert storage.dm() == {}


def test_refused_start_leaves_nothing_behind(storage, rsctmp) -> None:  # noqa: F811
    storage.set_drbd_resource("r0", role="Secondary", disk="Outdated")
    result = run(storage, "start", rsctmp=rsctmp)
    assert result.rc == 1
    assert result.reason == "volume group vg-san not found on this node (DRBD resource r0 is Secondary/Outdated)"
    assert storage.dm() == {} and storage.lvm()["lockspaces"] == []


def test_vg_missing_one_of_its_drbd_pvs(storage, rsctmp) -> None:  # noqa: F811
    storage.add_drbd_resource("r1", (1,), role="Secondary")
    storage.add_vg("vg-two", ("/dev/drbd0", "/dev/drbd1"), ("lun",))
    result = run(storage, "start", {"volume_group": "vg-two"}, rsctmp=rsctmp)
    assert (result.rc, result.reason) == (
        1,
        "volume group vg-two is missing a physical volume here (LVM reports [unknown])",
    )
    assert storage.dm() == {}


def test_drbd_module_not_loaded(storage, rsctmp) -> None:  # noqa: F811
    storage.set_drbd_version(None)
    result = run(storage, "start", {"drbd_resources": "r0"}, rsctmp=rsctmp)
    assert (result.rc, result.reason) == (
        1,
        "not activating vg-san: DRBD resource r0 is not configured on this node (the drbd kernel module is not loaded)",
    )
    assert ["drbdsetup", "events2", "--now", "all"] not in storage.calls(), "drbdsetup would modprobe the module"
    assert run(storage, "monitor", meta=PROBE, rsctmp=rsctmp).rc == 7
    assert run(storage, "stop", rsctmp=rsctmp).rc == 0


def test_lost_vg_fails_recurring_monitor(storage, rsctmp) -> None:  # noqa: F811
    assert run(storage, "start", rsctmp=rsctmp).rc == 0
    for name in list(storage.dm()):
        storage.remove_dm(name)
    result = run(storage, "monitor", meta=RECURRING, rsctmp=rsctmp)
    assert (
        result.rc == 1 and result.reason == "volume group vg-san lost: none of its logical volumes is active any more"
    )
    assert run(storage, "monitor", meta=PROBE, rsctmp=rsctmp).rc == 7


def test_use_lvmlockd_off_is_reported_not_edited(storage, rsctmp) -> None:  # noqa: F811
    storage.set_lvm_config("global/use_lvmlockd", "0")
    for action in ("validate-all", "start"):
        result = run(storage, action, rsctmp=rsctmp)
        assert result.rc == 5 and result.reason.startswith("parameter 'lock_type': lvmlockd needs use_lvmlockd=1")
    assert storage.lvm()["config"] == {"global/use_lvmlockd": "0"}


def test_local_vg_with_lock_type_none(storage, rsctmp) -> None:  # noqa: F811
    storage.add_vg("vg-local", ("/dev/drbd0",), ("data",), lock_type="")
    storage.set_lvm_config("global/use_lvmlockd", "0")
    params = {"volume_group": "vg-local", "lock_type": "none"}
    assert run(storage, "start", params, rsctmp=rsctmp).rc == 0
    assert ["vgchange", "--activate=y", "--", "vg-local"] in storage.calls()
    assert run(storage, "stop", params, rsctmp=rsctmp).rc == 0
    assert not [c for c in storage.calls() if "--lock-start" in c or "--lock-stop" in c]


# -- hanging tools: the right code, a reason, bounded time -----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("action", "hang", "extra", "version", "named"),
    [
        ("start", "vgs", {}, "8.4.11", "vgs --reportformat json"),
        ("start", "vgchange --activate", {}, "8.4.11", "vgchange --activate=sy -- vg-san"),
        ("start", "vgchange --lock-start", {}, "8.4.11", "vgchange --lock-start -- vg-san"),
        ("start", "drbdsetup events2", {}, DRBD9, "drbdsetup events2 --now all"),
        ("validate-all", "lvmconfig", {}, "8.4.11", "lvmconfig --type full global/use_lvmlockd"),
        ("monitor", "drbdsetup events2", {"started": True}, DRBD9, "drbdsetup events2 --now all"),
        ("monitor", "dd", {"started": True, "OCF_CHECK_LEVEL": "10"}, "8.4.11", "reading a block from vg-san/lun-1"),
        ("stop", "vgchange --activate=n", {"started": True}, "8.4.11", "vgchange --activate=n -- vg-san"),
    ],
)
def test_hanging_tool_is_bounded(
    storage,  # noqa: F811
    rsctmp,
    action: str,
    hang: str,
    extra: dict,
    version: str,
    named: str,
) -> None:
    storage.set_drbd_version(version)
    if extra.get("started"):
        assert run(storage, "start", rsctmp=rsctmp).rc == 0
    storage.hang(hang)
    meta = {"timeout": "4000", **(RECURRING if action == "monitor" else {})}
    env = {k: v for k, v in extra.items() if k.startswith("OCF_")}
    started = time.monotonic()
    result = run(storage, action, meta=meta, rsctmp=rsctmp, extra=env)
    elapsed = time.monotonic() - started
    assert result.rc == 1, str(result)
    assert named in result.reason and "did not finish within" in result.reason, result.reason
    assert elapsed < 4.0, f"{action} took {elapsed:.1f}s with a 4s timeout"


# -- missing tools ------------------------------------------------------------------------------------


def test_missing_tools_are_not_installed(storage, rsctmp, tmp_path) -> None:  # noqa: F811
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    for action in ("validate-all", "start"):
        result = run(storage, action, rsctmp=rsctmp, path=str(empty))
        assert result.rc == 5 and result.reason == "lvm not found (is its package installed?)", str(result)
    assert run(storage, "stop", rsctmp=rsctmp, path=str(empty)).rc == 0
    assert run(storage, "monitor", meta=PROBE, rsctmp=rsctmp, path=str(empty)).rc == 7


def test_missing_drbdsetup_is_not_installed(storage, rsctmp, tmp_path) -> None:  # noqa: F811
    import os

    partial = tmp_path / "no-drbd-bin"
    partial.mkdir()
    for tool in ("lvm", "vgs", "lvs", "vgchange", "lvchange", "lvmconfig", "dmsetup"):
        os.symlink(storage.env()["PATH"].split(":")[0] + "/fake-tool", partial / tool)
    result = run(storage, "validate-all", rsctmp=rsctmp, path=f"{partial}:/usr/bin:/bin")
    assert result.rc == 5 and result.reason == "drbdsetup not found (is its package installed?)", str(result)


# -- bad parameter values ------------------------------------------------------------------------------

BAD = {
    "volume_group": ["", "vg\nx", "vg;reboot", "$(touch /tmp/alua-pwned)", " vg-san ", "-vg", "a" * 200, ".."],
    "logical_volumes": ["", "lun\nx", "lun-1;reboot", "vg-san/lun-1", "lun-1 lun-1", "snapshot1", "`id`"],
    "activation_mode": ["", "Shared", "both", "shared\n", "shared;reboot"],
    "lock_type": ["", "dlm", "sanlock", "lvmlockd;reboot", "none\n"],
    "drbd_resources": ["", "r0\nr1", "r0;reboot", "all", "r0 r0", "$(id)", " r0 "],
}


@pytest.mark.parametrize(("param", "value"), [(p, v) for p, values in BAD.items() for v in values])
def test_bad_parameter_values(rsctmp, param: str, value: str) -> None:
    params = {"volume_group": "vg-san", param: value}
    for action in ("validate-all", "start"):
        result = run_agent("drbd-lvm", action, params, rsctmp=rsctmp)
        assert result.rc == 6, f"{action} {param}={value!r}: {result}"
        assert result.reason.startswith(f"parameter '{param}':"), result.reason
        assert "\n" not in result.reason
        assert_no_traceback(result)
    stop = run_agent("drbd-lvm", "stop", params, rsctmp=rsctmp)
    probe = run_agent("drbd-lvm", "monitor", params, rsctmp=rsctmp, meta=PROBE)
    assert (stop.rc, probe.rc) == (0, 7), f"{stop}\n{probe}"
    assert_no_traceback(stop)
    assert_no_traceback(probe)


def test_missing_volume_group(rsctmp) -> None:
    result = run_agent("drbd-lvm", "validate-all", {}, rsctmp=rsctmp)
    assert (result.rc, result.reason) == (6, "parameter 'volume_group': is required but not set")
    assert run_agent("drbd-lvm", "stop", {}, rsctmp=rsctmp).rc == 0
    assert run_agent("drbd-lvm", "monitor", {}, rsctmp=rsctmp, meta=PROBE).rc == 7


# -- ocf-tester ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["8.4.11", DRBD9])
def test_ocf_tester_passes_on_the_fake_node(storage, installed_agents, tmp_path, version: str) -> None:  # noqa: F811
    """resource-agents' ocf-tester against the installed agent, on the fake node (fake tools that keep state,
    fake /sys/block and /proc/drbd in a private mount namespace); the lab will run the same on real DRBD 8.4."""
    import subprocess

    storage.set_drbd_version(version)
    rsctmp = tmp_path / "tester-rsctmp"
    rsctmp.mkdir()
    env = storage.env({"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HA_RSCTMP": str(rsctmp), "HA_LOGFACILITY": "none"})
    argv = [
        *storage.namespace_prefix(),
        "ocf-tester",
        "-v",
        "-n",
        "p_drbd_lvm",
        "-o",
        "volume_group=vg-san",
        "-o",
        "drbd_resources=r0",
        str(installed_agents / "drbd-lvm"),
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "drbd-lvm passed all tests" in output
    assert storage.dm() == {}, "ocf-tester ends with stop"


def test_ocf_tester_fails_on_this_machine_without_the_fakes(installed_agents) -> None:
    """The same run on this machine's real tools and kernel (no DRBD, no device-mapper) must not pass."""
    import subprocess

    proc = subprocess.run(
        ["ocf-tester", "-n", "p_drbd_lvm", "-o", "volume_group=vg-alua-none", str(installed_agents / "drbd-lvm")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr


def test_monitor_imports_nothing_heavy(storage, rsctmp) -> None:  # noqa: F811
    """DRBD 8.4 monitor: sysfs and /proc/drbd only; no json, subprocess, typing, re, dataclasses or lxml."""
    assert run(storage, "start", rsctmp=rsctmp).rc == 0
    result = run_in_namespace(storage, "monitor", meta=RECURRING, rsctmp=rsctmp, importtime=True)
    assert result.rc == 0, str(result)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "alua.agents.drbd_lvm" in imported
    heavy = {"json", "subprocess", "typing", "re", "dataclasses", "lxml", "lxml.etree"}
    assert not imported & heavy, sorted(imported & heavy)
