"""Typed errors that the dispatcher maps to exit codes in one place."""

from __future__ import annotations

from alua.ocf.exitstatus import ExitStatus


class OcfError(Exception):
    """An action failed; ``status`` is the exit code and ``reason`` one line for the user."""

    status = ExitStatus.UNKNOWN_ERROR

    def __init__(self, reason: str, status: ExitStatus | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class ConfigError(OcfError):
    """A parameter has a value the agent cannot use."""

    status = ExitStatus.NOT_CONFIGURED

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"parameter '{param}': {problem}")
        self.param = param
        self.problem = problem


class NotInstalledError(OcfError):
    """A tool or kernel interface the agent needs is missing on this node."""

    status = ExitStatus.NOT_INSTALLED


class ActionTimeout(OcfError):
    """The action ran out of the time Pacemaker gave it."""

    status = ExitStatus.UNKNOWN_ERROR
