"""The OCF contract every agent keeps, checked on every agent in agents/.

- meta-data is valid for resource-agents' DTD (real xmllint) and RELAX NG schema;
- dispatch: no action → 2, unknown action → 3, usage → 0;
- every parameter fed a bad value exits 6 with a reason naming it on
  validate-all and start, never with a traceback, while stop returns 0 and
  a probe 7 with the same values.
"""

from __future__ import annotations

import subprocess

import pytest
from lxml import etree

from conftest import AGENTS_DIR, agent_names, assert_no_traceback, run_agent

DTD_DIR = "/usr/share/resource-agents"
RNG = f"{DTD_DIR}/metadata.rng"

# A configuration each agent accepts as valid.  Free-form parameters (daemon
# arguments) accept shell metacharacters: they go into argv, never a shell.
AGENT_CASES: dict[str, dict[str, object]] = {
    "scst": {
        "valid": {
            "device_groups": "vg1",
            "targets": "hpms01=iqn.2016-02.local.virtual:hpms01.vg1 hpms02=iqn.2016-02.local.virtual:hpms02.vg1",
        },
        "free_form": set(),
    },
    "lio": {
        "valid": {
            "devices": "iblock_0/vg1=5f3d2c1a-0b7e-4c55-9a0e-2d7f1f4e8a61",
            "targets": "hpms01=iqn.2003-01.org.linux-iscsi.hpms01:san hpms02=iqn.2003-01.org.linux-iscsi.hpms02:san",
        },
        "free_form": set(),
    },
    "dlm": {"valid": {}, "free_form": {"args"}},
    "lvmlockd": {"valid": {}, "free_form": set()},
    "drbd-lvm": {"valid": {"volume_group": "vg-san"}, "free_form": set()},
}


def metadata(agent: str) -> etree._Element:
    result = run_agent(agent, "meta-data")
    assert result.rc == 0, str(result)
    return etree.fromstring(result.stdout.encode())


def parameters(agent: str) -> list[tuple[str, str, str | None]]:
    """(name, content type, default) of each parameter in the agent's meta-data."""
    root = metadata(agent)
    out = []
    for p in root.iter("parameter"):
        content = p.find("content")
        assert content is not None
        out.append((p.get("name"), content.get("type"), content.get("default")))
    return out


def bad_values(ptype: str, free_form: bool) -> list[tuple[str, str]]:
    """(label, value) pairs that no parameter of this type may accept."""
    values = [("empty", ""), ("newline", "x\nsecond command"), ("carriage return", "x\rz")]
    if ptype == "integer":
        values += [("not a number", "ten"), ("float", "1.5"), ("out of range", "99999999999999999999"),
                   ("shell metacharacters", "1;reboot")]
    elif ptype == "boolean":
        values += [("not a boolean", "maybe"), ("shell metacharacters", "true;reboot")]
    elif not free_form:
        values += [("shell metacharacters", "$(touch /tmp/alua-pwned);`id`|x&y"),
                   ("whitespace around", " padded ")]
    return values


def test_every_agent_has_a_contract_case() -> None:
    assert set(agent_names()) <= set(AGENT_CASES), "add the new agent to AGENT_CASES"


@pytest.mark.parametrize("agent", agent_names())
def test_metadata_validates_with_xmllint_dtd(agent: str) -> None:
    xml = run_agent(agent, "meta-data").stdout
    proc = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=xml, text=True,
                          capture_output=True, cwd=DTD_DIR, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("agent", agent_names())
def test_metadata_validates_with_relaxng(agent: str) -> None:
    schema = etree.RelaxNG(etree.parse(RNG))
    doc = metadata(agent)
    assert schema.validate(doc), schema.error_log


