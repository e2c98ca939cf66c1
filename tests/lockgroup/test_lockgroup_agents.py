"""The dlm and lvmlockd agents end to end, as Pacemaker runs them, against fake tools on PATH.

The fakes (tests/fakes/lockgroup) keep state where this machine lacks the
kernel pieces: a detached fake daemon, a fake dlm_tool/lvmlockctl answering
from captured outputs, a fake modprobe and mount that only record.
"""

# ruff: noqa: F811 - pytest fixtures imported from the harness are test arguments
from __future__ import annotations

import time

import pytest
from conftest import assert_no_traceback
from lockgroup.harness import FAKES, Fakes, cib, fakes, fixture  # noqa: F401 - fixtures

BAD = {
    # parameter: values each action that parses strictly must refuse (exit 6, reason names it)
    "dlm": {
        "args": ["", "-s 0\n--foreground 1", "-D 1", "--foreground", "-h"],
        "allow_stonith_disabled": ["", "maybe", "true;reboot", "1\n"],
        "fencing_grace": ["", "ten", "1.5", "-1", "86401", "60;reboot", "$(id)"],
        "cleanup_lockspaces": ["", "lvm;x", "$(touch /tmp/alua-pwned)", " lvm_global", "a\nb"],
        "pidfile": ["", "run/x.pid", "/run/$(id).pid", "/run/x.pid;reboot", "/run/../etc/x"],
    },
    "lvmlockd": {
        "adopt": ["", "maybe", "1;reboot", "yes\n"],
        "syslog_priority": ["", "info", "warning;id", "debug "],
        "pidfile": ["", "lvmlockd.pid", "/run/`id`", "/run/a b"],
    },
}


def bad_cases():
    return [
        (agent, param, value) for agent, params in BAD.items() for param, values in params.items() for value in values
    ]


@pytest.mark.parametrize(("agent", "param", "value"), bad_cases())
def test_bad_parameter_is_refused_by_start_and_ignored_by_stop_and_probe(fakes: Fakes, agent, param, value) -> None:
    for action in ("validate-all", "start"):
        result = fakes.run(agent, action, {param: value})
        assert result.rc == 6, f"{action} {param}={value!r}\n{result}"
        assert result.reason.startswith(f"parameter '{param}'"), result
        assert_no_traceback(result)
    recurring = fakes.run(agent, "monitor", {param: value}, meta={"interval": "30000"})
    assert recurring.rc == 6 and f"'{param}'" in recurring.reason
    stop = fakes.run(agent, "stop", {param: value})
    assert stop.rc == 0, str(stop)
    probe = fakes.run(agent, "monitor", {param: value}, meta={"interval": "0"})
    assert probe.rc == 7, str(probe)
    for result in (recurring, stop, probe):
        assert_no_traceback(result)
    assert fakes.calls("dlm_controld") == [] and fakes.calls("lvmlockd") == []


# dlm -------------------------------------------------------------------------------------


def test_dlm_start_monitor_stop_cycle(fakes: Fakes) -> None:
    assert fakes.run("dlm", "monitor", meta={"interval": "0"}).rc == 7
    start = fakes.run("dlm", "start")
    assert start.rc == 0, str(start)
    assert fakes.calls("modprobe") == ["configfs", "dlm"]  # this kernel has neither
    assert fakes.calls("mount") == ["-t configfs configfs /sys/kernel/config"]
    assert fakes.calls("dlm_controld") == ["-s 0"]
    assert fakes.run("dlm", "monitor", meta={"interval": "30000"}).rc == 0
    assert fakes.run("dlm", "monitor", meta={"interval": "0"}).rc == 0
    assert fakes.run("dlm", "start").rc == 0 and fakes.calls("dlm_controld") == ["-s 0"]
    assert fakes.run("dlm", "stop").rc == 0
    gone = fakes.run("dlm", "monitor", meta={"interval": "30000"})
    assert gone.rc == 7 and gone.reason == "dlm_controld is not running"
    assert fakes.run("dlm", "stop").rc == 0


def test_dlm_start_waits_through_joining(fakes: Fakes) -> None:
    fakes.queue_status("status-v-joining.txt", "status-v-joining.txt", "status-v-ready.txt")
    assert fakes.run("dlm", "start").rc == 0
    assert fakes.calls("dlm_tool").count("status -v") == 3


