"""ocf:alua:dlm's actions over captured dlm_tool outputs (pytest-subprocess fakes the tools)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alua.agents import dlm
from alua.tools import dlm_kernel
from alua.ocf.errors import ActionTimeout, NotInstalledError, OcfError
from alua.ocf.exitstatus import ExitStatus
from lockgroup.harness import FIXTURES, StubDaemon, fixture, hang, make_context

STATUS = ["dlm_tool", "status", "-v"]
LS = ["dlm_tool", "ls"]
STONITH = ["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--query", "--quiet", "--default=true"]
QUORUM = ["crm_attribute", "--type", "crm_config", "--name", "no-quorum-policy", "--query", "--quiet", "--default=stop"]


@pytest.fixture
def kernel(tmp_path: Path) -> dlm_kernel.DlmKernel:
    """configfs mounted and dlm loaded, no lockspaces: start needs no modprobe or mount."""
    mounts = tmp_path / "mounts"
    mounts.write_text(f"configfs {tmp_path / 'config'} configfs rw 0 0\n")
    (tmp_path / "config" / "dlm").mkdir(parents=True)
    (tmp_path / "kernel-dlm").mkdir()
    return dlm_kernel.DlmKernel(
        configfs=str(tmp_path / "config"),
        lockspace_dir=str(tmp_path / "kernel-dlm"),
        modules=str(tmp_path / "modules"),
        mounts=str(mounts),
    )


def service(
    action: str,
    kernel: dlm_kernel.DlmKernel,
    daemon: StubDaemon,
    params=None,
    *,
    probe=False,
    budget: float = 10.0,
    tmp_path: Path | None = None,
) -> dlm.DlmService:
    meta = {"interval": "0" if probe else "30000"} if action == "monitor" else None
    ctx = make_context("dlm", action, params, meta=meta, budget=budget)
    conf = str(tmp_path / "dlm.conf") if tmp_path else "/nonexistent/dlm.conf"
    svc = dlm.DlmService(ctx, kernel=kernel, logfile="/nonexistent/dlm_controld.log", conffile=conf)
    svc.daemon = daemon  # type: ignore[assignment]
    svc.POLL = 0.05
    return svc


# monitor ---------------------------------------------------------------------------------


def test_monitor_of_a_ready_daemon_runs_one_tool(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-ready.txt"))
    assert service("monitor", kernel, StubDaemon()).monitor() == ExitStatus.OK
    assert fp.call_count(STATUS) == 1


def test_probe_without_daemon_is_not_running_and_runs_nothing(fp, kernel) -> None:
    assert service("monitor", kernel, StubDaemon(None), probe=True).monitor() == ExitStatus.NOT_RUNNING


def test_recurring_monitor_without_daemon_says_so(fp, kernel, tmp_path) -> None:
    (Path(kernel.lockspace_dir) / "lvm_vg1").mkdir()
    with pytest.raises(OcfError) as e:
        service("monitor", kernel, StubDaemon(None)).monitor()
    assert e.value.status == ExitStatus.NOT_RUNNING
    assert e.value.reason == "dlm_controld is not running; the kernel still holds lockspaces lvm_vg1"


def test_monitor_of_a_daemon_that_does_not_answer_fails(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-no-daemon.txt"))  # exit 0, like the real tool
    with pytest.raises(OcfError) as e:
        service("monitor", kernel, StubDaemon(4242)).monitor()
    assert e.value.status == ExitStatus.UNKNOWN_ERROR
    assert e.value.reason == "dlm_controld (pid 4242) does not answer: cannot connect to dlm_controld"


def test_monitor_fails_on_stuck_fencing_and_names_the_blocked_lockspaces(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-fence-wait.txt"))
    fp.register(LS, stdout=fixture("dlm", "ls-wait-fencing.txt"))
    with pytest.raises(OcfError) as e:
        service("monitor", kernel, StubDaemon()).monitor()
    assert e.value.status == ExitStatus.UNKNOWN_ERROR
    assert e.value.reason == (
        "DLM waits for fencing of node 2 (nodedown, 120s ago, fence agent pid 4711), longer than "
        "fencing_grace=60s: fencing is stuck; lockspaces waiting: lvm_vg1, lvm_global"
    )


def test_monitor_tolerates_fencing_in_progress_within_the_grace(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-fence-wait.txt"))
    svc = service("monitor", kernel, StubDaemon(), {"fencing_grace": "300"})
    assert svc.monitor() == ExitStatus.OK


def test_a_probe_reports_a_fencing_problem_as_running(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-fence-wait.txt"))
    assert service("monitor", kernel, StubDaemon(), probe=True).monitor() == ExitStatus.OK


def test_monitor_fails_on_a_stateful_merge(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-stateful-merge.txt"))
    with pytest.raises(OcfError, match="stateful merge"):
        service("monitor", kernel, StubDaemon()).monitor()


def test_monitor_of_a_joining_or_inquorate_daemon_only_warns(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-joining.txt"))
    fp.register(STATUS, stdout=fixture("dlm", "status-v-not-quorate.txt"))
    svc = service("monitor", kernel, StubDaemon())
    assert svc.monitor() == ExitStatus.OK and svc.monitor() == ExitStatus.OK


def test_a_hanging_dlm_tool_is_bounded_by_the_action_timeout(fp, kernel) -> None:
    fp.register(STATUS, callback=hang)
    with pytest.raises(ActionTimeout, match="dlm_tool status -v did not finish"):
        service("monitor", kernel, StubDaemon()).monitor()


# start -----------------------------------------------------------------------------------


def launcher(fp, daemon: StubDaemon, *args: str) -> None:
    """dlm_controld with these arguments; the daemon runs once it was called."""
    fp.register(["dlm_controld", *args], callback=lambda process: daemon.appear())


def cluster(fp, stonith: str = "true", policy: str = "freeze") -> None:
    fp.register(STONITH, stdout=f"{stonith}\n")
    fp.register(QUORUM, stdout=f"{policy}\n")


def test_start_launches_the_daemon_and_waits_until_joined(fp, kernel) -> None:
    daemon = StubDaemon(None)
    cluster(fp)
    launcher(fp, daemon, "-s", "0")
    for name in ("status-no-daemon.txt", "status-v-joining.txt", "status-v-ready.txt"):
        fp.register(STATUS, stdout=fixture("dlm", name))
    assert service("start", kernel, daemon).start() == ExitStatus.OK
    assert fp.call_count(["dlm_controld", "-s", "0"]) == 1 and fp.call_count(STATUS) == 3


def test_start_passes_the_extra_arguments(fp, kernel) -> None:
    daemon = StubDaemon(None)
    cluster(fp)
    launcher(fp, daemon, "--post_join_delay", "10", "-r", "tcp")
    fp.register(STATUS, stdout=fixture("dlm", "status-v-ready.txt"))
    assert service("start", kernel, daemon, {"args": "--post_join_delay 10 -r tcp"}).start() == ExitStatus.OK


def test_start_of_a_running_ready_daemon_launches_nothing(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-ready.txt"))
    assert service("start", kernel, StubDaemon()).start() == ExitStatus.OK


@pytest.mark.parametrize("value", ["false", "no", "0"])
def test_start_refuses_when_stonith_is_disabled(fp, kernel, value: str) -> None:
    fp.register(STONITH, stdout=f"{value}\n")
    with pytest.raises(OcfError) as e:
        service("start", kernel, StubDaemon(None)).start()
    assert e.value.status == ExitStatus.NOT_CONFIGURED
    assert e.value.reason.startswith(
        f"DLM without fencing can corrupt shared data: the cluster property stonith-enabled is {value}"
    )


def test_start_refuses_when_dlm_conf_disables_fencing(fp, kernel, tmp_path) -> None:
    (tmp_path / "dlm.conf").write_text("enable_fencing=0\n")
    fp.register(STONITH, stdout="true\n")
    with pytest.raises(OcfError, match="dlm.conf sets enable_fencing=0") as e:
        service("start", kernel, StubDaemon(None), tmp_path=tmp_path).start()
    assert e.value.status == ExitStatus.NOT_CONFIGURED


def test_allow_stonith_disabled_lets_start_go_on(fp, kernel) -> None:
    daemon = StubDaemon(None)
    cluster(fp, stonith="false", policy="stop")
    launcher(fp, daemon, "-s", "0")
    fp.register(STATUS, stdout=fixture("dlm", "status-v-ready.txt"))
    assert service("start", kernel, daemon, {"allow_stonith_disabled": "true"}).start() == ExitStatus.OK


def test_start_without_a_readable_cib_warns_and_goes_on(fp, kernel) -> None:
    daemon = StubDaemon(None)
    fp.register(STONITH, returncode=102, stderr="crm_attribute: Could not connect to the CIB\n")
    fp.register(QUORUM, returncode=102, stderr="crm_attribute: Could not connect to the CIB\n")
    launcher(fp, daemon, "-s", "0")
    fp.register(STATUS, stdout=fixture("dlm", "status-v-ready.txt"))
    assert service("start", kernel, daemon).start() == ExitStatus.OK


def test_start_mounts_configfs_and_loads_dlm_when_missing(fp, tmp_path) -> None:
    bare = dlm_kernel.DlmKernel(
        configfs=str(tmp_path / "config"),
        lockspace_dir=str(tmp_path / "none"),
        modules=str(tmp_path / "modules"),
        mounts=str(tmp_path / "mounts"),
    )
    daemon = StubDaemon(None)
    cluster(fp)
    fp.register(["modprobe", "configfs"])
    fp.register(["mount", "-t", "configfs", "configfs", str(tmp_path / "config")])
    fp.register(["modprobe", "dlm"])
    launcher(fp, daemon, "-s", "0")
    fp.register(STATUS, stdout=fixture("dlm", "status-v-ready.txt"))
    assert service("start", bare, daemon).start() == ExitStatus.OK
    assert fp.call_count(["modprobe", "configfs"]) == 1 and fp.call_count(["modprobe", "dlm"]) == 1


def test_start_without_the_dlm_module_is_not_installed(fp, tmp_path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"configfs {tmp_path} configfs rw 0 0\n")
    bare = dlm_kernel.DlmKernel(
        configfs=str(tmp_path),
        lockspace_dir=str(tmp_path / "none"),
        modules=str(tmp_path / "modules"),
        mounts=str(mounts),
    )
    cluster(fp)
    fp.register(
        ["modprobe", "dlm"],
        returncode=1,
        stderr="modprobe: FATAL: Module dlm not found in directory /lib/modules/6.1.0\n",
    )
    with pytest.raises(NotInstalledError) as e:
        service("start", bare, StubDaemon(None)).start()
    assert e.value.reason == (
        "the dlm kernel module cannot be loaded: modprobe: FATAL: Module dlm not found in directory /lib/modules/6.1.0"
    )


def test_start_refuses_over_lockspaces_left_in_the_kernel(fp, kernel) -> None:
    (Path(kernel.lockspace_dir) / "lvm_global").mkdir()
    with pytest.raises(OcfError) as e:
        service("start", kernel, StubDaemon(None)).start()
    assert e.value.status == ExitStatus.UNKNOWN_ERROR
    assert "(lvm_global)" in e.value.reason and "reboot this node" in e.value.reason


def test_start_reports_a_daemon_that_died_with_its_log_line(fp, kernel, tmp_path) -> None:
    log = tmp_path / "dlm_controld.log"
    log.write_text("Nov 25 11:00:00 1 dlm_controld 4.2.0 started\n")
    cluster(fp)

    def die(process) -> None:  # what the forked daemon leaves behind
        log.write_text(log.read_text() + fixture("dlm", "controld-no-corosync.log"))

    fp.register(["dlm_controld", "-s", "0"], callback=die)
    svc = service("start", kernel, StubDaemon(None))
    svc.logfile = str(log)
    svc.PIDFILE_GRACE = 0.1
    with pytest.raises(OcfError) as e:
        svc.start()
    assert e.value.reason == (
        f"dlm_controld exited during start: Nov 25 11:32:57 1003 corosync cfg init error 2 (see {log})"
    )


def test_start_gives_up_before_the_timeout_with_the_last_reason(fp, kernel) -> None:
    fp.register(STATUS, stdout=fixture("dlm", "status-v-joining.txt"))
    fp.keep_last_process(True)
    svc = service("start", kernel, StubDaemon(), budget=2.0)
    with pytest.raises(OcfError) as e:
        svc.start()
    assert e.value.reason.startswith("dlm_controld not ready after ")
    assert e.value.reason.endswith(": joining: daemon ring seq 0, cluster ring seq 12")


# stop ------------------------------------------------------------------------------------


def test_stop_of_a_stopped_daemon_succeeds_without_tools(fp, kernel) -> None:
    assert service("stop", kernel, StubDaemon(None)).stop() == ExitStatus.OK


def test_stop_without_lockspaces_terminates_the_daemon(fp, kernel) -> None:
    fp.register(LS, stdout="")
    daemon = StubDaemon(4242)
    assert service("stop", kernel, daemon).stop() == ExitStatus.OK
    assert daemon.terminated == [4242]


def test_stop_refuses_under_active_lockspaces_and_names_them(fp, kernel) -> None:
    fp.register(LS, stdout=fixture("dlm", "ls-two-lockspaces.txt"))
    fp.register(["dlm_tool", "leave", "lvm_global"], stdout='Leaving lockspace "lvm_global"\ndone\n')
    daemon = StubDaemon(4242)
    with pytest.raises(OcfError) as e:
        service("stop", kernel, daemon).stop()
    assert e.value.status == ExitStatus.UNKNOWN_ERROR
    assert e.value.reason == (
        "DLM lockspaces still in use: lvm_clvg0; stop their users first (the lvmlockd resource must stop before DLM)"
    )
    assert daemon.terminated == []


def test_stop_leaves_an_unused_global_lockspace_then_stops(fp, kernel) -> None:
    fp.register(LS, stdout=fixture("dlm", "ls-global-only.txt"))
    fp.register(["dlm_tool", "leave", "lvm_global"], stdout='Leaving lockspace "lvm_global"\ndone\n')
    daemon = StubDaemon(4242)
    assert service("stop", kernel, daemon).stop() == ExitStatus.OK
    assert daemon.terminated == [4242]


def test_stop_names_a_lockspace_dlm_refuses_to_leave(fp, kernel) -> None:
    fp.register(LS, stdout=fixture("dlm", "ls-global-only.txt"))
    fp.register(
        ["dlm_tool", "leave", "lvm_global"], returncode=255, stderr="dlm_open_lockspace lvm_global error (nil) 16\n"
    )
    with pytest.raises(OcfError, match=r"lvm_global \(dlm_tool leave failed: dlm_open_lockspace"):
        service("stop", kernel, StubDaemon()).stop()


def test_stop_with_cleanup_none_leaves_nothing(fp, kernel) -> None:
    fp.register(LS, stdout=fixture("dlm", "ls-global-only.txt"))
    with pytest.raises(OcfError, match="still in use: lvm_global;"):
        service("stop", kernel, StubDaemon(), {"cleanup_lockspaces": "none"}).stop()


def test_stop_falls_back_to_the_kernel_list_when_dlm_tool_hangs(fp, kernel) -> None:
    fp.register(LS, callback=hang)
    (Path(kernel.lockspace_dir) / "lvm_vg1").mkdir()
    with pytest.raises(OcfError, match="still in use: lvm_vg1;"):
        service("stop", kernel, StubDaemon(), budget=3.0).stop()


def test_stop_fails_when_the_daemon_survives_sigkill(fp, kernel) -> None:
    fp.register(LS, stdout="")
    with pytest.raises(OcfError, match="survived SIGTERM and SIGKILL"):
        service("stop", kernel, StubDaemon(4242, outcome="alive")).stop()


def test_fixture_files_have_their_source_noted() -> None:
    readme = (FIXTURES / "README.md").read_text()
    for path in FIXTURES.glob("*/*"):
        assert path.name in readme or path.name.startswith("status-v-"), path
