"""The scheduler on the whole stack: what Pacemaker does with crm/stack*.crm.

Each stack file is loaded with the real crmsh into a lab CIB (two online
nodes, quorum, a fence device); promotion scores are written the way the
agents write them (``crm_attribute --promotion``); crm_simulate runs the real
scheduler, executes the transition in simulation and saves the resulting
state, from which the next step continues:

1. both nodes up with promotion scores: DRBD promoted on both, the VG on
   both, ALUA promoted on exactly one node, each node's layers in order;
2. the ALUA-promoted node fails: it is fenced, the survivor's ALUA instance
   is promoted (after the fencing), nothing running there stops;
3. DRBD fails on the ALUA-promoted node (a monitor failure, and the DRBD
   agent's promotion score gone): that node's VG stops, ALUA there is
   demoted and stopped before it, and the other node is promoted;
   a transient DRBD failure (score kept) recovers in place, in order;
4. the failed node returns: it starts everything, ALUA unpromoted there;
   the promotion stays put (no ping-pong) unless a preference is configured;
5. (LIO, whose stack has each node's target and LUN under the ALUA agent)
   the LUN fails on the promoted node, or the target layer may no longer run
   there: ALUA there is demoted and stopped before the target layer stops,
   started only after it, and the ALUA agent never runs where the target
   layer does not.

Every node starts its chain in order (the VG, the target and LUN with LIO,
then the ALUA agent) and stops it in the reverse order; with LIO the
scheduler hands each node's iSCSITarget its own IQN and an empty portals
value, and ocf:alua:lio every node's portals (the portal gate).
"""

# ruff: noqa: F811 - pytest fixtures imported from crmlab are test arguments
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from crmlab import (  # noqa: F401 - fixtures
    CRM_DIR,
    NODES,
    ROOT,
    STACKS,
    Simulation,
    configuration,
    copy_cib,
    crm_load_ok,
    lab_base,
    lab_dir,
    loaded,
    set_promotion_score,
    simulate,
)

PRESENT_STACKS = [s for s in STACKS if (CRM_DIR / f"{s}.crm").exists()]
# The stacks whose cluster builds each node's target (LIO): the scenarios of the target layer.
TARGET_STACKS = [s for s in PRESENT_STACKS if STACKS[s][-1] == "lio"]
on_target_stacks = pytest.mark.parametrize("stack", TARGET_STACKS, indirect=True)
DRBD, LVM, DLM, LVMLOCKD = "p_drbd_vg1", "p_lvm_vg1", "p_dlm", "p_lvmlockd"
TARGET, LU = "p_target_vg1", "p_lu_vg1"  # LIO: each node's iSCSI target and its LUN
SCORE = 100  # what the ALUA agents set on a ready node (and, here, DRBD's agent)


@dataclass
class Stack:
    name: str
    cib: Path
    alua: str  # the ALUA primitive: p_scst or p_lio
    work: Path
    target: tuple[str, ...] = ()  # the target layer's primitives in start order (LIO), or none

    @property
    def everything(self) -> tuple[str, ...]:
        return (DRBD, DLM, LVMLOCKD, LVM, *self.target, self.alua)

    @property
    def chain(self) -> tuple[str, ...]:
        """What each node starts in this order once DRBD is Primary there, and stops in reverse."""
        return (LVM, *self.target, self.alua)

    def path(self, step: str) -> Path:
        return self.work / f"{self.name}-{step}.xml"

    def monitor_interval_ms(self, rsc: str, role: str | None) -> int:
        role_test = f"[@role='{role}']" if role else "[not(@role)]"
        ops = configuration(self.cib).xpath(f".//primitive[@id='{rsc}']/operations/op[@name='monitor']{role_test}")
        (op,) = ops
        value = op.get("interval")
        m = re.fullmatch(r"(\d+)s?", value)
        assert m, value
        return int(m.group(1)) * 1000


def other(node: str) -> str:
    return next(n for n in NODES if n != node)


def node_map(value: str) -> dict[str, str]:
    """``NODE=X NODE=Y`` -> {NODE: X}."""
    return dict(entry.split("=", 1) for entry in value.split())


def assert_stable(sim: Simulation) -> None:
    """Nothing left to do in the state the transition left behind."""
    assert sim.output is not None
    plan = simulate(sim.output, execute=False)
    assert not plan.planned, f"the cluster is not stable afterwards: {plan.planned}"


