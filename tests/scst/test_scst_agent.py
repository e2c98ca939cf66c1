"""ocf:alua:scst against the SCST sysfs emulator: topology, roles, notifications, faults."""

from __future__ import annotations

import time

import pytest

from conftest import assert_no_traceback
from emulators.fixtures import scst_emulator  # noqa: F401 - fixture
from scst.harness import (
    NODES,
    StorageNode,
    node_config,
    notify_env,
    params_for,
    replay_never_two_active,
    target,
)

A, B = NODES
TG = "device_groups/vg1/target_groups"


@pytest.fixture
def pair(scst_emulator, tmp_path):  # noqa: F811
    """Two storage nodes, each with its own SCST, nothing of ALUA configured yet."""
    return [StorageNode(n, scst_emulator(node_config(n), name=n), tmp_path / n) for n in NODES]


@pytest.fixture
def node(pair):
    return pair[0]


def start_both(pair) -> None:
    for n in pair:
        assert n.run("start").rc == 0
    for n in pair:
        result = n.run("notify", notify=notify_env("post", "start", start=" ".join(NODES)))
        assert result.rc == 0, str(result)


def promote(pair, who: str) -> None:
    """Pacemaker's promote of one instance: pre-notify all running, promote, post-notify all."""
    running = " ".join(n.name for n in pair)
    for n in pair:
        assert n.run("notify", notify=notify_env("pre", "promote", promote=who, active=running)).rc == 0
    target_node = next(n for n in pair if n.name == who)
    result = target_node.run("promote")
    assert result.rc == 0, str(result)
    for n in pair:
        assert n.run("notify", notify=notify_env("post", "promote", promote=who, active=running,
                                                 unpromoted=running)).rc == 0


def demote(pair, who: str) -> None:
    others = " ".join(n.name for n in pair if n.name != who)
    for n in pair:
        assert n.run("notify", notify=notify_env("pre", "demote", demote=who, promoted=who,
                                                 unpromoted=others, active=" ".join(NODES))).rc == 0
    assert next(n for n in pair if n.name == who).run("demote").rc == 0
    for n in pair:
        assert n.run("notify", notify=notify_env("post", "demote", demote=who, promoted=who,
                                                 unpromoted=others, active=" ".join(NODES))).rc == 0


# -- topology -------------------------------------------------------------------


def test_start_builds_the_topology_named_after_cluster_nodes(node) -> None:
    result = node.run("start")
    assert result.rc == 0, str(result)
    dg = node.emulator.dump()["device_groups"]["vg1"]
    assert dg["devices"] == ["vg1"]
    groups = dg["target_groups"]
    assert set(groups) == {A, B}
    assert groups[A]["group_id"] == 1 and groups[B]["group_id"] == 2
    assert groups[A]["members"] == {target(A): {"kind": "local", "driver": "iscsi", "rel_tgt_id": 1}}
    assert groups[B]["members"][target(B)]["kind"] == "remote"
    assert groups[B]["members"][target(B)]["rel_tgt_id"] == 2
    assert groups[A]["state"] == "nonoptimized"
    assert groups[B]["state"] == "offline", "a peer nobody has reported yet is not shown as available"
    assert node.monitor().rc == 0


def test_new_groups_get_their_state_before_any_target_joins(node) -> None:
    assert node.run("start").rc == 0
    writes = [(w["path"], w["data"].strip()) for w in node.emulator.writes()]
    for tg in NODES:
        state_at = writes.index((f"{TG}/{tg}/state", "nonoptimized" if tg == A else "offline"))
        member_at = writes.index((f"{TG}/{tg}/mgmt", f"add {target(tg)}"))
        assert state_at < member_at


def test_start_names_the_admins_alua_settings_real_scst_needs(node) -> None:
    """scst.conf objects keep SCST's defaults, which the lab found wrong for this SAN: say so, change nothing."""
    result = node.run("start")
    assert result.rc == 0, str(result)
    assert "has bind_alua_state 1" in result.stderr and "has aen_disabled 0" in result.stderr, result.stderr
    node.emulator.write("devices/vg1/bind_alua_state", "0")
    node.emulator.write(f"targets/iscsi/{target(A)}/aen_disabled", "1")
    count = len(node.emulator.writes())
    again = node.run("start")
    assert again.rc == 0 and "bind_alua_state" not in again.stderr and "aen_disabled" not in again.stderr
    assert not [w for w in node.emulator.writes()[count:] if "bind_alua_state" in w["path"] or "aen" in w["path"]]


