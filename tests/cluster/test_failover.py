"""ocf:alua:scst under a real 2-node corosync + Pacemaker cluster (hpms01, hpms02).

One cluster per module (about 7 s to form); each test starts from the
baseline (both nodes up, one promoted, nothing failed).  The ALUA layer is
crm/scst.crm as loaded by ``crm configure load update``; each node has its
own emulated SCST, and every ALUA state write is logged with a timestamp so
the tests can replay "never two active" across nodes.
"""

from __future__ import annotations

import json
import time

import pytest
from cluster.fixtures import cluster2, healthy2  # noqa: F401 - fixtures
from cluster.harness import ROOT, Cluster, ClusterError, Node, target, wait_until

pytestmark = pytest.mark.cluster


def other(cluster: Cluster, node: Node) -> Node:
    return next(n for n in cluster.nodes.values() if n is not node)


def assert_views(cluster: Cluster, promoted: Node, *, offline: tuple[Node, ...] = ()) -> None:
    """Every running node's SCST: the promoted node's group active, running peers
    nonoptimized, ``offline`` nodes' groups offline; group ids are the node positions."""
    for node in cluster.live_nodes():
        views = {v.name: v for v in node.alua_view()}
        expected = {
            n.name: "offline" if n in offline else "active" if n is promoted else "nonoptimized"
            for n in cluster.nodes.values()
        }
        assert {name: v.state for name, v in views.items()} == expected, f"{node.name}\n{cluster.describe()}"
        assert {name: v.group_id for name, v in views.items()} == {n.name: n.position for n in cluster.nodes.values()}


def tasks(ops, node: str) -> list[str]:
    return [
        op.task
        for op in ops
        if op.node == node and op.task not in ("notify",) and not (op.task == "monitor" and op.result == "Cancelled")
    ]


def test_cluster_forms_and_promotes_exactly_one_node(healthy2: Cluster) -> None:  # noqa: F811
    status = healthy2.status()
    assert status.online == ["hpms01", "hpms02"] and status.quorate and status.dc
    assert len(status.promoted) == 1, healthy2.describe()
    promoted = healthy2[status.promoted[0]]
    assert status.unpromoted == [other(healthy2, promoted).name]
    assert not status.failures and not status.fail_counts
    assert_views(healthy2, promoted)
    for node in healthy2.nodes.values():
        assert node.emulator is not None
        groups = node.emulator.dump()["device_groups"]["vg1"]["target_groups"]
        assert groups[node.name]["members"][target(node.name)]["kind"] == "local", f"{node.name}'s own target"
    assert healthy2.two_active_moments() == []


def test_killing_the_promoted_node_promotes_the_survivor(healthy2: Cluster, record_property) -> None:  # noqa: F811
    victim = healthy2.promoted_node()
    survivor = other(healthy2, victim)
    killed_at = victim.crash()  # SIGKILL of corosync, pacemakerd and its children, by PID; its SCST dies too
    active_at = healthy2.wait_group_active(survivor, survivor.name, after_ns=killed_at, timeout=30)
    failover = (active_at - killed_at) / 1e9
    token = healthy2.effective_token_ms() / 1000
    record_property("failover_s", round(failover, 3))
    print(f"failover {victim.name} -> {survivor.name}: {failover:.2f} s (token {token:.1f} s)")
    healthy2.wait_settled(promoted=survivor.name, timeout=30)
    wait_until(
        lambda: survivor.states().get(victim.name) == "offline",
        10,
        f"{survivor.name} to show the dead peer's group offline",
        context=healthy2.describe,
    )
    assert survivor.states() == {survivor.name: "active", victim.name: "offline"}
    # Corosync needs token + consensus (1.2 token) to declare the node dead; Pacemaker and the agent follow.
    assert failover < 2.2 * token + 3.0, f"failover took {failover:.2f} s\n{healthy2.describe()}"
    # alua-fence-peer reads corosync's membership from the real corosync the same way: by node id
    # (corosync-cmapctl) and by name (corosync-quorumtool)
    for by_id in (True, False):
        assert membership(survivor, victim, by_id) == "left", by_id
        assert membership(survivor, survivor, by_id) == "member", by_id

    victim.reboot()  # a fresh kernel: no ALUA state; it rejoins and runs unpromoted
    healthy2.wait_online(healthy2.names)
    healthy2.wait_settled(promoted=survivor.name)
    assert_views(healthy2, survivor)
    assert healthy2.two_active_moments() == []


