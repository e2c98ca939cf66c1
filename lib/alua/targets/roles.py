"""Backend-neutral ALUA role logic: which target group gets which state, and when.

Every storage node carries one target group per cluster node, named after
the node.  Each node writes the state of its own group *and* of its peers'
groups, because the kernel never syncs ALUA state between machines.  This
module decides those states from Pacemaker's actions and notifications;
the kernel backend (SCST sysfs, LIO configfs) only reads and writes them.

Invariants kept here for every backend:
- promote demotes any peer group that is active before making the local
  group active, so no node ever reports two active groups;
- a stopped or lost peer is shown in the inactive state, never left stale;
- the promotion score follows real readiness and is set only on change.
"""

from __future__ import annotations

from alua import Record
from alua.ocf.errors import OcfError
from alua.ocf.exitstatus import ExitStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from alua.host.cluster import PromotionScore
    from alua.ocf.log import Logger
    from alua.ocf.notify import Notification
    from alua.host.state import FencedPeers, StateFile

ACTIVE = "active"
NONOPTIMIZED = "nonoptimized"
STANDBY = "standby"
UNAVAILABLE = "unavailable"
OFFLINE = "offline"
TRANSITIONING = "transitioning"

STATES = (ACTIVE, NONOPTIMIZED, STANDBY, UNAVAILABLE, OFFLINE, TRANSITIONING)
UNPROMOTED_STATES = (NONOPTIMIZED, STANDBY, UNAVAILABLE)
INACTIVE_STATES = (OFFLINE, UNAVAILABLE, STANDBY)

PROMOTION_SCORE = 100

_PEER_KEY = "peer."
_FENCED_KEY = "fenced."  # the alua-alert marker of each peer last applied or superseded


class NodePort(Record):
    """One cluster node's side of the ALUA topology: its target and its group."""

    __slots__ = ("node", "target", "group_id", "rel_tgt_id")

    def __init__(self, node: str, target: str, group_id: int, rel_tgt_id: int) -> None:
        self.node, self.target, self.group_id, self.rel_tgt_id = node, target, group_id, rel_tgt_id


class TargetView(Record):
    """The local target as the kernel shows it: enabled ("1", "0", None: missing), where it is
    offered (SCST allowed_portal, LIO np) and how many sessions (None: not shown)."""

    __slots__ = ("name", "enabled", "portals", "sessions")

    def __init__(self, name: str, enabled: str | None, portals: Sequence[str], sessions: int | None) -> None:
        self.name, self.enabled, self.portals, self.sessions = name, enabled, tuple(portals), sessions


class Topology:
    """The node ports of the cluster as seen from the local node."""

    def __init__(self, ports: Sequence[NodePort], local_node: str) -> None:
        self.ports = tuple(ports)
        self.local_node = local_node

    @property
    def local(self) -> NodePort | None:
        for port in self.ports:
            if port.node == self.local_node:
                return port
        return None

    @property
    def peers(self) -> tuple[NodePort, ...]:
        return tuple(p for p in self.ports if p.node != self.local_node)


class AluaBackend:
    """What the role logic needs from a kernel backend (SCST, LIO).

    States are named as SCST names them; a backend translates if its kernel
    uses numbers.  Every method raises OcfError with a reason on failure.
    """

    def loaded(self) -> bool:
        """Whether the kernel interface exists on this node."""
        raise NotImplementedError

    def ensure_topology(self, topology: Topology, initial: dict[str, str]) -> None:
        """Create what is missing; raise OcfError(NOT_CONFIGURED) on a conflict.

        ``initial`` maps node name → the state a newly created group gets
        before any target joins it (a new group must never start active).
        """
        raise NotImplementedError

    def group_states(self, node: str) -> dict[str, str | None]:
        """The state of node's group in every managed ALUA unit (None: group missing)."""
        raise NotImplementedError

    def set_group_state(self, node: str, state: str) -> None:
        """Write node's group state in every managed ALUA unit."""
        raise NotImplementedError

    def local_problems(self, topology: Topology) -> list[str]:
        """What is wrong with the local membership and devices (empty: consistent)."""
        raise NotImplementedError

    def readiness_problems(self, topology: Topology, local_problems: list[str] | None = None) -> list[str]:
        """Why this node must not be promoted now (empty: ready).

        ``local_problems``: what local_problems() just returned, so it is not read twice.
        """
        local = topology.local
        if local is None:
            return ["this node has no target in parameter 'targets'"]
        if not self.loaded():
            return [self.not_loaded()]
        problems = list(self.local_problems(topology) if local_problems is None else local_problems)
        return problems + self.target_problems(local)

    def not_loaded(self) -> str:
        """Why the kernel target is missing, naming the tree that is not there."""
        raise NotImplementedError

    def target_problems(self, local: NodePort) -> list[str]:
        """What keeps the local target itself from serving (not enabled, wrong ids, ...)."""
        raise NotImplementedError

    def target_view(self, local: NodePort) -> TargetView:
        """The local target's state, read only (alua-status)."""
        raise NotImplementedError

    def open_access(self, topology: Topology, *, reassert: bool = False) -> None:
        """Let initiators reach the local target; called once start has placed and stated every unit.

        ``reassert``: a running instance's monitor puts back what went missing (and says so).
        """

    def close_access(self, topology: Topology) -> None:
        """Stop initiators from reaching the local target (stop); nothing there is fine."""

    def block(self) -> None:
        """Hold new commands to the devices around an implicit transition."""

    def unblock(self) -> None:
        """Release what block() held."""


