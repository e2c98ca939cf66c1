"""What an action works with from the contract: environment, typed configuration, log, and its Deadline.

The Deadline is Pacemaker's op timeout less headroom: the dispatcher starts it with the
action's alarm, and everything that waits (a command, a poll) asks it how long is left.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    from alua.ocf.environment import OcfEnvironment
    from alua.ocf.log import Logger
    from alua.ocf.notify import Notification
    from alua.ocf.params import Params

    P = TypeVar("P", bound=Params)

# Actions that must refuse a bad configuration; all others work with what they
# can parse (stop, demote, notify and probes must never fail on configuration).
STRICT_ACTIONS = frozenset({"start", "promote", "validate-all"})


class ActionContext:
    """What an action works with from the contract; host.context.Context adds the host's tools."""

    def __init__(self, env: OcfEnvironment, config: Params, log: Logger, *, deadline: Deadline | None = None) -> None:
        self.env, self.config, self.log = env, config, log
        self._deadline = deadline
        self._notification: Notification | None = None

    def config_as(self, cls: type[P]) -> P:
        """The configuration as the agent's own Params class: typed attributes, no casts."""
        config = self.config
        if not isinstance(config, cls):
            raise TypeError(f"configuration is {type(config).__name__}, not {cls.__name__}")
        return config

    @property
    def deadline(self) -> Deadline:
        if self._deadline is None:
        
            self._deadline = Deadline(self.env.time_budget())
        return self._deadline

    @property
    def notification(self) -> Notification:
        if self._notification is None:
            from alua.ocf.notify import Notification

            self._notification = Notification(self.env.raw)
        return self._notification

    @property
    def strict(self) -> bool:
        """Whether this action must refuse a bad configuration."""
        if self.env.action in STRICT_ACTIONS:
            return True
        return self.env.action == "monitor" and not self.env.is_probe


class Deadline:
    """The moment the current action must be done by."""

    __slots__ = ("_end",)

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(self._end - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0
