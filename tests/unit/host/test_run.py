"""The command runner: argv only, typed errors, timeouts from the action budget."""

from __future__ import annotations

import time

import pytest

from alua.ocf.exitstatus import ExitStatus
from alua.host.run import CommandFailed, CommandRunner, CommandTimeout, ToolNotFound
from alua.ocf.context import Deadline


def test_runs_argv_without_shell(fp) -> None:
    fp.register(["drbdsetup", "status", "r0;reboot"], stdout="ok\n")
    result = CommandRunner().run(["drbdsetup", "status", "r0;reboot"])
    assert result.ok and result.stdout == "ok\n"


def test_missing_tool_is_not_installed() -> None:
    with pytest.raises(ToolNotFound) as info:
        CommandRunner().run(["/nonexistent/dlm_tool", "status"])
    assert info.value.status == ExitStatus.NOT_INSTALLED
    assert "dlm_tool" in info.value.reason


def test_timeout_comes_from_the_deadline() -> None:
    runner = CommandRunner(Deadline(0.5))
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        runner.run(["sleep", "30"])
    assert time.monotonic() - started < 3
    assert "sleep 30" in info.value.reason


def test_check_reports_the_last_error_line(fp) -> None:
    fp.register(["lvchange", "-ay", "vg1"], returncode=5, stderr="  first\n  Volume group vg1 not found\n")
    with pytest.raises(CommandFailed, match="exited 5: Volume group vg1 not found"):
        CommandRunner().run(["lvchange", "-ay", "vg1"], check=True)


def test_tools_run_in_the_c_locale(fp) -> None:
    seen = {}

    def callback(process):
        seen.update(process.kwargs["env"])

    fp.register(["lvs"], callback=callback)
    CommandRunner(env={"PATH": "/bin", "LANG": "de_DE.UTF-8", "OCF_RESOURCE_INSTANCE": "p"}).run(["lvs"])
    assert seen["LC_ALL"] == "C" and seen["OCF_RESOURCE_INSTANCE"] == "p"