class RoleOptions:
    """The role parameters every ALUA agent shares."""

    __slots__ = ("unpromoted_state", "inactive_state", "transitioning", "block_devices")

    def __init__(
        self, *, unpromoted_state: str = NONOPTIMIZED, inactive_state: str = OFFLINE, transitioning: bool = False,
        block_devices: bool = False,
    ) -> None:
        self.unpromoted_state, self.inactive_state = unpromoted_state, inactive_state
        self.transitioning, self.block_devices = transitioning, block_devices


class AluaRoles:
    """Pacemaker's promotable-clone actions expressed as ALUA group states."""

    def __init__(
        self,
        backend: AluaBackend,
        topology: Topology,
        options: RoleOptions,
        *,
        log: Logger,
        state: StateFile,
        score: PromotionScore,
        extra_readiness: Sequence[str] = (),
        fenced: FencedPeers | None = None,
    ) -> None:
        self.backend, self.fenced, self.topology, self.options = backend, fenced, topology, options
        self.log, self.state, self.score = log, state, score
        self.extra_readiness = tuple(extra_readiness)

    # -- actions -----------------------------------------------------------

    def start(self) -> ExitStatus:
        """Build what is missing, then serve unpromoted."""
        local = self._require_local()
        initial = {port.node: self.options.inactive_state for port in self.topology.peers}
        initial[local.node] = self.options.unpromoted_state
        self.backend.ensure_topology(self.topology, initial)
        self.backend.set_group_state(local.node, self.options.unpromoted_state)
        self._prepare_fenced_markers()
        # Only now may initiators log in: every unit they find is in its final group and state.
        self.backend.open_access(self.topology)
        self._update_score(verify=True)
        return ExitStatus.OK

    def stop(self) -> ExitStatus:
        """Take the local group to the inactive state; succeed if nothing is there."""
        local = self.topology.local
        if local is None or not self.backend.loaded():
            return ExitStatus.OK
        states = self.backend.group_states(local.node)
        if any(state is not None for state in states.values()):
            self.backend.set_group_state(local.node, self.options.inactive_state)
        self.backend.close_access(self.topology)
        self.score.set(None, verify=True)
        self.state.remove()
        return ExitStatus.OK

    def promote(self) -> ExitStatus:
        """Peers that are active go unpromoted first; then the local group goes active."""
        local = self._require_local()
        problems = self.readiness_problems()
        if problems:
            raise OcfError(f"cannot promote: {'; '.join(problems)}")
        for peer in self.topology.peers:
            states = self.backend.group_states(peer.node)
            if any(s in (ACTIVE, TRANSITIONING) for s in states.values()):
                self.log.info(f"peer {peer.node} group still active: setting it {self.options.unpromoted_state}")
                self.backend.set_group_state(peer.node, self.options.unpromoted_state)
                self._remember_peer(peer.node, self.options.unpromoted_state)
        if self.options.block_devices:
            self.backend.block()
        try:
            if self.options.transitioning:
                self.backend.set_group_state(local.node, TRANSITIONING)
            self.backend.set_group_state(local.node, ACTIVE)
        finally:
            if self.options.block_devices:
                self.backend.unblock()
        return ExitStatus.OK

    def demote(self) -> ExitStatus:
        local = self._require_local()
        if not self.backend.loaded():
            raise OcfError("cannot demote: the ALUA kernel interface is gone")
        role, _ = self._role(self.backend.group_states(local.node))
        if role is None:
            # Stopped (Pacemaker demotes before it stops a failed start): nothing to demote,
            # and writing the unpromoted state would show a stopped node as available.
            return ExitStatus.OK
        self.backend.set_group_state(local.node, self.options.unpromoted_state)
        return ExitStatus.OK

    def notify(self, note: Notification) -> ExitStatus:
        """After each clone operation, show every peer's group as its instance now runs."""
        if not note.is_valid:
            self.log.warning(f"ignoring notification type={note.type!r} operation={note.operation!r}")
            return ExitStatus.OK
        if note.type != "post":
            return ExitStatus.OK
        if self.topology.local is None or not self.backend.loaded():
            return ExitStatus.OK
        promoted = note.promoted_after()
        running = note.running_after()
        for peer in sorted(self.topology.peers, key=lambda p: p.node in promoted):  # active last: never two
            if peer.node in promoted:
                wanted = ACTIVE
            elif peer.node in running:
                wanted = self.options.unpromoted_state
            else:
                wanted = self.options.inactive_state
            self._set_peer(peer.node, wanted, why=f"post-{note.operation}")
        self.state.update(self._fenced_markers())  # what Pacemaker says now supersedes older losses
        return ExitStatus.OK

    def monitor(self, *, probe: bool) -> ExitStatus:
        """8/0 promoted/unpromoted and consistent, 9/1 broken, 7 stopped."""
        local = self.topology.local
        if local is None or not self.backend.loaded():
            return ExitStatus.NOT_RUNNING
        states = self.backend.group_states(local.node)
        role, problems = self._role(states)
        if role is None:
            return ExitStatus.NOT_RUNNING
        local_problems = self.backend.local_problems(self.topology)
        problems += local_problems
        promoted = role == ACTIVE
        if problems:
            status = ExitStatus.FAILED_PROMOTED if promoted else ExitStatus.UNKNOWN_ERROR
            for problem in problems:
                self.log.error(problem)
            # Pacemaker keeps 128 characters of a reason: the first problem, the rest in the log.
            more = f" (+{len(problems) - 1} more in log)" if len(problems) > 1 else ""
            raise OcfError(f"broken: {problems[0]}{more}", status)
        self.backend.open_access(self.topology, reassert=True)
        self._apply_fenced_peers()
        self._reassert_peers()
        self._update_score(verify=probe, local_problems=local_problems)
        return ExitStatus.RUNNING_PROMOTED if promoted else ExitStatus.OK

    # -- helpers -----------------------------------------------------------

    def readiness_problems(self, local_problems: list[str] | None = None) -> list[str]:
        return [*self.backend.readiness_problems(self.topology, local_problems), *self.extra_readiness]

    def _update_score(self, *, verify: bool, local_problems: list[str] | None = None) -> None:
        problems = self.readiness_problems(local_problems)
        if problems:
            self.log.warning(f"not ready to be promoted: {'; '.join(problems)}")
        self.score.set(None if problems else PROMOTION_SCORE, verify=verify)

    def _require_local(self) -> NodePort:
        local = self.topology.local
        if local is None:
            nodes = ", ".join(p.node for p in self.topology.ports)
            raise OcfError(
                f"parameter 'targets': this node '{self.topology.local_node}' is not listed (listed: {nodes})",
                ExitStatus.NOT_CONFIGURED,
            )
        return local

    def _role(self, states: dict[str, str | None]) -> tuple[str | None, list[str]]:
        """The local role from the local group's state in every unit, plus what disagrees."""
        values = set(states.values())
        inactive = {None, self.options.inactive_state}
        if values <= inactive:
            return None, []
        if values == {ACTIVE}:
            return ACTIVE, []
        if values == {self.options.unpromoted_state}:
            return self.options.unpromoted_state, []
        shown = ", ".join(f"{unit}={state or 'missing'}" for unit, state in sorted(states.items()))
        role = ACTIVE if ACTIVE in values or TRANSITIONING in values else self.options.unpromoted_state
        return role, [f"local group {self.topology.local_node} has inconsistent states ({shown})"]

    def _set_peer(self, node: str, wanted: str, *, why: str) -> None:
        states = self.backend.group_states(node)
        if any(s is not None and s != wanted for s in states.values()):
            self.log.info(f"{why}: peer {node} group -> {wanted}")
            self.backend.set_group_state(node, wanted)
        self._remember_peer(node, wanted)

    def _remember_peer(self, node: str, state: str) -> None:
        self.state.update({_PEER_KEY + node: state})

    def _fenced_markers(self) -> dict[str, str | None]:
        if self.fenced is None:
            return {}
        return {_FENCED_KEY + p.node: self.fenced.marked(p.node) or None for p in self.topology.peers}

    def _prepare_fenced_markers(self) -> None:
        if self.fenced is None:
            return
        try:
            self.fenced.ensure()
        except OSError as e:
            self.log.warning(f"cannot create {self.fenced.dir} for alua-alert: {e.strerror}")
        self.state.update(self._fenced_markers())

    def _apply_fenced_peers(self) -> None:
        """A peer fenced since the last notification (alua-alert's marker) goes to the
        inactive state: Pacemaker sends no notification when a node was fenced before its
        scheduler ran.  One stat per peer."""
        if self.fenced is None:
            return
        for peer in self.topology.peers:
            stamp = self.fenced.marked(peer.node)
            if stamp and stamp != self.state.get(_FENCED_KEY + peer.node):
                self._set_peer(peer.node, self.options.inactive_state, why="fenced (alua-alert)")
                self.state.update({_FENCED_KEY + peer.node: stamp})

    def _reassert_peers(self) -> None:
        """Put back a peer state that drifted from what the last notification decided."""
        for node, wanted in self.state.items(_PEER_KEY).items():
            if wanted not in STATES or node == self.topology.local_node:
                continue
            states = self.backend.group_states(node)
            drifted = {unit: s for unit, s in states.items() if s is not None and s != wanted}
            if drifted:
                shown = ", ".join(f"{u}={s}" for u, s in sorted(drifted.items()))
                self.log.warning(f"peer {node} group drifted ({shown}); setting it back to {wanted}")
                self.backend.set_group_state(node, wanted)
