"""Pacemaker's environment as one typed object, and clone notifications."""

from __future__ import annotations

from alua.ocf.environment import OcfEnvironment
from alua.ocf.notify import Notification

META = "OCF_RESKEY_CRM_meta_"


def test_probe_and_timeouts() -> None:
    env = OcfEnvironment({META + "timeout": "30000", META + "interval": "0"}, "monitor", "scst")
    assert env.is_probe and env.timeout_s == 30.0
    assert 20.0 < env.time_budget() < 30.0
    recurring = OcfEnvironment({META + "interval": "10000"}, "monitor", "scst")
    assert not recurring.is_probe


def test_ha_debug_zero_is_off() -> None:
    assert OcfEnvironment({"HA_debug": "0"}, "start", "x").debug is False
    assert OcfEnvironment({"HA_debug": "1"}, "start", "x").debug is True
    assert OcfEnvironment({}, "start", "x").debug is False


def test_clone_meta_with_legacy_names() -> None:
    env = OcfEnvironment({META + "clone_max": "2", META + "master_max": "1", META + "notify": "true"}, "start", "x")
    assert env.is_clone and env.promoted_max == 1 and env.notify_enabled is True
    assert OcfEnvironment({}, "start", "x").notify_enabled is None


def note(**lists: str) -> Notification:
    env = {f"{META}notify_{k}": v for k, v in lists.items()}
    return Notification(env)


def test_notification_lists_and_deprecated_fallbacks() -> None:
    n = note(type="post", operation="promote", promote_uname="b ", master_uname="a", slave_uname="b c",
             active_uname="a b c")
    assert n.is_valid
    assert n.promoted == {"a"} and n.unpromoted == {"b", "c"} and n.promote == {"b"}
    current = note(type="post", operation="promote", promoted_uname="x", master_uname="a")
    assert current.promoted == {"x"}, "current names win over deprecated ones"


def test_state_after_operations() -> None:
    failover = note(type="post", operation="stop", stop_uname="a", active_uname="a b", promoted_uname="a",
                    unpromoted_uname="b")
    assert failover.promoted_after() == set() and failover.running_after() == {"b"}
    promote = note(type="post", operation="promote", promote_uname="b", active_uname="b", unpromoted_uname="b")
    assert promote.promoted_after() == {"b"}
    switch = note(type="post", operation="demote", demote_uname="a", active_uname="a b", promoted_uname="a")
    assert switch.promoted_after() == set() and switch.running_after() == {"a", "b"}
    started = note(type="post", operation="start", start_uname="c", active_uname="a", promoted_uname="a")
    assert started.running_after() == {"a", "c"} and started.promoted_after() == {"a"}
    assert not note(type="later", operation="promote").is_valid


def test_a_promote_later_in_the_transition_does_not_count_at_post_demote() -> None:
    """Pacemaker lists every action of the transition in every notification."""
    switch = note(type="post", operation="demote", demote_uname="a", promote_uname="b",
                  active_uname="a b", promoted_uname="a", unpromoted_uname="b")
    assert switch.promoted_after() == set()
    later = note(type="post", operation="promote", demote_uname="a", promote_uname="b",
                 active_uname="a b", promoted_uname="a", unpromoted_uname="b")
    assert later.promoted_after() == {"b"}
    stop_then_start = note(type="post", operation="stop", stop_uname="c", start_uname="c", active_uname="a c")
    assert stop_then_start.running_after() == {"a"}