def assert_waits(sim: Simulation, later: tuple[str, str, str], earlier: tuple[str, str, str]) -> None:
    """The transition graph makes ``later`` (rsc, op, node) wait for ``earlier``."""
    g = sim.graph
    assert g is not None
    a, b = g.find(*later), g.find(*earlier)
    assert g.waits_for(a, b), f"{g.describe(a)} does not wait for {g.describe(b)}"
    ran = [(e.rsc, e.op, e.node) for e in sim.executed]
    if later in ran and earlier in ran:  # and the simulated run kept that order
        assert ran.index(earlier) < ran.index(later)


def assert_chain_starts(sim: Simulation, stack: Stack, node: str) -> None:
    """On ``node`` each link of the chain starts only after the one below it."""
    for lower, upper in zip(stack.chain, stack.chain[1:]):
        assert_waits(sim, (upper, "start", node), (lower, "start", node))


def assert_chain_stops(sim: Simulation, stack: Stack, node: str) -> None:
    """On ``node`` each link of the chain stops only after the one above it."""
    for lower, upper in zip(stack.chain, stack.chain[1:]):
        assert_waits(sim, (lower, "stop", node), (upper, "stop", node))


def assert_nested(stack: Stack, sim: Simulation) -> None:
    """In the state the transition left: each link of the chain runs only where the one below
    it runs (the ALUA agent only where the target layer runs, that only where the VG is active)."""
    for lower, upper in zip(stack.chain, stack.chain[1:]):
        assert set(sim.after.get(upper, {})) <= set(sim.after.get(lower, {})), (upper, lower, sim.after)


def only_harmless_on(sim: Simulation, node: str, allowed: set[tuple[str, str]]) -> None:
    """On ``node`` nothing but notifications, monitors and the ``allowed`` (rsc, op) ran."""
    for e in sim.executed:
        if e.node == node and e.op not in ("notify", "monitor", "cancel") and (e.rsc, e.op) not in allowed:
            raise AssertionError(f"{e.rsc} {e.op} ran on {node}: {sim.executed}")


@pytest.fixture(scope="module", params=PRESENT_STACKS)
def stack(request, loaded, lab_dir: Path) -> Stack:
    name = request.param
    cib = loaded.cib(name)
    target = tuple(p.get("id") for p in configuration(cib).findall(".//group[@id='g_target_vg1']/primitive"))
    if STACKS[name][-1] == "lio":
        assert target == (TARGET, LU), f"{name}: the LIO stack has each node's target and LUN"
    return Stack(name, cib, f"p_{STACKS[name][-1]}", lab_dir, target)


@pytest.fixture(scope="module")
def started(stack: Stack) -> Simulation:
    """Scenario 1's transition: both nodes up, every agent reporting a promotion score."""
    cib = copy_cib(stack.cib, stack.path("1-in"))
    for node in NODES:
        set_promotion_score(cib, DRBD, node, SCORE)
        set_promotion_score(cib, stack.alua, node, SCORE)
    return simulate(cib, stack.path("1-out"))


@pytest.fixture(scope="module")
def failed_over(stack: Stack, started: Simulation) -> tuple[str, Simulation]:
    """Scenario 2's transition: the ALUA-promoted node fails."""
    (promoted,) = started.nodes_in_role(stack.alua, "Promoted")
    return promoted, simulate(started.output, stack.path("2-out"), fail=(promoted,))


# --- 1 ---------------------------------------------------------------------------------------


def test_1_both_nodes_up(stack: Stack, started: Simulation) -> None:
    sim = started
    for node in NODES:
        for rsc in (DLM, LVMLOCKD, LVM, *stack.target):
            assert sim.after[rsc].get(node) == "Started", sim.after
        assert sim.after[DRBD].get(node) == "Promoted", sim.after
    promoted = sim.nodes_in_role(stack.alua, "Promoted")
    assert len(promoted) == 1, sim.after[stack.alua]
    (x,) = promoted
    assert sim.after[stack.alua] == {x: "Promoted", other(x): "Unpromoted"}
    planned_promotions = [p.node for p in sim.planned if p.rsc == stack.alua and p.next_role == "Promoted"]
    assert planned_promotions == [x]
    # the order, node by node
    for n in NODES:
        assert_waits(sim, (LVMLOCKD, "start", n), (DLM, "start", n))
        assert_waits(sim, (LVM, "start", n), (LVMLOCKD, "start", n))
        assert_waits(sim, (LVM, "start", n), (DRBD, "promote", n))
        assert_chain_starts(sim, stack, n)
    assert_waits(sim, (stack.alua, "promote", x), (LVM, "start", x))
    assert_waits(sim, (stack.alua, "promote", x), (stack.alua, "start", x))
    assert_nested(stack, sim)
    assert_stable(sim)


