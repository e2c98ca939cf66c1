"""Clone notifications: the OCF_RESKEY_CRM_meta_notify_* variables as one object."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

_PREFIX = "OCF_RESKEY_CRM_meta_notify_"

# Current names first, then the deprecated ones Pacemaker still sets.
_ALIASES = {
    "promoted": ("promoted", "master"),
    "unpromoted": ("unpromoted", "slave"),
}


def _names(env: Mapping[str, str], role: str, kind: str = "uname") -> frozenset[str]:
    for name in _ALIASES.get(role, (role,)):
        raw = env.get(f"{_PREFIX}{name}_{kind}")
        if raw and raw.strip():
            return frozenset(raw.split())
    return frozenset()


class Notification:
    """One pre/post notification of a clone operation.

    The role lists (active, promoted, unpromoted, inactive) describe the
    instances before the operation; start/stop/promote/demote list what the
    operation changes.
    """

    __slots__ = (
        "type",
        "operation",
        "start",
        "stop",
        "promote",
        "demote",
        "active",
        "inactive",
        "promoted",
        "unpromoted",
    )

    def __init__(self, env: Mapping[str, str]) -> None:
        self.type = env.get(_PREFIX + "type", "")
        self.operation = env.get(_PREFIX + "operation", "")
        self.start = _names(env, "start")
        self.stop = _names(env, "stop")
        self.promote = _names(env, "promote")
        self.demote = _names(env, "demote")
        self.active = _names(env, "active")
        self.promoted = _names(env, "promoted")
        self.unpromoted = _names(env, "unpromoted")
        # Pacemaker lists inactive instances by resource id only.
        self.inactive = _names(env, "inactive", "resource")

    @property
    def is_valid(self) -> bool:
        return self.type in ("pre", "post") and self.operation in ("start", "stop", "promote", "demote")

    def _done(self) -> frozenset[str]:
        """The operations of this transition that have happened once this notification is sent.

        The lists name every action of the transition, which Pacemaker runs in
        the order demote, stop, start, promote; a post-demote notification must
        not count a promote that is still to come.
        """
        order = ("demote", "stop", "start", "promote")
        if self.operation not in order:
            return frozenset()
        last = order.index(self.operation) + (1 if self.type == "post" else 0)
        return frozenset(order[:last])

    def promoted_after(self) -> frozenset[str]:
        """Nodes whose instance is promoted at the moment of this notification."""
        done = self._done()
        promoted = self.promoted
        if "demote" in done:
            promoted -= self.demote
        if "stop" in done:
            promoted -= self.stop
        if "promote" in done:
            promoted |= self.promote
        return promoted

    def running_after(self) -> frozenset[str]:
        """Nodes whose instance runs (in any role) at the moment of this notification."""
        done = self._done()
        running = self.active | self.promoted | self.unpromoted
        if "stop" in done:
            running -= self.stop
        if "start" in done:
            running |= self.start
        if "promote" in done:
            running |= self.promote
        return running