def membership(node: Node, peer: Node, by_id: bool) -> str:
    """What alua-fence-peer's MembershipProbe makes of the real corosync in ``node``: by the peer's
    node id, from corosync-cmapctl's runtime.members, or by its name, from corosync-quorumtool -l."""
    from alua.commands.fence_cluster import MembershipProbe
    from alua.host.run import Result

    argv = ["corosync-cmapctl", "-b", "runtime.members"] if by_id else ["corosync-quorumtool", "-l"]
    proc = node.run(argv, timeout=10)
    job = type("Done", (), {"result": lambda self: Result(argv, proc.returncode, proc.stdout, proc.stderr)})()
    node_id = node_id_of(node, peer.name) if by_id else ""
    return MembershipProbe(job, peer.name, node_id, local=node.name, cmap=by_id).result() or "running"


def node_id_of(node: Node, name: str) -> str:
    """The corosync node id Pacemaker's CIB gives the node ``name`` (as alua-fence-peer reads it)."""
    from alua.tools.cib import CibView

    return CibView.parse(node.run(["cibadmin", "--query", "--local"], timeout=10).stdout).node_id(name)


def assert_status_agrees(cluster: Cluster, promoted: Node, *, down: tuple[Node, ...] = ()) -> None:
    """alua-status --json in every running node: its groups are what the node's SCST holds, its
    roles what Pacemaker says, every node's view the same; exit 0, or 1 for a node that is down."""
    views = {}
    for node in cluster.live_nodes():
        proc = node.run([str(ROOT / "sbin" / "alua-status"), "--json"], timeout=40)
        assert "Traceback" not in proc.stderr, proc.stderr
        result = views[node.name] = json.loads(proc.stdout)
        assert result["node"] == node.name and result["alua"]["units"] == {"vg1": node.states()}, result
        roles = {name: view["alua_role"] for name, view in result["cluster"]["nodes"].items()}
        assert roles == {n: "Promoted" if n == promoted.name else "Stopped" if cluster[n] in down else "Unpromoted"
                         for n in cluster.names}, result
        problems = [p["text"] for p in result["problems"]]
        assert problems == [f"node {n.name} is offline" for n in down], result
        assert proc.returncode == (1 if down else 0) == result["exit_code"], result
    for part in (lambda v: v["alua"]["units"], lambda v: v["cluster"]["nodes"]):
        assert len({json.dumps(part(v), sort_keys=True) for v in views.values()}) == 1, views


def test_alua_status_in_every_node_matches_the_kernel_and_pacemaker_across_a_failover(
    healthy2: Cluster,  # noqa: F811
) -> None:
    victim = healthy2.promoted_node()
    survivor = other(healthy2, victim)
    assert_status_agrees(healthy2, victim)
    victim.crash()
    healthy2.wait_settled(promoted=survivor.name, timeout=30)
    wait_until(lambda: survivor.states().get(victim.name) == "offline", 10,
               f"{survivor.name} to show the dead peer's group offline", context=healthy2.describe)
    assert_status_agrees(healthy2, survivor, down=(victim,))
    victim.reboot()
    healthy2.wait_online(healthy2.names)
    healthy2.wait_settled(promoted=survivor.name)
    assert_status_agrees(healthy2, survivor)