@on_target_stacks
def test_1_lio_portal_gate(stack: Stack, started: Simulation) -> None:
    """What the scheduler hands the agents on each node (rules resolved): iSCSITarget that node's
    IQN and portals="" (set, empty: not the agent's default 0.0.0.0:3260), so the target has no
    portal; iSCSILogicalUnit the same IQN; ocf:alua:lio every node's portals, which it opens on
    its node only once the LUN is in the node's ALUA group."""
    g = started.graph
    assert g is not None
    lio = configuration(stack.cib).find(f".//primitive[@id='{stack.alua}']")
    configured = {nv.get("name"): nv.get("value") for nv in lio.find("instance_attributes").iter("nvpair")}
    targets = node_map(configured["targets"])
    for n in NODES:
        target = g.params[g.find(TARGET, "start", n)]
        assert target == {"implementation": "lio-t", "iqn": targets[n], "portals": ""}, target
        lu = g.params[g.find(LU, "start", n)]
        assert lu["target_iqn"] == targets[n] and lu["implementation"] == "lio-t", lu
        alua = g.params[g.find(stack.alua, "start", n)]
        assert alua["portals"] == configured["portals"] and set(node_map(alua["portals"])) == set(NODES)
        assert alua["targets"] == configured["targets"]


def test_1_no_promotion_without_scores(stack: Stack) -> None:
    """Without the agents' scores nothing is promoted, so the VG and ALUA stay stopped."""
    sim = simulate(stack.cib, stack.path("1-noscore-out"))
    assert not any(r == "Promoted" for roles in sim.after.values() for r in roles.values()), sim.after
    for rsc in (LVM, stack.alua):
        assert not sim.after.get(rsc), sim.after
    for n in NODES:
        assert sim.after[DRBD].get(n) == "Unpromoted"


# --- 2 ---------------------------------------------------------------------------------------


def test_2_promoted_node_fails(stack: Stack, failed_over: tuple[str, Simulation]) -> None:
    x, sim = failed_over
    y = other(x)
    assert ("", "fence-reboot", x) in [(e.rsc, e.op, e.node) for e in sim.executed]
    assert sim.online_after == {y}
    assert sim.after[stack.alua] == {y: "Promoted"}
    assert sim.after[DRBD] == {y: "Promoted"}
    for rsc in (DLM, LVMLOCKD, LVM, *stack.target):
        assert sim.after[rsc] == {y: "Started"}
    # on the survivor: the promotion, nothing stopped, restarted or demoted
    only_harmless_on(sim, y, {(stack.alua, "promote")})
    assert sim.ran(stack.alua, "promote", y)
    # never two nodes active/optimized: the promotion waits for the fencing
    g = sim.graph
    assert g is not None
    assert g.waits_for(g.find(stack.alua, "promote", y), g.fencing(x))
    assert_nested(stack, sim)
    assert_stable(sim)


# --- 3 ---------------------------------------------------------------------------------------


def test_3_drbd_fails_on_the_promoted_node(stack: Stack, started: Simulation) -> None:
    (x,) = started.nodes_in_role(stack.alua, "Promoted")
    y = other(x)
    cib = copy_cib(started.output, stack.path("3-in"))
    # A failed DRBD disk: the monitor fails, and drbd's agent takes its promotion score away.
    # The ALUA agent's score on x is left as it was: the constraints alone keep ALUA off x.
    set_promotion_score(cib, DRBD, x, None)
    interval = stack.monitor_interval_ms(DRBD, "Promoted")
    sim = simulate(cib, stack.path("3-out"), inject=(f"{DRBD}_monitor_{interval}@{x}=1",))
    assert [(p.action, p.node) for p in sim.planned_for(DRBD)] == [("recover", x)], sim.planned
    # that node's VG stops, ALUA there is demoted and stopped first
    assert sim.ran(LVM, "stop", x) and sim.ran(stack.alua, "demote", x) and sim.ran(stack.alua, "stop", x)
    assert all(sim.ran(rsc, "stop", x) for rsc in stack.target)
    assert not sim.ran(stack.alua, "promote", x)
    assert_chain_stops(sim, stack, x)
    assert_waits(sim, (LVM, "stop", x), (stack.alua, "stop", x))
    assert_waits(sim, (stack.alua, "stop", x), (stack.alua, "demote", x))
    assert_waits(sim, (DRBD, "demote", x), (LVM, "stop", x))
    # the other node takes the promotion, after x gave it up; nothing else moves there
    assert_waits(sim, (stack.alua, "promote", y), (stack.alua, "demote", x))
    only_harmless_on(sim, y, {(stack.alua, "promote")})
    assert sim.after[DRBD] == {x: "Unpromoted", y: "Promoted"}
    assert sim.after[LVM] == {y: "Started"}
    for rsc in stack.target:
        assert sim.after[rsc] == {y: "Started"}
    assert sim.after[stack.alua] == {y: "Promoted"}
    assert_nested(stack, sim)
    assert_stable(sim)


