"""An agent's declaration: its descriptions, parameters, actions and checks."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from alua.ocf.context import ActionContext
    from alua.ocf.exitstatus import ExitStatus
    from alua.ocf.params import Params

    Handler = Callable[[Any], ExitStatus]


class Action:
    """One action as meta-data advertises it, with the function that runs it."""

    __slots__ = ("name", "handler", "timeout", "interval", "depth", "role")

    def __init__(
        self,
        name: str,
        handler: Handler | None,
        *,
        timeout: int,
        interval: int | None = None,
        depth: int | None = None,
        role: str | None = None,
    ) -> None:
        self.name, self.handler, self.timeout = name, handler, timeout
        self.interval, self.depth, self.role = interval, depth, role


class Agent:
    """Everything an agent declares: descriptions, parameters, actions, validation."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        shortdesc: str,
        longdesc: str,
        params: type[Params],
        actions: Iterable[Action],
        validate: Callable[[Any], None] | None = None,
        context: type[ActionContext] | None = None,
    ) -> None:
        self.name, self.version, self.shortdesc, self.longdesc, self.params = name, version, shortdesc, longdesc, params
        self.actions = tuple(actions)
        self.validate = validate
        self.context = context or _contract_context()
        self._handlers: dict[str, Handler | None] = {}
        for action in self.actions:
            if action.handler is not None or action.name not in self._handlers:
                self._handlers[action.name] = action.handler

    def advertised_actions(self) -> tuple[Action, ...]:
        return self.actions

    def handler(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def action_names(self) -> list[str]:
        names: list[str] = []
        for action in self.actions:
            if action.name not in names:
                names.append(action.name)
        return names

    def usage(self) -> str:
        return f"usage: {self.name} {{{'|'.join([*self.action_names(), 'usage'])}}}\n"


def _contract_context() -> type[ActionContext]:
    from alua.ocf.context import ActionContext

    return ActionContext
