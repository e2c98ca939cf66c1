"""What Pacemaker tells an agent through its environment, as one typed object."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_TIMEOUT_S = 20.0  # ocf-tester and manual runs pass no CRM_meta_timeout
DEFAULT_REASON_PREFIX = "ocf-exit-reason:"
DEFAULT_RSCTMP = "/run/resource-agents"

# The words Pacemaker (crm_is_true) and OCF's shell helpers (ocf_is_true) read as true.
OCF_TRUE = frozenset({"1", "true", "yes", "on", "y"})


def is_true(value: str) -> bool:
    """An OCF boolean: meta attributes, cluster properties, boolean parameters."""
    return value.lower() in OCF_TRUE


def _meta_int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        raw = env.get("OCF_RESKEY_CRM_meta_" + name)
        if raw:
            try:
                return int(raw)
            except ValueError:
                continue
    return None


class OcfEnvironment:
    """The action's context from Pacemaker (or ocf-tester, or a user at a shell)."""

    __slots__ = (
        "action",
        "agent_name",
        "instance",
        "timeout_s",
        "interval_ms",
        "check_level",
        "reason_prefix",
        "on_node",
        "clone_max",
        "promoted_max",
        "notify_enabled",
        "debug",
        "logfile",
        "debuglog",
        "logfacility",
        "rsctmp",
        "raw",
    )

    def __init__(self, env: Mapping[str, str], action: str, agent_name: str) -> None:
        self.raw = env
        self.action = action
        self.agent_name = agent_name
        self.instance = env.get("OCF_RESOURCE_INSTANCE") or agent_name
        timeout_ms = _meta_int(env, "timeout")
        self.timeout_s = timeout_ms / 1000.0 if timeout_ms and timeout_ms > 0 else DEFAULT_TIMEOUT_S
        self.interval_ms = _meta_int(env, "interval") or 0
        try:
            self.check_level = int(env.get("OCF_CHECK_LEVEL") or 0)
        except ValueError:
            self.check_level = 0
        self.reason_prefix = env.get("OCF_EXIT_REASON_PREFIX") or DEFAULT_REASON_PREFIX
        self.on_node = env.get("OCF_RESKEY_CRM_meta_on_node") or None
        self.clone_max = _meta_int(env, "clone_max")
        self.promoted_max = _meta_int(env, "promoted_max", "master_max")
        notify = env.get("OCF_RESKEY_CRM_meta_notify")
        self.notify_enabled = None if notify is None else is_true(notify)
        # HA_debug arrives as the string "0" or "1"; "0" means off.
        self.debug = env.get("HA_debug", "0") == "1"
        self.logfile = env.get("HA_LOGFILE") or None
        self.debuglog = env.get("HA_DEBUGLOG") or None
        self.logfacility = env.get("HA_LOGFACILITY") or "daemon"
        self.rsctmp = env.get("HA_RSCTMP") or DEFAULT_RSCTMP

    @property
    def is_probe(self) -> bool:
        """A one-shot monitor: Pacemaker asks what runs here, not whether it still runs."""
        return self.action == "monitor" and self.interval_ms == 0

    @property
    def is_clone(self) -> bool:
        return self.clone_max is not None

    def time_budget(self) -> float:
        """Seconds the action may use: Pacemaker's timeout less headroom to report back."""
        headroom = min(max(self.timeout_s * 0.1, 1.0), 5.0)
        return max(self.timeout_s - headroom, 0.5)
