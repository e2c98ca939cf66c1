"""The context every agent's actions get: the contract's, plus the command runner and the state file."""

from __future__ import annotations

from alua import __version__
from alua.ocf.context import ActionContext
from alua.ocf.declaration import Action, Agent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from alua.host.run import CommandRunner
    from alua.host.state import StateFile
    from alua.ocf.context import Deadline
    from alua.ocf.environment import OcfEnvironment
    from alua.ocf.exitstatus import ExitStatus
    from alua.ocf.log import Logger
    from alua.ocf.params import Params


def host_agent(
    *,
    name: str,
    shortdesc: str,
    longdesc: str,
    params: type[Params],
    validate: Callable[[Context], None],
    actions: Iterable[Action],
) -> Agent:
    """The declaration of an agent of this suite: its actions get a Context, meta-data is added."""
    return Agent(
        name=name,
        version=__version__,
        shortdesc=shortdesc,
        longdesc=longdesc,
        params=params,
        validate=validate,
        context=Context,
        actions=[*actions, Action("meta-data", None, timeout=5)],
    )


def service_actions(
    service: Callable[[Context], Any], *, start: int, stop: int, validate: int, monitor: int = 20, interval: int = 30
) -> list[Action]:
    """start, stop, monitor and validate-all of a daemon, each a method of ``service`` built for the action."""
    return [
        Action("start", service_action(service, "start"), timeout=start),
        Action("stop", service_action(service, "stop"), timeout=stop),
        Action("monitor", service_action(service, "monitor"), timeout=monitor, interval=interval, depth=0),
        Action("validate-all", service_action(service, "validate"), timeout=validate),
    ]


def service_action(service: Callable[[Context], Any], method: str) -> Callable[[Context], ExitStatus]:
    """An action handler that builds ``service`` for the action's context and runs one of its methods."""

    def handler(ctx: Context) -> ExitStatus:
        result: ExitStatus = getattr(service(ctx), method)()
        return result

    return handler


class Context(ActionContext):
    """What an action works with; tests build one directly with fakes."""

    def __init__(
        self,
        env: OcfEnvironment,
        config: Params,
        log: Logger,
        *,
        deadline: Deadline | None = None,
        runner: CommandRunner | None = None,
    ) -> None:
        super().__init__(env, config, log, deadline=deadline)
        self._runner = runner
        self._state: StateFile | None = None

    @property
    def runner(self) -> CommandRunner:
        if self._runner is None:
            from alua.host.run import CommandRunner

            self._runner = CommandRunner(self.deadline, env=self.env.raw)
        return self._runner

    @property
    def state(self) -> StateFile:
        if self._state is None:
            from alua.host.state import StateFile

            self._state = StateFile(self.env.rsctmp, self.env.instance)
        return self._state
