"""ocf:alua:lio against the LIO configfs emulator: what only LIO has.

The role and fault scenarios both ALUA agents share run in
tests/backends/test_scenarios.py; here: building groups in configfs, the
unit serial check, the LUN membership rules, conflicting configurations and
the relative target port id.
"""

from __future__ import annotations

import pytest
from backends.adapters import LIO_DEVICE, LIO_SERIAL, LioBackend, lio_node_config, lio_params, lio_target
from backends.harness import NODES
from conftest import run_agent
from emulators.lio_fixtures import lio_emulator  # noqa: F401 - fixture

A, B = NODES
ALUA = f"target/core/{LIO_DEVICE}/alua"
LUNS = f"target/iscsi/{lio_target(A)}/tpgt_1/lun"
BACKEND = LioBackend()


def node_with(lio_emulator, tmp_path, config: dict | None = None, **params: str):  # noqa: F811
    emulator = lio_emulator(lio_node_config(A) if config is None else config, name="n")
    return BACKEND.node(A, emulator, tmp_path / "node", lio_params(**params))


def groups(node) -> dict:
    return node.emulator.dump()["backstores"][LIO_DEVICE]["alua"]


def luns(node) -> dict:
    return node.emulator.dump()["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["luns"]


def ops(node, since: int = 0) -> list[tuple[str, str, str]]:
    return [(w["op"], w["path"], w["data"].strip()) for w in node.emulator.writes()[since:]]


# -- building ------------------------------------------------------------------------


def test_start_names_groups_after_nodes_and_moves_the_local_lun_in(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    result = node.run("start")
    assert result.rc == 0, str(result)
    g = groups(node)
    assert set(g) == {"default_tg_pt_gp", A, B}
    assert (g[A]["tg_pt_gp_id"], g[B]["tg_pt_gp_id"]) == (1, 2)
    assert g[A]["members"] == [f"iSCSI/{lio_target(A)}/tpgt_1/lun_0"]
    assert g[B]["members"] == [], "the peer's LUNs live on the peer"
    assert g["default_tg_pt_gp"]["members"] == []
    assert (g[A]["state"], g[B]["state"]) == (1, 14)
    assert g[A]["access_type"] == g[B]["access_type"] == 1, "implicit only: initiators cannot set states"


def test_a_new_group_gets_id_type_and_state_before_any_lun_joins(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    done = ops(node)
    for group, state in ((A, "1"), (B, "14")):
        steps = [("mkdir", f"{ALUA}/{group}", ""),
                 ("write", f"{ALUA}/{group}/tg_pt_gp_id", str(NODES.index(group) + 1)),
                 ("write", f"{ALUA}/{group}/alua_access_type", "1"),
                 ("write", f"{ALUA}/{group}/alua_access_state", state)]
        positions = [done.index(step) for step in steps]
        assert positions == sorted(positions), done
        assert positions[-1] < done.index(("write", f"{LUNS}/lun_0/alua_tg_pt_gp", A))


def test_start_is_idempotent(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    before = node.emulator.dump()
    mark = len(node.emulator.writes())
    assert node.run("start").rc == 0
    assert ops(node, mark) == [("write", f"{ALUA}/{A}/alua_access_state", "1")], "only the local state again"
    assert node.emulator.dump() == before


def test_every_lun_of_the_local_tpg_exporting_the_backstore_joins(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, lio_node_config(A, luns=2))
    assert node.run("start").rc == 0
    assert groups(node)[A]["members"] == [f"iSCSI/{lio_target(A)}/tpgt_1/lun_{i}" for i in (0, 1)]


def test_existing_groups_keep_their_state_but_become_implicit_only(lio_emulator, tmp_path) -> None:  # noqa: F811
    config = lio_node_config(A)
    config["backstores"][LIO_DEVICE]["alua"] = {
        A: {"tg_pt_gp_id": 1, "state": 2, "access_type": 3},
        B: {"tg_pt_gp_id": 2, "state": 0, "access_type": 3},  # as saved while the peer was promoted
    }
    node = node_with(lio_emulator, tmp_path, config)
    assert node.run("start").rc == 0
    g = groups(node)
    assert (g[A]["state"], g[B]["state"]) == (1, 0), "start sets its own group; the peer waits for a notification"
    assert g[A]["access_type"] == g[B]["access_type"] == 1
    assert not [op for op in ops(node) if op[0] == "mkdir"]


def test_a_group_left_without_an_id_is_finished_like_a_new_one(lio_emulator, tmp_path) -> None:  # noqa: F811
    config = lio_node_config(A)
    config["backstores"][LIO_DEVICE]["alua"] = {B: {"tg_pt_gp_id": None}}  # a start died after mkdir
    node = node_with(lio_emulator, tmp_path, config)
    assert node.run("start").rc == 0
    g = groups(node)[B]
    assert (g["tg_pt_gp_id"], g["state"], g["access_type"]) == (2, 14, 1)


def test_transitioning_is_written_before_active(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, transitioning="true")
    assert node.run("start").rc == 0
    mark = len(node.emulator.writes())
    assert node.run("promote").rc == 0
    assert ops(node, mark) == [("write", f"{ALUA}/{A}/alua_access_state", "15"),
                               ("write", f"{ALUA}/{A}/alua_access_state", "0")]
    assert node.monitor().rc == 8


# -- device identity -------------------------------------------------------------------


def test_a_different_unit_serial_is_refused_before_anything_changes(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, lio_node_config(A, serial="d0c0ffee-random-uuid"))
    result = node.run("start")
    assert result.rc == 6, str(result)
    assert "unit serial 'd0c0ffee-random-uuid'" in result.reason and repr(LIO_SERIAL) in result.reason
    assert "multipath" in result.reason
    assert ops(node) == []
    assert node.run("stop").rc == 0
    assert node.monitor(probe=True).rc == 7


# -- conflicting configurations --------------------------------------------------------

CONFLICTS = {
    "group id differs": (
        {A: {"tg_pt_gp_id": 7, "state": 1}},
        {},
        "tg_pt_gp_id 7, expected 1",
    ),
    "a foreign group holds a node's id": (
        {"old": {"tg_pt_gp_id": 2, "state": 0}},
        {},
        "target port group old of backstore iblock_0/vg1 (not a cluster node name) has tg_pt_gp_id 2",
    ),
    "the local LUN is in a foreign group": (
        {"ao": {"tg_pt_gp_id": 10, "state": 0}},
        {"group": "ao"},
        "is in target port group ao, which is not a cluster node name",
    ),
    "the local LUN is in the peer's group": (
        {B: {"tg_pt_gp_id": 2, "state": 1}},
        {"group": B},
        f"is in target port group {B} of another node",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_start_refuses_a_conflicting_configuration_and_changes_nothing(case, lio_emulator, tmp_path) -> None:  # noqa: F811
    existing, lun, reason = CONFLICTS[case]
    config = lio_node_config(A)
    config["backstores"][LIO_DEVICE]["alua"] = existing
    config["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["luns"]["0"].update(lun)
    node = node_with(lio_emulator, tmp_path, config)
    before = node.emulator.dump()
    result = node.run("start")
    assert result.rc == 6, str(result)
    assert reason in result.reason
    assert ops(node) == [] and node.emulator.dump() == before
    assert node.run("stop").rc == 0


def test_a_backstore_the_local_target_does_not_export_is_an_error(lio_emulator, tmp_path) -> None:  # noqa: F811
    config = lio_node_config(A)
    config["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["luns"] = {}
    node = node_with(lio_emulator, tmp_path, config)
    result = node.run("start")
    assert result.rc == 1 and "exports no LUN of backstore iblock_0/vg1" in result.reason, str(result)


def test_a_missing_target_or_backstore_is_named(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, devices=f"iblock_0/other={LIO_SERIAL}")
    result = node.run("start")
    assert result.rc == 1 and "backstore iblock_0/other does not exist" in result.reason, str(result)
    result = node.run("start", meta={"on_node": B})
    assert result.rc == 1 and f"local target {lio_target(B)} is not configured" in result.reason, str(result)


# -- monitor ---------------------------------------------------------------------------


def test_a_lun_back_in_the_default_group_fails_monitor_until_restart(lio_emulator, tmp_path) -> None:  # noqa: F811
    """default_tg_pt_gp stays active/optimized: a LUN there would be optimized on both nodes."""
    node = node_with(lio_emulator, tmp_path, lio_node_config(A, luns=2))
    assert node.run("start").rc == 0
    node.emulator.set(f"{LUNS}/lun_1/alua_tg_pt_gp", "default_tg_pt_gp")  # an admin, or a LUN added later
    result = node.monitor()
    assert result.rc == 1 and "lun_1 of local target" in result.reason and "active/optimized" in result.reason
    assert node.run("stop").rc == 0
    assert node.run("start").rc == 0, "a restart puts it in its group"
    assert node.monitor().rc == 0


def test_a_removed_lun_or_group_fails_monitor(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    assert node.run("promote").rc == 0
    node.emulator.remove_lun(lio_target(A))
    result = node.monitor()
    assert result.rc == 9 and "no LUN of local target" in result.reason, str(result)
    node.emulator.sh(f"rmdir /sys/kernel/config/{ALUA}/{B}")
    result = node.monitor()
    assert result.rc == 9 and f"target port group {B} is missing" in result.reason, str(result)


def test_a_disabled_tpg_takes_the_score_away_and_refuses_promote(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    assert node.score() == "100"
    node.emulator.set(f"target/iscsi/{lio_target(A)}/tpgt_1/enable", "0")
    result = node.monitor()
    assert result.rc == 0 and node.score() is None
    assert "tpgt_1 is not enabled" in result.stderr
    assert node.run("promote").rc == 1


# -- relative target port id --------------------------------------------------------------


def test_rel_tgt_ids_unset_checks_nothing(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, lio_node_config(A, rtpi=True))
    assert node.run("start").rc == 0


def test_rel_tgt_ids_set_must_match_the_tpg_rtpi(lio_emulator, tmp_path) -> None:  # noqa: F811
    config = lio_node_config(A, rtpi=True)
    config["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["rtpi"] = 17
    node = node_with(lio_emulator, tmp_path, config, rel_tgt_ids=f"{A}=17 {B}=18")
    assert node.run("start").rc == 0
    result = node.run("start", params=lio_params(rel_tgt_ids=f"{A}=3 {B}=4"))
    assert result.rc == 6 and "relative target port id 17, parameter 'rel_tgt_ids' says 3" in result.reason


def test_rel_tgt_ids_on_a_kernel_without_rtpi_is_refused(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, rel_tgt_ids=f"{A}=1 {B}=2")
    result = node.run("start")
    assert result.rc == 6 and "before Linux 6.4" in result.reason, str(result)
    assert ops(node) == []


# -- parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("devices", "problem"),
    [
        ("iblock_0/vg1", "expected HBA/DEVICE=SERIAL"),
        ("vg1=abc", "expected HBA/DEVICE=SERIAL"),
        ("iblock0/vg1=abc", "LIO names HBAs <backend>_<index>"),
        ("iblock_0/..=abc", "is not a usable name"),
        ("iblock_0/vg1=a b", "expected HBA/DEVICE=SERIAL"),
        ("iblock_0/vg1=abc iblock_0/vg1=abd", "names backstore iblock_0/vg1 twice"),
        ("iblock_0/vg 1=abc", "expected HBA/DEVICE=SERIAL"),
    ],
)
def test_bad_devices_are_refused_before_configfs_is_touched(devices, problem, lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, devices=devices)
    result = node.run("start")
    assert result.rc == 6 and "'devices'" in result.reason and problem in result.reason, str(result)
    assert ops(node) == []


def test_rel_tgt_ids_is_declared_once_with_lio_s_meaning(rsctmp) -> None:
    xml = run_agent("lio", "meta-data").stdout
    assert xml.count('<parameter name="rel_tgt_ids"') == 1
    assert "tpgt_N/rtpi" in xml and "recorded as remote ports" not in xml
