"""The crm/ snippets load as they are with the real crmsh and pass crm_verify.

crmsh checks every parameter against the installed agents' meta-data (the
``installed_agents`` fixture installs them as an admin would), so a snippet
naming a parameter an agent does not have fails here.
"""

# ruff: noqa: F811 - pytest fixtures imported from crmlab are test arguments
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import AGENTS_DIR, agent_names
from crmlab import (  # noqa: F401 - fixtures
    CRM_DIR,
    LAYER_RESOURCES,
    LAYERS,
    NODES,
    ROOT,
    STACKS,
    canonical,
    configuration,
    copy_cib,
    crm_load,
    crm_load_ok,
    crm_verify,
    diff,
    lab_base,
    lab_dir,
    loaded,
    new_lab_cib,
    normalize,
    read_cib,
    run,
    strip_comments,
)
from lxml import etree

SNIPPETS = sorted(p.stem for p in CRM_DIR.glob("*.crm"))
PRESENT_STACKS = [s for s in STACKS if (CRM_DIR / f"{s}.crm").exists()]
# The files with the LIO layer: the layer file and the stacks that hold it.
LIO_FILES = [n for n in SNIPPETS if n == "lio" or STACKS.get(n, ())[-1:] == ("lio",)]
ALUA_PROMOTABLE = {"scst", "lio"}
ROLE_NAMES = ("Promoted", "Unpromoted")


