"""Shared test harness: run agents the way Pacemaker does, from the source tree.

Agents run as separate processes (their own shebang: Debian's
/usr/bin/python3 -IS), with an environment built like pacemaker-execd's, so
tests see exactly what Pacemaker would.  Unit tests import the library from
lib/ directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AGENTS_DIR = ROOT / "agents"
LIB_DIR = ROOT / "lib"
INSTALLED_DIR = Path("/usr/lib/ocf/resource.d/alua")
sys.path.insert(0, str(LIB_DIR))
sys.path.insert(0, str(ROOT))

REASON_PREFIX = "ocf-exit-reason:"


def agent_names() -> list[str]:
    return sorted(p.name for p in AGENTS_DIR.iterdir() if p.is_file() and "." not in p.name)


@dataclass
class AgentResult:
    rc: int
    stdout: str
    stderr: str
    argv: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [line[len(REASON_PREFIX):] for line in self.stderr.splitlines() if line.startswith(REASON_PREFIX)]

    @property
    def reason(self) -> str:
        return self.reasons[-1] if self.reasons else ""

    def __str__(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def ocf_environment(
    agent: str,
    params: dict[str, str] | None = None,
    *,
    meta: dict[str, str] | None = None,
    rsctmp: Path | str | None = None,
    instance: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment pacemaker-execd gives an agent (no PYTHONPATH, no venv)."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_INSTANCE": instance or f"p_{agent.replace('-', '_')}",
        "OCF_RESOURCE_TYPE": agent,
        "OCF_RESOURCE_PROVIDER": "alua",
        "OCF_EXIT_REASON_PREFIX": REASON_PREFIX,
        "HA_LOGFACILITY": "none",
        "HA_debug": "0",
    }
    if rsctmp is not None:
        env["HA_RSCTMP"] = str(rsctmp)
    for key, value in (params or {}).items():
        env[f"OCF_RESKEY_{key}"] = value
    for key, value in (meta or {}).items():
        env[f"OCF_RESKEY_CRM_meta_{key.replace('-', '_')}"] = value
    env.update(extra or {})
    return env


def run_agent(
    agent: str,
    action: str | None,
    params: dict[str, str] | None = None,
    *,
    meta: dict[str, str] | None = None,
    rsctmp: Path | str | None = None,
    extra_env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    installed: bool = False,
    timeout: float = 60,
    instance: str | None = None,
) -> AgentResult:
    """Run one action of an agent as a separate process and collect what it returned."""
    path = str((INSTALLED_DIR if installed else AGENTS_DIR) / agent)
    argv = [*(prefix or []), path] + ([action] if action is not None else [])
    env = ocf_environment(agent, params, meta=meta, rsctmp=rsctmp, instance=instance, extra=extra_env)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return AgentResult(proc.returncode, proc.stdout, proc.stderr, argv)


@pytest.fixture
def rsctmp(tmp_path: Path) -> Path:
    """A private HA_RSCTMP so agents' state files never leak between tests."""
    path = tmp_path / "rsctmp"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def installed_agents() -> Path:
    """The agents installed with the project's own install step, as an admin would."""
    subprocess.run(["/usr/bin/python3", str(ROOT / "tools" / "install.py")], check=True, capture_output=True)
    return INSTALLED_DIR


def assert_no_traceback(result: AgentResult) -> None:
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream, str(result)
