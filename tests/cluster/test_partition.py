"""Network partitions in a real 3-node cluster (hpms01..hpms03) with fencing.

The cluster runs as a storage cluster must: stonith-enabled=true, one fence
device (fence_ns, stonith:fence_alua_netns: a power switch that kills every
process of a namespaced node at once, its emulated SCST included) and
no-quorum-policy=stop.  When a node's switch port goes down, the two others
keep quorum; before they move anything they power the lost node off, and
only then does Pacemaker run the lost instance's implied stop (with its
pre/post stop notifications) and, if it was promoted, promote a survivor.

The tests check that order from the fence agent's own event log, the SCST
emulators' timestamped write logs and the controllers' logs; and they replay
all three write logs (a fenced node's groups vanish with it) to find any
moment when two nodes reported their own group active.  What happens without
fencing is kept on record in test_partition_unfenced.py.
"""

from __future__ import annotations

import time

import pytest
from cluster.fixtures import cluster3_fenced, healthy3_fenced  # noqa: F401 - fixtures
from cluster.partition import wait_majority
from cluster.harness import Cluster, Node, Status, _alive, wait_until

pytestmark = pytest.mark.cluster

GROUP_STATE = "device_groups/vg1/target_groups/{}/state"


def own_active_writes(node: Node, *, after_ns: int) -> list[int]:
    """When node's SCST had its own group written active after ``after_ns``."""
    path = GROUP_STATE.format(node.name)
    return [
        int(w["ts"])
        for w in node.writes()
        if w["ts"] > after_ns and w["path"] == path and w["result"] == "ok" and w["data"].strip() == "active"
    ]


def first_write_of(node: Node, group: str, state: str, *, after_ns: int) -> int | None:
    path = GROUP_STATE.format(group)
    for w in node.writes():
        if w["ts"] > after_ns and w["path"] == path and w["result"] == "ok" and w["data"].strip() == state:
            return int(w["ts"])
    return None


def node_pids(node: Node) -> list[int]:
    """The processes that make up a powered node, as the harness knows them."""
    assert node.init is not None and node.emulator is not None
    return [node.init.pid, node.emulator.pid, *node.stack_pids()]


def wait_fenced(cluster: Cluster, isolated: Node, pids: list[int]) -> dict:
    """Until the fence agent powered the isolated node off; returns its event."""
    boot = isolated.boots
    wait_until(
        lambda: not isolated.powered,
        30,
        f"the majority to fence {isolated.name} (cut off) with fence_alua_netns",
        context=cluster.describe,
    )
    event = cluster.last_fencing(isolated.name, boot=boot)
    assert event is not None, f"{isolated.name} died, but not by the fence agent: {cluster.fence_events()}"
    assert event["by"] != isolated.name, event
    # SIGKILL is delivered at once, but a dying process with threads (or blocked in the killed
    # SCST emulator's FUSE mount) takes some milliseconds to be gone: bounded, not instant
    deadline = time.monotonic() + 5
    while [pid for pid in pids if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if _alive(pid)]
    assert not left, f"{isolated.name}'s processes {left} survived its power-off by 5 s ({event})"
    return event


def assert_survivors_show_it_offline(
    cluster: Cluster, isolated: Node, majority: list[Node], *, since: float, fenced: dict, by: str
) -> None:
    """Each survivor's SCST shows the fenced node's group offline: written after the node was
    powered off, on the post-``by`` notification of its implied ``by`` (demote for a promoted
    instance, stop otherwise); the implied stop's pre and post notifications ran on every
    survivor, and the group is still offline after them."""
    notified = lambda key: {  # noqa: E731
        node: when for when, k, node in cluster.notifications(since=since) if k.endswith(f"_{key}_0")
    }
    wait_until(
        lambda: all(n.name in notified("post_notify_stop") for n in majority),
        15,
        f"the implied stop of {isolated.name}'s instance to be notified on the survivors",
        context=cluster.describe,
    )
    wait_until(
        lambda: all(n.states().get(isolated.name) == "offline" for n in majority),
        15,
        f"the survivors to show the fenced {isolated.name}'s group offline",
        context=cluster.describe,
    )
    post = notified(f"post_notify_{by}")
    for node in majority:
        assert node.name in notified("pre_notify_stop"), cluster.notifications(since=since)
        written = first_write_of(node, isolated.name, "offline", after_ns=int(since * 1e9))
        assert written is not None, f"{node.name}'s SCST never had {isolated.name}'s group written offline"
        assert written > fenced["done"], f"{node.name} wrote {isolated.name}'s group offline before it was fenced"
        assert node.name in post and written / 1e9 >= post[node.name], (
            f"{node.name} wrote {isolated.name}'s group offline before its post-{by} notification "
            f"({cluster.notifications(since=since)})"
        )


def reboot_and_settle(cluster: Cluster, isolated: Node, promoted: str) -> None:
    """The fenced node stays off (the switch cannot power on): plug it back in and boot it."""
    cluster.heal(isolated)
    isolated.reboot()
    cluster.wait_online(cluster.names)
    cluster.wait_settled(promoted=promoted)


