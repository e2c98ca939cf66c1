"""What every promotable ALUA agent shares: its parameters, validation and actions.

An ALUA agent (``scst``, ``lio``) declares only its backend's own
parameters and how to build the backend; everything about roles, node
ports, notifications and the promotion score comes from here.
"""

from __future__ import annotations

from alua.targets.roles import (
    INACTIVE_STATES,
    NONOPTIMIZED,
    OFFLINE,
    UNPROMOTED_STATES,
    AluaRoles,
    NodePort,
    RoleOptions,
    Topology,
)
from alua.host.context import Context, host_agent
from alua.host.validate import parse_node_map
from alua.ocf import params
from alua.ocf.declaration import Action, Agent
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from alua.targets.roles import AluaBackend

def _check_port_id(value: str) -> None:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError("is not a number from 1 to 65535")


def _parse_ids(raw: str) -> dict[str, int]:
    ids = {node: int(value) for node, value in parse_node_map(raw, "ID", _check_port_id)}
    if len(set(ids.values())) != len(ids):
        raise ValueError("gives two nodes the same ID")
    return ids


def _parse_drbd_resources(raw: str) -> tuple[str, ...]:
    from alua.tools.drbd import parse_resource_names  # only when the parameter is set: monitor stays light

    return parse_resource_names(raw)


def rel_tgt_ids_param(longdesc: str) -> params.Param[dict[str, int]]:
    """Parameter rel_tgt_ids, described as the backend numbers its target ports."""
    return params.structured("Relative target port id of each node's target", longdesc, parse=_parse_ids, default={})


class AluaParams(params.Params):
    """Parameters of every promotable ALUA agent; backends add their own."""

    # NODE=VALUE parameters: every node they name must be in 'targets'.
    NODE_MAPS: tuple[str, ...] = ("group_ids", "rel_tgt_ids")
    # Those of them that, when set, must also name the local node.
    LOCAL_NODE_MAPS: tuple[str, ...] = ()

    unpromoted_state = params.choice(
        "ALUA state of an unpromoted node's group",
        "The state a node's target group has while its instance runs unpromoted. The default, "
        "nonoptimized, keeps both nodes' paths usable; multipath prefers the promoted node's "
        "active/optimized paths.",
        choices=UNPROMOTED_STATES,
        default=NONOPTIMIZED,
    )
    inactive_state = params.choice(
        "ALUA state of a stopped or lost node's group",
        "The state a node's target group has while its instance is stopped, as written by the "
        "node itself on stop and by its peers when they are told it stopped or was lost.",
        choices=INACTIVE_STATES,
        default=OFFLINE,
    )
    transitioning = params.boolean(
        "Pass through 'transitioning' on promote",
        "Set the local target group to transitioning before active on promote, so initiators "
        "retry commands during the switch (the implicit transition SCST's README recommends).",
        default=False,
    )
    drbd_resources: params.Param[tuple[str, ...]] = params.structured(
        "DRBD resources under the exported devices",
        "Whitespace-separated DRBD resources the exported devices sit on. When set, this node "
        "gets a promotion score only while every one of them is Primary and UpToDate here, so "
        "an Inconsistent or Outdated replica is never promoted.",
        parse=_parse_drbd_resources,
        default=(),
    )

    group_ids: params.Param[dict[str, int]] = params.structured(
        "Target port group id of each node",
        "NODE=ID pairs (1-65535), the group id initiators see in REPORT TARGET PORT GROUPS. "
        "Default: the position of the node in 'targets' (1, 2, ...). Must be the same on all nodes.",
        parse=_parse_ids,
        default={},
    )
    rel_tgt_ids = rel_tgt_ids_param(
        "NODE=ID pairs (1-65535): the relative target port id of each node's target. The local "
        "target's rel_tgt_id must already have this value; peers' targets are recorded with it. "
        "Default: the node's group id."
    )


class PortalAluaParams(AluaParams):
    """An ALUA agent whose parameter ``portals`` (NODE=...) says where each node's target is offered."""

    NODE_MAPS = (*AluaParams.NODE_MAPS, "portals")
    LOCAL_NODE_MAPS = ("portals",)  # set without this node, its target would be offered nowhere


def targets_param(
    check_target: Callable[[str], None], example: str, *, membership: str | None = None
) -> params.Param[tuple[tuple[str, str], ...]]:
    """The NODE=TARGET list, with the backend's own rule for target names.

    ``membership``: how the backend's groups hold targets (default: SCST's local and remote members).
    """

    def parse(raw: str) -> tuple[tuple[str, str], ...]:
        pairs = parse_node_map(raw, "TARGET", check_target)
        if len(pairs) < 2:
            raise ValueError("lists fewer than two nodes (one NODE=TARGET entry per cluster node)")
        if len({target for _, target in pairs}) != len(pairs):
            raise ValueError("gives two nodes the same target")
        return pairs

    return params.structured(
        "Each cluster node's target",
        "Whitespace-separated NODE=TARGET pairs, one per cluster node, identical on all nodes, "
        f'for example "{example}". '
        + (
            membership
            or "Each node's target group is named after the node; its local target is a member of it "
            "and the peers' targets are recorded as remote ports."
        ),
        parse=parse,
        default=(),
        required=True,
    )


def node_ports(cfg: AluaParams) -> list[NodePort]:
    """The node ports the parameters name, with defaults for ids filled in."""
    ports = []
    for position, (node, target) in enumerate(cfg.targets, start=1):
        group_id = cfg.group_ids.get(node, position)
        rel_tgt_id = cfg.rel_tgt_ids.get(node, group_id)
        ports.append(NodePort(node, target, group_id, rel_tgt_id))
    return ports