def test_3_transient_drbd_failure_recovers_in_order(stack: Stack, started: Simulation) -> None:
    """DRBD still promotable after its failure: recovered in place, the layers above it
    stopped before and started after it, ALUA never promoted while the VG is down."""
    (x,) = started.nodes_in_role(stack.alua, "Promoted")
    interval = stack.monitor_interval_ms(DRBD, "Promoted")
    sim = simulate(started.output, stack.path("3t-out"), inject=(f"{DRBD}_monitor_{interval}@{x}=1",))
    assert [(p.action, p.node) for p in sim.planned_for(DRBD)] == [("recover", x)], sim.planned
    assert_waits(sim, (stack.alua, "stop", x), (stack.alua, "demote", x))
    assert_chain_stops(sim, stack, x)
    assert_waits(sim, (DRBD, "demote", x), (LVM, "stop", x))
    assert_waits(sim, (DRBD, "stop", x), (DRBD, "demote", x))
    assert_waits(sim, (DRBD, "promote", x), (DRBD, "start", x))
    assert_waits(sim, (LVM, "start", x), (DRBD, "promote", x))
    assert_chain_starts(sim, stack, x)
    for promote in sim.ran(stack.alua, "promote"):
        assert_waits(sim, (stack.alua, "promote", promote.node), (stack.chain[-2], "start", promote.node))
    only_harmless_on(sim, other(x), {(stack.alua, "promote")})
    for rsc in (DRBD, LVM, *stack.target):
        assert set(sim.after[rsc]) == set(NODES)
    assert len(sim.nodes_in_role(stack.alua, "Promoted")) == 1
    assert_nested(stack, sim)
    assert_stable(sim)


# --- 4 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def returned(stack: Stack, failed_over: tuple[str, Simulation]) -> tuple[str, Simulation, Simulation]:
    """Scenario 4: the failed node comes back; then its agents report their scores."""
    x, sim2 = failed_over
    joined = simulate(sim2.output, stack.path("4a-out"), up=(x,))
    cib = copy_cib(joined.output, stack.path("4b-in"))
    set_promotion_score(cib, DRBD, x, SCORE)
    set_promotion_score(cib, stack.alua, x, SCORE)
    ready = simulate(cib, stack.path("4b-out"))
    return x, joined, ready


def test_4_node_returns_unpromoted(stack: Stack, returned: tuple[str, Simulation, Simulation]) -> None:
    x, joined, ready = returned
    y = other(x)
    # it joins: the lock group and DRBD start there; nothing is promoted before its scores
    assert joined.online_after == set(NODES)
    assert joined.after[DRBD] == {x: "Unpromoted", y: "Promoted"}
    for rsc in (DLM, LVMLOCKD):
        assert joined.after[rsc] == {x: "Started", y: "Started"}
    for rsc in stack.chain:  # nothing of the chain before DRBD is Primary there
        assert x not in joined.after.get(rsc, {}), joined.after
    # its agents report ready: DRBD promoted, the VG, the target layer and ALUA (unpromoted) start
    assert ready.after[DRBD] == {x: "Promoted", y: "Promoted"}
    for rsc in (LVM, *stack.target):
        assert ready.after[rsc] == {x: "Started", y: "Started"}
    assert ready.after[stack.alua] == {x: "Unpromoted", y: "Promoted"}
    assert_waits(ready, (LVM, "start", x), (DRBD, "promote", x))
    assert_chain_starts(ready, stack, x)
    for sim in (joined, ready):
        assert not sim.ran(stack.alua, "promote") and not sim.ran(stack.alua, "demote"), sim.executed
        only_harmless_on(sim, y, set())  # the promoted node is left alone
        assert_nested(stack, sim)
    assert_stable(ready)


