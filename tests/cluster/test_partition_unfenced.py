"""Network partitions in a 3-node cluster WITHOUT fencing: what goes wrong, kept on record.

A real storage cluster runs with fencing (test_partition.py shows what it buys).
These tests run the same partitions on a cluster with stonith-enabled=false, to
document why that configuration is not supported.  A node whose switch port goes
down loses quorum; with no-quorum-policy=stop it demotes (if promoted) and stops
its instance, while the two others keep quorum and carry on.  Without fencing:

- nothing orders the isolated node's demote before the majority's promote: both
  sides notice the split after the same corosync timeouts, so for up to about a
  second two nodes may each report their own group active/optimized (timing
  dependent: the test is an xfail when it happens, a pass when it does not);
- the majority never learns that the lost unpromoted instance stopped: Pacemaker
  schedules no action (hence no notification) for it, so the survivors keep
  showing its group nonoptimized (an xfail as long as that stays so).

The tests replay all three SCST write logs to find any moment when two nodes
reported their own group active.
"""

from __future__ import annotations

import time

import pytest
from cluster.fixtures import cluster3, healthy3  # noqa: F401 - fixtures
from cluster.partition import wait_majority
from cluster.harness import Cluster, Node, Status, wait_until

pytestmark = pytest.mark.cluster


def first_write(node: Node, group: str, *, after_ns: int, active: bool) -> int | None:
    """When node's SCST first had group written active (or, active=False, anything but active)."""
    path = f"device_groups/vg1/target_groups/{group}/state"
    for w in node.writes():
        if (
            w["ts"] > after_ns
            and w["path"] == path
            and w["result"] == "ok"
            and (w["data"].strip() == "active") == active
        ):
            return int(w["ts"])
    return None


def wait_isolated_stopped(cluster: Cluster, isolated: Node) -> Status:
    def stopped() -> Status | None:
        status = cluster.status(via=isolated)
        if status.quorate or isolated.name in status.roles or isolated.states().get(isolated.name) != "offline":
            return None
        return status

    return wait_until(
        stopped, 30, f"{isolated.name}, cut off, to lose quorum and stop its instance", context=cluster.describe
    )


def heal_and_settle(cluster: Cluster, isolated: Node, promoted: str) -> None:
    cluster.heal(isolated)
    cluster.wait_online(cluster.names)
    cluster.wait_settled(promoted=promoted)


def test_without_fencing_isolated_unpromoted_node_stops_but_survivors_keep_its_group(healthy3: Cluster) -> None:  # noqa: F811
    promoted = healthy3.promoted_node()
    isolated = next(n for n in healthy3.nodes.values() if n is not promoted)
    majority = [n for n in healthy3.nodes.values() if n is not isolated]
    since = time.time()
    healthy3.partition(isolated)

    wait_isolated_stopped(healthy3, isolated)
    status = wait_majority(healthy3, majority, promoted=promoted.name)
    assert status.unpromoted == sorted(n.name for n in majority if n is not promoted)

    def isolated_tasks() -> list[str]:  # the stop's result is logged just after its SCST write
        ops = [op for op in healthy3.operations(since=since) if op.rsc == healthy3.primitive and op.task != "notify"]
        return [op.task for op in ops if op.node == isolated.name and op.task != "monitor"]

    wait_until(isolated_tasks, 10, f"{isolated.name}'s controller to log its stop", context=healthy3.describe)
    ops = [op for op in healthy3.operations(since=since) if op.rsc == healthy3.primitive and op.task != "notify"]
    assert isolated_tasks() == ["stop"], ops
    assert not [op for op in ops if op.task in ("promote", "demote")], "the promoted node is left alone"
    time.sleep(2)  # a notification, if any, would have arrived by now
    stale = {n.name: n.states().get(isolated.name) for n in majority if n.states().get(isolated.name) != "offline"}

    heal_and_settle(healthy3, isolated, promoted.name)
    assert healthy3.two_active_moments() == []
    if stale:
        pytest.xfail(
            f"without fencing the majority still showed the lost peer {isolated.name}'s group as {stale}: "
            "Pacemaker schedules no action, hence sends no notification, for a lost instance that needs "
            "none (with fencing the implied stop is notified: see test_partition.py)"
        )


def test_without_fencing_isolated_promoted_node_demotes_while_the_majority_promotes(
    healthy3: Cluster,  # noqa: F811
    record_property,
) -> None:
    isolated = healthy3.promoted_node()
    majority = [n for n in healthy3.nodes.values() if n is not isolated]
    since = time.time()
    cut_at = time.time_ns()
    healthy3.partition(isolated)

    wait_isolated_stopped(healthy3, isolated)
    status = wait_majority(healthy3, majority)
    successor = healthy3[status.promoted[0]]
    ops = [op for op in healthy3.operations(since=since) if op.rsc == healthy3.primitive]
    isolated_tasks = [op.task for op in ops if op.node == isolated.name and op.task not in ("notify", "monitor")]
    assert isolated_tasks == ["demote", "stop"], ops

    left_active = first_write(isolated, isolated.name, after_ns=cut_at, active=False)
    became_active = first_write(successor, successor.name, after_ns=cut_at, active=True)
    assert left_active and became_active
    record_property("isolated_demoted_s", round((left_active - cut_at) / 1e9, 3))
    record_property("majority_promoted_s", round((became_active - cut_at) / 1e9, 3))
    print(
        f"cut at 0: {isolated.name} left active at {(left_active - cut_at) / 1e9:.2f} s, "
        f"{successor.name} became active at {(became_active - cut_at) / 1e9:.2f} s"
    )

    heal_and_settle(healthy3, isolated, successor.name)
    overlaps, in_view = healthy3.replay_writes()
    assert in_view == [], "no node's own view ever has two groups active"
    if overlaps:
        shown = "; ".join(f"{nodes} for {(end - start) / 1e6:.0f} ms" for start, end, nodes in overlaps)
        pytest.xfail(
            f"without fencing the isolated node demoted after the majority promoted ({shown}): both sides "
            "act on the same corosync timeouts; fencing orders them (see test_partition.py)"
        )
