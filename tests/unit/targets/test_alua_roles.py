"""Backend-neutral role logic, on an in-memory backend that records every write."""

from __future__ import annotations

import os
import stat
import time

import pytest

from alua.targets.roles import AluaBackend, AluaRoles, NodePort, RoleOptions, Topology
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.ocf.notify import Notification
from alua.host.state import FencedPeers, StateFile

NODES = ("a", "b")
META = "OCF_RESKEY_CRM_meta_notify_"


class MemoryBackend(AluaBackend):
    def __init__(self, units=("dg1", "dg2")) -> None:
        self.units = units
        self.states: dict[str, dict[str, str]] = {}
        self.writes: list[tuple[str, str]] = []
        self.is_loaded = True
        self.broken: list[str] = []

    def loaded(self) -> bool:
        return self.is_loaded

    def ensure_topology(self, topology, initial) -> None:
        for port in topology.ports:
            self.states.setdefault(port.node, {u: initial[port.node] for u in self.units})

    def group_states(self, node):
        return {u: self.states.get(node, {}).get(u) for u in self.units}

    def set_group_state(self, node, state) -> None:
        self.writes.append((node, state))
        self.states[node] = {u: state for u in self.units}

    def local_problems(self, topology):
        return list(self.broken)

    def readiness_problems(self, topology, local_problems=None):
        return list(self.broken)

    def open_access(self, topology, *, reassert=False) -> None:
        self.writes.append(("access", "reopen" if reassert else "open"))

    def close_access(self, topology) -> None:
        self.writes.append(("access", "close"))


class RecordingScore:
    def __init__(self) -> None:
        self.values: list[int | None] = []

    def set(self, score, *, verify=False) -> None:
        self.values.append(score)


def roles_for(node: str, backend: MemoryBackend, tmp_path, *, fenced=None, **options) -> AluaRoles:
    ports = [NodePort(n, f"iqn.x:{n}", i, i) for i, n in enumerate(NODES, start=1)]

    class Log:
        def __getattr__(self, name):
            return lambda msg: None

    return AluaRoles(backend, Topology(ports, node), RoleOptions(**options), log=Log(),
                     state=StateFile(str(tmp_path), f"p:{node}"), score=RecordingScore(), fenced=fenced)


def notification(**lists: str) -> Notification:
    return Notification({META + k: v for k, v in lists.items()})