def test_dlm_start_refuses_without_fencing(fakes: Fakes, cib) -> None:
    env = cib("stonith-enabled", "false")
    result = fakes.run("dlm", "start", extra_env=env)
    assert result.rc == 6
    assert result.reason == (
        "DLM without fencing can corrupt shared data: the cluster property stonith-enabled "
        "is false (set allow_stonith_disabled=true only where that is acceptable, e.g. a lab)"
    )
    assert fakes.calls("dlm_controld") == []
    assert fakes.run("dlm", "validate-all", extra_env=env).rc == 6
    allowed = fakes.run("dlm", "start", {"allow_stonith_disabled": "true"}, extra_env=env)
    assert allowed.rc == 0 and "allowed by allow_stonith_disabled" in allowed.stderr


def test_dlm_start_warns_when_no_quorum_policy_is_not_freeze(fakes: Fakes, cib) -> None:
    result = fakes.run("dlm", "start", extra_env=cib("no-quorum-policy", "stop"))
    assert result.rc == 0 and "no-quorum-policy is stop; with DLM it should be freeze" in result.stderr
    fakes.run("dlm", "stop")
    quiet = fakes.run("dlm", "start", extra_env=cib("no-quorum-policy", "freeze"))
    assert quiet.rc == 0 and "no-quorum-policy" not in quiet.stderr


def test_dlm_args_disabling_fencing_need_the_explicit_parameter(fakes: Fakes) -> None:
    result = fakes.run("dlm", "start", {"args": "-s 0 -f 0"})
    assert result.rc == 6 and result.reason.startswith("parameter 'args': disables fencing")
    assert fakes.run("dlm", "start", {"args": "-s 0 -f 0", "allow_stonith_disabled": "yes"}).rc == 0
    assert fakes.calls("dlm_controld") == ["-s 0 -f 0"]


def test_dlm_with_binaries_missing_is_not_installed(fakes: Fakes, tmp_path) -> None:
    from conftest import run_agent

    env = {"PATH": "/usr/bin:/bin"}  # Debian puts dlm_controld and dlm_tool in /usr/sbin
    for action in ("start", "validate-all"):
        result = run_agent("dlm", action, {"pidfile": fakes.dlm_pidfile}, extra_env=env)
        assert result.rc == 5 and result.reason == "dlm_controld not found (is its package installed?)"
        assert_no_traceback(result)
    assert run_agent("dlm", "stop", extra_env=env).rc == 0
    assert run_agent("dlm", "monitor", meta={"interval": "0"}, extra_env=env).rc == 7
    only_daemon = tmp_path / "bin"
    only_daemon.mkdir()
    (only_daemon / "dlm_controld").symlink_to(FAKES / "dlm_controld")
    result = fakes.run("dlm", "start", extra_env={"PATH": f"{only_daemon}:/usr/bin:/bin"})
    assert result.rc == 5 and result.reason == "dlm_tool not found (is its package installed?)"
    assert fakes.calls("dlm_controld") == []


def test_dlm_daemon_that_dies_at_start_fails_the_start(fakes: Fakes) -> None:
    fakes.write("dlm_controld.die")
    result = fakes.run("dlm", "start")
    assert result.rc == 1 and result.reason.startswith("dlm_controld exited during start")


def test_dlm_start_that_never_joins_ends_before_the_timeout(fakes: Fakes) -> None:
    fakes.queue_status("status-v-joining.txt")
    began = time.monotonic()
    result = fakes.run("dlm", "start", meta={"timeout": "6000"})
    assert time.monotonic() - began < 6
    assert result.rc == 1 and result.reason.startswith("dlm_controld not ready after")
    assert result.reason.endswith("joining: daemon ring seq 0, cluster ring seq 12")


