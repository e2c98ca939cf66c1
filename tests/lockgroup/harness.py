"""Lock-group tests: fake tools on PATH, captured outputs, contexts for unit tests.

End-to-end tests run the agents as Pacemaker would (conftest.run_agent) with
tests/fakes/lockgroup prepended to PATH and the fakes' state in a private
directory ($ALUA_LOCKGROUP_FAKES); fake daemons are killed after each test.
Unit tests build a Context directly and fake the tools with pytest-subprocess.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import signal
import time
from pathlib import Path

import pytest
from alua.host import proc
from alua.host.context import Context
from alua.ocf.environment import OcfEnvironment
from alua.ocf.log import Logger
from alua.host.run import CommandRunner
from alua.ocf.context import Deadline
from conftest import AGENTS_DIR, AgentResult, ocf_environment, run_agent

HERE = Path(__file__).resolve().parent
FAKES = HERE.parent / "fakes" / "lockgroup"
FIXTURES = HERE / "fixtures"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def fixture(*parts: str) -> str:
    return (FIXTURES.joinpath(*parts)).read_text(encoding="utf-8")


def load_agent(name: str):  # type: ignore[no-untyped-def]
    """The agent file as a module (its parameter class and AGENT), without running main()."""
    loader = importlib.machinery.SourceFileLoader(f"agent_{name}", str(AGENTS_DIR / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class Fakes:
    """The state directory of the fake tools, and how to run an agent against them."""

    def __init__(self, state: Path) -> None:
        self.state = state

    @property
    def dlm_pidfile(self) -> str:
        return str(self.state / "dlm_controld.pid")

    @property
    def lvmlockd_pidfile(self) -> str:
        return str(self.state / "lvmlockd.pid")

    def env(self, path: str = SYSTEM_PATH) -> dict[str, str]:
        return {"PATH": f"{FAKES}:{path}", "ALUA_LOCKGROUP_FAKES": str(self.state)}

    def write(self, name: str, text: str = "") -> None:
        (self.state / name).write_text(text, encoding="utf-8")

    def remove(self, name: str) -> None:
        (self.state / name).unlink(missing_ok=True)

    def queue_status(self, *fixture_names: str) -> None:
        """dlm_tool status -v answers these dlm/ fixtures in turn (the last one sticks)."""
        queue = self.state / "dlm_status"
        queue.mkdir(exist_ok=True)
        for old in queue.iterdir():
            old.unlink()
        for i, name in enumerate(fixture_names):
            (queue / f"{i:03d}").write_text(fixture("dlm", name), encoding="utf-8")

    def calls(self, tool: str) -> list[str]:
        path = self.state / f"{tool}.calls"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def daemon_pid(self, pidfile: str, comm: str) -> int | None:
        try:
            pid = int(Path(pidfile).read_text().split()[0])
            stat = Path(f"/proc/{pid}/stat").read_text()
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            return None
        return pid if name == comm and stat[stat.rfind(")") + 2] not in "ZX" else None

    def kill_daemons(self) -> None:
        """Kill the fake daemons this test started (by their pid files, never by name)."""
        for pidfile, comm in ((self.dlm_pidfile, "dlm_controld"), (self.lvmlockd_pidfile, "lvmlockd")):
            pid = self.daemon_pid(pidfile, comm)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                for _ in range(50):
                    if self.daemon_pid(pidfile, comm) is None:
                        break
                    time.sleep(0.02)

    def run(
        self,
        agent: str,
        action: str,
        params: dict[str, str] | None = None,
        *,
        meta: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        path: str = SYSTEM_PATH,
        timeout: float = 60,
        prefix: list[str] | None = None,
    ) -> AgentResult:
        """One action of an installed-shape agent, with the fakes first on PATH."""
        defaults = {"dlm": {"pidfile": self.dlm_pidfile}, "lvmlockd": {"pidfile": self.lvmlockd_pidfile}}[agent]
        env = {**self.env(path), **(extra_env or {})}
        return run_agent(
            agent,
            action,
            {**defaults, **(params or {})},
            meta=meta,
            extra_env=env,
            rsctmp=self.state,
            timeout=timeout,
            prefix=prefix,
        )


@pytest.fixture
def fakes(tmp_path: Path):  # type: ignore[no-untyped-def]
    state = tmp_path / "fakes"
    state.mkdir()
    f = Fakes(state)
    yield f
    f.kill_daemons()


@pytest.fixture
def cib(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An offline CIB file (CIB_file=...) whose crm_config properties a test sets."""
    import subprocess

    path = tmp_path / "cib.xml"
    path.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)

    def set_property(name: str, value: str) -> dict[str, str]:
        subprocess.run(
            ["crm_attribute", "--type", "crm_config", "--name", name, "--update", value],
            env={**os.environ, "CIB_file": str(path)},
            check=True,
            capture_output=True,
        )
        return {"CIB_file": str(path)}

    set_property.path = path  # type: ignore[attr-defined]
    return set_property


def make_context(
    agent: str,
    action: str,
    params: dict[str, str] | None = None,
    *,
    meta: dict[str, str] | None = None,
    budget: float = 10.0,
) -> Context:
    """A Context as main() builds it, with a short deadline and no logging to syslog."""
    module = load_agent(agent)
    env = ocf_environment(agent, params, meta=meta)
    oenv = OcfEnvironment(env, action, agent)
    config, errors = module.AGENT.params.from_env(env, strict=True)
    deadline = Deadline(budget)
    return Context(oenv, config, Logger(oenv, stderr=False), deadline=deadline, runner=CommandRunner(deadline, env=env))


def hang(process) -> None:  # type: ignore[no-untyped-def]
    """A pytest-subprocess callback: the tool does not finish within the runner's timeout."""
    import subprocess

    raise subprocess.TimeoutExpired(process.args, 1.0)


class StubDaemon(proc.Daemon):
    """Stands in for proc.Daemon in unit tests: a pid (or None) and a recorded stop."""

    def __init__(self, pid: int | None = 4242, outcome: str = "stopped", comm: str = "daemon") -> None:
        super().__init__(comm, "/nonexistent.pid")
        self._pid = pid
        self.outcome = outcome
        self.terminated: list[int] = []
        self.signals: list[int] = []

    def pid(self) -> int | None:
        return self._pid

    def appear(self, pid: int = 4242) -> None:
        """The daemon now runs (a pytest-subprocess callback of the launcher calls this)."""
        self._pid = pid

    def alive(self, pid: int) -> bool:
        return self._pid is not None

    def terminate(self, pid: int, deadline: Deadline, *, reserve: float = 1.0) -> str:
        self.terminated.append(pid)
        if self.outcome != "alive":
            self._pid = None
        return self.outcome

    def send(self, pid: int, signum: int) -> bool:
        self.signals.append(signum)
        return True

    def wait_gone(self, pid: int, seconds: float, *, poll: float = 0.1) -> bool:
        return self.outcome != "alive"
