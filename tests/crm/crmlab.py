"""An offline Pacemaker lab for the crm/ snippets: CIB files, the real crmsh, crm_simulate.

No daemon runs.  A CIB file stands for the cluster (``CIB_file=...``):
crmsh loads the snippets into it exactly as ``crm configure load update``
does on a live cluster (checking every parameter against the installed
agents' meta-data), ``crm_verify`` checks it, ``crm_attribute`` writes the
promotion scores the agents would write (``crm_attribute --promotion``), and
``crm_simulate`` runs the real scheduler on it: ``-S`` executes the
transition in simulation and ``-O`` saves the resulting cluster state, so a
scenario continues from where the previous step left the cluster.

Assertions read crm_simulate's XML (``--output-as=xml``): the planned
actions, the executed transition and the cluster status before and after,
plus the transition graph (``-G``), whose inputs say which action waits for
which.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
CRM_DIR = ROOT / "crm"
NODES = ("hpms01", "hpms02")
LAYERS = ("drbd", "lock", "lvm", "scst")
# The whole-stack files and their layers; the ALUA layer is the last.
STACKS = {
    "stack": ("drbd", "lock", "lvm", "scst"),
    "stack-lio": ("drbd", "lock", "lvm", "lio"),
}
# What each layer snippet defines (top-level resources) - the stack has all of them.
LAYER_RESOURCES = {
    "drbd": {"ms_drbd"},
    "lock": {"cl_lock"},
    "lvm": {"cl_lvm"},
    "scst": {"ms_scst"},
    "lio": {"cl_target", "ms_lio"},  # each node's iSCSI target and LUN, and the ALUA agent
}
FENCE_DEVICE = "st_lab"


class ToolError(AssertionError):
    pass


def run(
    argv: list[str],
    cib: Path | None = None,
    *,
    check: bool = True,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a cluster tool on the CIB file ``cib`` (CIB_file), as an admin would."""
    full_env = dict(os.environ)
    full_env.pop("CIB_shadow", None)
    if cib is not None:
        full_env["CIB_file"] = str(cib)
    full_env.update(env or {})
    proc = subprocess.run(argv, env=full_env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise ToolError(
            f"{' '.join(argv)} (CIB_file={cib}) exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


# --- building CIB files ---------------------------------------------------------------------


def new_lab_cib(path: Path, nodes: tuple[str, ...] = NODES) -> Path:
    """A CIB with nothing but what every cluster this stack runs on has: quorum, two online
    nodes and a fence device (a stand-in for the site's fencing, which the stack needs:
    crm_verify refuses shared data without fencing, and so does ocf:alua:dlm)."""
    path.write_text(run(["cibadmin", "--empty"]).stdout)
    run(["cibadmin", "--modify", "--xml-text", '<cib have-quorum="1"/>'], path)
    for node in nodes:
        run(["cibadmin", "--create", "-o", "nodes", "--xml-text", f'<node id="{node}" uname="{node}"/>'], path)
    run(
        [
            "cibadmin",
            "--create",
            "-o",
            "resources",
            "--xml-text",
            f'<primitive id="{FENCE_DEVICE}" class="stonith" type="null">'
            f'<instance_attributes id="{FENCE_DEVICE}-ia"><nvpair id="{FENCE_DEVICE}-hostlist" '
            f'name="hostlist" value="{" ".join(nodes)}"/></instance_attributes></primitive>',
        ],
        path,
    )
    online = path.with_suffix(".online.xml")
    run(["crm_simulate", "-x", str(path), "-O", str(online), *[a for n in nodes for a in ("-u", n)]])
    online.replace(path)
    return path


def copy_cib(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def crm_load(cib: Path, snippet: Path | str) -> subprocess.CompletedProcess[str]:
    """``crm configure load update`` of a file (Path) or of crm text (str, through stdin)."""
    if isinstance(snippet, Path):
        return run(["crm", "configure", "load", "update", str(snippet)], cib, check=False)
    return run(["crm", "configure", "load", "update", "-"], cib, check=False, stdin=snippet)


def crm_load_ok(cib: Path, snippet: Path | str) -> None:
    proc = crm_load(cib, snippet)
    if proc.returncode != 0:
        raise ToolError(
            f"crm configure load update {snippet if isinstance(snippet, Path) else '-'} "
            f"exited {proc.returncode}\n{proc.stderr}"
        )


def crm_verify(cib: Path) -> subprocess.CompletedProcess[str]:
    return run(["crm_verify", "-V", "-x", str(cib)], check=False)


def set_promotion_score(cib: Path, rsc: str, node: str, score: int | None) -> None:
    """What an agent's ``crm_attribute --promotion`` does on ``node`` (reboot lifetime)."""
    action = ["--delete"] if score is None else ["--update", str(score)]
    run(["crm_attribute", f"--promotion={rsc}", "-N", node, "--lifetime=reboot", *action], cib)


def read_cib(cib: Path) -> etree._Element:
    return etree.parse(str(cib)).getroot()


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


# --- crm_simulate -------------------------------------------------------------------------


def base_rsc(name: str) -> str:
    """``p_scst:1`` -> ``p_scst``."""
    return name.split(":", 1)[0]


@dataclass(frozen=True)
class Planned:
    """One ``<rsc_action>`` of crm_simulate's action summary."""

    action: str
    rsc: str
    node: str
    role: str | None
    next_role: str | None

    @classmethod
    def from_xml(cls, e: etree._Element) -> Planned:
        node = e.get("node") or e.get("dest") or e.get("source") or ""
        return cls(e.get("action", ""), base_rsc(e.get("resource", "")), node, e.get("role"), e.get("next-role"))


@dataclass(frozen=True)
class Executed:
    """One action of the simulated transition (resource op or fencing)."""

    rsc: str
    op: str
    node: str
    interval: int = 0


def parse_status(e: etree._Element | None) -> dict[str, dict[str, str]]:
    """{resource: {node: role}} of a ``<cluster_status>``/``<revised_cluster_status>``."""
    roles: dict[str, dict[str, str]] = {}
    if e is None:
        return roles
    for r in e.iter("resource"):
        for n in r.findall("node"):
            role = r.get("role", "")
            if r.get("failed") == "true":
                role = f"FAILED {role}"
            roles.setdefault(r.get("id", ""), {})[n.get("name", "")] = role
    return roles


def parse_online(e: etree._Element | None) -> set[str]:
    if e is None:
        return set()
    return {n.get("name", "") for n in e.iter("node") if n.get("online") == "true" and n.get("type") == "member"}


@dataclass(frozen=True)
class GraphAction:
    kind: str  # rsc_op, pseudo_event, crm_event
    op: str
    rsc: str
    node: str
    key: str


class Graph:
    """A transition graph: its actions, the parameters each resource action gets (what the agent
    sees as OCF_RESKEY_*, rules already resolved for its node) and which ones each waits for."""

    def __init__(self, root: etree._Element) -> None:
        self.actions: dict[str, GraphAction] = {}
        self.params: dict[str, dict[str, str]] = {}
        self.inputs: dict[str, set[str]] = {}
        for synapse in root.iter("synapse"):
            action = synapse.find("action_set")[0]
            aid = action.get("id", "")
            prim = action.find("primitive")
            key = action.get("operation_key", "")
            rsc = prim.get("id", "") if prim is not None else key.rsplit("_", 2)[0]
            self.actions[aid] = GraphAction(
                action.tag, action.get("operation", ""), base_rsc(rsc), action.get("on_node", ""), key
            )
            attributes = action.find("attributes")
            self.params[aid] = {
                k: v
                for k, v in (attributes.attrib.items() if attributes is not None else ())
                if not k.startswith("CRM_meta_") and k != "crm_feature_set"
            }
            self.inputs[aid] = {t[0].get("id", "") for t in synapse.iter("trigger")}
        self._before: dict[str, set[str]] = {}

    def find(self, rsc: str, op: str, node: str) -> str:
        """The id of the real (non-pseudo) action ``op`` of ``rsc`` on ``node``."""
        found = [
            aid
            for aid, a in self.actions.items()
            if a.kind == "rsc_op" and a.rsc == rsc and a.op == op and a.node == node
        ]
        assert len(found) == 1, f"{rsc} {op} on {node}: {len(found)} actions in the graph"
        return found[0]

    def fencing(self, node: str) -> str:
        found = [
            aid for aid, a in self.actions.items() if a.kind == "crm_event" and a.op == "stonith" and a.node == node
        ]
        assert len(found) == 1, f"fencing of {node}: {len(found)} actions in the graph"
        return found[0]

    def predecessors(self, aid: str) -> set[str]:
        """Every action ``aid`` waits for, directly or through others."""
        if aid not in self._before:
            seen: set[str] = set()
            todo = list(self.inputs.get(aid, ()))
            while todo:
                cur = todo.pop()
                if cur not in seen:
                    seen.add(cur)
                    todo.extend(self.inputs.get(cur, ()))
            self._before[aid] = seen
        return self._before[aid]

    def waits_for(self, later: str, earlier: str) -> bool:
        return earlier in self.predecessors(later)

    def describe(self, aid: str) -> str:
        a = self.actions[aid]
        return f"{a.rsc} {a.op} on {a.node}" if a.node else a.key


@dataclass
class Simulation:
    """What crm_simulate planned, executed and left behind."""

    planned: list[Planned]
    executed: list[Executed]
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    online_after: set[str]
    graph: Graph | None
    output: Path | None
    xml: str = field(repr=False, default="")

    def planned_for(self, rsc: str, node: str | None = None) -> list[Planned]:
        return [p for p in self.planned if p.rsc == rsc and (node is None or p.node == node)]

    def ran(self, rsc: str, op: str, node: str | None = None) -> list[Executed]:
        return [e for e in self.executed if e.rsc == rsc and e.op == op and (node is None or e.node == node)]

    def nodes_in_role(self, rsc: str, role: str) -> set[str]:
        return {n for n, r in self.after.get(rsc, {}).items() if r == role}

    def __str__(self) -> str:
        return self.xml


def simulate(
    cib: Path,
    out: Path | None = None,
    *,
    up: tuple[str, ...] = (),
    down: tuple[str, ...] = (),
    fail: tuple[str, ...] = (),
    inject: tuple[str, ...] = (),
    op_fail: tuple[str, ...] = (),
    execute: bool = True,
) -> Simulation:
    """crm_simulate on ``cib``: ``execute`` runs the transition (-S) and saves the new state to
    ``out``; otherwise only plans it (-R)."""
    argv = ["crm_simulate", "-x", str(cib), "--output-as=xml", "-S" if execute else "-R"]
    for flag, values in (("-u", up), ("-d", down), ("-f", fail), ("-i", inject), ("-F", op_fail)):
        for v in values:
            argv += [flag, v]
    graph_file = None
    if execute:
        assert out is not None
        graph_file = out.with_suffix(".graph.xml")
        argv += ["-O", str(out), "-G", str(graph_file)]
    proc = run(argv)
    root = etree.fromstring(proc.stdout.encode())
    actions = root.find("actions")
    planned = [Planned.from_xml(e) for e in actions.iter("rsc_action")] if actions is not None else []
    executed: list[Executed] = []
    transition = root.find("transition")
    if transition is not None:
        for e in transition:
            if e.tag == "rsc_action":
                executed.append(
                    Executed(
                        base_rsc(e.get("resource", "")), e.get("op", ""), e.get("node", ""), int(e.get("interval", "0"))
                    )
                )
            elif e.tag == "fencing_action":
                executed.append(Executed("", f"fence-{e.get('op', '')}", e.get("target", "")))
    before = root.find("cluster_status")
    after = root.find("revised_cluster_status") if execute else before
    graph = Graph(etree.parse(str(graph_file)).getroot()) if graph_file is not None else None
    return Simulation(
        planned,
        executed,
        parse_status(before),
        parse_status(after),
        parse_online(after.find("nodes") if after is not None else None),
        graph,
        out,
        proc.stdout,
    )


# --- comparing configurations ---------------------------------------------------------------

# Elements whose ids the tools generate (crmsh and pcs name them differently).
GENERATED_IDS = {
    "nvpair",
    "instance_attributes",
    "meta_attributes",
    "utilization",
    "operations",
    "op",
    "rule",
    "expression",
    "date_expression",
    "resource_ref",
    "resource_set",
}
DURATION = re.compile(r"^(\d+)(ms|msec|s|sec|m|min|h|hr)?$")
_UNITS = {None: 1000, "s": 1000, "sec": 1000, "ms": 1, "msec": 1, "m": 60000, "min": 60000, "h": 3600000, "hr": 3600000}
ROLES = {"Master": "Promoted", "Slave": "Unpromoted"}


def _ms(value: str) -> str:
    m = DURATION.match(value.strip())
    return f"{int(m.group(1)) * _UNITS[m.group(2)]}ms" if m else value


def _normal_attrs(e: etree._Element) -> dict[str, str]:
    attrs = {k: v for k, v in e.attrib.items() if not (k == "id" and e.tag in GENERATED_IDS)}
    for k in ("interval", "timeout", "start-delay"):
        if k in attrs:
            attrs[k] = _ms(attrs[k])
    for k in ("role", "rsc-role", "with-rsc-role", "first-role", "then-role"):
        if k in attrs:
            attrs[k] = ROLES.get(attrs[k], attrs[k])
    if e.tag == "rsc_colocation":
        for k in ("rsc-role", "with-rsc-role"):
            if attrs.get(k) == "Started":  # the default
                del attrs[k]
    if e.tag == "rsc_order":  # Pacemaker's defaults, written out
        attrs.setdefault("first-action", "start")
        attrs.setdefault("then-action", attrs["first-action"])
        if "score" not in attrs:
            attrs.setdefault("kind", "Mandatory")
    if "score" in attrs and attrs["score"].lstrip("+").lower() in ("inf", "infinity"):
        attrs["score"] = "INFINITY"
    return attrs


def _sort_key(e: etree._Element) -> tuple[str, ...]:
    if e.tag == "nvpair":
        return ("nvpair", e.get("name", ""))
    if e.tag == "op":
        return (
            "op",
            e.get("name", ""),
            ROLES.get(e.get("role", ""), e.get("role", "")),
            _ms(e.get("interval", "0")).zfill(20),
        )
    if e.tag in GENERATED_IDS:
        # Sets of attributes, rules, expressions: their ids say nothing, their order can (sets of
        # the same score apply in document order), so they keep it (the sort is stable).
        return (e.tag,)
    return (e.tag, e.get("id", ""))


def normalize(e: etree._Element, ordered: bool = False) -> etree._Element:
    """A copy of ``e`` without comments and generated ids, defaults written out, values in
    one spelling and children in a canonical order (except where order means something:
    group members, attribute sets, rules and their expressions)."""
    out = etree.Element(e.tag, dict(sorted(_normal_attrs(e).items())))
    children = [c for c in e if isinstance(c.tag, str)]
    keep_order = e.tag in ("group", "resource_set")
    if not keep_order:
        children.sort(key=_sort_key)
    for c in children:
        out.append(normalize(c))
    return out


def configuration(cib: Path) -> etree._Element:
    conf = read_cib(cib).find("configuration")
    assert conf is not None
    return conf


def canonical(cib: Path) -> str:
    return etree.tostring(normalize(configuration(cib)), pretty_print=True, encoding="unicode")


def diff(a: str, b: str, names: tuple[str, str]) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), *names))


