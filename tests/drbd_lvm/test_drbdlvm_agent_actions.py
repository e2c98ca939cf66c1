"""drbd-lvm's start, monitor and stop, run in-process over captured tool output.

pytest-subprocess answers LVM and drbdsetup with the captured output (states
substituted, see states.py); the in-process fake kernel holds /sys/block,
/proc/drbd and the by-res links, and the registered vgchange callbacks
create and remove device-mapper devices there as the kernel would.
"""

from __future__ import annotations

import time

import pytest
from drbd_lvm.harness import agent, kernel  # noqa: F401 - fixtures
from drbd_lvm.states import (
    DISK_STATES,
    ROLES,
    captured,
    events2_v9,
    fixture,
    lvs_report,
    proc_drbd,
    proc_minor_line,
    vgs_report,
)

VG = "vg-san"
VGS = ["vgs", "--reportformat", "json", "--options", "vg_name,vg_lock_type,pv_name", "--", VG]
LVS = ["lvs", "--reportformat", "json", "--all", "--options", "lv_name,lv_role,lv_skip_activation", "--", VG]
LVMCONFIG = ["lvmconfig", "--type", "full", "global/use_lvmlockd"]
EVENTS2 = ["drbdsetup", "events2", "--now", "all"]
ACTIVATE = ["vgchange", "--activate=sy", "--", VG]
DEACTIVATE = ["vgchange", "--activate=n", "--", VG]
LOCK_START = ["vgchange", "--lock-start", "--", VG]
LOCK_STOP = ["vgchange", "--lock-stop", "--", VG]
PROC_V9 = "version: 9.2.12 (api:2/proto:86-122)\nTransports (api:21): tcp (9.2.12)\n"
RECURRING = 30000


class Node:
    """One node's DRBD r0 (minor 0) and the shared VG vg-san (lun-1, lun_2) on /dev/drbd0."""

    def __init__(self, fp, kernel, version: str) -> None:  # noqa: F811
        self.fp = fp
        self.kernel = kernel
        self.version = version
        self.responses: dict[tuple[str, ...], tuple[str, str, int, object]] = {}
        fp.keep_last_process(True)
        self.respond(LVMCONFIG, captured("lvmconfig_full_lockd_cfg1")[0])
        self.respond(LVS, lvs_report())
        self.respond(LOCK_START, f"  VG {VG} starting dlm lockspace\n")
        self.respond(LOCK_STOP)
        self.respond(ACTIVATE, f'  2 logical volume(s) in volume group "{VG}" now active\n', effect=self.activate)
        self.respond(DEACTIVATE, f'  0 logical volume(s) in volume group "{VG}" now active\n', effect=self.deactivate)
        if version == "8.4":
            kernel.link("r0", 0, 0)
        self.drbd("Primary", "UpToDate")

    def respond(self, argv: list[str], stdout: str = "", stderr: str = "", rc: int = 0, effect=None) -> None:
        """Answer argv like this from now on (the last answer given counts), and do effect first."""
        key = tuple(argv)
        if key not in self.responses:
            self.fp.register(argv, callback=lambda process: self._answer(key, process))
        self.responses[key] = (stdout, stderr, rc, effect)

    def _answer(self, key: tuple[str, ...], process) -> None:
        stdout, stderr, rc, effect = self.responses[key]
        if effect is not None:
            effect(process)
        process.stdout.write(stdout)
        process.stderr.write(stderr)
        process.returncode = rc

    def drbd(self, role: str, disk: str, *, cs: str = "Connected") -> None:
        """Put r0 in this state; LVM sees the VG as DRBD lets it open /dev/drbd0."""
        if self.version == "8.4":
            self.kernel.drbd(proc_drbd(proc_minor_line(0, cs=cs, role=role, disk=disk)))
            events = fixture("drbd84/events2_now_dual_primary.txt").replace("name:vg1", "name:r0")
            events = events.replace("role:Primary suspended", f"role:{role} suspended").replace(
                "disk:UpToDate\n", f"disk:{disk}\n"
            )
            readable = role == "Primary"  # 8.4 refuses any open of a Secondary
        else:
            self.kernel.drbd(PROC_V9)
            events = events2_v9(
                "r0",
                0,
                role=role,
                disk=disk,
                connection="Connected" if cs in ("Connected", "SyncTarget") else "Connecting",
                replication="SyncTarget" if cs == "SyncTarget" else "Established",
            )
            readable = role == "Primary" or disk == "UpToDate"
        self.respond(EVENTS2, events)
        if readable:
            self.respond(VGS, vgs_report(VG, ("/dev/drbd0",), "dlm"))
        else:
            _, stderr, rc = captured("vgs_vg_lock_pv_missing")
            self.respond(VGS, "", stderr.replace("nosuchvg", VG), rc)

    def activate(self, _process=None) -> None:
        for lv in ("lun--1", "lun_2"):
            if f"vg--san-{lv}" not in self.kernel.dm_names():
                self.kernel.dm(f"vg--san-{lv}")

    def deactivate(self, _process=None) -> None:
        for name in self.kernel.dm_names():
            self.kernel.remove_dm(name)


