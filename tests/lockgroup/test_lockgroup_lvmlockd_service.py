"""ocf:alua:lvmlockd's actions over lvmlockctl outputs captured from lvm2 2.03.16."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from alua.agents import lvmlockd
from alua.ocf.errors import ActionTimeout, OcfError
from alua.ocf.exitstatus import ExitStatus
from lockgroup.harness import StubDaemon, fixture, hang, make_context

INFO = ["lvmlockctl", "--info", "--dump"]
STOP_LS = ["lvmlockctl", "--stop-lockspaces"]
USE = ["lvmconfig", "--type", "full", "global/use_lvmlockd"]
LAUNCH = [
    "lvmlockd",
    "--pid-file",
    "/run/lvmlockd.pid",
    "--gl-type",
    "dlm",
    "--adopt",
    "1",
    "--syslog-priority",
    "warning",
]
LV1 = "DUaQqG-6JTZ-rsdC-MHur-RikC-h2ZS-R3FJzg"
VG1 = "QU2pXo-tyMI-vlWx-903x-w3x3-k6oF-H4DcOD"


def service(
    action: str, daemon: StubDaemon, params=None, *, probe=False, budget: float = 10.0, sys_block: str = "/nonexistent"
) -> lvmlockd.LvmLockdService:
    meta = {"interval": "0" if probe else "30000"} if action == "monitor" else None
    svc = lvmlockd.LvmLockdService(
        make_context("lvmlockd", action, params, meta=meta, budget=budget), sys_block=sys_block
    )
    svc.daemon = daemon  # type: ignore[assignment]
    svc.POLL = 0.05
    return svc


def no_daemon(fp) -> None:
    fp.register(
        INFO,
        returncode=255,
        stdout=fixture("lvm", "lvmlockctl-info-no-daemon.stdout"),
        stderr=fixture("lvm", "lvmlockctl-info-no-daemon.stderr"),
    )


# start -----------------------------------------------------------------------------------


def test_start_launches_lvmlockd_with_dlm_and_waits_until_it_answers(fp) -> None:
    daemon = StubDaemon(None)
    fp.register(USE, stdout=fixture("lvm", "lvmconfig-use_lvmlockd-1.txt"))
    fp.register(LAUNCH, callback=lambda p: daemon.appear())
    no_daemon(fp)
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-idle.txt"))
    assert service("start", daemon).start() == ExitStatus.OK
    assert fp.call_count(INFO) == 2


def test_start_without_adoption(fp) -> None:
    daemon = StubDaemon(None)
    fp.register(USE, stdout="use_lvmlockd=1\n")
    argv = [*LAUNCH[:6], "0", "--syslog-priority", "err"]
    fp.register(argv, callback=lambda p: daemon.appear())
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-idle.txt"))
    assert service("start", daemon, {"adopt": "false", "syslog_priority": "err"}).start() == ExitStatus.OK


def test_start_reports_use_lvmlockd_0_without_editing_lvm_conf(fp) -> None:
    fp.register(USE, stdout=fixture("lvm", "lvmconfig-use_lvmlockd-0.txt"))
    with pytest.raises(OcfError) as e:
        service("start", StubDaemon(None)).start()
    assert e.value.status == ExitStatus.NOT_CONFIGURED
    assert e.value.reason.startswith("LVM is not configured for lvmlockd: set global/use_lvmlockd = 1")


def test_start_reports_a_daemon_that_exits(fp) -> None:
    fp.register(USE, stdout="use_lvmlockd=1\n")
    fp.register(LAUNCH)
    with pytest.raises(OcfError, match="lvmlockd exited during start"):
        service("start", StubDaemon(None)).start()


def test_start_gives_up_on_a_daemon_that_never_answers(fp) -> None:
    fp.register(USE, stdout="use_lvmlockd=1\n")
    no_daemon(fp)
    fp.keep_last_process(True)
    with pytest.raises(OcfError) as e:
        service("start", StubDaemon(), budget=2.0).start()
    assert e.value.reason.startswith("lvmlockd does not answer after ")
    assert e.value.reason.endswith(
        "lvmlockctl --info exited 255: /run/lvm/lvmlockd.socket: connect failed: No such file or directory"
    )


# monitor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lvmlockctl-info-dump-idle.txt", "lvmlockctl-info-dump-lv-active.txt"])
def test_monitor_of_an_answering_daemon(fp, name: str) -> None:
    fp.register(INFO, stdout=fixture("lvm", name))
    assert service("monitor", StubDaemon()).monitor() == ExitStatus.OK


def test_monitor_of_a_daemon_gone(fp) -> None:
    assert service("monitor", StubDaemon(None), probe=True).monitor() == ExitStatus.NOT_RUNNING
    with pytest.raises(OcfError) as e:
        service("monitor", StubDaemon(None)).monitor()
    assert e.value.status == ExitStatus.NOT_RUNNING and e.value.reason == "lvmlockd is not running"


def test_monitor_of_a_daemon_that_does_not_answer(fp) -> None:
    no_daemon(fp)
    with pytest.raises(OcfError) as e:
        service("monitor", StubDaemon(77)).monitor()
    assert e.value.status == ExitStatus.UNKNOWN_ERROR
    assert e.value.reason == (
        "lvmlockd (pid 77) does not answer: lvmlockctl --info exited 255: "
        "/run/lvm/lvmlockd.socket: connect failed: No such file or directory"
    )


def test_monitor_fails_on_a_vg_whose_locks_were_lost(fp) -> None:
    lines = fixture("lvm", "lvmlockctl-info-dump-lockspaces.txt").splitlines(keepends=True)
    killed = "".join(line.replace("kill_vg=0", "kill_vg=1") if "ls_name=lvm_vg1" in line else line for line in lines)
    fp.register(INFO, stdout=killed)
    with pytest.raises(OcfError, match=r"lost the locks of VG vg1 \(kill_vg\)"):
        service("monitor", StubDaemon()).monitor()


def test_monitor_with_a_hanging_lvmlockctl_is_bounded(fp) -> None:
    fp.register(INFO, callback=hang)
    with pytest.raises(ActionTimeout, match="lvmlockctl --info --dump did not finish"):
        service("monitor", StubDaemon()).monitor()


# stop ------------------------------------------------------------------------------------


def test_stop_of_a_stopped_daemon_succeeds_without_tools(fp) -> None:
    assert service("stop", StubDaemon(None)).stop() == ExitStatus.OK


def test_stop_refuses_while_shared_lvs_are_active_and_names_them(fp, tmp_path: Path) -> None:
    dm = tmp_path / "dm-3" / "dm"
    dm.mkdir(parents=True)
    (dm / "name").write_text("vg1-lv1\n")
    (dm / "uuid").write_text(f"LVM-{VG1.replace('-', '')}{LV1.replace('-', '')}\n")
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-lv-active.txt"))
    daemon = StubDaemon()
    with pytest.raises(OcfError) as e:
        service("stop", daemon, sys_block=str(tmp_path)).stop()
    assert e.value.status == ExitStatus.UNKNOWN_ERROR
    assert e.value.reason == (
        "shared LVs still active: vg1/lv1 (sh), LV 32l4g5-8Dpf-gSiJ-0MwK-o8JU-qQvm-087Wcz in VG vg1 (ex); "
        "deactivate them first (the shared VG resource must stop before lvmlockd)"
    )
    assert fp.call_count(STOP_LS) == 0 and daemon.terminated == []


def test_stop_stops_the_lockspaces_then_the_daemon(fp) -> None:
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-lockspaces.txt"))
    fp.register(STOP_LS)
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-after-deactivate.txt"))  # REM:lvm_vg1 lingers
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-stopped.txt"))
    daemon = StubDaemon(4242)
    assert service("stop", daemon).stop() == ExitStatus.OK
    assert fp.call_count(STOP_LS) == 1 and fp.call_count(INFO) == 3 and daemon.terminated == [4242]


def test_stop_waits_for_lockspaces_already_stopping(fp) -> None:
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-after-deactivate.txt"))  # REM:lvm_vg1
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-stopped.txt"))
    daemon = StubDaemon(4242)
    assert service("stop", daemon).stop() == ExitStatus.OK
    assert fp.call_count(STOP_LS) == 0 and daemon.terminated == [4242]


def test_stop_without_lockspaces_only_stops_the_daemon(fp) -> None:
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-idle.txt"))
    daemon = StubDaemon(4242)
    assert service("stop", daemon).stop() == ExitStatus.OK
    assert fp.call_count(STOP_LS) == 0 and daemon.terminated == [4242]


def test_stop_names_lockspaces_that_do_not_stop(fp) -> None:
    """An LV activated between the check and --stop-lockspaces: the real command then hangs."""
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-lockspaces.txt"))
    fp.register(STOP_LS, callback=hang)
    fp.register(INFO, stdout=fixture("lvm", "lvmlockctl-info-dump-after-busy-stop.txt"))
    fp.keep_last_process(True)
    daemon = StubDaemon(4242)
    with pytest.raises(OcfError) as e:
        service("stop", daemon, budget=3.0).stop()
    assert e.value.reason.startswith(
        "lvmlockd lockspaces did not stop: lvm_vg1 (lvmlockctl --stop-lockspaces did not finish within"
    )
    assert daemon.terminated == []


def test_stop_of_a_daemon_that_does_not_answer_asks_it_to_exit(fp) -> None:
    no_daemon(fp)
    daemon = StubDaemon(4242)
    assert service("stop", daemon).stop() == ExitStatus.OK
    assert daemon.signals == [signal.SIGTERM]


def test_stop_never_kills_a_silent_daemon_that_may_hold_lv_locks(fp) -> None:
    no_daemon(fp)
    daemon = StubDaemon(4242, outcome="alive")
    with pytest.raises(OcfError, match="does not exit; not killed, it may hold LV locks"):
        service("stop", daemon, budget=2.0).stop()
    assert daemon.signals == [signal.SIGTERM] and daemon.terminated == []
