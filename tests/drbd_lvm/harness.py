"""Fixtures of the drbd-lvm tests: a fake kernel view in-process, the agent run in-process or as a process.

Test modules import the fixtures they use (``from drbd_lvm.harness import agent, kernel``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from conftest import AGENTS_DIR, INSTALLED_DIR, AgentResult, ocf_environment
from fakes.fakestate import FakeStorage

AGENT = "drbd-lvm"


class FakeKernel:
    """/sys/block, /proc/drbd and /dev/drbd/by-res in a tmp dir, for in-process tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sys_block = root / "sys_block"
        self.proc_drbd = root / "proc_drbd"
        self.by_res = root / "by-res"
        self.sys_block.mkdir(parents=True)
        self.by_res.mkdir()
        self._next = 0

    def drbd(self, text: str | None) -> None:
        """Write /proc/drbd (None: the module is not loaded)."""
        if text is None:
            self.proc_drbd.unlink(missing_ok=True)
        else:
            self.proc_drbd.write_text(text)

    def link(self, resource: str, volume: int, minor: int) -> None:
        """The udev link /dev/drbd/by-res/<resource>/<volume> -> ../../drbd<minor>."""
        (self.by_res / resource).mkdir(exist_ok=True)
        os.symlink(f"../../drbd{minor}", self.by_res / resource / str(volume))

    def dm(
        self, name: str, slaves: tuple[str, ...] = ("drbd0",), *, uuid: str | None = None, suspended: bool = False
    ) -> str:
        kernel = f"dm-{self._next}"
        self._next += 1
        base = self.sys_block / kernel
        (base / "dm").mkdir(parents=True)
        (base / "slaves").mkdir()
        (base / "holders").mkdir()
        (base / "dm" / "name").write_text(name + "\n")
        (base / "dm" / "uuid").write_text((uuid or f"LVM-{'x' * 32}{kernel:y<32}") + "\n")
        (base / "dm" / "suspended").write_text("1\n" if suspended else "0\n")
        for slave in slaves:
            (base / "slaves" / slave).write_text("")
        return kernel

    def remove_dm(self, name: str) -> None:
        for entry in self.sys_block.iterdir():
            if (entry / "dm" / "name").read_text().strip() == name:
                import shutil

                shutil.rmtree(entry)

    def dm_names(self) -> list[str]:
        return sorted((e / "dm" / "name").read_text().strip() for e in self.sys_block.iterdir())


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    from alua.tools import dm
    from alua.tools.drbd import byres as drbd_byres
    from alua.tools.drbd import procfs as drbd_procfs

    fake = FakeKernel(tmp_path / "kernel")
    monkeypatch.setattr(dm, "SYS_BLOCK", str(fake.sys_block))
    monkeypatch.setattr(drbd_procfs, "PROC_DRBD", str(fake.proc_drbd))
    monkeypatch.setattr(drbd_byres, "BY_RES", str(fake.by_res))
    return fake


def _load_agent():  # type: ignore[no-untyped-def]
    loader = importlib.machinery.SourceFileLoader("drbd_lvm_agent", str(AGENTS_DIR / AGENT))
    spec = importlib.util.spec_from_loader("drbd_lvm_agent", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class InProcess:
    """Runs one action of the agent in this process (so pytest-subprocess sees its commands)."""

    def __init__(self, rsctmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.module = _load_agent()
        self.rsctmp = rsctmp
        self.capsys = capsys

    def __call__(
        self,
        action: str,
        params: dict[str, str] | None = None,
        *,
        interval: int | None = None,
        check_level: int | None = None,
        timeout_ms: int = 20000,
    ) -> AgentResult:
        from alua.ocf.dispatch import main

        meta = {"timeout": str(timeout_ms)}
        if interval is not None:
            meta["interval"] = str(interval)
        extra = {"OCF_CHECK_LEVEL": str(check_level)} if check_level is not None else {}
        env = ocf_environment(
            AGENT, {"volume_group": "vg-san", **(params or {})}, meta=meta, rsctmp=self.rsctmp, extra=extra
        )
        self.capsys.readouterr()
        rc = main(self.module.AGENT, [AGENT, action], env)
        captured = self.capsys.readouterr()
        return AgentResult(rc, captured.out, captured.err)


@pytest.fixture
def agent(tmp_path: Path, capsys: pytest.CaptureFixture[str], kernel: FakeKernel) -> InProcess:
    rsctmp = tmp_path / "rsctmp"
    rsctmp.mkdir(exist_ok=True)
    return InProcess(rsctmp, capsys)


@pytest.fixture
def storage(tmp_path: Path) -> FakeStorage:
    """A fake node: DRBD 8.4 r0 Primary/UpToDate on minor 0, shared VG vg-san on it, lvmlockd on."""
    store = FakeStorage(tmp_path / "node")
    store.set_lvm_config("global/use_lvmlockd", "1")
    store.add_drbd_resource("r0", (0,))
    store.add_vg("vg-san", ("/dev/drbd0",), ("lun-1", "lun_2"))
    return store


def run_in_namespace(
    store: FakeStorage,
    action: str,
    params: dict[str, str] | None = None,
    *,
    meta: dict[str, str] | None = None,
    rsctmp: Path,
    extra: dict[str, str] | None = None,
    path: str | None = None,
    installed: bool = False,
    importtime: bool = False,
    timeout: float = 60,
) -> AgentResult:
    """Run the agent as Pacemaker would, but seeing the fake node (tools, /sys/block, /proc/drbd)."""
    agent_path = str((INSTALLED_DIR if installed else AGENTS_DIR) / AGENT)
    env = ocf_environment(AGENT, {"volume_group": "vg-san", **(params or {})}, meta=meta, rsctmp=rsctmp, extra=extra)
    env = store.env(env)
    if path is not None:
        env["PATH"] = path
    # importtime: run the shebang line (python3 -IS) explicitly, with -X importtime added (PYTHONPROFILEIMPORTTIME
    # is ignored under -I, so the flag has to be on the command line).
    python = ["/usr/bin/python3", "-IS", "-X", "importtime"] if importtime else []
    argv = [*store.namespace_prefix(), *python, agent_path, action]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return AgentResult(proc.returncode, proc.stdout, proc.stderr, argv)