@pytest.fixture(params=["8.4", "9"])
def node(request, fp, kernel) -> Node:  # noqa: F811
    return Node(fp, kernel, request.param)


# -- the role x disk-state matrix ------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("disk", DISK_STATES)
def test_start_only_on_primary_uptodate(agent, node, role: str, disk: str) -> None:  # noqa: F811
    node.drbd(role, disk)
    result = agent("start")
    if (role, disk) == ("Primary", "UpToDate"):
        assert result.rc == 0, str(result)
        assert node.kernel.dm_names() == ["vg--san-lun--1", "vg--san-lun_2"]
        return
    assert result.rc == 1, str(result)
    assert f"DRBD resource r0 is {role}/{disk}" in result.reason
    assert node.fp.call_count(ACTIVATE) == 0 and node.fp.call_count(LOCK_START) == 0
    assert node.kernel.dm_names() == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("disk", DISK_STATES)
def test_start_with_drbd_resources_checks_drbd_before_lvm(agent, node, role: str, disk: str) -> None:  # noqa: F811
    node.drbd(role, disk)
    result = agent("start", {"drbd_resources": "r0"})
    if (role, disk) == ("Primary", "UpToDate"):
        assert result.rc == 0, str(result)
    else:
        assert (result.rc, result.reason) == (1, f"not activating {VG}: DRBD resource r0 is {role}/{disk}")
        assert node.fp.call_count(VGS) == 0


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("disk", DISK_STATES)
def test_recurring_monitor_fails_when_drbd_degrades(agent, node, role: str, disk: str) -> None:  # noqa: F811
    assert agent("start").rc == 0
    node.drbd(role, disk)
    result = agent("monitor", interval=RECURRING)
    if (role, disk) == ("Primary", "UpToDate"):
        assert result.rc == 0, str(result)
    else:
        assert result.rc == 1, str(result)
        assert result.reason == f"volume group {VG}: DRBD resource r0 is {role}/{disk}"


@pytest.mark.parametrize("cs", ["WFConnection", "StandAlone"])
def test_lost_connection_keeps_a_primary_uptodate_vg_running(agent, node, cs: str) -> None:  # noqa: F811
    node.drbd("Primary", "UpToDate", cs=cs)
    assert agent("start").rc == 0
    assert agent("monitor", interval=RECURRING).rc == 0


def test_drbd84_monitor_runs_no_command(agent, fp, kernel) -> None:  # noqa: F811
    node = Node(fp, kernel, "8.4")
    assert agent("start").rc == 0
    before = len(fp.calls)
    assert agent("monitor", interval=RECURRING).rc == 0
    assert agent("monitor").rc == 0  # probe
    assert len(fp.calls) == before, list(fp.calls)[before:]
    assert node


def test_drbd9_monitor_runs_only_events2(agent, fp, kernel) -> None:  # noqa: F811
    Node(fp, kernel, "9")
    assert agent("start").rc == 0
    before = len(fp.calls)
    assert agent("monitor", interval=RECURRING).rc == 0
    assert [list(c) for c in list(fp.calls)[before:]] == [EVENTS2]


# -- monitor: lost, partial, suspended, not on DRBD, read check ----------------------------


def test_probe_on_a_node_where_nothing_is_active_is_7(agent, node) -> None:  # noqa: F811
    node.drbd("Secondary", "Outdated")
    assert agent("monitor").rc == 7
    assert agent("monitor", interval=RECURRING).rc == 7  # never started here (ocf-tester's first monitor)


