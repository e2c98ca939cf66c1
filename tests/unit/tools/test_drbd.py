"""lib/alua/tools/drbd/ over real captured DRBD 8.4 and DRBD 9 output.

pytest-subprocess (``fp``) stands in for drbdsetup; an unregistered command
fails the test, which is how "no command runs" is shown for the /proc/drbd
path.  The in-process fake kernel (``kernel``) holds /proc/drbd and the
udev by-res links.
"""

from __future__ import annotations

import time

import pytest
from alua.tools import drbd
from alua.tools.drbd import byres as drbd_byres
from alua.tools.drbd import events as drbd_events
from alua.tools.drbd import procfs as drbd_procfs
from alua.tools.drbd import reader as drbd_reader
from alua.ocf.errors import OcfError
from alua.host.run import CommandRunner, CommandTimeout
from alua.ocf.context import Deadline
from drbd_lvm.harness import kernel  # noqa: F401 - fixture
from drbd_lvm.states import (
    DISK_STATES,
    ROLES,
    events2_v9,
    events2_v9_many,
    fixture,
    proc_drbd,
    proc_minor_line,
    status_json_v9,
)

EVENTS2_ALL = ["drbdsetup", "events2", "--now", "all"]
PROC_V9 = "version: 9.2.12 (api:2/proto:86-122)\nTransports (api:21): tcp (9.2.12)\n"


def expected(name: str, role: str, disk: str) -> list[str]:
    return [] if (role, disk) == ("Primary", "UpToDate") else [f"DRBD resource {name} is {role}/{disk}"]


# -- parsers over the captures ----------------------------------------------------


def test_proc_drbd_84_lists_every_minor_with_its_states() -> None:
    proc = drbd_procfs.parse_proc_drbd(fixture("drbd84/proc_drbd_ganeti.txt"))
    assert proc.version == "8.4.2" and proc.is_v8
    assert sorted(proc.minors) == [0, 1, 2, 4, 6, 8]
    m0, m2, m4, m6, m8 = (proc.minors[n] for n in (0, 2, 4, 6, 8))
    assert (m0.connection_state, m0.role, m0.peer_role, m0.disk_state, m0.peer_disk_state) == (
        "Connected",
        "Primary",
        "Secondary",
        "UpToDate",
        "UpToDate",
    )
    assert not m2.configured
    assert (m4.connection_state, m4.role, m4.disk_state, m4.peer_disk_state) == (
        "WFConnection",
        "Primary",
        "UpToDate",
        "DUnknown",
    )
    assert (m6.role, m6.disk_state) == ("Secondary", "Diskless")
    assert (m8.connection_state, m8.role) == ("StandAlone", "Secondary")  # no protocol letter on StandAlone


def test_proc_drbd_resync_progress_lines_are_ignored() -> None:
    proc = drbd_procfs.parse_proc_drbd(fixture("drbd84/proc_drbd_ganeti_sync.txt"))
    assert sorted(proc.minors) == [0, 3, 5]
    assert (proc.minors[5].connection_state, proc.minors[5].role, proc.minors[5].peer_disk_state) == (
        "SyncSource",
        "Secondary",
        "Inconsistent",
    )


def test_proc_drbd_seed_cluster_and_split_brain_captures() -> None:
    seed = drbd_procfs.parse_proc_drbd(fixture("drbd84/proc_drbd_seed_dual_primary.txt"))
    assert (seed.minors[0].role, seed.minors[0].peer_role, seed.minors[0].disk_state) == (
        "Primary",
        "Primary",
        "UpToDate",
    )
    outdated = drbd_procfs.parse_proc_drbd(fixture("drbd84/proc_drbd_splitbrain_outdated.txt"))
    assert (outdated.version, outdated.minors[0].role, outdated.minors[0].disk_state) == (
        "8.3.7",
        "Secondary",
        "Outdated",
    )
    assert not drbd_procfs.parse_proc_drbd(fixture("drbd84/proc_drbd_splitbrain_unconfigured.txt")).minors[0].configured


def test_proc_drbd_of_drbd9_has_no_minors() -> None:
    proc = drbd_procfs.parse_proc_drbd(PROC_V9)
    assert proc.version == "9.2.12" and not proc.is_v8 and proc.minors == {}


@pytest.mark.parametrize(
    ("name", "role", "disks", "peer"),
    [
        ("events2_create_change_to_primary.txt", "Primary", ["UpToDate"], ("Connected", "Established", "UpToDate")),
        ("events2_sync_source_secondary.txt", "Secondary", ["UpToDate"], ("Connected", "SyncSource", "Inconsistent")),
        ("events2_inconsistent_secondary.txt", "Secondary", ["Inconsistent"], ("Connected", "Established", "UpToDate")),
    ],
)
def test_events2_streams_recorded_by_drbd_utils(name: str, role: str, disks: list[str], peer: tuple[str, ...]) -> None:
    resource = drbd_events.parse_events2(fixture(f"drbd9/{name}"))["some-resource"]
    assert resource.role == role and resource.disk_states == disks and resource.minors == [1000]
    connection = resource.connections["some-peer"]
    assert connection.peer_node_id == 1
    assert (
        connection.connection_state,
        connection.peer_devices[0].replication_state,
        connection.peer_devices[0].peer_disk_state,
    ) == peer


