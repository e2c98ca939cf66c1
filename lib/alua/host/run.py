"""The one way this suite runs an external tool: no shell, always a timeout.

Every command is an argument list.  Its timeout is what is left of the
action's time budget (Pacemaker's op timeout less headroom), so a hanging
tool fails the action with a clear reason instead of being killed by
Pacemaker without one.  ``subprocess`` is imported only when a command
actually runs: most monitors never need it.
"""

from __future__ import annotations

import os
import time

from alua.ocf.context import Deadline
from alua.ocf.errors import ActionTimeout, NotInstalledError, OcfError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# Kept back from every wait so that a tool's own timeout, whose reason names the
# tool, comes before the action's deadline and the reason reaches Pacemaker in time.
REPORT_RESERVE_S = 1.5


class ToolNotFound(NotInstalledError):
    """The binary is not installed on this node."""

    def __init__(self, tool: str) -> None:
        super().__init__(f"{tool} not found (is its package installed?)")
        self.tool = tool


class CommandTimeout(ActionTimeout):
    """The command did not finish within its share of the action timeout."""

    def __init__(self, argv: Sequence[str], seconds: float) -> None:
        super().__init__(f"{' '.join(argv)} did not finish within {seconds:.1f}s")
        self.argv = tuple(argv)


class CommandFailed(OcfError):
    """A command exited non-zero where the caller required success."""

    def __init__(self, result: Result) -> None:
        super().__init__(f"{' '.join(result.argv)} exited {result.returncode}: {result.tail('no output').strip()}")
        self.result = result


class Result:
    """What a finished command returned."""

    __slots__ = ("argv", "returncode", "stdout", "stderr")

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, empty: str | None = None) -> str:
        """The last line the command printed (stderr first, else stdout): the reason a failure gives."""
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        if lines:
            return lines[-1]
        return f"exit status {self.returncode}" if empty is None else empty


class CommandRunner:
    """Runs tools for one action; tests replace this one object or the subprocess layer."""

    def __init__(self, deadline: Deadline | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.deadline = deadline or Deadline(20.0)
        # Tools inherit the agent's environment (crm_attribute needs
        # OCF_RESOURCE_INSTANCE) but print in one locale, so parsing is stable.
        self._env = dict(os.environ if env is None else env)
        self._env.setdefault("PATH", DEFAULT_PATH)
        self._env["LC_ALL"] = "C"
        self._env["LANG"] = "C"

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        check: bool = False,
        env_extend: Mapping[str, str] | None = None,
    ) -> Result:
        """Run argv; raise ToolNotFound, CommandTimeout, or (check=True) CommandFailed."""
        import subprocess

        remaining = self.deadline.remaining()
        budget = max(remaining - min(REPORT_RESERVE_S, remaining / 4), 0.0)
        limit = budget if timeout is None else min(timeout, budget)
        if limit <= 0:
            raise CommandTimeout(argv, 0.0)
        env = self._env
        if env_extend:
            env = {**env, **env_extend}
        try:
            proc = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=limit,
                env=env,
                check=False,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise ToolNotFound(argv[0]) from None
        except subprocess.TimeoutExpired:
            raise CommandTimeout(argv, limit) from None
        result = Result(argv, proc.returncode, proc.stdout or "", proc.stderr or "")
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    def start(self, argv: Sequence[str], *, timeout: float) -> Background:
        """Start argv in the background (same environment and rules as run); see Background."""
        import subprocess

        limit = min(timeout, self.deadline.remaining())
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, errors="replace", env=self._env)
        except FileNotFoundError:
            raise ToolNotFound(argv[0]) from None
        return Background(argv, proc, Deadline(limit))

    def which(self, tool: str) -> str | None:
        """The path of tool on this runner's PATH, without running anything."""
        for directory in self._env["PATH"].split(os.pathsep):
            candidate = os.path.join(directory, tool)
            if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
                return candidate
        return None

    def require(self, *tools: str) -> None:
        """Raise ToolNotFound for the first tool that is not installed."""
        for tool in tools:
            if self.which(tool) is None:
                raise ToolNotFound(tool)


class Background:
    """A command running while the caller does other work: result() is None until it has
    finished, then its Result; past its timeout it is killed and result() raises CommandTimeout."""

    def __init__(self, argv: Sequence[str], proc, deadline: Deadline) -> None:  # noqa: ANN001 - a Popen
        self.argv, self.proc, self.deadline = argv, proc, deadline
        self._result: Result | None = None

    def result(self) -> Result | None:
        if self._result is None:
            if self.proc.poll() is None:
                if not self.deadline.expired():
                    return None
                self.cancel()
                raise CommandTimeout(self.argv, 0.0)
            out, err = self.proc.communicate()
            self._result = Result(self.argv, self.proc.returncode, out or "", err or "")
        return self._result

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def abandon(self) -> None:
        """Kill it and do not wait: a process blocked in the kernel (uninterruptible I/O) dies
        only once that I/O completes, and the action must not wait for that."""
        if self.proc.poll() is None:
            self.proc.kill()