def build_topology(ctx: Context) -> Topology:
    """The node ports from the parameters, as this node sees them."""
    from alua.host.cluster import local_node_name

    return Topology(node_ports(ctx.config_as(AluaParams)), local_node_name(ctx))


def validate(ctx: Context) -> None:
    """Cross-parameter rules and the clone meta-attributes this agent needs."""
    cfg = ctx.config_as(AluaParams)
    nodes = [node for node, _ in cfg.targets]
    params_class = type(cfg)
    for name in getattr(params_class, "NODE_MAPS", AluaParams.NODE_MAPS):
        extra = sorted(set(getattr(cfg, name)) - set(nodes))
        if extra:
            raise OcfError(
                f"parameter '{name}': node {extra[0]} is not in parameter 'targets'", ExitStatus.NOT_CONFIGURED
            )
    group_ids = [cfg.group_ids.get(node, i) for i, node in enumerate(nodes, start=1)]
    if len(set(group_ids)) != len(group_ids):
        raise OcfError("parameter 'group_ids': two nodes end up with the same group id", ExitStatus.NOT_CONFIGURED)
    env = ctx.env
    if env.is_clone:
        if env.notify_enabled is not True:
            raise OcfError(
                "the clone must have meta notify=true: peers' target group states follow notifications",
                ExitStatus.NOT_CONFIGURED,
            )
        if env.promoted_max is not None and env.promoted_max > 1:
            raise OcfError(
                f"the clone has promoted-max={env.promoted_max}; it must be 1, or two nodes would both "
                "report their group active/optimized",
                ExitStatus.NOT_CONFIGURED,
            )
    if ctx.env.action != "monitor":
        topology = build_topology(ctx)
        if topology.local is None:
            raise OcfError(
                f"parameter 'targets': this node '{topology.local_node}' is not listed",
                ExitStatus.NOT_CONFIGURED,
            )
        for name in getattr(params_class, "LOCAL_NODE_MAPS", ()):
            value = getattr(cfg, name)
            if value and topology.local_node not in value:
                raise OcfError(
                    f"parameter '{name}': this node '{topology.local_node}' is not listed",
                    ExitStatus.NOT_CONFIGURED,
                )


def _roles(ctx: Context, backend: AluaBackend) -> AluaRoles:
    from alua.host.cluster import PromotionScore
    from alua.host.state import FencedPeers

    cfg = ctx.config_as(AluaParams)
    options = RoleOptions(
        unpromoted_state=cfg.unpromoted_state,
        inactive_state=cfg.inactive_state,
        transitioning=cfg.transitioning,
        block_devices=getattr(cfg, "block_devices", False),
    )
    extra: list[str] = []
    if cfg.drbd_resources and ctx.env.action in ("start", "promote", "monitor"):
        from alua.tools.drbd.reader import primary_uptodate_problems

        extra = primary_uptodate_problems(cfg.drbd_resources, ctx.runner)
    return AluaRoles(
        backend,
        build_topology(ctx),
        options,
        log=ctx.log,
        state=ctx.state,
        score=PromotionScore(ctx),
        extra_readiness=extra,
        fenced=FencedPeers.below(ctx.env.rsctmp),
    )


def promotable_agent(
    *,
    name: str,
    shortdesc: str,
    longdesc: str,
    params_class: type[AluaParams],
    backend: Callable[[Context], AluaBackend],
    not_loaded: Callable[[AluaBackend], str],
    validate_backend: Callable[[Context], None] | None = None,
) -> Agent:
    """The whole agent for one backend: actions, timeouts, validation.

    ``validate_backend``: the backend's own cross-parameter rules, after the shared ones.
    """

    def validate_params(ctx: Context) -> None:
        validate(ctx)
        if validate_backend is not None:
            validate_backend(ctx)

    def start(ctx: Context) -> ExitStatus:
        b = backend(ctx)
        if not b.loaded():
            raise OcfError(not_loaded(b), ExitStatus.NOT_INSTALLED)
        return _roles(ctx, b).start()

    def validate_all(ctx: Context) -> ExitStatus:
        b = backend(ctx)
        if not b.loaded():
            raise OcfError(not_loaded(b), ExitStatus.NOT_INSTALLED)
        return ExitStatus.OK

    def action(method: str) -> Callable[[Context], ExitStatus]:
        def run(ctx: Context) -> ExitStatus:
            roles = _roles(ctx, backend(ctx))
            if method == "notify":
                return roles.notify(ctx.notification)
            if method == "monitor":
                return roles.monitor(probe=ctx.env.is_probe)
            result: ExitStatus = getattr(roles, method)()
            return result

        return run

    return host_agent(
        name=name,
        shortdesc=shortdesc,
        longdesc=longdesc,
        params=params_class,
        validate=validate_params,
        actions=[
            Action("start", start, timeout=60),
            Action("stop", action("stop"), timeout=30),
            Action("promote", action("promote"), timeout=30),
            Action("demote", action("demote"), timeout=30),
            Action("notify", action("notify"), timeout=30),
            Action("monitor", action("monitor"), timeout=20, interval=10, depth=0, role="Promoted"),
            Action("monitor", action("monitor"), timeout=20, interval=11, depth=0, role="Unpromoted"),
            Action("validate-all", validate_all, timeout=20),
        ],
    )