@pytest.mark.parametrize("agent", agent_names())
def test_metadata_is_ocf_1_1_with_timeouts_and_roles(agent: str) -> None:
    root = metadata(agent)
    assert root.findtext("version") == "1.1"
    actions = root.find("actions")
    assert actions is not None
    names = [a.get("name") for a in actions]
    for required in ("start", "stop", "monitor", "meta-data", "validate-all"):
        assert required in names
    assert "reload" not in names and "reload-agent" not in names
    for action in actions:
        assert action.get("timeout", "").endswith("s"), etree.tostring(action)
        assert action.get("role") in (None, "Promoted", "Unpromoted")
    for p in root.iter("parameter"):
        assert p.findtext("longdesc") and p.findtext("shortdesc"), p.get("name")


def test_metadata_escapes_markup_in_descriptions() -> None:
    from alua.ocf import params
    from alua.ocf.declaration import Action, Agent
    from alua.ocf.metadata import build_metadata

    nasty = 'a & b < c > d "quoted" \'single\' ]]> <!-- x -->'

    class P(params.Params):
        thing = params.string(nasty, nasty, default=nasty)

    agent = Agent(name="t", version="1", shortdesc=nasty, longdesc=nasty, params=P,
                  actions=[Action("start", None, timeout=5), Action("meta-data", None, timeout=5)])
    xml = build_metadata(agent)
    proc = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=xml, capture_output=True,
                          cwd=DTD_DIR, check=False)
    assert proc.returncode == 0, proc.stderr
    root = etree.fromstring(xml)
    assert root.findtext("longdesc") == nasty
    assert root.find("parameters/parameter/content").get("default") == nasty


@pytest.mark.parametrize("agent", agent_names())
def test_dispatch_codes(agent: str) -> None:
    assert run_agent(agent, None).rc == 2
    unknown = run_agent(agent, "frobnicate")
    assert unknown.rc == 3 and "frobnicate" in unknown.stderr
    assert run_agent(agent, "start-ish").rc == 3  # exact match, never a substring
    usage = run_agent(agent, "usage")
    assert usage.rc == 0 and "usage:" in usage.stdout
    two = subprocess.run([str(AGENTS_DIR / agent), "monitor", "extra"], capture_output=True, check=False)
    assert two.returncode == 2


def _bad_param_cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for agent in agent_names():
        case = AGENT_CASES.get(agent)
        if case is None:
            continue
        free = case["free_form"]
        assert isinstance(free, set)
        for name, ptype, _ in parameters(agent):
            for label, value in bad_values(ptype or "string", name in free):
                cases.append((agent, name, label, value))
    return cases


@pytest.mark.parametrize(("agent", "param", "label", "value"), _bad_param_cases())
def test_bad_parameter_value(agent: str, param: str, label: str, value: str, rsctmp) -> None:
    valid = dict(AGENT_CASES[agent]["valid"])  # type: ignore[arg-type]
    valid[param] = value
    for action in ("validate-all", "start"):
        result = run_agent(agent, action, valid, rsctmp=rsctmp)
        assert result.rc == 6, f"{action} with {param}={value!r} ({label}):\n{result}"
        assert f"'{param}'" in result.reason, result
        assert_no_traceback(result)
    stop = run_agent(agent, "stop", valid, rsctmp=rsctmp)
    assert stop.rc == 0, str(stop)
    assert_no_traceback(stop)
    probe = run_agent(agent, "monitor", valid, rsctmp=rsctmp, meta={"interval": "0"})
    assert probe.rc == 7, str(probe)
    assert_no_traceback(probe)


@pytest.mark.parametrize("agent", agent_names())
def test_missing_required_parameters(agent: str, rsctmp) -> None:
    required = [p.get("name") for p in metadata(agent).iter("parameter") if p.get("required") == "1"]
    for name in required:
        params = dict(AGENT_CASES[agent]["valid"])  # type: ignore[arg-type]
        del params[name]
        result = run_agent(agent, "validate-all", params, rsctmp=rsctmp)
        assert result.rc == 6 and f"'{name}'" in result.reason, str(result)
        assert run_agent(agent, "stop", params, rsctmp=rsctmp).rc == 0
