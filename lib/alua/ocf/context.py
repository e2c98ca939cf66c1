"""What an action works with from the contract: environment, typed configuration, log, deadline."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    from alua.ocf.deadline import Deadline
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
        self.env = env
        self.config = config
        self.log = log
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
            from alua.ocf.deadline import Deadline

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
