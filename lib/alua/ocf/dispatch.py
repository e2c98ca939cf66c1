"""The one dispatcher every agent runs through.

``main()`` reads argv and the environment, builds the typed configuration,
runs the action under its time budget, and maps every outcome (a returned
status, a typed error, an unexpected exception) to an exit code and one
``ocf-exit-reason:`` line in exactly one place.
"""

from __future__ import annotations

import os
import sys

from alua.ocf.context import Deadline
from alua.ocf.environment import OcfEnvironment
from alua.ocf.errors import ActionTimeout, OcfError
from alua.ocf.exitstatus import ExitStatus
from alua.ocf.log import Logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    # _signal, not signal: signal wraps every constant in an IntEnum at import,
    # which costs a monitor more than all of its sysfs reads.
    import _signal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from alua.ocf.context import ActionContext
    from alua.ocf.declaration import Agent, Handler


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _validate_all(ctx: ActionContext) -> ExitStatus:
    return ExitStatus.OK


def _on_alarm(signum: int, frame: object) -> None:
    raise ActionTimeout("the action did not finish within its timeout")


def run(agent: Agent) -> None:
    """An agent executable's whole body: run the action and exit with its code.

    os._exit skips the interpreter's teardown of every imported module, about
    a tenth of a monitor's run time; the streams are flushed first.
    """
    code = main(agent)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main(
    agent: Agent,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run one action of ``agent`` and return its exit code."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if len(argv) != 2:
        problem = "no action given" if len(argv) < 2 else "too many arguments"
        sys.stderr.write(f"{agent.name}: {problem}\n{agent.usage()}")
        return ExitStatus.INVALID_PARAM
    action = argv[1]
    if action in ("usage", "help"):
        sys.stdout.write(agent.usage())
        return ExitStatus.OK
    if action == "meta-data":
        from alua.ocf.metadata import build_metadata

        try:
            document = build_metadata(agent)
        except ImportError as e:
            sys.stderr.write(f"ocf-exit-reason:cannot build meta-data: lxml is not installed (python3-lxml): {e}\n")
            return ExitStatus.NOT_INSTALLED
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return ExitStatus.OK
    handler = agent.handler(action)
    if handler is None and action != "validate-all":
        sys.stderr.write(f"{agent.name}: action '{action}' is not implemented\n{agent.usage()}")
        return ExitStatus.UNIMPLEMENT_FEATURE
    env = OcfEnvironment(environ, action, agent.name)
    return _run(agent, env, handler or _validate_all)


def _run(agent: Agent, env: OcfEnvironment, handler: Handler) -> int:
    log = Logger(env)
    status: int
    reason = ""
    budget = env.time_budget()
    deadline = Deadline(budget)  # the same moment the alarm fires
    previous = _signal.signal(_signal.SIGALRM, _on_alarm)
    _signal.setitimer(_signal.ITIMER_REAL, budget)
    ctx: ActionContext | None = None
    try:
        config, errors = agent.params.from_env(env.raw, strict=False)
        ctx = agent.context(env, config, log, deadline=deadline)
        if errors and ctx.strict:
            for error in errors[1:]:
                log.error(error.reason)
            raise errors[0]
        for error in errors:
            log.warning(f"{error.reason} (ignored for {env.action})")
        if ctx.strict and agent.validate is not None:
            agent.validate(ctx)
        status = handler(ctx)
    except ActionTimeout as e:
        status, reason = e.status, f"{env.action} timed out after {budget:.1f}s: {e.reason}"
    except OcfError as e:
        status, reason = e.status, e.reason
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into exit 1
        import traceback

        status, reason = ExitStatus.UNKNOWN_ERROR, f"internal error: {type(e).__name__}: {e}"
        quiet = Logger(env, stderr=False)  # a traceback goes to the logs, never to Pacemaker
        for line in traceback.format_exc().splitlines():
            quiet.error(line)
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, previous)
    status = _never_fail_on_configuration(env, status, reason, log)
    if reason and status != ExitStatus.OK:
        log.error(reason)
        sys.stderr.write(f"{env.reason_prefix}{_one_line(reason)}\n")
        sys.stderr.flush()
    return int(status)


def _never_fail_on_configuration(env: OcfEnvironment, status: int, reason: str, log: Logger) -> int:
    """The last guard of the rule that stop and probes never fail on configuration."""
    if status != ExitStatus.NOT_CONFIGURED:
        return status
    if env.action == "stop":
        log.warning(f"stop: {reason}; nothing identifiable can be running, so stop succeeds")
        return ExitStatus.OK
    if env.is_probe:
        log.warning(f"probe: {reason}; reporting not running")
        return ExitStatus.NOT_RUNNING
    if env.action in ("demote", "notify"):
        return ExitStatus.UNKNOWN_ERROR
    return status
