"""The role and fault scenarios every promotable ALUA agent must pass, run on each backend.

One table, two adapters (adapters.py): scst over the SCST sysfs emulator,
lio over the LIO configfs emulator.  A scenario reads like what Pacemaker
does to a two-node cluster; the adapter only says where the backend keeps a
group's state.  Both agents share one role core (lib/alua/targets/roles.py), so any
difference here is a backend bug.
"""

from __future__ import annotations

import time

import pytest
from backends.adapters import BACKENDS, Backend
from backends.harness import NODES, StorageNode, nodes_active_at_once, notify_env, replay_never_two_active
from conftest import assert_no_traceback
from emulators.fixtures import scst_emulator  # noqa: F401 - fixture
from emulators.lio_fixtures import lio_emulator  # noqa: F401 - fixture

A, B = NODES


class Cluster:
    """Two storage nodes of one backend, driven as Pacemaker drives a promotable clone."""

    def __init__(self, backend: Backend, factory, tmp_path) -> None:
        self.backend = backend
        self.factory = factory
        self.nodes = [backend.node(n, factory(backend.node_config(n), name=n), tmp_path / n) for n in NODES]

    def __getitem__(self, name: str) -> StorageNode:
        return next(n for n in self.nodes if n.name == name)

    def states(self, name: str) -> dict[str, str | None]:
        return self.backend.states(self[name])

    def notify(self, nodes, kind: str, operation: str, **lists: str) -> None:
        for n in nodes:
            result = n.run("notify", notify=notify_env(kind, operation, self.backend.resource, **lists))
            assert result.rc == 0, str(result)

    def start_all(self) -> None:
        for n in self.nodes:
            assert n.run("start").rc == 0
        self.notify(self.nodes, "post", "start", start=" ".join(NODES))

    def promote(self, who: str, nodes=None) -> None:
        """Pre-notify all running, promote, post-notify all."""
        nodes = self.nodes if nodes is None else nodes
        running = " ".join(n.name for n in nodes)
        self.notify(nodes, "pre", "promote", promote=who, active=running)
        result = self[who].run("promote")
        assert result.rc == 0, str(result)
        self.notify(nodes, "post", "promote", promote=who, active=running, unpromoted=running)

    def demote(self, who: str) -> None:
        others = " ".join(n for n in NODES if n != who)
        lists = {"demote": who, "promoted": who, "unpromoted": others, "active": " ".join(NODES)}
        self.notify(self.nodes, "pre", "demote", **lists)
        assert self[who].run("demote").rc == 0
        self.notify(self.nodes, "post", "demote", **lists)

    def assert_never_two_active(self) -> None:
        for n in self.nodes:
            assert replay_never_two_active(n.all_writes(), self.backend.state_write) == [], n.name
        assert nodes_active_at_once(self.nodes, self.backend.state_write) == []


def state_writes(backend: Backend, node: StorageNode, since: int = 0) -> list[tuple[str, str]]:
    """(group, state) of every state write since a mark in the node's write log."""
    out = []
    for w in node.emulator.writes()[since:]:
        change = backend.state_write(w) if w["result"] == "ok" else None
        if change is not None:
            out.append((change[1], change[2]))
    return out


# -- the scenarios -------------------------------------------------------------------


def start_builds_the_groups_and_serves_unpromoted(c: Cluster) -> None:
    a = c[A]
    result = a.run("start")
    assert result.rc == 0, str(result)
    assert c.states(A) == {A: "nonoptimized", B: "offline"}, "a peer nobody reported yet is not available"
    assert a.monitor().rc == 0
    assert a.score() == "100"


def promote_sets_peer_nonoptimized_before_self_active(c: Cluster) -> None:
    a = c[A]
    assert a.run("start").rc == 0
    c.backend.set_state(a, B, "active")  # as left by a peer that was promoted
    mark = len(a.emulator.writes())
    assert a.run("promote").rc == 0
    assert state_writes(c.backend, a, mark) == [(B, "nonoptimized"), (A, "active")]
    assert a.monitor().rc == 8


def planned_switchover(c: Cluster) -> None:
    c.start_all()
    assert c.states(A) == c.states(B) == {A: "nonoptimized", B: "nonoptimized"}
    c.promote(A)
    assert c.states(A) == c.states(B) == {A: "active", B: "nonoptimized"}
    assert (c[A].monitor().rc, c[B].monitor().rc) == (8, 0)
    c.demote(A)
    assert c.states(A) == c.states(B) == {A: "nonoptimized", B: "nonoptimized"}
    mark = len(c[B].emulator.writes())
    c.promote(B)
    assert state_writes(c.backend, c[B], mark)[0] == (B, "active")
    assert c.states(A) == c.states(B) == {A: "nonoptimized", B: "active"}
    assert (c[A].monitor().rc, c[B].monitor().rc) == (0, 8)
    c.assert_never_two_active()