def test_start_is_idempotent(node) -> None:
    assert node.run("start").rc == 0
    before = node.emulator.dump()
    count = len(node.emulator.writes())
    assert node.run("start").rc == 0
    again = node.emulator.writes()[count:]
    assert [w["path"] for w in again] == [f"{TG}/{A}/state"], "only the local state is written again"
    assert node.emulator.dump()["device_groups"] == before["device_groups"]


def existing(dg_groups: dict) -> dict:
    """A config with an ALUA topology already in place (as scst.conf would leave it)."""
    config = node_config(A)
    config["device_groups"] = {"vg1": {"devices": ["vg1"], "target_groups": dg_groups}}
    return config


CONFLICTS = {
    "group id differs": (
        {A: {"group_id": 7, "state": "nonoptimized", "members": {}}},
        "group_id 7, expected 1",
    ),
    "local target added as remote entry": (
        {A: {"group_id": 1, "state": "nonoptimized", "members": {target(A): {"kind": "remote", "rel_tgt_id": 1}}}},
        "is a remote entry",
    ),
    "old local/remote naming holds our target": (
        {"local": {"group_id": 1, "state": "active",
                   "members": {target(A): {"kind": "local", "driver": "iscsi", "rel_tgt_id": 1}}}},
        "target group local",
    ),
    "peer rel_tgt_id differs": (
        {B: {"group_id": 2, "state": "offline", "members": {target(B): {"kind": "remote", "rel_tgt_id": 9}}}},
        "rel_tgt_id 9, expected 2",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_start_refuses_a_conflicting_topology_and_tears_nothing_down(case, scst_emulator, tmp_path) -> None:  # noqa: F811
    groups, reason = CONFLICTS[case]
    emulator = scst_emulator(existing(groups), name="n")
    node = StorageNode(A, emulator, tmp_path)
    before = emulator.dump()["device_groups"]["vg1"]["target_groups"]
    result = node.run("start")
    assert result.rc == 6, str(result)
    assert reason in result.reason
    after = emulator.dump()["device_groups"]["vg1"]["target_groups"]
    for name, group in before.items():
        assert after[name]["members"] == group["members"] and after[name]["group_id"] == group["group_id"]
    assert not [w for w in emulator.writes() if w["data"].startswith("del ")]
    assert node.run("stop").rc == 0


def test_start_refuses_a_device_owned_by_another_device_group(scst_emulator, tmp_path) -> None:  # noqa: F811
    config = node_config(A)
    config["device_groups"] = {"other": {"devices": ["vg1"], "target_groups": {}}}
    node = StorageNode(A, scst_emulator(config, name="n"), tmp_path)
    result = node.run("start")
    assert result.rc == 6 and "already belongs to device group other" in result.reason, str(result)


def test_local_rel_tgt_id_must_match(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = StorageNode(A, scst_emulator(node_config(A), name="n"), tmp_path,
                       params=params_for(rel_tgt_ids=f"{A}=5 {B}=6"))
    result = node.run("start")
    assert result.rc == 6 and "has rel_tgt_id 1" in result.reason, str(result)


# -- roles ------------------------------------------------------------------------


def test_promote_sets_peer_nonoptimized_before_self_active(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.set(f"{TG}/{B}/state", "active")  # as left by a peer that was promoted
    mark = len(node.emulator.writes())
    assert node.run("promote").rc == 0
    writes = [(w["path"], w["data"].strip()) for w in node.emulator.writes()[mark:]]
    assert writes == [(f"{TG}/{B}/state", "nonoptimized"), (f"{TG}/{A}/state", "active")]
    assert node.monitor().rc == 8


def test_transitioning_and_block_around_the_switch(scst_emulator, tmp_path) -> None:  # noqa: F811
    node = StorageNode(A, scst_emulator(node_config(A), name="n"), tmp_path,
                       params=params_for(transitioning="true", block_devices="true"))
    assert node.run("start").rc == 0
    mark = len(node.emulator.writes())
    assert node.run("promote").rc == 0
    writes = [(w["path"], w["data"].strip()) for w in node.emulator.writes()[mark:]]
    assert writes == [("devices/vg1/block", "1"), (f"{TG}/{A}/state", "transitioning"),
                      (f"{TG}/{A}/state", "active"), ("devices/vg1/block", "0")]


def test_two_nodes_through_promote_switchover_and_peer_loss(pair, scst_emulator) -> None:  # noqa: F811
    a, b = pair
    start_both(pair)
    assert a.states() == {A: "nonoptimized", B: "nonoptimized"}
    promote(pair, A)
    assert a.states() == b.states() == {A: "active", B: "nonoptimized"}
    assert (a.monitor().rc, b.monitor().rc) == (8, 0)

    # A planned switchover: A demoted, then B promoted.
    demote(pair, A)
    assert a.states() == b.states() == {A: "nonoptimized", B: "nonoptimized"}
    promote(pair, B)
    assert a.states() == b.states() == {A: "nonoptimized", B: "active"}

    # B is lost (it crashes; Pacemaker fences it): A is told B stopped, then A is promoted.
    b.crash_and_reboot(scst_emulator, node_config(B))
    a.run("notify", notify=notify_env("pre", "stop", stop=B, promoted=B, active=" ".join(NODES)))
    assert a.run("notify", notify=notify_env("post", "stop", stop=B, promoted=B, active=" ".join(NODES))).rc == 0
    assert a.states()[B] == "offline"
    promote([a], A)
    assert a.states() == {A: "active", B: "offline"}

    # B comes back: its probe finds nothing, it starts unpromoted.
    assert b.monitor(probe=True).rc == 7
    assert b.run("start").rc == 0
    for n in pair:
        assert n.run("notify", notify=notify_env("post", "start", start=B, active=A, promoted=A)).rc == 0
    assert a.states() == b.states() == {A: "active", B: "nonoptimized"}
    assert (a.monitor().rc, b.monitor().rc) == (8, 0)

    for n in pair:
        assert replay_never_two_active(n.emulator.writes()) == []
    assert_no_two_nodes_active_at_once(pair)
    assert [w for w in b.all_writes() if w["result"] == "crash"], "the crash is part of the record"


def assert_no_two_nodes_active_at_once(pair) -> None:
    """Across nodes: at no moment do two nodes report their own group active."""
    events = sorted((w["ts"], n.name, w["data"].strip() or w["result"]) for n in pair for w in n.all_writes()
                    if (w["result"] == "ok" and w["path"] == f"{TG}/{n.name}/state") or w["result"] == "crash")
    own: dict[str, str] = {}
    for ts, name, state in events:
        own[name] = state  # a crashed node's group is gone with its kernel
        assert sum(s == "active" for s in own.values()) <= 1, f"two active at {ts}: {own}"


def test_stop_takes_the_local_group_offline_and_removes_the_score(node) -> None:
    assert node.run("start").rc == 0
    assert node.score() == "100"
    assert node.run("promote").rc == 0
    assert node.run("stop").rc == 0
    assert node.states()[A] == "offline"
    assert node.score() is None
    assert node.monitor(probe=True).rc == 7
    assert node.run("stop").rc == 0, "stop when already stopped"


def test_probe_on_a_node_that_already_runs_promoted_returns_8(node) -> None:
    assert node.run("start").rc == 0
    assert node.run("promote").rc == 0
    node.clear_rsctmp()  # the agent's process state is gone (reboot of the cluster stack)
    assert node.monitor(probe=True).rc == 8


def test_monitor_puts_back_a_drifted_peer_state(pair) -> None:
    a, _ = pair
    start_both(pair)
    promote(pair, B)
    a.emulator.set(f"{TG}/{B}/state", "standby")
    assert a.monitor().rc == 0
    assert a.states()[B] == "active"


def test_promotion_score_changes_only_when_readiness_changes(node) -> None:
    assert node.run("start").rc == 0
    updates = lambda: [c for c in node.score_calls() if "--update" in c or "--delete" in c]  # noqa: E731
    assert len(updates()) == 1
    for _ in range(3):
        assert node.monitor().rc == 0
    assert len(updates()) == 1, "an unchanged score is never rewritten"
    node.emulator.set(f"targets/iscsi/{target(A)}/enabled", "0")
    result = node.monitor()
    assert result.rc == 0
    assert node.score() is None, "a disabled target is not ready to be promoted"
    assert "not enabled" in result.stderr
    assert node.run("promote").rc == 1


def test_clone_without_notify_is_refused(node) -> None:
    result = node.run("start", meta={"notify": "false"})
    assert result.rc == 6 and "notify=true" in result.reason
    result = node.run("validate-all", meta={"promoted_max": "2"})
    assert result.rc == 6 and "promoted-max=2" in result.reason


def test_this_node_must_be_listed(node) -> None:
    result = node.run("start", meta={"on_node": "hpms03"})
    assert result.rc == 6 and "'hpms03' is not listed" in result.reason
    assert node.run("stop", meta={"on_node": "hpms03"}).rc == 0
    assert node.run("monitor", meta={"on_node": "hpms03", "interval": "0"}).rc == 7


# -- faults -----------------------------------------------------------------------


def test_eio_on_a_state_write_fails_promote_with_path_and_errno(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.fault(f"{TG}/{A}/state", kind="eio", on="write")
    result = node.run("promote")
    assert result.rc == 1
    assert f"{TG}/{A}/state" in result.reason and "Input/output error" in result.reason
    assert_no_traceback(result)


def test_a_hanging_write_is_bounded_by_the_action_timeout(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.fault(f"{TG}/{A}/state", kind="hang", on="write")
    started = time.monotonic()
    result = node.run("promote", timeout_ms=3000, timeout=20)
    elapsed = time.monotonic() - started
    assert result.rc == 1 and "timed out" in result.reason, str(result)
    assert elapsed < 3.0, f"took {elapsed:.1f}s with a 3 s timeout"
    node.emulator.clear_faults()
    assert node.run("stop").rc == 0


def test_unregistered_target_is_a_monitor_failure_in_both_roles(pair) -> None:
    a, b = pair
    start_both(pair)
    promote(pair, A)
    a.emulator.unregister_target(target(A))
    b.emulator.unregister_target(target(B))
    promoted = a.monitor()
    assert promoted.rc == 9 and f"target {target(A)} is not a member" in promoted.reason
    unpromoted = b.monitor()
    assert unpromoted.rc == 1 and "not a member" in unpromoted.reason
    assert a.run("stop").rc == 0 and b.run("stop").rc == 0


def test_eio_reading_state_is_a_monitor_failure(node) -> None:
    assert node.run("start").rc == 0
    node.emulator.fault(f"{TG}/{A}/state", kind="eio", on="read")
    result = node.monitor()
    assert result.rc == 1 and "Input/output error" in result.reason


def test_scst_not_loaded(tmp_path) -> None:
    node = StorageNode(A, None, tmp_path)  # this machine has no /sys/kernel/scst_tgt
    start = node.run("start")
    assert start.rc == 5 and "SCST is not loaded" in start.reason
    assert node.monitor(probe=True).rc == 7
    assert node.run("stop").rc == 0
    assert node.run("demote").rc == 1


def test_injection_through_a_name_never_reaches_sysfs(node) -> None:
    result = node.run("start", params=params_for(device_groups="vg1\ncreate evil"))
    assert result.rc == 6
    assert node.emulator.writes() == []


def test_a_slow_kernel_answering_eagain_is_waited_for(node) -> None:
    """SCST answers EAGAIN after 15 s of sysfs work and reports the result in last_sysfs_mgmt_res."""
    assert node.run("start").rc == 0
    node.emulator.fault(f"{TG}/{A}/state", kind="eagain", on="write", seconds=1)
    result = node.run("promote")
    assert result.rc == 0, str(result)
    assert node.states()[A] == "active"