def test_lost_vg_fails_a_recurring_monitor_never_7(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    node.deactivate()
    result = agent("monitor", interval=RECURRING)
    assert result.rc == 1 and "lost" in result.reason, str(result)
    assert agent("monitor").rc == 7  # a probe asks what runs here


def test_partially_active_vg_fails(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    node.kernel.remove_dm("vg--san-lun_2")
    result = agent("monitor", interval=RECURRING)
    assert (result.rc, result.reason) == (1, f"volume group {VG}: {VG}/lun_2 not active")


def test_suspended_lv_fails_after_a_grace(agent, node, monkeypatch) -> None:  # noqa: F811
    from alua.agents import drbd_lvm

    monkeypatch.setattr(drbd_lvm, "SUSPEND_GRACE", 0.3)
    assert agent("start").rc == 0
    (node.kernel.sys_block / "dm-1" / "dm" / "suspended").write_text("1\n")
    result = agent("monitor", interval=RECURRING)
    assert result.rc == 1 and f"{VG}/lun_2 suspended" in result.reason, str(result)


def test_lv_on_a_non_drbd_device_fails(agent, node) -> None:  # noqa: F811
    node.kernel.dm("vg--san-lun--1", slaves=("sdb",))
    result = agent("monitor")
    assert result.rc == 1 and "active on sdb, which is not DRBD" in result.reason, str(result)


def test_check_level_10_reads_a_block_from_each_lv(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    read0 = ["dd", "if=/dev/dm-0", "of=/dev/null", "bs=4096", "count=1", "iflag=direct", "status=none"]
    read1 = [*read0[:1], "if=/dev/dm-1", *read0[2:]]
    node.respond(read0)
    node.respond(read1, stderr="dd: error reading '/dev/dm-1': Input/output error\n", rc=1)
    result = agent("monitor", interval=RECURRING, check_level=10)
    assert result.rc == 1, str(result)
    assert (
        result.reason
        == f"reading a block from {VG}/lun_2 (/dev/dm-1) failed: dd: error reading '/dev/dm-1': Input/output error"
    )


def _suspend_drbd(node: Node) -> None:
    """DRBD holds r0's I/O (as its fencing policy does while the fence-peer handler runs)."""
    if node.version == "8.4":
        node.kernel.drbd(proc_drbd(proc_minor_line(0, cs="WFConnection").replace(" r-----", " s-----")))
    else:
        node.respond(EVENTS2, events2_v9("r0", 0).replace("suspended:no", "suspended:fencing"))


READ0 = ["dd", "if=/dev/dm-0", "of=/dev/null", "bs=4096", "count=1", "iflag=direct", "status=none"]


def test_check_level_10_skips_the_read_while_drbd_holds_io_suspended(agent, node) -> None:  # noqa: F811
    """A Primary that lost its peer freezes I/O until its fence-peer handler answers (seconds,
    longer than a read may take): a read then waits for DRBD, not for the VG, and failing the
    monitor would make Pacemaker stop the only node that still serves (CI, 2026-12-07)."""
    assert agent("start").rc == 0
    _suspend_drbd(node)
    node.respond(READ0, stderr="must not run\n", rc=1)
    result = agent("monitor", interval=RECURRING, check_level=10)
    assert result.rc == 0, str(result)
    assert "read check of vg-san skipped: DRBD holds I/O suspended on drbd0" in result.stderr
    assert not node.fp.call_count(READ0)


def test_a_read_that_hangs_because_drbd_suspended_io_meanwhile_is_no_failure(agent, node, monkeypatch) -> None:  # noqa: F811
    import threading

    from alua.agents import drbd_lvm

    monkeypatch.setattr(drbd_lvm, "READ_CHECK_TIMEOUT", 0.5)
    assert agent("start").rc == 0
    node.fp.register(READ0, wait=30)  # blocked in the kernel until DRBD resumes
    timer = threading.Timer(0.1, _suspend_drbd, (node,))
    timer.start()
    began = time.monotonic()
    result = agent("monitor", interval=RECURRING, check_level=10)
    timer.join()
    assert result.rc == 0, str(result)
    assert "reading a block from vg-san/lun-1 waits: DRBD suspended I/O on drbd0 meanwhile" in result.stderr
    assert time.monotonic() - began < 10  # the blocked read is left behind, not waited for


def test_a_read_that_hangs_with_drbd_running_fails_the_monitor(agent, node, monkeypatch) -> None:  # noqa: F811
    from alua.agents import drbd_lvm

    monkeypatch.setattr(drbd_lvm, "READ_CHECK_TIMEOUT", 0.3)
    assert agent("start").rc == 0
    node.fp.register(READ0, wait=30)
    began = time.monotonic()
    result = agent("monitor", interval=RECURRING, check_level=10)
    assert (result.rc, result.reason) == (1, f"reading a block from {VG}/lun-1 (/dev/dm-0): {' '.join(READ0)} "
                                             "did not finish within 0.3s")
    assert time.monotonic() - began < 10


# -- start: what it refuses -------------------------------------------------------------------


def test_vg_on_a_non_drbd_pv_is_refused(agent, node) -> None:  # noqa: F811
    node.respond(VGS, captured("vgs_vg_lock_pv")[0].replace('"vg_lock_type":""', '"vg_lock_type":"dlm"'))
    result = agent("start")
    assert result.rc == 5 and "not DRBD devices (/dev/loop0)" in result.reason, str(result)


def test_vg_not_visible_says_why(agent, fp, kernel) -> None:  # noqa: F811
    node = Node(fp, kernel, "8.4")
    node.drbd("Secondary", "UpToDate")
    result = agent("start")
    assert result.rc == 1
    assert result.reason == f"volume group {VG} not found on this node (DRBD resource r0 is Secondary/UpToDate)"


@pytest.mark.parametrize(
    ("lock_type", "vg_lock", "needle"),
    [
        ("lvmlockd", "", "is a local VG without a lock type"),
        ("none", "dlm", "has lock type dlm, which only lvmlockd can activate"),
    ],
)
def test_lock_type_must_match_the_vg(agent, node, lock_type: str, vg_lock: str, needle: str) -> None:  # noqa: F811
    node.respond(VGS, vgs_report(VG, ("/dev/drbd0",), vg_lock))
    result = agent("start", {"lock_type": lock_type})
    assert result.rc == 6 and result.reason.startswith("parameter 'lock_type'") and needle in result.reason


@pytest.mark.parametrize(
    ("lvs", "needle"),
    [
        ("lun-1 nolv", f"{VG}/nolv does not exist"),
        ("snapskip", f"{VG}/snapskip has LVM's activation skip flag"),
    ],
)
def test_listed_lvs_must_be_activatable(agent, node, lvs: str, needle: str) -> None:  # noqa: F811
    result = agent("start", {"logical_volumes": lvs})
    assert result.rc == 6 and result.reason.startswith("parameter 'logical_volumes'") and needle in result.reason


@pytest.mark.parametrize(("given", "needle"), [("r0 r1", "r1 not under volume group"), ("r1", "r1 not under")])
def test_drbd_resources_must_be_the_ones_under_the_vg(agent, node, given: str, needle: str) -> None:  # noqa: F811
    node.respond(EVENTS2, events2_v9("r0", 0) + events2_v9("r1", 5))
    if node.version == "8.4":
        node.kernel.drbd(proc_drbd(proc_minor_line(0), proc_minor_line(5)))
        node.kernel.link("r1", 0, 5)
    result = agent("start", {"drbd_resources": given})
    assert result.rc == 6 and needle in result.reason, str(result)


def test_start_activates_listed_lvs_with_lvchange(agent, node) -> None:  # noqa: F811
    argv = ["lvchange", "--activate=ey", "--", f"{VG}/lun-1"]
    node.respond(argv, effect=lambda _: node.kernel.dm("vg--san-lun--1"))
    result = agent("start", {"logical_volumes": "lun-1", "activation_mode": "exclusive"})
    assert result.rc == 0, str(result)
    assert node.fp.call_count(argv) == 1 and node.fp.call_count(ACTIVATE) == 0


def test_start_is_idempotent(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    assert agent("start").rc == 0
    assert node.kernel.dm_names() == ["vg--san-lun--1", "vg--san-lun_2"]


def test_lvs_that_never_appear_fail_start_in_time(agent, node) -> None:  # noqa: F811
    import time

    node.respond(ACTIVATE)  # LVM says nothing and creates nothing
    started = time.monotonic()
    result = agent("start", timeout_ms=4000)
    assert result.rc == 1 and "not active in device-mapper after activation" in result.reason, str(result)
    assert time.monotonic() - started < 4


# -- stop --------------------------------------------------------------------------------------


def test_stop_deactivates_then_leaves_the_lockspace(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    assert agent("stop").rc == 0
    calls = [list(c) for c in node.fp.calls]
    assert calls.index(DEACTIVATE) < calls.index(LOCK_STOP)
    assert node.kernel.dm_names() == []
    assert agent("monitor", interval=RECURRING).rc == 7  # stopped cleanly: not "lost"


def test_stop_when_already_stopped(agent, node) -> None:  # noqa: F811
    assert agent("stop").rc == 0
    assert node.fp.call_count(DEACTIVATE) == 0


def test_stop_keeps_the_lockspace_while_other_lvs_are_active(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    argv = ["lvchange", "--activate=n", "--", f"{VG}/lun-1"]
    node.respond(argv, effect=lambda _: node.kernel.remove_dm("vg--san-lun--1"))
    assert agent("stop", {"logical_volumes": "lun-1"}).rc == 0
    assert node.fp.call_count(LOCK_STOP) == 0 and node.kernel.dm_names() == ["vg--san-lun_2"]


def test_stop_survives_drbd_gone_away(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    node.kernel.drbd(None)  # DRBD down: LVM cannot see the VG any more
    _, stderr, rc = captured("vgchange_activate_n_missing")
    node.respond(DEACTIVATE, stderr=stderr.replace("nosuchvg", VG), rc=rc)
    for name in ("vg--san-lun--1", "vg--san-lun_2"):
        node.respond(["dmsetup", "remove", "--retry", name], effect=lambda p: node.kernel.remove_dm(p.args[-1]))
    result = agent("stop")
    assert result.rc == 0, str(result)
    assert node.kernel.dm_names() == []


def test_stop_fails_while_an_lv_is_in_use(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    node.respond(
        DEACTIVATE,
        stderr=f"  Logical volume {VG}/lun-1 in use.\n",
        rc=5,
        effect=lambda _: node.kernel.remove_dm("vg--san-lun_2"),
    )
    node.respond(
        ["dmsetup", "remove", "--retry", "vg--san-lun--1"],
        rc=1,
        stderr="device-mapper: remove ioctl on vg--san-lun--1  failed: Device or resource busy\nCommand failed.\n",
    )
    result = agent("stop")
    assert result.rc == 1, str(result)
    assert result.reason.startswith(f"cannot deactivate {VG}/lun-1: Logical volume {VG}/lun-1 in use.")
    assert node.fp.call_count(LOCK_STOP) == 0


def test_stop_with_an_unparsable_lv_list_touches_only_valid_names(agent, node) -> None:  # noqa: F811
    assert agent("start").rc == 0
    argv = ["lvchange", "--activate=n", "--", f"{VG}/lun-1"]
    node.respond(argv, effect=lambda _: node.kernel.remove_dm("vg--san-lun--1"))
    assert agent("stop", {"logical_volumes": "lun-1 bad;name"}).rc == 0
    assert node.fp.call_count(DEACTIVATE) == 0 and node.kernel.dm_names() == ["vg--san-lun_2"]
    assert agent("stop", {"logical_volumes": "$(reboot)"}).rc == 0
    assert node.kernel.dm_names() == ["vg--san-lun_2"]


# -- a returning node that DRBD is still resyncing ----------------------------------------


def test_start_waits_out_a_resync_that_finishes(agent, node) -> None:  # noqa: F811
    """ocf:linbit:drbd promotes a returning node while Inconsistent; the resync ends seconds later."""
    import threading

    node.drbd("Primary", "Inconsistent", cs="SyncTarget")
    threading.Timer(1.5, lambda: node.drbd("Primary", "UpToDate")).start()
    result = agent("start")
    assert result.rc == 0, str(result)
    assert "waiting for the resync to finish" in result.stderr
    assert node.kernel.dm_names() == ["vg--san-lun--1", "vg--san-lun_2"]


def test_start_gives_up_on_a_resync_within_its_timeout(agent, node) -> None:  # noqa: F811
    node.drbd("Primary", "Inconsistent", cs="SyncTarget")
    started = time.monotonic()
    result = agent("start", timeout_ms=5000)
    assert time.monotonic() - started < 5.0
    assert result.rc == 1 and "resyncing from a peer), still after waiting for it" in result.reason, str(result)
    assert node.kernel.dm_names() == []
