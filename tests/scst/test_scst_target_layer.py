"""ocf:alua:scst with parameter 'devices': the agent owns the node's SCST device, target and LUN.

SCST starts empty (an scst.conf without the clustered LUN); start creates
the device and the disabled target, places the device in its ALUA group
with the unpromoted state, and only then exports the LUN and enables the
target.  The emulator's write log shows the order.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import assert_no_traceback
from emulators.fixtures import scst_emulator  # noqa: F401 - fixture
from scst.harness import (
    LUN_PATH,
    NODES,
    StorageNode,
    bare_config,
    layer_params,
    node_config,
    params_for,
    replay_never_two_active,
    target,
)
from scst.test_scst_agent import demote, promote, start_both

A, B = NODES
TG = "device_groups/vg1/target_groups"
T = f"targets/iscsi/{target(A)}"
ADD_DEVICE = ("handlers/vdisk_blockio/mgmt", f"add_device vg1 filename={LUN_PATH};bind_alua_state=0")
ADD_TARGET = ("targets/iscsi/mgmt", f"add_target {target(A)}")
SET_REL = (f"{T}/rel_tgt_id", "1")
INTO_GROUP = ("device_groups/vg1/devices/mgmt", "add vg1")
JOIN_GROUP = (f"{TG}/{A}/mgmt", f"add {target(A)}")
UNPROMOTED = (f"{TG}/{A}/state", "nonoptimized")
ADD_LUN = (f"{T}/luns/mgmt", "add vg1 0")
ENABLE = (f"{T}/enabled", "1")
AEN_OFF = (f"{T}/aen_disabled", "1")
OFFLINE = (f"{TG}/{A}/state", "offline")
DISABLE = (f"{T}/enabled", "0")
DEL_LUN = (f"{T}/luns/mgmt", "del 0")
DEL_TARGET = ("targets/iscsi/mgmt", f"del_target {target(A)}")
DEL_DEVICE = ("handlers/vdisk_blockio/mgmt", "del_device vg1")


def owned(scst_emulator, tmp_path, config=None, name: str = A, **params: str) -> StorageNode:  # noqa: F811
    emulator = scst_emulator(bare_config() if config is None else config, name=f"scst-{name}")
    return StorageNode(name, emulator, tmp_path / name, params=layer_params(**params))


@pytest.fixture
def node(scst_emulator, tmp_path):  # noqa: F811
    return owned(scst_emulator, tmp_path)


def writes(node: StorageNode, since: int = 0) -> list[tuple[str, str]]:
    """The successful stores since a mark, as (path, value)."""
    return [(w["path"], w["data"].strip()) for w in node.emulator.writes()[since:] if w["result"] == "ok"]


def mark(node: StorageNode) -> int:
    return len(node.emulator.writes())


# -- start ---------------------------------------------------------------------------------


def test_start_builds_the_layer_and_enables_the_target_last(node) -> None:
    result = node.run("start")
    assert result.rc == 0, str(result)
    state = node.emulator.dump()
    assert state["devices"]["vg1"]["handler"] == "vdisk_blockio"
    assert state["devices"]["vg1"]["filename"] == LUN_PATH
    assert state["targets"]["iscsi"][target(A)] == {"rel_tgt_id": 1, "enabled": 1, "luns": {"0": "vg1"},
                                                    "aen_disabled": 1}
    assert state["devices"]["vg1"]["bind_alua_state"] == 0, "an unpromoted node's paths must carry I/O"
    dg = state["device_groups"]["vg1"]
    assert dg["devices"] == ["vg1"]
    assert dg["target_groups"][A]["members"] == {target(A): {"kind": "local", "driver": "iscsi", "rel_tgt_id": 1}}
    assert dg["target_groups"][A]["state"] == "nonoptimized"

    done = writes(node)
    order = [ADD_DEVICE, ADD_TARGET, SET_REL, AEN_OFF, INTO_GROUP, JOIN_GROUP, ADD_LUN, ENABLE]
    assert [w for w in done if w in order] == order, done
    last_state = max(i for i, w in enumerate(done) if w == UNPROMOTED)
    assert done.index(ENABLE) > last_state, "the target opens only once its group has its state"
    assert done[-1] == ENABLE, "nothing is written after the target is enabled"
    assert node.monitor().rc == 0
    assert node.score() == "100"


def test_a_second_start_writes_only_the_local_state(node) -> None:
    assert node.run("start").rc == 0
    before = node.emulator.dump()
    since = mark(node)
    assert node.run("start").rc == 0
    assert writes(node, since) == [UNPROMOTED]
    assert node.emulator.dump() == before


def test_luns_numbers_the_devices(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = owned(scst_emulator, tmp_path, device_groups="vg1=vg1,data",
                 devices=f"vg1={LUN_PATH} data=/dev/vg1/data", luns="3=vg1 7=data")
    assert node.run("start").rc == 0
    assert node.emulator.dump()["targets"]["iscsi"][target(A)]["luns"] == {"3": "vg1", "7": "data"}
    default = owned(scst_emulator, tmp_path, name=B, device_groups="vg1=vg1,data",
                    devices=f"vg1={LUN_PATH} data=/dev/vg1/data")
    assert default.run("start").rc == 0
    assert default.emulator.dump()["targets"]["iscsi"][target(B)]["luns"] == {"0": "vg1", "1": "data"}


def test_vdisk_fileio_handler(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = owned(scst_emulator, tmp_path, device_handler="vdisk_fileio", devices="vg1=/srv/lun.img")
    assert node.run("start").rc == 0
    assert ("handlers/vdisk_fileio/mgmt", "add_device vg1 filename=/srv/lun.img;bind_alua_state=0") in writes(node)
    assert node.run("stop").rc == 0
    assert writes(node)[-1] == ("handlers/vdisk_fileio/mgmt", "del_device vg1")


def test_a_disabled_driver_is_enabled_with_a_log_line(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = owned(scst_emulator, tmp_path, config=bare_config(driver_enabled=0))
    result = node.run("start")
    assert result.rc == 0, str(result)
    assert "target driver iscsi is disabled: enabling it" in result.stderr
    done = writes(node)
    assert done.index(("targets/iscsi/enabled", "1")) < done.index(ENABLE)


def test_a_leftover_enabled_target_is_closed_while_its_rel_tgt_id_changes(scst_emulator, tmp_path) -> None:  # noqa: F811
    config = bare_config()
    config["targets"] = {"iscsi": {target(A): {"rel_tgt_id": 7, "enabled": 1}}}
    node = owned(scst_emulator, tmp_path, config=config)
    result = node.run("start")
    assert result.rc == 0, str(result)
    done = writes(node)
    assert done[:2] == [ADD_DEVICE, DISABLE], done
    assert done.index(DISABLE) < done.index(SET_REL) < done.index(ENABLE) == len(done) - 1
    assert node.emulator.dump()["targets"]["iscsi"][target(A)]["rel_tgt_id"] == 1


def test_a_failed_start_leaves_the_target_closed_and_stop_removes_it(node) -> None:
    node.emulator.fault(f"{TG}/{A}/state", kind="eio", on="write")
    result = node.run("start")
    assert result.rc == 1 and "Input/output error" in result.reason, str(result)
    assert node.emulator.dump()["targets"]["iscsi"][target(A)]["enabled"] == 0
    assert ENABLE not in writes(node) and ADD_LUN not in writes(node)
    node.emulator.clear_faults()
    assert node.run("stop").rc == 0
    state = node.emulator.dump()
    assert state["devices"] == {} and state["targets"]["iscsi"] == {}


# -- roles -----------------------------------------------------------------------------------


def test_two_nodes_through_promote_switchover_and_stop(scst_emulator, tmp_path) -> None:  # noqa: F811
    pair = [owned(scst_emulator, tmp_path, name=n) for n in NODES]
    a, b = pair
    start_both(pair)
    assert a.states() == b.states() == {A: "nonoptimized", B: "nonoptimized"}
    promote(pair, A)
    assert (a.monitor().rc, b.monitor().rc) == (8, 0)
    assert a.states() == b.states() == {A: "active", B: "nonoptimized"}
    demote(pair, A)
    promote(pair, B)
    assert (a.monitor().rc, b.monitor().rc) == (0, 8)
    for n in pair:
        rel = n.emulator.dump()["targets"]["iscsi"][target(n.name)]["rel_tgt_id"]
        assert rel == NODES.index(n.name) + 1
        peer = next(p for p in NODES if p != n.name)
        member = n.emulator.dump()["device_groups"]["vg1"]["target_groups"][peer]["members"][target(peer)]
        assert member == {"kind": "remote", "rel_tgt_id": NODES.index(peer) + 1}
        assert replay_never_two_active(n.emulator.writes()) == []
    assert b.run("demote").rc == 0
    for n in pair:
        assert n.run("stop").rc == 0
        state = n.emulator.dump()
        assert state["devices"] == {} and state["targets"]["iscsi"] == {}
        assert n.monitor(probe=True).rc == 7


# -- stop --------------------------------------------------------------------------------------


def test_stop_disables_the_target_first_and_deletes_the_device_last(node) -> None:
    assert node.run("start").rc == 0
    assert node.run("promote").rc == 0
    assert node.run("demote").rc == 0
    since = mark(node)
    result = node.run("stop")
    assert result.rc == 0, str(result)
    assert writes(node, since) == [OFFLINE, DISABLE, DEL_LUN, DEL_TARGET, DEL_DEVICE]
    state = node.emulator.dump()
    assert state["devices"] == {} and state["targets"]["iscsi"] == {}
    assert state["device_groups"]["vg1"]["devices"] == [], "the device left its group with it"
    assert node.score() is None
    assert node.monitor(probe=True).rc == 7
    since = mark(node)
    assert node.run("stop").rc == 0, "stop twice"
    assert writes(node, since) == [OFFLINE], "as without devices: only the local state, again"
    assert node.run("start").rc == 0, "and start again"
    assert node.monitor().rc == 0


def test_stop_when_everything_is_already_gone(node) -> None:
    assert node.run("stop").rc == 0, "never started"
    assert writes(node) == []
    assert node.run("start").rc == 0
    node.emulator.unregister_target(target(A))
    node.emulator.remove_device("vg1")
    result = node.run("stop")
    assert result.rc == 0, str(result)
    assert_no_traceback(result)


@pytest.mark.parametrize(
    "bad",
    [{"devices": "vg1=relative/path"}, {"devices": "vg1=/dev/a;b"}, {"luns": "99999=vg1"},
     {"device_handler": "vdisk_nullio"}, {"luns": "0=other"}],
)
def test_stop_and_probe_never_fail_on_bad_values(node, bad: dict[str, str]) -> None:
    assert node.run("start").rc == 0
    params = {**layer_params(), **bad}
    stop = node.run("stop", params=params)
    assert stop.rc == 0, str(stop)
    assert_no_traceback(stop)
    probe = node.run("monitor", params=params, interval_ms=0)
    assert probe.rc == 7, str(probe)
    assert_no_traceback(probe)


def test_stop_with_a_bad_luns_value_still_removes_the_layer(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = owned(scst_emulator, tmp_path, luns="5=vg1")
    assert node.run("start").rc == 0
    assert node.run("stop", params=layer_params(luns="5=vg1 junk")).rc == 0
    state = node.emulator.dump()
    assert state["devices"] == {} and state["targets"]["iscsi"] == {}


def test_stop_leaves_what_it_did_not_create(scst_emulator, tmp_path) -> None:  # noqa: F811
    """A device on another path (the admin's scst.conf) is refused on start and left alone on stop."""
    node = owned(scst_emulator, tmp_path, config=node_config(A))  # device vg1 on /dev/drbd0, target with LUN 0
    result = node.run("start")
    assert result.rc == 6, str(result)
    assert "SCST device vg1 exists with filename /dev/drbd0" in result.reason
    assert writes(node) == []
    assert node.run("stop").rc == 0
    state = node.emulator.dump()
    assert "vg1" in state["devices"] and target(A) in state["targets"]["iscsi"]
    assert not [w for w in writes(node) if w[1].startswith(("del", "0"))]


def test_start_refuses_a_target_exporting_a_device_it_does_not_own(scst_emulator, tmp_path) -> None:  # noqa: F811
    config = bare_config()
    config["devices"] = {"other": {"handler": "vdisk_blockio", "filename": "/dev/other"}}
    config["targets"] = {"iscsi": {target(A): {"rel_tgt_id": 1, "enabled": 1, "luns": {"0": "other"}}}}
    node = owned(scst_emulator, tmp_path, config=config)
    result = node.run("start")
    assert result.rc == 6 and "exports device other as LUN 0" in result.reason, str(result)
    assert node.run("stop").rc == 0
    state = node.emulator.dump()
    assert state["targets"]["iscsi"][target(A)]["enabled"] == 1, "someone else's target is left as it was"


# -- monitor -------------------------------------------------------------------------------------


def test_monitor_enables_a_disabled_target_again(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.set(f"{T}/enabled", 0)
    result = node.monitor()
    assert result.rc == 0, str(result)
    assert "enabling target" in result.stderr
    assert node.emulator.dump()["targets"]["iscsi"][target(A)]["enabled"] == 1
    assert node.score() == "100"


def test_monitor_exports_a_missing_lun_again(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.set(f"{T}/luns/mgmt", "del 0")
    since = mark(node)
    result = node.monitor()
    assert result.rc == 0, str(result)
    assert writes(node, since) == [ADD_LUN]
    assert node.emulator.dump()["targets"]["iscsi"][target(A)]["luns"] == {"0": "vg1"}


def test_monitor_reports_a_lun_that_exports_another_device(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.set("handlers/vdisk_blockio/mgmt", "add_device other filename=/dev/other")
    node.emulator.set(f"{T}/luns/mgmt", "replace other 0")
    result = node.monitor()
    assert result.rc == 1 and "exports other, not vg1" in result.reason, str(result)
    assert node.run("stop").rc == 0


def test_monitor_of_a_promoted_instance_whose_target_went_away_fails_promoted(node) -> None:
    assert node.run("start").rc == 0
    assert node.run("promote").rc == 0
    node.emulator.unregister_target(target(A))
    result = node.monitor()
    assert result.rc == 9, str(result)
    assert node.run("stop").rc == 0
    assert node.run("start").rc == 0, "recovery builds the layer again"
    assert node.emulator.dump()["targets"]["iscsi"][target(A)]["enabled"] == 1


# -- configuration --------------------------------------------------------------------------------

BAD = {
    "path with newline": ({"devices": f"vg1={LUN_PATH}\nadd_device evil filename=/x"}, "devices"),
    "relative path": ({"devices": "vg1=dev/vg1/lun1"}, "devices"),
    "semicolon in path": ({"devices": "vg1=/dev/vg1/lun1;read_only=1"}, "devices"),
    "no path": ({"devices": "vg1"}, "devices"),
    "bad device name": ({"devices": "vg/1=/dev/vg1/lun1"}, "devices"),
    "device twice": ({"devices": f"vg1={LUN_PATH} vg1=/dev/vg1/other"}, "devices"),
    "path twice": ({"device_groups": "vg1=vg1,data", "devices": f"vg1={LUN_PATH} data={LUN_PATH}"}, "devices"),
    "device in no device group": ({"devices": f"vg1={LUN_PATH} data=/dev/vg1/data"}, "devices"),
    "LUN out of range": ({"luns": "16384=vg1"}, "luns"),
    "LUN not a number": ({"luns": "x=vg1"}, "luns"),
    "LUN names an unknown device": ({"luns": "0=data"}, "luns"),
    "LUN twice": ({"device_groups": "vg1=vg1,data", "devices": f"vg1={LUN_PATH} data=/dev/d", "luns": "0=vg1 0=data"},
                  "luns"),
    "device with two LUNs": ({"luns": "0=vg1 1=vg1"}, "luns"),
    "device without a LUN": ({"device_groups": "vg1=vg1,data", "devices": f"vg1={LUN_PATH} data=/dev/d",
                              "luns": "0=vg1"}, "luns"),
    "unknown handler": ({"device_handler": "vdisk_nullio"}, "device_handler"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_values_exit_6_naming_the_parameter(node, case: str) -> None:
    change, param = BAD[case]
    params = {**layer_params(), **change}
    for action in ("validate-all", "start"):
        result = node.run(action, params=params)
        assert result.rc == 6, f"{action}: {result}"
        assert f"parameter '{param}'" in result.reason, result.reason
        assert_no_traceback(result)
    assert writes(node) == []


def test_luns_without_devices_is_refused(node) -> None:
    result = node.run("validate-all", params=params_for(luns="0=vg1"))
    assert result.rc == 6 and "parameter 'luns'" in result.reason and "'devices'" in result.reason, str(result)


@pytest.mark.parametrize("missing", ["pr", "vdev_mode_pages"])
def test_missing_scst_state_directory_fails_start_with_5(node, missing: str) -> None:
    shutil.rmtree(node.var_dir / missing)
    result = node.run("start")
    assert result.rc == 5, str(result)
    assert f"{node.var_dir / missing} is missing" in result.reason and "make install" in result.reason
    assert len(result.reason.replace(str(node.var_dir), "/var/lib/scst")) <= 128, "Pacemaker keeps 128 characters"
    assert writes(node) == []


def test_eio_from_add_device_says_what_scst_reported(scst_emulator, tmp_path) -> None:  # noqa: F811
    """Real SCST fails a refused add_device with EIO and keeps the cause in last_sysfs_mgmt_res."""
    config = {**bare_config(), "last_sysfs_mgmt_res": -22}
    node = owned(scst_emulator, tmp_path, config=config)
    node.emulator.fault("handlers/vdisk_blockio/mgmt", kind="eio", on="write")
    result = node.run("start")
    assert result.rc == 1, str(result)
    assert result.reason.startswith("cannot create device vg1: Input/output error (EIO), "
                                    "last_sysfs_mgmt_res -22: Invalid argument (EINVAL)"), result.reason
    assert_no_traceback(result)


def test_a_refused_add_target_fails_start_and_stop_removes_the_device(node) -> None:
    node.emulator.fault("targets/iscsi/mgmt", kind="einval", on="write")
    result = node.run("start")
    assert result.rc == 1, str(result)
    assert result.reason.startswith(f"cannot create target {target(A)}: Invalid argument (EINVAL); "
                                    "is iscsi-scstd running?"), result.reason
    assert "vg1" in node.emulator.dump()["devices"]
    node.emulator.clear_faults()
    assert node.run("stop").rc == 0
    assert node.emulator.dump()["devices"] == {}


# -- portals: iSCSI allowed_portal ------------------------------------------------------------------

PORTALS = f"{A}=192.168.122.99,192.168.152.99 hpms02=192.168.122.98,192.168.152.98"


def test_portals_restrict_the_target_before_it_opens(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = owned(scst_emulator, tmp_path, portals=PORTALS)
    assert node.run("start").rc == 0
    done = writes(node)
    allow = [("targets/iscsi/mgmt", f"add_target_attribute {target(A)} allowed_portal {a}")
             for a in ("192.168.122.99", "192.168.152.99")]
    assert [w for w in done if w in allow] == allow, done
    assert max(done.index(w) for w in allow) < done.index(ENABLE), "offered on its portals only, before it opens"
    assert not any("192.168.122.98" in data for _, data in done), "never the peer's addresses"
    values = {node.emulator.read(f"{T}/{name}").split("\n")[0] for name in ("allowed_portal", "allowed_portal1")}
    assert values == {"192.168.122.99", "192.168.152.99"}
    # a second start changes nothing; an address no longer listed goes
    since = mark(node)
    assert node.run("start").rc == 0
    assert not [w for w in writes(node, since) if "allowed_portal" in w[1]]
    node.params["portals"] = f"{A}=192.168.122.99 hpms02=192.168.122.98"
    assert node.run("start").rc == 0
    assert ("targets/iscsi/mgmt", f"del_target_attribute {target(A)} allowed_portal 192.168.152.99") in writes(node)


@pytest.mark.parametrize(("portals", "why"), [
    ("hpms02=192.168.122.98", "this node"),  # the local node must be listed
    (f"{A}=192.168.122.99:3260 hpms02=192.168.122.98", "portals"),
    (f"{A}=192.168.122.99 nosuchnode=10.0.0.1", "portals"),
])
def test_bad_portals_are_configuration_errors(scst_emulator, tmp_path, portals: str, why: str) -> None:  # noqa: F811
    node = owned(scst_emulator, tmp_path, portals=portals)
    result = node.run("start")
    assert result.rc == 6 and "ocf-exit-reason:" in result.stderr and why in result.stderr, str(result)
    assert "Traceback" not in result.stderr
    assert node.run("stop").rc == 0