def test_dlm_monitor_reports_stuck_fencing_and_stateful_merge(fakes: Fakes) -> None:
    assert fakes.run("dlm", "start").rc == 0
    fakes.queue_status("status-v-fence-wait.txt")
    fakes.write("lockspaces", "lvm_vg1 wait fencing\nlvm_global wait fencing\n")
    fenced = fakes.run("dlm", "monitor", meta={"interval": "30000"})
    assert fenced.rc == 1
    assert fenced.reason == (
        "DLM waits for fencing of node 2 (nodedown, 120s ago, fence agent pid 4711), longer "
        "than fencing_grace=60s: fencing is stuck; lockspaces waiting: lvm_vg1, lvm_global"
    )
    assert fakes.run("dlm", "monitor", {"fencing_grace": "600"}, meta={"interval": "30000"}).rc == 0
    fakes.queue_status("status-v-stateful-merge.txt")
    merged = fakes.run("dlm", "monitor", meta={"interval": "30000"})
    assert merged.rc == 1 and "stateful merge" in merged.reason


def test_dlm_monitor_of_a_hanging_dlm_tool_ends_within_the_timeout(fakes: Fakes) -> None:
    assert fakes.run("dlm", "start").rc == 0
    fakes.write("dlm_tool.hang")
    began = time.monotonic()
    result = fakes.run("dlm", "monitor", meta={"interval": "30000", "timeout": "3000"})
    assert time.monotonic() - began < 3
    assert result.rc == 1 and result.reason.startswith("monitor timed out after")
    assert "dlm_tool status -v did not finish" in result.reason


def test_dlm_stop_refuses_under_busy_lockspaces_then_stops(fakes: Fakes) -> None:
    assert fakes.run("dlm", "start").rc == 0
    fakes.write("lockspaces", "lvm_vg1\nlvm_global\n")
    fakes.write("busy_lockspaces", "")
    refused = fakes.run("dlm", "stop")
    assert refused.rc == 1
    assert refused.reason == (
        "DLM lockspaces still in use: lvm_vg1; stop their users first (the lvmlockd resource must stop before DLM)"
    )
    assert fakes.daemon_pid(fakes.dlm_pidfile, "dlm_controld") is not None
    assert "leave lvm_global" in fakes.calls("dlm_tool")
    fakes.write("lockspaces", "")
    assert fakes.run("dlm", "stop").rc == 0
    assert fakes.daemon_pid(fakes.dlm_pidfile, "dlm_controld") is None


def test_dlm_stop_kills_a_daemon_that_ignores_sigterm(fakes: Fakes) -> None:
    assert fakes.run("dlm", "start").rc == 0
    fakes.write("dlm_controld.ignore_term")
    result = fakes.run("dlm", "stop", meta={"timeout": "5000"})
    assert result.rc == 0 and "ignored SIGTERM and was killed" in result.stderr


def test_dlm_stop_with_a_hanging_dlm_tool_still_stops(fakes: Fakes) -> None:
    """This kernel holds no lockspace (/sys/kernel/dlm is empty here), so stopping is safe."""
    assert fakes.run("dlm", "start").rc == 0
    fakes.write("dlm_tool.hang")
    result = fakes.run("dlm", "stop", meta={"timeout": "6000"})
    assert result.rc == 0 and "reading the lockspaces from the kernel instead" in result.stderr


# lvmlockd --------------------------------------------------------------------------------


def test_lvmlockd_start_monitor_stop_cycle(fakes: Fakes) -> None:
    assert fakes.run("lvmlockd", "monitor", meta={"interval": "0"}).rc == 7
    assert fakes.run("lvmlockd", "start").rc == 0
    assert fakes.calls("lvmlockd") == [
        f"--pid-file {fakes.lvmlockd_pidfile} --gl-type dlm --adopt 1 --syslog-priority warning"
    ]
    assert fakes.run("lvmlockd", "monitor", meta={"interval": "30000"}).rc == 0
    assert fakes.run("lvmlockd", "start").rc == 0 and len(fakes.calls("lvmlockd")) == 1
    fakes.write("lvmlockd.info", fixture("lvm", "lvmlockctl-info-dump-lockspaces.txt"))
    assert fakes.run("lvmlockd", "stop").rc == 0
    assert "--stop-lockspaces" in fakes.calls("lvmlockctl")
    assert fakes.run("lvmlockd", "monitor", meta={"interval": "30000"}).rc == 7
    assert fakes.run("lvmlockd", "stop").rc == 0


def test_lvmlockd_adopt_can_be_switched_off(fakes: Fakes) -> None:
    assert fakes.run("lvmlockd", "start", {"adopt": "false"}).rc == 0
    assert "--adopt 0" in fakes.calls("lvmlockd")[0]


