"""The cluster as an agent sees it: its node name and its promotion score."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.host.context import Context
    from alua.host.run import CommandRunner


def _cluster_errors() -> tuple[type[Exception], ...]:
    """What a cluster tool may fail with; evaluated only when one fails (monitor never imports run)."""
    from alua.host.run import CommandFailed, CommandTimeout, ToolNotFound

    return (ToolNotFound, CommandTimeout, CommandFailed)


def local_node_name(ctx: Context) -> str:
    """This node's name in the cluster: Pacemaker passes it; else ask crm_node; else uname."""
    if ctx.env.on_node:
        return ctx.env.on_node
    try:
        result = ctx.runner.run(["crm_node", "-n"], timeout=5.0)
        name = result.stdout.strip()
        if result.ok and name:
            return name
    except _cluster_errors():
        pass
    return os.uname().nodename


def cluster_property(runner: CommandRunner, name: str, default: str, timeout: float = 10.0) -> str | None:
    """A crm_config property (``default`` when unset), or None when the CIB cannot be read."""
    argv = ["crm_attribute", "--type", "crm_config", "--name", name, "--query", "--quiet", f"--default={default}"]
    try:
        result = runner.run(argv, timeout=timeout)
    except _cluster_errors():
        return None
    value = result.stdout.strip()
    return value if result.ok and value else None


def resource_name(instance: str) -> str:
    """The clone's primitive id without the ':N' instance suffix."""
    return instance.split(":", 1)[0]


class PromotionScore:
    """Keeps this node's promotion score for the resource, changing it only on change.

    A changed score aborts the cluster's current transition, so a monitor that
    rewrites an unchanged score on every run causes churn.  Recurring monitors
    compare with the value this agent last set (kept in a tmpfs state file);
    other actions compare with the real attribute.  Without a reachable
    cluster (ocf-tester, a shell) nothing fails: the score is simply not set.
    """

    _KEY = "promotion_score"
    _NONE = "none"

    def __init__(self, ctx: Context) -> None:
        self._rsc = resource_name(ctx.env.instance)
        self._ctx = ctx  # its runner is made only when a tool must run
        self._log = ctx.log
        self._state = ctx.state

    def _attribute(self) -> list[str]:
        return ["crm_attribute", f"--promotion={self._rsc}", "--lifetime=reboot"]

    def current(self) -> str | None:
        """The score in the cluster now ("none" when unset), or None when unknown."""
        try:
            result = self._ctx.runner.run([*self._attribute(), "--query", "--quiet"], timeout=10.0)
        except _cluster_errors() as e:
            self._log.debug(f"cannot read promotion score: {e}")
            return None
        value = result.stdout.strip()
        if result.ok and value:
            return value
        if "No such device or address" in result.stderr or "Could not connect" in result.stderr:
            return None
        return self._NONE

    def set(self, score: int | None, *, verify: bool = False) -> None:
        """Make the score ``score`` (None: no score, never promoted here)."""
        wanted = self._NONE if score is None else str(score)
        known = self.current() if verify else self._state.get(self._KEY)
        if known == wanted:
            if verify:
                self._state.update({self._KEY: wanted})
            return
        if score is None:
            argv = [*self._attribute(), "--delete"]
        else:
            argv = [*self._attribute(), "--update", wanted]
        try:
            result = self._ctx.runner.run(argv, timeout=10.0)
        except _cluster_errors() as e:
            self._log.warning(f"cannot set promotion score to {wanted}: {e}")
            return
        if result.ok:
            self._log.info(f"promotion score for {self._rsc} set to {wanted}")
            self._state.update({self._KEY: wanted})
        else:
            self._log.warning(f"cannot set promotion score to {wanted}: {result.tail(str(result.returncode))}")
            self._state.update({self._KEY: None})
