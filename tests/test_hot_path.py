"""What a monitor imports: nothing heavy, and never lxml.

Pacemaker runs monitor every few seconds on every node; importing lxml,
typing, dataclasses or json costs more start-up time than the whole
action may take. Agents that must run a tool on monitor may import
subprocess (which imports re); SCST's and LIO's monitors read sysfs only.
"""

from __future__ import annotations

import pytest

from conftest import agent_names, run_agent
from test_ocf_contract import AGENT_CASES

NEVER_ON_MONITOR = {"lxml", "lxml.etree", "typing", "dataclasses", "json", "logging", "inspect"}
# These read kernel state from sysfs alone; the others must ask a daemon's tool,
# which brings subprocess (and with it re) onto their monitor path.
SYSFS_ONLY_AGENTS = {"scst", "lio"}
SYSFS_ONLY_NEVER = {"subprocess", "re", "enum"}  # enum alone: ~3.6 ms with functools and collections


def monitor_imports(agent: str, rsctmp) -> set[str]:
    params = dict(AGENT_CASES[agent]["valid"])  # type: ignore[arg-type]
    result = run_agent(agent, "monitor", params, meta={"interval": "10000", "on_node": "n1"}, rsctmp=rsctmp,
                       extra_env={"PYTHONPROFILEIMPORTTIME": "1"}, prefix=["/usr/bin/python3", "-X", "importtime",
                                                                            "-I", "-S"])
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert modules, result.stderr
    assert result.rc in (0, 7, 8), f"the monitor should run through, not stop at its configuration:\n{result}"
    return modules


@pytest.mark.parametrize("agent", agent_names())
def test_monitor_imports_nothing_heavy(agent: str, rsctmp) -> None:
    modules = monitor_imports(agent, rsctmp)
    assert not modules & NEVER_ON_MONITOR, sorted(modules & NEVER_ON_MONITOR)
    if agent in SYSFS_ONLY_AGENTS:
        assert not modules & SYSFS_ONLY_NEVER, sorted(modules & SYSFS_ONLY_NEVER)


def test_lio_monitor_with_ipv4_portals_stays_light(rsctmp) -> None:
    """'portals' is parsed on every monitor: IPv4 portals need no ipaddress (nor re, nor json)."""
    portals = "hpms01=192.168.122.99:3260,192.168.152.99:3260 hpms02=192.168.122.98:3260"
    AGENT_CASES["lio"]["valid"]["portals"] = portals  # type: ignore[index]
    try:
        modules = monitor_imports("lio", rsctmp)
    finally:
        del AGENT_CASES["lio"]["valid"]["portals"]  # type: ignore[attr-defined]
    assert not modules & (NEVER_ON_MONITOR | SYSFS_ONLY_NEVER | {"ipaddress"}), sorted(modules)


def test_scst_monitor_with_the_target_layer_stays_light(rsctmp) -> None:
    """'devices' and 'luns' are parsed and cross-checked on every monitor (a bad value would be 6,
    not the 7 monitor_imports accepts): that costs no import of the heavy kind."""
    layer = {"devices": "vg1=/dev/vg1/lun1", "luns": "0=vg1", "device_handler": "vdisk_blockio"}
    AGENT_CASES["scst"]["valid"].update(layer)  # type: ignore[union-attr]
    try:
        modules = monitor_imports("scst", rsctmp)
    finally:
        for name in layer:
            del AGENT_CASES["scst"]["valid"][name]  # type: ignore[attr-defined]
    assert not modules & (NEVER_ON_MONITOR | SYSFS_ONLY_NEVER), sorted(modules)


@pytest.mark.parametrize("agent", agent_names())
def test_importing_the_agent_has_no_side_effects(agent: str, tmp_path) -> None:
    """usage touches no file, no syslog, no tool: it must leave no trace."""
    result = run_agent(agent, "usage", rsctmp=tmp_path)
    assert result.rc == 0
    assert list(tmp_path.iterdir()) == []