def test_events2_now_with_statistics_and_with_timestamps() -> None:
    now = drbd_events.parse_events2(fixture("drbd9/events2_now_statistics_primary.txt"))["r0"]
    assert (now.role, now.disk_states, now.minors, now.problem()) == ("Primary", ["UpToDate"], [1], None)
    stamped = drbd_events.parse_events2(fixture("drbd9/events2_timestamps_drbdtop.txt"))["test0"]
    assert stamped.role == "Primary" and stamped.connections["peer"].peer_devices[0].peer_disk_state == "Inconsistent"


def test_events2_of_drbdsetup_84_format() -> None:
    resource = drbd_events.parse_events2(fixture("drbd84/events2_now_dual_primary.txt"))["vg1"]
    assert (resource.role, resource.minors, resource.connections["peer"].peer_role) == ("Primary", [0], "Primary")


def test_status_json_mixed_key_styles() -> None:
    resources = drbd_events.parse_status_json(fixture("drbd9/status_json_sle15_secondary.json"))
    assert sorted(resources) == ["1-single-0", "1-single-1"]
    first = resources["1-single-0"]
    assert (first.role, first.disk_states, first.minors) == ("Secondary", ["UpToDate"], [2])
    connection = first.connections["SLE15-sp1-gm-drbd1145296-node1"]
    assert (connection.peer_node_id, connection.connection_state, connection.peer_role) == (1, "Connected", "Primary")
    assert connection.peer_devices[0].peer_disk_state == "UpToDate"  # under "peer_devices"
    assert first.problem() == "DRBD resource 1-single-0 is Secondary/UpToDate"


def test_status_json_quorum_lost() -> None:
    resources = drbd_events.parse_status_json(fixture("drbd9/status_json_quorum_lost.json"))
    assert resources["1-single-0"].volumes[0].quorum and not resources["1-single-1"].volumes[0].quorum


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("disk", DISK_STATES)
def test_status_json_and_events2_agree(role: str, disk: str) -> None:
    from_json = drbd_events.parse_status_json(status_json_v9(role, disk))["1-single-0"]
    from_events = drbd_events.parse_events2(events2_v9("1-single-0", 2, role=role, disk=disk))["1-single-0"]
    assert (from_json.role, from_json.disk_states, from_json.minors) == (
        from_events.role,
        from_events.disk_states,
        from_events.minors,
    )
    assert from_json.problem() == from_events.problem()


# -- primary_uptodate_problems: every role x disk state -------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("disk", DISK_STATES)
def test_drbd84_reads_proc_drbd_only(kernel, fp, role: str, disk: str) -> None:  # noqa: F811
    kernel.drbd(proc_drbd(proc_minor_line(0, role=role, disk=disk)))
    kernel.link("r0", 0, 0)
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == expected("r0", role, disk)
    assert fp.call_count(EVENTS2_ALL) == 0  # fp fails any unregistered command: none ran


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("disk", DISK_STATES)
def test_drbd9_reads_events2(kernel, fp, role: str, disk: str) -> None:  # noqa: F811
    kernel.drbd(PROC_V9)
    fp.register(EVENTS2_ALL, stdout=events2_v9("r0", 0, role=role, disk=disk))
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == expected("r0", role, disk)


@pytest.mark.parametrize("cs", ["WFConnection", "StandAlone"])
def test_drbd84_lost_connection_is_fine_while_primary_uptodate(kernel, fp, cs: str) -> None:  # noqa: F811
    kernel.drbd(proc_drbd(proc_minor_line(0, cs=cs)))
    kernel.link("r0", 0, 0)
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == []


@pytest.mark.parametrize("connection", ["Connecting", "StandAlone"])
def test_drbd9_lost_connection_is_fine_while_primary_uptodate(kernel, fp, connection: str) -> None:  # noqa: F811
    kernel.drbd(PROC_V9)
    fp.register(EVENTS2_ALL, stdout=events2_v9("r0", 0, connection=connection))
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == []


def test_drbd84_outdated_after_losing_the_peer(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(fixture("drbd84/proc_drbd_splitbrain_outdated.txt"))
    kernel.link("r0", 0, 0)
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == ["DRBD resource r0 is Secondary/Outdated"]


def test_drbd9_quorum_lost_is_a_problem(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(PROC_V9)
    fp.register(EVENTS2_ALL, stdout=events2_v9("r0", 0, quorum=False))
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == [
        "DRBD resource r0 is Primary/UpToDate but has lost quorum"
    ]


def test_module_not_loaded_runs_nothing(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(None)
    assert drbd_reader.primary_uptodate_problems(["r0", "r1"], CommandRunner()) == [
        "DRBD resource r0 is not configured on this node (the drbd kernel module is not loaded)",
        "DRBD resource r1 is not configured on this node (the drbd kernel module is not loaded)",
    ]


def test_drbd84_without_udev_links_asks_events2(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(fixture("drbd84/proc_drbd_seed_dual_primary.txt"))
    fp.register(EVENTS2_ALL, stdout=fixture("drbd84/events2_now_dual_primary.txt"))
    runner = CommandRunner()
    assert drbd_reader.primary_uptodate_problems(["vg1", "r9"], runner) == ["DRBD resource r9 is not configured on this node"]
    assert fp.call_count(EVENTS2_ALL) == 1  # one call for every resource


def test_drbd84_multi_volume_names_the_bad_volume(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(proc_drbd(proc_minor_line(0), proc_minor_line(1, cs="SyncTarget", disk="Inconsistent")))
    kernel.link("r0", 0, 0)
    kernel.link("r0", 1, 1)
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == [
        "DRBD resource r0 is Primary (volume 0 UpToDate, volume 1 Inconsistent) (resyncing from a peer)"
    ]


def test_drbd84_unconfigured_minor_behind_a_stale_link_asks_events2(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(fixture("drbd84/proc_drbd_splitbrain_unconfigured.txt"))
    kernel.link("r0", 0, 0)
    fp.register(EVENTS2_ALL, stdout="exists -\n")
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == [
        "DRBD resource r0 is not configured on this node"
    ]


def test_legacy_single_volume_by_res_link(kernel, fp, tmp_path) -> None:  # noqa: F811
    import os

    kernel.drbd(proc_drbd(proc_minor_line(3, role="Secondary")))
    os.symlink("../drbd3", kernel.by_res / "r0")  # drbd-utils 8.x rules: /dev/drbd/by-res/<name>
    assert drbd_reader.primary_uptodate_problems(["r0"], CommandRunner()) == ["DRBD resource r0 is Secondary/UpToDate"]


# -- by minor (what drbd-lvm's monitor asks) -----------------------------------------


def test_minor_problems_84_use_names_when_known(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(fixture("drbd84/proc_drbd_ganeti.txt"))
    reader = drbd_reader.DrbdReader(CommandRunner())
    assert reader.minor_problems([0, 4]) == []
    assert reader.minor_problems([1, 2], {1: "r1"}) == [
        "DRBD resource r1 is Secondary/UpToDate",
        "DRBD device drbd2 is not configured on this node",
    ]
    assert reader.minor_problems([6]) == ["DRBD device drbd6 is Secondary/Diskless"]


def test_minor_problems_9_map_minors_through_events2(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(PROC_V9)
    fp.register(
        EVENTS2_ALL, stdout=events2_v9_many(events2_v9("r0", 0), events2_v9("r1", 1, role="Secondary", disk="Outdated"))
    )
    reader = drbd_reader.DrbdReader(CommandRunner())
    assert reader.minor_problems([0, 1, 7]) == [
        "DRBD resource r1 is Secondary/Outdated",
        "DRBD device drbd7 is not configured on this node",
    ]


def test_minor_of_device() -> None:
    assert drbd_byres.minor_of_device("/dev/drbd0") == 0
    assert drbd_byres.minor_of_device("/dev/drbd12") == 12
    assert drbd_byres.minor_of_device("/dev/loop0") is None  # exists here: major 7
    assert drbd_byres.minor_of_device("/dev/sdb1") is None


def test_minor_of_device_follows_links(tmp_path) -> None:
    import os

    (tmp_path / "by-res" / "r0").mkdir(parents=True)
    os.symlink("../../drbd5", tmp_path / "by-res" / "r0" / "0")
    assert drbd_byres.minor_of_device(str(tmp_path / "by-res" / "r0" / "0")) == 5


# -- names, failures, hangs ------------------------------------------------------------


@pytest.mark.parametrize("raw", ["r0", "r0 r1", "vg1", "data.1", "a-b_c+d"])
def test_resource_names_accepted(raw: str) -> None:
    assert drbd.parse_resource_names(raw) == tuple(raw.split())


@pytest.mark.parametrize("raw", ["r0;reboot", "$(id)", "all", "-r0", "r0 r0", "r/0", "   "])
def test_resource_names_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        drbd.parse_resource_names(raw)


def test_drbdsetup_failure_is_an_error_with_its_reason(kernel, fp) -> None:  # noqa: F811
    kernel.drbd(PROC_V9)
    fp.register(EVENTS2_ALL, returncode=20, stderr="Failed to modprobe drbd (No such file or directory)\n")
    with pytest.raises(OcfError, match="exited 20: Failed to modprobe drbd"):
        drbd_reader.primary_uptodate_problems(["r0"], CommandRunner())


def test_hanging_drbdsetup_is_bounded(kernel) -> None:  # noqa: F811
    import os
    import stat

    kernel.drbd(PROC_V9)
    bindir = kernel.root / "bin"
    bindir.mkdir()
    script = bindir / "drbdsetup"
    script.write_text("#!/bin/sh\nexec sleep 60\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    runner = CommandRunner(Deadline(1.0), env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="drbdsetup events2 --now all did not finish"):
        drbd_reader.primary_uptodate_problems(["r0"], runner)
    assert time.monotonic() - started < 5
