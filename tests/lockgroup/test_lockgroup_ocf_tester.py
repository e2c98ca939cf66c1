"""resource-agents' ocf-tester passes on the installed dlm and lvmlockd agents.

This machine has no dlm module, no configfs and no device-mapper, so the
agents find the fake tools first on PATH (as pacemaker-execd would pass its
own PATH); ocf-tester itself runs meta-data as user nobody.
"""

# ruff: noqa: F811 - pytest fixtures imported from the harness are test arguments
from __future__ import annotations

import os
import subprocess

import pytest
from lockgroup.harness import Fakes, fakes  # noqa: F401 - fixture


@pytest.mark.parametrize(("agent", "pidfile"), [("dlm", "dlm_pidfile"), ("lvmlockd", "lvmlockd_pidfile")])
def test_ocf_tester_passes(fakes: Fakes, installed_agents, agent: str, pidfile: str) -> None:  # noqa: F811
    env = {**os.environ, **fakes.env(), "HA_LOGFACILITY": "none"}
    proc = subprocess.run(
        ["ocf-tester", "-n", f"p_{agent}", "-o", f"pidfile={getattr(fakes, pidfile)}", str(installed_agents / agent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert f"{agent} passed all tests" in output
    assert fakes.daemon_pid(getattr(fakes, pidfile), "dlm_controld" if agent == "dlm" else "lvmlockd") is None