def metadata(agent: str) -> etree._Element:
    """An installed agent's meta-data, as crmsh and Pacemaker read it (crm_resource)."""
    proc = run(["crm_resource", "--show-metadata", agent])
    return etree.fromstring(proc.stdout.encode())


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|min|h)?", value.strip())
    assert m, value
    return int(m.group(1)) * {"ms": 0.001, None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


def primitives(cib: Path) -> list[etree._Element]:
    return list(configuration(cib).find("resources").iter("primitive"))


def agent_of(p: etree._Element) -> str:
    return f"{p.get('class')}:{p.get('provider')}:{p.get('type')}"


def meta(e: etree._Element) -> dict[str, str]:
    ma = e.find("meta_attributes")
    return {} if ma is None else {nv.get("name"): nv.get("value") for nv in ma.iter("nvpair")}


# --- every snippet -----------------------------------------------------------------------------


def test_the_snippets_are_there() -> None:
    expected = {*LAYERS, "stack"} | ({"lio", "stack-lio"} if (AGENTS_DIR / "lio").exists() else set())
    assert expected <= set(SNIPPETS), f"missing: {sorted(expected - set(SNIPPETS))}"
    assert (CRM_DIR / "stack.pcs").exists() and (CRM_DIR / "README").exists()


@pytest.mark.parametrize("name", SNIPPETS)
def test_snippet_header(name: str) -> None:
    text = (CRM_DIR / f"{name}.crm").read_text()
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert 3 <= len(header) <= 8, f"crm/{name}.crm: a short comment header, please:\n{text[:400]}"
    joined = "\n".join(header)
    assert "Needs:" in joined and f"crm configure load update /usr/share/alua/crm/{name}.crm" in joined
    # crmsh keeps comments in the CIB as XML comments, which cannot hold "--".
    assert "--" not in "".join(line for line in text.splitlines() if line.lstrip().startswith("#"))


@pytest.mark.parametrize("name", SNIPPETS)
def test_snippet_loads_and_verifies(name: str, loaded) -> None:
    cib, proc = loaded(name)
    assert proc.returncode == 0, f"crm configure load update crm/{name}.crm:\n{proc.stderr}"
    verify = crm_verify(cib)
    assert verify.returncode == 0, f"crm_verify after crm/{name}.crm:\n{verify.stdout}{verify.stderr}"
    ids = {e.get("id") for e in configuration(cib).find("resources")}
    layers = STACKS.get(name, (name,))
    wanted = set().union(*(LAYER_RESOURCES[n] for n in layers))
    assert wanted <= ids, f"crm/{name}.crm defines {sorted(ids)}"
    if name not in STACKS:
        assert not len(configuration(cib).find("constraints")), "layer files hold resources only"


def with_bogus_parameters(text: str) -> str:
    """``text`` with an unknown parameter bogus_<id> in the plain (rule-less) parameters of every
    primitive: added to its first ``params`` line, or as one before its first ``op``."""
    out: list[str] = []
    pending = None  # the primitive still without its bogus parameter
    for line in text.splitlines():
        m = re.match(r"primitive (\S+) \S+", line)
        if m:
            assert pending is None, pending
            pending = m.group(1)
        elif pending and re.match(r"\s+params (?!rule )", line):
            line = re.sub(r"^(\s+params )", rf"\1bogus_{pending}=1 ", line)
            pending = None
        elif pending and re.match(r"\s+op ", line):
            out.append(f"    params bogus_{pending}=1 \\")
            pending = None
        out.append(line)
    assert pending is None, pending
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_crmsh_checks_parameters_against_the_installed_agents(stack_name: str, lab_base: Path, lab_dir: Path) -> None:
    """The control for the test above: an unknown parameter in any primitive fails the load
    (resource-agents' iSCSITarget and iSCSILogicalUnit too: their meta-data is read as well)."""
    text = (CRM_DIR / f"{stack_name}.crm").read_text()
    names = re.findall(r"^primitive (\S+) ", text, re.MULTILINE)
    proc = crm_load(copy_cib(lab_base, lab_dir / f"bogus-{stack_name}.xml"), with_bogus_parameters(text))
    assert proc.returncode != 0, proc.stderr
    for name in names:
        assert f'parameter "bogus_{name}" is not known' in proc.stderr, proc.stderr


# --- the stack ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_stack_is_the_layers_plus_constraints(stack_name: str, loaded) -> None:
    """A stack file holds the same resources as its layer files, so they never drift apart."""
    stack = configuration(loaded.cib(stack_name)).find("resources")
    for layer in STACKS[stack_name]:
        layer_resources = configuration(loaded.cib(layer)).find("resources")
        for rid in LAYER_RESOURCES[layer]:
            a = etree.tostring(
                normalize(layer_resources.find(f"*[@id='{rid}']")), pretty_print=True, encoding="unicode"
            )
            b = etree.tostring(normalize(stack.find(f"*[@id='{rid}']")), pretty_print=True, encoding="unicode")
            assert a == b, diff(a, b, (f"crm/{layer}.crm", f"crm/{stack_name}.crm"))


def test_every_agent_is_in_a_snippet() -> None:
    used = set(re.findall(r"ocf:alua:([\w-]+)", "".join(p.read_text() for p in CRM_DIR.glob("*.crm"))))
    assert set(agent_names()) <= used, f"no snippet for {sorted(set(agent_names()) - used)}"


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_clones_and_roles(stack_name: str, loaded) -> None:
    stack_cib = loaded.cib(stack_name)
    resources = configuration(stack_cib).find("resources")
    clones = {c.get("id"): meta(c) for c in resources.iter("clone")}
    for cid, m in clones.items():
        assert m.get("interleave") == "true", cid
    drbd, scst = clones["ms_drbd"], clones[f"ms_{STACKS[stack_name][-1]}"]
    for m in (drbd, scst):
        assert m.get("promotable") == "true" and m.get("notify") == "true"
    assert drbd.get("promoted-max") == "2" and scst.get("promoted-max") == "1"
    assert not list(resources.iter("master")), "promotable clones, never master/ms"
    text = etree.tostring(configuration(stack_cib), encoding="unicode")
    assert not re.search(r'role="(Master|Slave)"', text), "roles Promoted/Unpromoted"


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_the_alert_runs_for_fencing_events_only(stack_name: str, loaded) -> None:
    """alua-alert acts on fencing events only; Pacemaker starts it for those alone, not for each
    resource operation of a failover, when the survivor's process starts compete with DRBD's
    fence-peer handler (lab Finding 27)."""
    alerts = configuration(loaded.cib(stack_name)).findall("alerts/alert")
    assert [(a.get("id"), a.get("path")) for a in alerts] == [("alua_fenced", "/usr/sbin/alua-alert")]
    assert [c.tag for c in alerts[0].findall("select/*")] == ["select_fencing"]
    assert [r.get("value") for r in alerts[0].findall("recipient")] == ["/run/resource-agents/alua-fenced"]


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_ops_follow_the_agents_metadata(stack_name: str, loaded) -> None:
    """Every action the agent advertises is configured with at least its timeout; promotable
    resources monitor both roles at different intervals; our agents' monitors (with their
    depths as OCF_CHECK_LEVEL) are configured as their meta-data advertises them."""
    for p in primitives(loaded.cib(stack_name)):
        if p.get("class") != "ocf":
            continue
        agent = agent_of(p)
        advertised = metadata(agent).find("actions")
        ops = p.find("operations")
        configured = list(ops) if ops is not None else []
        promotable = p.getparent().tag == "clone" and meta(p.getparent()).get("promotable") == "true"
        for action in advertised:
            name = action.get("name")
            if name in ("meta-data", "validate-all", "reload", "reload-agent", "migrate_to", "migrate_from"):
                continue
            if name == "status":  # the LSB-era alias of monitor that resource-agents advertise
                continue
            if name in ("promote", "demote") and not promotable:
                continue
            if name == "notify" and meta(p.getparent()).get("notify") != "true":
                continue
            role = action.get("role")
            role = {"Master": "Promoted", "Slave": "Unpromoted"}.get(role, role)
            same = [o for o in configured if o.get("name") == name and (name != "monitor" or o.get("role") == role)]
            if name == "monitor" and p.get("provider") == "alua":
                depth = action.get("depth", "0")
                same = [o for o in same if check_level(o) == depth]
                assert same, f"{p.get('id')}: no monitor like {etree.tostring(action).decode()}"
                assert {seconds(o.get("interval")) for o in same} == {seconds(action.get("interval"))}, (
                    f"{p.get('id')}: monitor interval differs from the meta-data's"
                )
            assert same, f"{p.get('id')} ({agent}): no op {name} role={role}"
            for o in same:
                assert seconds(o.get("timeout", "0")) >= seconds(action.get("timeout", "0").rstrip()), (
                    f"{p.get('id')}: {name} timeout {o.get('timeout')} < meta-data's {action.get('timeout')}"
                )
        if promotable:
            intervals = {
                r: {seconds(o.get("interval")) for o in configured if o.get("name") == "monitor" and o.get("role") == r}
                for r in ROLE_NAMES
            }
            assert all(intervals.values()), f"{p.get('id')}: monitor both roles"
            assert not intervals["Promoted"] & intervals["Unpromoted"], f"{p.get('id')}: same interval twice"


def check_level(op: etree._Element) -> str:
    for nv in op.iter("nvpair"):
        if nv.get("name") == "OCF_CHECK_LEVEL":
            return nv.get("value")
    return "0"


def constraints(cib: Path) -> set[tuple[str, ...]]:
    out = set()
    for c in normalize(configuration(cib).find("constraints")):
        if c.tag == "rsc_colocation":
            out.add(
                (
                    "colocation",
                    c.get("score"),
                    c.get("rsc"),
                    c.get("rsc-role", ""),
                    c.get("with-rsc"),
                    c.get("with-rsc-role", ""),
                )
            )
        elif c.tag == "rsc_order":
            out.add(
                ("order", c.get("kind"), c.get("first"), c.get("first-action"), c.get("then"), c.get("then-action"))
            )
    return out


COMMON_CONSTRAINTS = {
    # lock group before the VG, on the same node
    ("colocation", "INFINITY", "cl_lvm", "", "cl_lock", ""),
    ("order", "Mandatory", "cl_lock", "start", "cl_lvm", "start"),
    # DRBD promoted before the VG starts; the VG only with DRBD Promoted
    ("colocation", "INFINITY", "cl_lvm", "", "ms_drbd", "Promoted"),
    ("order", "Mandatory", "ms_drbd", "promote", "cl_lvm", "start"),
}
ALUA_CONSTRAINTS = {
    # the VG before the ALUA agent, which runs (so is promoted) only where the VG is active
    "scst": {
        ("colocation", "INFINITY", "ms_scst", "", "cl_lvm", ""),
        ("order", "Mandatory", "cl_lvm", "start", "ms_scst", "start"),
    },
    # the VG before each node's target and LUN (an LV of the VG), and they before the ALUA agent,
    # which runs (so is promoted, and opens the portals) only where they run
    "lio": {
        ("colocation", "INFINITY", "cl_target", "", "cl_lvm", ""),
        ("order", "Mandatory", "cl_lvm", "start", "cl_target", "start"),
        ("colocation", "INFINITY", "ms_lio", "", "cl_target", ""),
        ("order", "Mandatory", "cl_target", "start", "ms_lio", "start"),
    },
}


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_stack_constraints(stack_name: str, loaded) -> None:
    alua = STACKS[stack_name][-1]
    assert constraints(loaded.cib(stack_name)) == COMMON_CONSTRAINTS | ALUA_CONSTRAINTS[alua]


# --- LIO: the target layer and the portal gate -------------------------------------------------


def param_sets(conf: etree._Element, rid: str) -> list[tuple[str | None, dict[str, str]]]:
    """A primitive's instance attribute sets in order: (node, {name: value}), node being the
    ``#uname eq NODE`` its rule asks for, None for a set without a rule."""
    prim = conf.find(f".//primitive[@id='{rid}']")
    assert prim is not None, f"no primitive {rid}"
    sets = []
    for ia in prim.findall("instance_attributes"):
        rule = ia.find("rule")
        node = None
        if rule is not None:
            (expr,) = rule.findall("expression")
            assert (expr.get("attribute"), expr.get("operation")) == ("#uname", "eq"), etree.tostring(rule)
            node = expr.get("value")
        sets.append((node, {nv.get("name"): nv.get("value") for nv in ia.findall("nvpair")}))
    return sets


def plain_params(conf: etree._Element, rid: str) -> dict[str, str]:
    (plain,) = [p for node, p in param_sets(conf, rid) if node is None]
    return plain


def node_map(value: str) -> dict[str, str]:
    """``NODE=X NODE=Y`` -> {NODE: X}."""
    return dict(entry.split("=", 1) for entry in value.split())


@pytest.mark.parametrize("name", LIO_FILES)
def test_lio_target_layer(name: str, loaded) -> None:
    """Each node's target has the IQN p_lio's targets names for that node, the LUN sits on it
    with the serial p_lio expects, and p_lio's backstore is the one iSCSILogicalUnit creates."""
    conf = configuration(loaded.cib(name))
    clone = conf.find(".//clone[@id='cl_target']")
    assert clone is not None and meta(clone).get("interleave") == "true"
    assert [p.get("id") for p in clone.find("group").findall("primitive")] == ["p_target_vg1", "p_lu_vg1"]
    for rid, agent in (("p_target_vg1", "iSCSITarget"), ("p_lu_vg1", "iSCSILogicalUnit")):
        p = conf.find(f".//primitive[@id='{rid}']")
        assert agent_of(p) == f"ocf:heartbeat:{agent}"
        assert plain_params(conf, rid)["implementation"] == "lio-t"
    lio = plain_params(conf, "p_lio")
    targets = node_map(lio["targets"])
    assert set(targets) == set(NODES)
    assert [(n, p) for n, p in param_sets(conf, "p_target_vg1") if n] == [(n, {"iqn": targets[n]}) for n in NODES]
    assert [(n, p) for n, p in param_sets(conf, "p_lu_vg1") if n] == [(n, {"target_iqn": targets[n]}) for n in NODES]
    lu = plain_params(conf, "p_lu_vg1")
    assert lu["path"] == "/dev/vg1/lun1" and lu["lun"] == "0"
    (device,) = lio["devices"].split()
    backstore, serial = device.split("=")
    hba, bs_name = backstore.split("/")
    assert hba == "*" and bs_name == "p_lu_vg1", "iSCSILogicalUnit names it after itself, on an HBA targetcli numbers"
    assert serial == lu["scsi_sn"], "the serial p_lio checks is the one the LUN gets"


SCST_FILES = [n for n in SNIPPETS if n == "scst" or STACKS.get(n, ())[-1:] == ("scst",)]


@pytest.mark.parametrize("name", SCST_FILES)
def test_scst_creates_its_target_layer_on_the_lv(name: str, loaded) -> None:
    """p_scst creates the device it places in device group vg1, on the LV the LIO layer uses too."""
    conf = configuration(loaded.cib(name))
    scst = plain_params(conf, "p_scst")
    assert node_map(scst["devices"]) == {"vg1": "/dev/vg1/lun1"}
    lio_lun = re.search(r"\bpath=(\S+)", (CRM_DIR / "lio.crm").read_text())
    assert lio_lun is not None and lio_lun.group(1) == "/dev/vg1/lun1", "one LV name for both target layers"
    assert scst["device_groups"] == "vg1", "the device created is the one the device group holds"
    assert "luns" not in scst and "device_handler" not in scst, "LUN 0, vdisk_blockio: the defaults"


@pytest.mark.parametrize("name", LIO_FILES)
def test_lio_portal_gate(name: str, loaded) -> None:
    """The portal gate: every node's target is created without a network portal (portals="",
    never iSCSITarget's default 0.0.0.0:3260, on no node) and p_lio lists each node's own
    portals, which it opens only once the node's LUN is in its ALUA group. Lose either and an
    initiator can log in to a returning node whose LUN still sits in LIO's default group."""
    conf = configuration(loaded.cib(name))
    target_sets = param_sets(conf, "p_target_vg1")
    assert plain_params(conf, "p_target_vg1").get("portals") == "", "the target must be made without portals"
    for node, params in target_sets:
        assert node is None or not {"portals", "iser_portals"} & set(params), f"portals for {node}"
    assert "iser_portals" not in plain_params(conf, "p_target_vg1")
    portals = node_map(plain_params(conf, "p_lio")["portals"])
    assert set(portals) == set(NODES)
    seen: set[str] = set()
    for node in NODES:
        addresses = portals[node].split(",")
        assert addresses and all(re.fullmatch(r"\d+\.\d+\.\d+\.\d+:\d+", a) for a in addresses), portals[node]
        assert not seen & set(addresses), "each node has its own portals"
        seen |= set(addresses)


# --- names -------------------------------------------------------------------------------------


def readme_command(start: str) -> str:
    """The shell command in crm/README whose first line starts with ``start``."""
    lines = (CRM_DIR / "README").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(start):
            cmd = []
            for follow in lines[i:]:
                cmd.append(follow.strip())
                if not follow.rstrip().endswith("\\"):
                    return "\n".join(cmd)
    raise AssertionError(f"crm/README has no command starting with {start!r}")


@pytest.mark.parametrize("stack_name", PRESENT_STACKS)
def test_renaming_as_the_readme_says(stack_name: str, lab_dir: Path) -> None:
    """The README's alua-config command gives a stack for other nodes, targets, VG (and with LIO
    portals) that loads: no old name is left, in rules (the per-node IQNs) neither."""
    backend = STACKS[stack_name][-1]
    cmd = readme_command("alua-config --backend lio" if backend == "lio" else "alua-config --node1")
    assert cmd.endswith("| crm configure load update -")
    cmd = cmd[: -len("| crm configure load update -")]
    argv = shlex.split(cmd.replace("\\\n", " "))
    assert argv[0] == "alua-config"
    renamed = subprocess.run(["/usr/bin/python3", str(ROOT / "sbin" / "alua-config"), *argv[1:]],
                             capture_output=True, text=True, check=True).stdout
    for old in ("hpms0", "vg1", "2016-02", "192.168."):
        assert old not in strip_comments(renamed)
    cib = new_lab_cib(lab_dir / f"renamed-{stack_name}.xml", nodes=("san1", "san2"))
    crm_load_ok(cib, renamed)
    verify = crm_verify(cib)
    assert verify.returncode == 0, verify.stderr
    conf = configuration(cib)
    iqns = {"san1": "iqn.2024-01.com.example:san1.data", "san2": "iqn.2024-01.com.example:san2.data"}
    alua = "p_" + STACKS[stack_name][-1]
    targets = conf.find(f".//primitive[@id='{alua}']//nvpair[@name='targets']").get("value")
    assert targets == "san1=iqn.2024-01.com.example:san1.data san2=iqn.2024-01.com.example:san2.data"
    assert conf.find(".//primitive[@id='p_lvm_data']//nvpair[@name='volume_group']").get("value") == "data"
    if alua == "p_scst":
        assert plain_params(conf, "p_scst")["devices"] == "data=/dev/data/lun1"
    if alua == "p_lio":
        assert [(n, p) for n, p in param_sets(conf, "p_target_data") if n] == [(n, {"iqn": iqns[n]}) for n in iqns]
        assert [(n, p) for n, p in param_sets(conf, "p_lu_data") if n] == [(n, {"target_iqn": iqns[n]}) for n in iqns]
        assert plain_params(conf, "p_lu_data")["path"] == "/dev/data/lun1"
        lio = plain_params(conf, "p_lio")
        assert lio["devices"].startswith("*/p_lu_data=")
        assert node_map(lio["portals"]) == {
            "san1": "10.0.1.1:3260,10.0.2.1:3260",
            "san2": "10.0.1.2:3260,10.0.2.2:3260",
        }


def test_readme_preference_matches_the_stack() -> None:
    """The location line in the README is the one stack.crm documents (tested in the scenarios)."""
    stack_line = next(
        line.lstrip("# ").strip()
        for line in (CRM_DIR / "stack.crm").read_text().splitlines()
        if line.lstrip("# ").startswith("location ")
    )
    readme = readme_command("crm configure location")
    assert readme == "crm configure " + stack_line.replace("#uname", "'#uname'")


def test_snippets_are_ascii() -> None:
    for p in [*CRM_DIR.glob("*.crm"), CRM_DIR / "stack.pcs", CRM_DIR / "README"]:
        p.read_text(encoding="ascii")
