"""The man pages in man/ are generated from the agents' meta-data, in sync, and render cleanly."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, agent_names, run_agent
from lxml import etree

MAN = ROOT / "man"
GEN = ROOT / "tools" / "gen-man"
PAGES = sorted(p.name for p in MAN.glob("*.7"))
COMMAND_PAGES = sorted(p.name for p in MAN.glob("*.8"))


def render(page: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MANWIDTH": "80", "MAN_DISABLE_SECCOMP": "1", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        ["man", "--warnings=w", "-l", "-P", "cat", str(page)], env=env, capture_output=True, text=True, check=False
    )


def test_pages_are_in_sync_with_the_metadata(tmp_path: Path) -> None:
    """A fresh tools/gen-man run gives exactly the checked-in pages (run it after changing an
    agent's meta-data, a crm/ snippet or crm/stack.pcs)."""
    subprocess.run(["/usr/bin/python3", str(GEN), "--out", str(tmp_path)], check=True)
    fresh = sorted(p.name for p in tmp_path.glob("*.7"))
    assert fresh == ["ocf_alua.7", *sorted(f"ocf_alua_{a}.7" for a in agent_names())]
    assert fresh == PAGES, "man/ has pages for other agents, or misses some: run tools/gen-man"
    for name in fresh:
        fresh_text = (tmp_path / name).read_text()
        assert (MAN / name).read_text() == fresh_text, f"man/{name} is out of date: run tools/gen-man"
    check = subprocess.run(["/usr/bin/python3", str(GEN), "--check"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr


def test_check_mode_notices_a_stale_page(tmp_path: Path) -> None:
    """--check compares the pages in man/ (the test above compares files itself; this keeps
    the CLI honest): a copy of the tree with one page changed fails the check."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for sub in ("agents", "lib", "crm", "man", "tools", "initiator"):
        if (ROOT / sub).exists():
            subprocess.run(["cp", "-a", str(ROOT / sub), str(tree / sub)], check=True)
    page = tree / "man" / "ocf_alua_scst.7"
    page.write_text(page.read_text().replace("SUPPORTED PARAMETERS", "PARAMETERS"))
    check = subprocess.run(
        ["/usr/bin/python3", str(tree / "tools" / "gen-man"), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 1 and "man/ocf_alua_scst.7 is out of date" in check.stderr


@pytest.mark.parametrize("page", PAGES)
def test_groff_renders_without_warnings(page: str) -> None:
    proc = subprocess.run(
        ["groff", "-ww", "-man", "-Tutf8", "-z", str(MAN / page)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr


@pytest.mark.parametrize("page", PAGES)
def test_man_renders_without_warnings(page: str) -> None:
    proc = render(MAN / page)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    name = page.removesuffix(".7")
    assert proc.stdout.startswith(f"{name.upper()}(7)")
    for section in ("NAME", "DESCRIPTION", "SEE ALSO"):
        assert re.search(rf"^{section}$", proc.stdout, re.MULTILINE), section


@pytest.mark.parametrize("agent", agent_names())
def test_agent_page_documents_the_metadata(agent: str) -> None:
    text = render(MAN / f"ocf_alua_{agent}.7").stdout
    root = etree.fromstring(run_agent(agent, "meta-data").stdout.encode())
    plain = " ".join(text.split())
    assert " ".join(root.findtext("shortdesc").split()) in plain
    for p in root.iter("parameter"):
        assert re.search(rf"^ +{re.escape(p.get('name'))}$", text, re.MULTILINE), p.get("name")
        assert " ".join(p.findtext("longdesc").split()) in plain, p.get("name")
    for a in root.iter("action"):
        assert re.search(rf"^ +{re.escape(a.get('name'))}$", text, re.MULTILINE), a.get("name")
    assert "EXAMPLE CRM SHELL" in text and f"ocf:alua:{agent}" in text


def test_overview_page() -> None:
    text = render(MAN / "ocf_alua.7").stdout
    for agent in agent_names():
        assert f"ocf:alua:{agent}" in text and f"ocf_alua_{agent}(7)" in text
    for crm in sorted((ROOT / "crm").glob("*.crm")):
        assert re.search(rf"^ +{re.escape(crm.name)}$", text, re.MULTILINE), crm.name
    # the initiator side
    for words in (
        "prio alua",
        "path_grouping_policy group_by_prio",
        "failback immediate",
        "hardware_handler",
        "replacement_timeout",
    ):
        assert re.search(r"\s+".join(map(re.escape, words.split())), text), words


def test_every_admin_command_has_its_page() -> None:
    """sbin/ and man/*.8 agree: tools/install.py and the Debian package install one per command."""
    assert COMMAND_PAGES == sorted(f"{p.name}.8" for p in (ROOT / "sbin").iterdir())


@pytest.mark.parametrize("page", COMMAND_PAGES)
def test_command_page_renders_without_warnings(page: str) -> None:
    proc = render(MAN / page)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    assert proc.stdout.startswith(f"{page.removesuffix('.8').upper()}(8)")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(rf"^{section}$", proc.stdout, re.MULTILINE), section
    groff = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", str(MAN / page)], capture_output=True, text=True,
                           check=False)
    assert groff.returncode == 0 and not groff.stderr, groff.stderr


def test_status_page_documents_every_json_key() -> None:
    """alua-status(8) names each key of --json (the keys a monitoring check may rely on)."""
    from alua.commands.status_model import new_status

    text = " ".join(render(MAN / "alua-status.8").stdout.split())
    keys = [*new_status(), "dc", "quorate", "failures", "state", "alua_role", "clone", "primitive", "agent", "kernel",
            "unpromoted_state", "loaded", "units", "target", "enabled", "portals", "sessions", "local_problems",
            "role", "disks", "resyncing", "problem", "peers", "connection", "expected_lvs", "active_lvs", "severity"]
    missing = [k for k in keys if not re.search(rf"\b{k}\b", text)]
    assert not missing, missing
