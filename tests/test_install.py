"""The install step, and agents run exactly as Pacemaker runs them once installed."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, agent_names


def test_staged_install_and_uninstall(tmp_path: Path) -> None:
    dest = tmp_path / "stage"
    subprocess.run(["/usr/bin/python3", str(ROOT / "tools/install.py"), "--destdir", str(dest)], check=True,
                   capture_output=True)
    for agent in agent_names():
        installed = dest / "usr/lib/ocf/resource.d/alua" / agent
        assert installed.stat().st_mode & 0o777 == 0o755
        # The path written into the agent is the final one, not the staging directory.
        text = installed.read_text()
        assert "LIBDIR = '/usr/lib/ocf/lib/alua'" in text and str(dest) not in text
    commands = [dest / "usr/sbin" / name for name in ("alua-fence-peer", "alua-alert", "alua-config", "alua-status")]
    for command in commands:
        assert command.stat().st_mode & 0o777 == 0o755
        assert "LIBDIR = '/usr/lib/ocf/lib/alua'" in command.read_text()
        assert (dest / "usr/share/man/man8" / f"{command.name}.8").exists()
    lib = dest / "usr/lib/ocf/lib/alua/alua"
    assert (lib / "__init__.py").stat().st_mode & 0o777 == 0o644
    assert list(lib.glob("__pycache__/*.pyc")), "compiled for users who cannot write __pycache__"
    assert (dest / "usr/share/alua/crm/stack.crm").is_file()
    assert (dest / "usr/share/alua/initiator/alua-initiator-setup").stat().st_mode & 0o111, "the kit's script"
    subprocess.run(["/usr/bin/python3", str(ROOT / "tools/install.py"), "--destdir", str(dest), "--uninstall"],
                   check=True, capture_output=True)
    assert not (dest / "usr/lib/ocf/resource.d/alua").exists()
    assert not (dest / "usr/lib/ocf/lib/alua").exists()
    for command in commands:
        assert not command.exists() and not (dest / "usr/share/man/man8" / f"{command.name}.8").exists()
    assert not (dest / "usr/share/alua").exists()


def test_staged_install_without_compiling_leaves_no_pyc(tmp_path: Path) -> None:
    """What the Debian package uses: its postinst compiles (py3compile), so the .deb holds no .pyc."""
    dest = tmp_path / "stage"
    subprocess.run(["/usr/bin/python3", str(ROOT / "tools/install.py"), "--destdir", str(dest), "--no-compile"],
                   check=True, capture_output=True)
    assert (dest / "usr/lib/ocf/lib/alua/alua/__init__.py").is_file()
    assert not [p for p in dest.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]


@pytest.mark.parametrize("agent", agent_names())
def test_installed_agent_runs_with_clean_environment(agent: str, installed_agents: Path) -> None:
    path = installed_agents / agent
    proc = subprocess.run(["env", "-i", str(path), "meta-data"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f'<resource-agent name="{agent}"' in proc.stdout
    # ocf-tester runs meta-data as nobody: every file the agent imports must be readable.
    nobody = pwd.getpwnam("nobody")
    proc = subprocess.run([str(path), "meta-data"], capture_output=True, text=True, check=False,
                          user=nobody.pw_uid, group=nobody.pw_gid, env={"PATH": os.environ["PATH"]}, cwd="/")
    assert proc.returncode == 0, proc.stderr


def test_crm_resource_validate_returns_validate_all_result(installed_agents: Path) -> None:
    node = os.uname().nodename
    base = ["crm_resource", "--validate", "--class", "ocf", "--provider", "alua", "--agent", "scst",
            "--option", "device_groups=vg1"]
    good = subprocess.run([*base, "--option", f"targets={node}=iqn.2016-02.local.virtual:a peer=iqn.x:b"],
                          capture_output=True, text=True, check=False)
    # No SCST module on this machine: validate-all says "not installed" (5).
    assert good.returncode == 5, good.stdout + good.stderr
    assert "SCST is not loaded" in good.stdout + good.stderr
    bad = subprocess.run([*base, "--option", f"targets={node}=iqn;reboot peer=iqn.x:b"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 6, bad.stdout + bad.stderr
    assert "parameter 'targets'" in bad.stdout + bad.stderr