def test_lvmlockd_needs_use_lvmlockd(fakes: Fakes) -> None:
    fakes.write("use_lvmlockd", "0")
    for action in ("start", "validate-all"):
        result = fakes.run("lvmlockd", action)
        assert result.rc == 6 and result.reason.startswith("LVM is not configured for lvmlockd")
    assert fakes.calls("lvmlockd") == []
    assert fakes.run("lvmlockd", "stop").rc == 0
    assert fakes.run("lvmlockd", "monitor", meta={"interval": "0"}).rc == 7


def test_lvmlockd_stop_refuses_while_lvs_are_active(fakes: Fakes) -> None:
    assert fakes.run("lvmlockd", "start").rc == 0
    fakes.write("lvmlockd.info", fixture("lvm", "lvmlockctl-info-dump-lv-active.txt"))
    result = fakes.run("lvmlockd", "stop")
    assert result.rc == 1
    assert result.reason == (
        "shared LVs still active: LV DUaQqG-6JTZ-rsdC-MHur-RikC-h2ZS-R3FJzg in VG vg1 (sh), "
        "LV 32l4g5-8Dpf-gSiJ-0MwK-o8JU-qQvm-087Wcz in VG vg1 (ex); deactivate them first "
        "(the shared VG resource must stop before lvmlockd)"
    )
    assert fakes.daemon_pid(fakes.lvmlockd_pidfile, "lvmlockd") is not None
    assert "--stop-lockspaces" not in fakes.calls("lvmlockctl")


def test_lvmlockd_monitor_with_hanging_lvmlockctl_ends_within_the_timeout(fakes: Fakes) -> None:
    assert fakes.run("lvmlockd", "start").rc == 0
    fakes.write("lvmlockctl.hang")
    began = time.monotonic()
    result = fakes.run("lvmlockd", "monitor", meta={"interval": "30000", "timeout": "3000"})
    assert time.monotonic() - began < 3
    assert result.rc == 1 and "lvmlockctl --info --dump did not finish" in result.reason


def test_lvmlockd_daemon_that_dies_at_start(fakes: Fakes) -> None:
    fakes.write("lvmlockd.die")
    result = fakes.run("lvmlockd", "start")
    assert result.rc == 1 and result.reason == "lvmlockd exited during start (see the system log)"


def test_lvmlockd_with_binaries_missing_is_not_installed(fakes: Fakes) -> None:
    from conftest import run_agent

    env = {"PATH": "/usr/bin:/bin"}
    for action in ("start", "validate-all"):
        result = run_agent("lvmlockd", action, {"pidfile": fakes.lvmlockd_pidfile}, extra_env=env)
        assert result.rc == 5 and result.reason == "lvmlockd not found (is its package installed?)"
    assert run_agent("lvmlockd", "stop", extra_env=env).rc == 0
    assert run_agent("lvmlockd", "monitor", meta={"interval": "0"}, extra_env=env).rc == 7


# monitor cost ----------------------------------------------------------------------------

HEAVY = {"lxml", "lxml.etree", "typing", "dataclasses", "json", "logging", "inspect"}


@pytest.mark.parametrize("agent", ["dlm", "lvmlockd"])
def test_monitor_of_a_running_daemon_imports_nothing_heavy(fakes: Fakes, agent: str) -> None:
    """The daemon answers through its tool, so subprocess (and the re it pulls in) is the only cost."""
    assert fakes.run(agent, "start").rc == 0
    result = fakes.run(
        agent, "monitor", meta={"interval": "30000"}, prefix=["/usr/bin/python3", "-X", "importtime", "-I", "-S"]
    )
    assert result.rc == 0, str(result)
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "subprocess" in modules and not modules & HEAVY, sorted(modules & HEAVY)


@pytest.mark.parametrize("agent", ["dlm", "lvmlockd"])
def test_a_globally_unique_clone_is_refused(fakes: Fakes, agent: str) -> None:
    meta = {"clone_max": "2", "globally_unique": "true"}
    result = fakes.run(agent, "start", meta=meta)
    assert result.rc == 6 and result.reason.endswith("runs once per node: clone it with globally-unique=false")
    assert fakes.run(agent, "start", meta={**meta, "globally_unique": "false"}).rc == 0