def test_isolated_promoted_node_is_fenced_before_a_survivor_is_promoted(
    healthy3_fenced: Cluster,  # noqa: F811
    record_property,
) -> None:
    cluster = healthy3_fenced
    isolated = cluster.promoted_node()
    majority = [n for n in cluster.nodes.values() if n is not isolated]
    pids = node_pids(isolated)
    since = time.time()
    cut_at = time.time_ns()
    cluster.partition(isolated)

    event = wait_fenced(cluster, isolated, pids)
    status = wait_majority(cluster, majority)
    successor = cluster[status.promoted[0]]
    assert successor in majority

    # The fence agent's record against the SCST write logs: nobody else's group went active
    # before every process of the isolated node (its SCST included) was gone.
    became_active = [(ts, n.name) for n in majority for ts in own_active_writes(n, after_ns=cut_at)]
    assert [name for _, name in became_active] == [successor.name], became_active
    assert event["done"] < became_active[0][0], (
        f"{successor.name}'s group went active {(event['done'] - became_active[0][0]) / 1e6:.0f} ms "
        f"before {isolated.name} was powered off: {event}"
    )
    # The cluster's own records: the fencing was confirmed before the promote ran.
    [fencing] = [f for f in cluster.fencings(since=since) if f.target == isolated.name]
    assert fencing.result.startswith("OK") and fencing.by != isolated.name, fencing
    ops = [op for op in cluster.operations(since=since) if op.rsc == cluster.primitive]
    [promote] = [op for op in ops if op.task == "promote"]
    assert promote.node == successor.name and promote.rc == 0, ops
    assert fencing.time <= promote.time, f"promoted before the fencing was confirmed: {fencing}, {promote}"
    record_property("fenced_s", round((event["done"] - cut_at) / 1e9, 3))
    record_property("successor_active_s", round((became_active[0][0] - cut_at) / 1e9, 3))
    print(
        f"cut at 0: {isolated.name} powered off by {event['by']} at {(event['done'] - cut_at) / 1e9:.2f} s, "
        f"{successor.name} active at {(became_active[0][0] - cut_at) / 1e9:.2f} s"
    )

    assert_survivors_show_it_offline(cluster, isolated, majority, since=since, fenced=event, by="demote")
    for node in majority:
        assert node.states() == {
            n.name: "offline" if n is isolated else "active" if n is successor else "nonoptimized"
            for n in cluster.nodes.values()
        }, node.name
    assert cluster.two_active_moments() == []

    reboot_and_settle(cluster, isolated, successor.name)
    assert cluster.two_active_moments() == []


def test_isolated_unpromoted_node_is_fenced_and_its_group_shown_offline(healthy3_fenced: Cluster) -> None:  # noqa: F811
    cluster = healthy3_fenced
    promoted = cluster.promoted_node()
    isolated = next(n for n in cluster.nodes.values() if n is not promoted)
    majority = [n for n in cluster.nodes.values() if n is not isolated]
    pids = node_pids(isolated)
    since = time.time()
    cut_at = time.time_ns()
    cluster.partition(isolated)

    event = wait_fenced(cluster, isolated, pids)
    wait_majority(cluster, majority, promoted=promoted.name)
    [fencing] = [f for f in cluster.fencings(since=since) if f.target == isolated.name]
    assert fencing.result.startswith("OK") and fencing.by != isolated.name, fencing
    ops = [op for op in cluster.operations(since=since) if op.rsc == cluster.primitive]
    assert not [op for op in ops if op.task in ("promote", "demote") and op.node != isolated.name], (
        f"the promoted node is left alone: {ops}"
    )
    assert [ts for n in majority for ts in own_active_writes(n, after_ns=cut_at)] == [], "no group went active"

    # The implied stop of the lost instance is notified (pre and post stop) on the survivors,
    # whose agents then show its group offline.
    assert_survivors_show_it_offline(cluster, isolated, majority, since=since, fenced=event, by="stop")
    for node in majority:
        assert node.states() == {
            n.name: "offline" if n is isolated else "active" if n is promoted else "nonoptimized"
            for n in cluster.nodes.values()
        }, node.name
    assert cluster.two_active_moments() == []

    reboot_and_settle(cluster, isolated, promoted.name)
    assert cluster.two_active_moments() == []


def test_a_node_fenced_outside_any_transition_is_shown_offline(healthy3_fenced: Cluster) -> None:  # noqa: F811
    """dlm_controld and alua-fence-peer fence a lost node at once, often before the DC's scheduler
    runs: Pacemaker then finds the node fenced, its resources gone without a stop, and sends the
    clone no notification (lab Finding 23).  The fencing alert reaches alua-alert (configured by
    crm/scst.crm, run by Pacemaker as hacluster), whose marker makes each survivor's next monitor
    show the node's group offline."""
    cluster = healthy3_fenced
    promoted = cluster.promoted_node()
    victim = next(n for n in cluster.nodes.values() if n is not promoted)
    survivors = [n for n in cluster.nodes.values() if n is not victim]
    pids, since = node_pids(victim), time.time()
    fence = promoted.run(["stonith_admin", "--reboot", victim.name, "--tag", "test"], timeout=90)
    assert fence.returncode == 0, fence.stderr
    wait_fenced(cluster, victim, pids)

    def marked() -> bool:  # the fencing alert comes once the fencer has reported the result
        return all(n.run(["cat", f"/run/resource-agents/alua-fenced/{victim.name}"]).stdout.startswith("fencing")
                   for n in survivors)

    wait_until(marked, 20, f"alua-alert to mark {victim.name} fenced on the survivors", context=cluster.describe)

    def offline_everywhere() -> bool:
        return all(n.states()[victim.name] == "offline" for n in survivors)

    wait_until(offline_everywhere, 45, f"the survivors' monitors to show {victim.name}'s group offline",
               context=cluster.describe)
    ops = [op for op in cluster.operations(since=since) if op.rsc == cluster.primitive]
    assert not [op for op in ops if op.task in ("promote", "demote")], f"the promoted node is left alone: {ops}"
    assert cluster.two_active_moments() == []
    victim.reboot()
    cluster.wait_online(cluster.names)
    cluster.wait_settled(promoted=promoted.name)
    for node in cluster.live_nodes():
        assert node.states()[victim.name] == "nonoptimized", node.name  # back: its start's notification wins