def peer_loss_and_rejoin(c: Cluster) -> None:
    a, b = c[A], c[B]
    c.start_all()
    c.promote(B)
    # B crashes and is fenced: A is told B stopped, then A is promoted alone.
    b.crash_and_reboot(c.factory, c.backend.node_config(B))
    c.notify([a], "pre", "stop", stop=B, promoted=B, active=" ".join(NODES))
    c.notify([a], "post", "stop", stop=B, promoted=B, active=" ".join(NODES))
    assert c.states(A)[B] == "offline"
    c.promote(A, nodes=[a])
    assert c.states(A) == {A: "active", B: "offline"}
    # B boots with a fresh kernel: its probe finds nothing, it starts unpromoted.
    assert b.monitor(probe=True).rc == 7
    assert b.run("start").rc == 0
    c.notify(c.nodes, "post", "start", start=B, active=A, promoted=A)
    assert c.states(A) == c.states(B) == {A: "active", B: "nonoptimized"}
    assert (a.monitor().rc, b.monitor().rc) == (8, 0)
    assert [w for w in b.all_writes() if w["result"] == "crash"], "the crash is part of the record"
    c.assert_never_two_active()


def stop_takes_the_group_inactive_and_removes_the_score(c: Cluster) -> None:
    a = c[A]
    assert a.run("start").rc == 0
    assert a.run("promote").rc == 0
    assert a.run("stop").rc == 0
    assert c.states(A)[A] == "offline"
    assert a.score() is None
    assert a.monitor(probe=True).rc == 7
    assert a.run("stop").rc == 0, "stop when already stopped"


def probe_on_a_node_that_runs_promoted_returns_8(c: Cluster) -> None:
    a = c[A]
    assert a.run("start").rc == 0
    assert a.run("promote").rc == 0
    a.clear_rsctmp()  # the agent's own state is gone (the cluster stack restarted)
    assert a.monitor(probe=True).rc == 8


def monitor_puts_back_a_drifted_peer_state(c: Cluster) -> None:
    c.start_all()
    c.promote(B)
    c.backend.set_state(c[A], B, "standby")
    assert c[A].monitor().rc == 0
    assert c.states(A)[B] == "active"


def eio_on_a_state_write_fails_promote_with_path_and_errno(c: Cluster) -> None:
    a = c[A]
    assert a.run("start").rc == 0
    a.emulator.fault(c.backend.state_path(A), kind="eio", on="write")
    result = a.run("promote")
    assert result.rc == 1
    assert c.backend.state_path(A) in result.reason and "Input/output error" in result.reason, str(result)
    assert_no_traceback(result)


def a_hanging_write_is_bounded_by_the_action_timeout(c: Cluster) -> None:
    a = c[A]
    assert a.run("start").rc == 0
    a.emulator.fault(c.backend.state_path(A), kind="hang", on="write")
    started = time.monotonic()
    result = a.run("promote", timeout_ms=3000, timeout=20)
    elapsed = time.monotonic() - started
    assert result.rc == 1 and "timed out" in result.reason, str(result)
    assert elapsed < 3.0, f"took {elapsed:.1f}s with a 3 s timeout"
    a.emulator.clear_faults()
    assert a.run("stop").rc == 0


def ports_dropped_from_the_group_fail_monitor_in_both_roles(c: Cluster) -> None:
    c.start_all()
    c.promote(A)
    for n in c.nodes:
        c.backend.drop_local_ports(n)
    promoted = c[A].monitor()
    assert promoted.rc == 9 and c.backend.member_dropped in promoted.reason, str(promoted)
    unpromoted = c[B].monitor()
    assert unpromoted.rc == 1 and c.backend.member_dropped in unpromoted.reason, str(unpromoted)
    assert c[A].run("stop").rc == 0 and c[B].run("stop").rc == 0


def kernel_interface_not_loaded(c: Cluster) -> None:
    node = c.backend.node(A, None, c[A].workdir / "no-kernel")  # this machine has neither SCST nor LIO
    start = node.run("start")
    assert start.rc == 5 and c.backend.not_loaded in start.reason, str(start)
    assert node.monitor(probe=True).rc == 7
    assert node.run("stop").rc == 0
    assert node.run("demote").rc == 1


SCENARIOS = {
    f.__name__: f
    for f in (
        start_builds_the_groups_and_serves_unpromoted,
        promote_sets_peer_nonoptimized_before_self_active,
        planned_switchover,
        peer_loss_and_rejoin,
        stop_takes_the_group_inactive_and_removes_the_score,
        probe_on_a_node_that_runs_promoted_returns_8,
        monitor_puts_back_a_drifted_peer_state,
        eio_on_a_state_write_fails_promote_with_path_and_errno,
        a_hanging_write_is_bounded_by_the_action_timeout,
        ports_dropped_from_the_group_fail_monitor_in_both_roles,
        kernel_interface_not_loaded,
    )
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
def test_scenario(backend: Backend, scenario: str, request, tmp_path) -> None:
    cluster = Cluster(backend, request.getfixturevalue(backend.fixture), tmp_path)
    SCENARIOS[scenario](cluster)