# --- fixtures (import them into a test module to use them) ------------------------------------


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crmlab")


@pytest.fixture(scope="session")
def lab_base(lab_dir: Path, installed_agents: Path) -> Path:
    """The lab CIB before any snippet, with the agents installed (crmsh reads their meta-data)."""
    return new_lab_cib(lab_dir / "base.xml")


class Loaded:
    """Each snippet loaded once per session into its own copy of the lab CIB."""

    def __init__(self, base: Path, directory: Path) -> None:
        self.base = base
        self.directory = directory
        self.results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]] = {}

    def __call__(self, name: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
        if name not in self.results:
            cib = copy_cib(self.base, self.directory / f"{name}.xml")
            self.results[name] = (cib, crm_load(cib, CRM_DIR / f"{name}.crm"))
        return self.results[name]

    def cib(self, name: str) -> Path:
        cib, proc = self(name)
        if proc.returncode != 0:
            raise ToolError(f"crm configure load update crm/{name}.crm exited {proc.returncode}\n{proc.stderr}")
        return cib


@pytest.fixture(scope="session")
def loaded(lab_base: Path, lab_dir: Path) -> Loaded:
    return Loaded(lab_base, lab_dir)


@pytest.fixture(scope="session")
def stack_cib(loaded: Loaded) -> Path:
    """The lab CIB with crm/stack.crm loaded by the real crmsh."""
    return loaded.cib("stack")