def test_start_is_unpromoted_and_new_peer_groups_start_inactive(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    assert roles.start() == ExitStatus.OK
    assert backend.states["a"] == {"dg1": "nonoptimized", "dg2": "nonoptimized"}
    assert backend.states["b"] == {"dg1": "offline", "dg2": "offline"}
    assert roles.monitor(probe=False) == ExitStatus.OK
    assert roles.score.values[-1] == 100


def test_promote_sets_peer_nonoptimized_before_self_active(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    backend.states["b"] = {"dg1": "active", "dg2": "active"}  # peer was promoted
    backend.writes.clear()
    assert roles.promote() == ExitStatus.OK
    assert backend.writes == [("b", "nonoptimized"), ("a", "active")]
    assert roles.monitor(probe=True) == ExitStatus.RUNNING_PROMOTED


def test_promote_leaves_an_offline_peer_offline_and_can_pass_through_transitioning(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path, transitioning=True)
    roles.start()
    backend.writes.clear()
    roles.promote()
    assert backend.writes == [("a", "transitioning"), ("a", "active")]
    assert backend.states["b"]["dg1"] == "offline"


def test_promote_refuses_when_not_ready(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    backend.broken = ["local target iqn.x:a is not enabled"]
    with pytest.raises(OcfError, match="cannot promote: local target iqn.x:a is not enabled"):
        roles.promote()
    assert backend.states["a"]["dg1"] == "nonoptimized"


@pytest.mark.parametrize(
    ("lists", "peer_state"),
    [
        ({"type": "post", "operation": "promote", "promote_uname": "b", "active_uname": "a b"}, "active"),
        ({"type": "post", "operation": "demote", "demote_uname": "b", "promoted_uname": "b",
          "active_uname": "a b"}, "nonoptimized"),
        ({"type": "post", "operation": "stop", "stop_uname": "b", "active_uname": "a b"}, "offline"),
        ({"type": "post", "operation": "stop", "stop_uname": "b", "promoted_uname": "b",
          "active_uname": "a b"}, "offline"),
        ({"type": "post", "operation": "start", "start_uname": "b", "active_uname": "a"}, "nonoptimized"),
        ({"type": "post", "operation": "start", "start_uname": "a", "active_uname": "b",
          "promoted_uname": "b"}, "active"),
    ],
)
def test_post_notifications_show_the_peer_as_it_now_runs(lists, peer_state, tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    assert roles.notify(notification(**lists)) == ExitStatus.OK
    assert backend.states["b"] == {"dg1": peer_state, "dg2": peer_state}
    assert backend.states["a"]["dg1"] == "nonoptimized", "notify never touches the local group"


def test_pre_notifications_change_nothing(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    backend.writes.clear()
    roles.notify(notification(type="pre", operation="promote", promote_uname="b"))
    assert backend.writes == []


def test_monitor_codes(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    assert roles.monitor(probe=True) == ExitStatus.NOT_RUNNING
    roles.start()
    backend.broken = ["local target iqn.x:a is not a member of target group a"]
    with pytest.raises(OcfError) as info:
        roles.monitor(probe=False)
    assert info.value.status == ExitStatus.UNKNOWN_ERROR and "not a member" in info.value.reason
    backend.broken = []
    roles.promote()
    backend.broken = ["device vg1 is gone"]
    with pytest.raises(OcfError) as info:
        roles.monitor(probe=False)
    assert info.value.status == ExitStatus.FAILED_PROMOTED
    backend.broken = []
    backend.states["a"]["dg2"] = "nonoptimized"
    with pytest.raises(OcfError, match="inconsistent states"):
        roles.monitor(probe=False)
    roles.stop()
    assert roles.monitor(probe=True) == ExitStatus.NOT_RUNNING
    backend.is_loaded = False
    assert roles.monitor(probe=True) == ExitStatus.NOT_RUNNING
    assert roles.stop() == ExitStatus.OK


def test_monitor_puts_back_a_drifted_peer_state(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    roles.notify(notification(type="post", operation="promote", promote_uname="b", active_uname="a b"))
    backend.states["b"]["dg2"] = "offline"  # somebody else wrote it
    backend.writes.clear()
    roles_again = roles_for("a", backend, tmp_path)  # a new process: the decision comes from the state file
    assert roles_again.monitor(probe=False) == ExitStatus.OK
    assert [w for w in backend.writes if w[0] != "access"] == [("b", "active")]


def test_a_node_not_in_the_topology(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("c", backend, tmp_path)
    with pytest.raises(OcfError) as info:
        roles.start()
    assert info.value.status == ExitStatus.NOT_CONFIGURED and "'c' is not listed" in info.value.reason
    assert roles.stop() == ExitStatus.OK
    assert roles.monitor(probe=True) == ExitStatus.NOT_RUNNING


def test_demote_of_a_stopped_instance_writes_nothing(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    roles.stop()
    backend.writes.clear()
    assert roles.demote() == ExitStatus.OK
    assert backend.writes == [] and backend.states["a"]["dg1"] == "offline"


def test_monitor_reason_fits_in_pacemakers_128_characters(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    backend.broken = ["target iqn.2016-02.local.virtual:hpms01.vg1 is not a member of target group hpms01 in vg1",
                      "device vg1 is gone"]
    with pytest.raises(OcfError) as info:
        roles.monitor(probe=False)
    assert len(info.value.reason) <= 128, info.value.reason
    assert info.value.reason.endswith("(+1 more in log)")


def test_access_opens_only_after_the_local_state_and_closes_after_the_inactive_state(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    roles.start()
    assert backend.writes == [("a", "nonoptimized"), ("access", "open")]
    backend.writes.clear()
    roles.stop()
    assert backend.writes == [("a", "offline"), ("access", "close")]


def test_monitor_reasserts_access_only_while_running_and_consistent(tmp_path) -> None:
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path)
    assert roles.monitor(probe=True) == ExitStatus.NOT_RUNNING
    assert ("access", "reopen") not in backend.writes
    roles.start()
    roles.promote()
    backend.writes.clear()
    assert roles.monitor(probe=False) == ExitStatus.RUNNING_PROMOTED
    assert backend.writes == [("access", "reopen")]
    backend.writes.clear()
    backend.broken = ["backstore gone"]
    with pytest.raises(OcfError):
        roles.monitor(probe=False)
    assert backend.writes == []


def test_a_failed_start_never_opens_access(tmp_path) -> None:
    backend = MemoryBackend()

    def refuse(topology, initial):
        raise OcfError("conflict", ExitStatus.NOT_CONFIGURED)

    backend.ensure_topology = refuse
    with pytest.raises(OcfError):
        roles_for("a", backend, tmp_path).start()
    assert ("access", "open") not in backend.writes


def test_a_peer_fenced_without_a_notification_goes_inactive_on_the_next_monitor(tmp_path) -> None:
    # Pacemaker sends no notification when the node was fenced before its scheduler ran
    # (dlm_controld or alua-fence-peer fenced it first): alua-alert's marker tells the monitor.
    fenced = FencedPeers.below(str(tmp_path))
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path, fenced=fenced)
    roles.start()
    assert os.path.isdir(fenced.dir)
    roles.notify(notification(type="post", operation="start", active_uname="a b", start_uname="b"))
    assert backend.states["b"]["dg1"] == "nonoptimized"
    roles.monitor(probe=False)
    assert backend.states["b"]["dg1"] == "nonoptimized"  # no marker: nothing changes
    fenced.mark("b", "node")
    roles.monitor(probe=False)
    assert backend.states["b"] == {"dg1": "offline", "dg2": "offline"}
    writes = len(backend.writes)
    roles.monitor(probe=False)
    assert len([w for w in backend.writes[writes:] if w[0] == "b"]) == 0  # applied once
    # the node returns: its start's notification wins over the old marker
    roles.notify(notification(type="post", operation="start", active_uname="a b", start_uname="b"))
    roles.monitor(probe=False)
    assert backend.states["b"]["dg1"] == "nonoptimized"
    # fenced again later: a new marker applies again
    time.sleep(0.01)
    fenced.mark("b", "fencing")
    roles.monitor(probe=False)
    assert backend.states["b"]["dg1"] == "offline"
    fenced.mark("a", "fencing")  # a marker for this node itself is no peer's
    roles.monitor(probe=False)
    assert backend.states["a"]["dg1"] == "nonoptimized"


def test_an_old_marker_is_not_applied_to_a_fresh_start(tmp_path) -> None:
    fenced = FencedPeers.below(str(tmp_path))
    fenced.ensure()
    fenced.mark("b", "fencing")  # the peer was fenced before this instance started
    backend = MemoryBackend()
    roles = roles_for("a", backend, tmp_path, fenced=fenced)
    roles.start()
    roles.notify(notification(type="post", operation="start", active_uname="a b", start_uname="a b"))
    roles.monitor(probe=False)
    assert backend.states["b"]["dg1"] == "nonoptimized"


def test_the_marker_directory_is_for_root_and_the_alert_agents_group(tmp_path) -> None:
    import grp

    fenced = FencedPeers.below(str(tmp_path))
    fenced.ensure()
    st = os.stat(fenced.dir)
    try:
        gid = grp.getgrnam("haclient").gr_gid
    except KeyError:
        assert stat.S_IMODE(st.st_mode) == 0o700
    else:
        assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o1770