def test_4_with_a_preference_the_promotion_moves_back(stack: Stack, returned, lab_dir: Path) -> None:
    """The preference stack*.crm documents (commented out) does bring the promotion back."""
    x, _, ready = returned
    y = other(x)
    text = (CRM_DIR / f"{stack.name}.crm").read_text()
    (line,) = [m.group(1) for m in re.finditer(r"^#\s+(location .*)$", text, re.MULTILINE)]
    line = line.replace("hpms01", x).replace(f"prefers_{'hpms01'}", f"prefers_{x}")
    cib = copy_cib(ready.output, stack.path("4p-in"))
    crm_load_ok(cib, line + "\n")
    sim = simulate(cib, stack.path("4p-out"))
    assert sim.ran(stack.alua, "demote", y) and sim.ran(stack.alua, "promote", x)
    assert_waits(sim, (stack.alua, "promote", x), (stack.alua, "demote", y))
    assert sim.after[stack.alua] == {x: "Promoted", y: "Unpromoted"}
    assert_stable(sim)


# --- 5 (LIO) ---------------------------------------------------------------------------------


@on_target_stacks
def test_5_lun_fails_on_the_promoted_node(stack: Stack, started: Simulation) -> None:
    """The LUN's monitor fails on the ALUA-promoted node: it is recovered in place, and the ALUA
    agent there is demoted and stopped before the LUN stops, started (so its portals opened)
    only after the LUN is back; one node is promoted afterwards, the other node untouched."""
    (x,) = started.nodes_in_role(stack.alua, "Promoted")
    interval = stack.monitor_interval_ms(LU, None)
    sim = simulate(started.output, stack.path("5l-out"), inject=(f"{LU}_monitor_{interval}@{x}=1",))
    assert [(p.action, p.node) for p in sim.planned_for(LU)] == [("recover", x)], sim.planned
    assert not sim.ran(TARGET, "stop", x) and not sim.ran(LVM, "stop", x), "only the LUN and what is above it"
    assert_waits(sim, (stack.alua, "stop", x), (stack.alua, "demote", x))
    assert_waits(sim, (LU, "stop", x), (stack.alua, "stop", x))
    assert_waits(sim, (LU, "start", x), (LU, "stop", x))
    assert_waits(sim, (stack.alua, "start", x), (LU, "start", x))
    for promote in sim.ran(stack.alua, "promote"):
        assert_waits(sim, (stack.alua, "promote", promote.node), (LU, "start", promote.node))
    only_harmless_on(sim, other(x), {(stack.alua, "promote")})
    for rsc in (LVM, *stack.target):
        assert set(sim.after[rsc]) == set(NODES)
    assert set(sim.after[stack.alua]) == set(NODES)
    assert len(sim.nodes_in_role(stack.alua, "Promoted")) == 1
    assert_nested(stack, sim)
    assert_stable(sim)


@on_target_stacks
def test_5_no_alua_where_the_target_layer_cannot_run(stack: Stack, started: Simulation) -> None:
    """The target layer may no longer run on the ALUA-promoted node (here a ban): the ALUA agent
    there is demoted and stopped before the LUN and target stop, the other node is promoted
    after that demotion, and the VG, which does not need the target, stays."""
    (x,) = started.nodes_in_role(stack.alua, "Promoted")
    y = other(x)
    cib = copy_cib(started.output, stack.path("5b-in"))
    crm_load_ok(cib, f"location l_no_target cl_target -inf: {x}\n")
    sim = simulate(cib, stack.path("5b-out"))
    assert sim.ran(stack.alua, "demote", x) and sim.ran(stack.alua, "stop", x)
    assert_waits(sim, (stack.alua, "stop", x), (stack.alua, "demote", x))
    assert_waits(sim, (LU, "stop", x), (stack.alua, "stop", x))
    assert_waits(sim, (TARGET, "stop", x), (LU, "stop", x))
    assert_waits(sim, (stack.alua, "promote", y), (stack.alua, "demote", x))
    assert not sim.ran(LVM, "stop", x)
    only_harmless_on(sim, y, {(stack.alua, "promote")})
    for rsc in stack.target:
        assert sim.after[rsc] == {y: "Started"}
    assert sim.after[stack.alua] == {y: "Promoted"}
    assert sim.after[LVM] == {x: "Started", y: "Started"}
    assert_nested(stack, sim)
    assert_stable(sim)


def test_scores_are_set_the_way_the_agents_set_them() -> None:
    """The scenarios write promotion scores with crm_attribute --promotion (attribute
    master-<resource>), as the agents' library does (and drbd-utils' crm_master)."""
    assert "--promotion=" in (ROOT / "lib" / "alua" / "host" / "cluster.py").read_text()