def test_monitor_failure_on_the_promoted_node_is_recovered_by_our_exit_codes(healthy2: Cluster) -> None:  # noqa: F811
    broken = healthy2.promoted_node()
    peer = other(healthy2, broken)
    since = time.time()
    assert broken.emulator is not None
    broken.emulator.unregister_target(target(broken.name))  # the target vanishes under the promoted group

    def recovered() -> bool:
        status = healthy2.status()
        return status.promoted == [peer.name] and broken.name not in status.roles and bool(status.fail_counts)

    wait_until(
        recovered,
        45,
        f"Pacemaker to recover {broken.name}'s failed monitor (10 s interval)",
        context=healthy2.describe,
        interval=0.5,
    )
    proc = broken.run(["crm_resource", "--wait", "--timeout=30s"], timeout=40)
    assert proc.returncode == 0, proc.stderr
    ops = [op for op in healthy2.operations(since=since) if op.rsc == healthy2.primitive]
    # The recurring monitor of the promoted instance says "failed promoted" (9, a soft error):
    # Pacemaker recovers in place (demote, stop, start); the start cannot work without the
    # target (1), so start-failure-is-fatal keeps the clone off that node and promotes the peer.
    first = ops[0]
    assert (first.node, first.task, first.rc) == (broken.name, "monitor", 9), ops
    assert "is not a member of target group" in first.result
    assert tasks(ops, broken.name)[:4] == ["monitor", "demote", "stop", "start"], ops
    start = next(op for op in ops if op.node == broken.name and op.task == "start")
    assert start.rc == 1 and "not registered" in start.result, start
    assert tasks(ops, broken.name)[-1] == "stop", "a failed start is stopped"
    assert tasks(ops, peer.name) == ["promote", "monitor"], ops
    demoted = next(op for op in ops if op.node == broken.name and op.task == "demote")
    promoted = next(op for op in ops if op.node == peer.name and op.task == "promote")
    assert demoted.time <= promoted.time, "the peer is promoted only after the failed node was demoted"

    status = healthy2.status()
    assert status.fail_counts == {broken.name: 1000000}, status.fail_counts  # INFINITY: a failed start
    [failure] = status.failures
    assert (failure["node"], failure["task"], failure["exitcode"]) == (broken.name, "start", "1")
    assert "not registered with SCST driver iscsi" in failure["exitreason"]
    assert broken.states()[broken.name] == "offline" and peer.states() == {peer.name: "active", broken.name: "offline"}

    # The administrator brings the target back and clears the failure: the node rejoins unpromoted.
    broken.emulator.register_target(target(broken.name), rel_tgt_id=broken.position)
    healthy2.cleanup()
    healthy2.wait_settled(promoted=peer.name)
    assert_views(healthy2, peer)
    assert healthy2.two_active_moments() == []


def test_restarting_the_stack_under_a_promoted_scst_converges_without_two_active(healthy2: Cluster) -> None:  # noqa: F811
    """The admin's way to restart Pacemaker without touching resources: maintenance mode.
    The node's SCST stays promoted meanwhile; after the restart the probe must report
    "running promoted" (8), so Pacemaker keeps it promoted instead of promoting the peer."""
    promoted = healthy2.promoted_node()
    healthy2.set_property("maintenance-mode", "true")
    wait_until(lambda: healthy2.status().maintenance, 15, "maintenance mode", context=healthy2.describe)
    since = time.time()
    promoted.stop_stack(timeout=60)
    assert promoted.states()[promoted.name] == "active", "maintenance mode: the stop left SCST as it was"
    promoted.start_stack()
    healthy2.wait_online(healthy2.names)

    def probed() -> list:
        return [
            op
            for op in healthy2.operations(since=since)
            if op.node == promoted.name and op.task == "probe" and op.rsc == healthy2.primitive
        ]

    [probe] = wait_until(probed, 30, f"the probe on {promoted.name}", context=healthy2.describe)
    assert probe.rc == 8 and probe.result.startswith("promoted"), probe
    healthy2.set_property("maintenance-mode", "false")
    healthy2.wait_settled(promoted=promoted.name)
    ops = [op for op in healthy2.operations(since=since) if op.rsc == healthy2.primitive]
    moved = [op for op in ops if op.task in ("start", "stop", "promote", "demote")]
    assert moved == [], f"nothing is restarted or moved: {moved}"
    assert_views(healthy2, promoted)
    assert healthy2.two_active_moments() == []


def test_every_wait_fails_with_the_cluster_view(healthy2: Cluster) -> None:  # noqa: F811
    with pytest.raises(ClusterError, match="crm_mon -1rf on hpms0"):
        wait_until(lambda: False, 0.1, "something that never happens", context=healthy2.describe)
