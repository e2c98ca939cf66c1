"""dlm_tool's outputs, real or written from dlm's own printf formats (fixtures/README.md), parsed."""

from __future__ import annotations

import pytest
from alua.agents import dlm
from alua.tools import dlm_kernel, dlm_tool
from lockgroup.harness import FIXTURES, fixture


def status(name: str) -> dlm_tool.DlmStatus:
    return dlm_tool.parse_status(fixture("dlm", name))


@pytest.mark.parametrize("name", ["status-v-ready.txt", "status-v-ready-no-smw.txt", "status-v-ready-lab.txt"])
def test_ready_daemon_is_joined_quorate_and_healthy(name: str) -> None:
    s = status(name)
    assert s.answering and s.our_nodeid == 1
    assert sorted(s.nodes) == [1, 2] and all(n.member for n in s.nodes.values())
    assert s.not_ready() is None
    assert s.assess(fencing_grace=60) == ([], [])


def test_ready_output_keeps_every_daemon_key() -> None:
    s = status("status-v-ready.txt")
    assert s.daemon["stateful_merge_wait"] == "0" and s.value("cluster_ringid") == 12
    assert s.nodes[2].values["left_reason"] == "unknown" and len(s.nodes[2].values) == 16


def test_joining_daemon_is_not_ready_yet() -> None:
    s = status("status-v-joining.txt")
    assert s.answering
    assert s.not_ready() == "joining: daemon ring seq 0, cluster ring seq 12"
    failures, warnings = s.assess(fencing_grace=60)
    assert failures == [] and warnings == ["joining: daemon ring seq 0, cluster ring seq 12"]


def test_lost_quorum_is_not_ready_but_no_monitor_failure() -> None:
    s = status("status-v-not-quorate.txt")
    assert s.not_ready() == "the cluster has no quorum"
    assert s.assess(fencing_grace=60) == ([], ["the cluster has no quorum"])


def test_fence_wait_past_the_grace_fails_with_node_reason_age_and_agent_pid() -> None:
    s = status("status-v-fence-wait.txt")
    [(node, age)] = s.fencing_waits()
    assert node.nodeid == 2 and age == 120.0
    failures, _ = s.assess(fencing_grace=60)
    assert failures == [
        "DLM waits for fencing of node 2 (nodedown, 120s ago, fence agent pid 4711), "
        "longer than fencing_grace=60s: fencing is stuck"
    ]


def test_fence_wait_within_the_grace_is_only_a_warning() -> None:
    failures, warnings = status("status-v-fence-wait.txt").assess(fencing_grace=300)
    assert failures == [] and warnings == ["DLM waits for fencing of node 2 (nodedown, 120s ago, fence agent pid 4711)"]


def test_delayed_fencing_shortly_after_a_failure_is_a_warning() -> None:
    failures, warnings = status("status-v-fence-delay.txt").assess(fencing_grace=60)
    assert failures == [] and warnings == ["DLM waits for fencing of node 2 (nodedown, 5s ago, fencing delayed)"]


def test_zero_grace_fails_on_any_fence_wait() -> None:
    failures, _ = status("status-v-fence-delay.txt").assess(fencing_grace=0)
    assert len(failures) == 1 and "node 2" in failures[0]


def test_stateful_merge_is_a_failure_naming_the_killed_node() -> None:
    failures, _ = status("status-v-stateful-merge.txt").assess(fencing_grace=60)
    assert len(failures) == 1
    assert failures[0].startswith("dlm_controld waits for a stateful merge to clear")
    assert failures[0].endswith("(killed: node 3)")


def test_no_daemon_is_reported_on_stdout_with_exit_0() -> None:
    s = status("status-no-daemon.txt")
    assert not s.answering and s.detail == "cannot connect to dlm_controld"
    assert s.not_ready() == "cannot connect to dlm_controld"


def test_unknown_output_is_not_taken_for_an_answer() -> None:
    s = dlm_tool.parse_status("Usage:\n\ndlm_tool [command] [options] [name]\n")
    assert not s.answering and "understands" in s.detail


def test_startup_nodes_are_recorded() -> None:
    s = dlm_tool.parse_status(fixture("dlm", "status-v-joining.txt") + "startup node 2\n")
    assert s.startup_nodes == [2]


def test_ls_of_two_lockspaces_from_dlm_4_1() -> None:
    spaces = dlm_tool.parse_lockspaces(fixture("dlm", "ls-two-lockspaces.txt"))
    assert [ls.name for ls in spaces] == ["lvm_clvg0", "lvm_global"]
    assert spaces[0].members == (1, 2) and spaces[0].fields["id"] == "0x45d1d4f1"
    assert all(ls.waiting_for is None for ls in spaces)


def test_generated_ready_status_has_the_real_daemons_layout() -> None:
    """The generated fixture and a real dlm_controld 4.2 (the lab) differ only in numbers."""
    import re

    def shape(name: str) -> str:
        return re.sub(r"=\d+", "=N", fixture("dlm", name))

    assert shape("status-v-ready.txt") == shape("status-v-ready-lab.txt")


def test_ls_of_a_real_dlm_4_2_in_the_lab() -> None:
    spaces = dlm_tool.parse_lockspaces(fixture("dlm", "ls-lab.txt"))
    assert [ls.name for ls in spaces] == ["lvm_vg1", "lvm_global"]
    assert all(ls.members == (1, 2) and ls.waiting_for is None for ls in spaces)


def test_ls_shows_lockspaces_waiting_for_fencing() -> None:
    spaces = dlm_tool.parse_lockspaces(fixture("dlm", "ls-wait-fencing.txt"))
    assert [(ls.name, ls.waiting_for) for ls in spaces] == [("lvm_vg1", "fencing"), ("lvm_global", "fencing")]
    assert spaces[0].fields["flags"] == "0x00000004 kern_stop" and spaces[0].members == (1, 2)


def test_ls_without_daemon_prints_nothing() -> None:
    assert dlm_tool.parse_lockspaces(fixture("dlm", "ls-no-daemon.txt")) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("-s 0", ("-s", "0")),
        (
            "--enable_startup_fencing 0 --post_join_delay 10",
            ("--enable_startup_fencing", "0", "--post_join_delay", "10"),
        ),
        ("--foreground 0", ("--foreground", "0")),
        ("-r tcp;x$(id)", ("-r", "tcp;x$(id)")),  # an argv word, never a shell
    ],
)
def test_daemon_args_are_split_into_argv_words(raw: str, expected: tuple[str, ...]) -> None:
    assert dlm.parse_daemon_args(raw) == expected


@pytest.mark.parametrize("raw", ["-D 1", "--daemon_debug 1", "--foreground 1", "--foreground", "-h", "--version"])
def test_daemon_args_that_block_or_exit_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        dlm.parse_daemon_args(raw)


@pytest.mark.parametrize(
    ("args", "disabled"),
    [
        (("-f", "0"), True),
        (("--enable_fencing", "0"), True),
        (("--enable_fencing=0",), True),
        (("-f", "1"), False),
        (("-s", "0"), False),
        (("-f",), False),
    ],
)
def test_args_disabling_fencing_are_recognised(args: tuple[str, ...], disabled: bool) -> None:
    assert dlm.args_disable_fencing(args) is disabled


def test_lockspace_names() -> None:
    assert dlm_tool.parse_lockspace_names("lvm_global lvm_vg1") == ("lvm_global", "lvm_vg1")
    assert dlm_tool.parse_lockspace_names("none") == ()
    for bad in ("lvm;x", "-x", "a" * 65, "lvm/global"):
        with pytest.raises(ValueError):
            dlm_tool.parse_lockspace_names(bad)


def test_dlm_conf_settings(tmp_path) -> None:
    conf = tmp_path / "dlm.conf"
    conf.write_text("# lab without fencing\nenable_fencing=0\n log_debug = 1  # comment\nfence_all dlm_stonith\n")
    assert dlm_kernel.read_conf(str(conf)) == {"enable_fencing": "0", "log_debug": "1"}
    assert dlm_kernel.read_conf(str(tmp_path / "missing")) == {}


def test_daemon_log_lines_written_since_start() -> None:
    path = str(FIXTURES / "dlm" / "controld-no-corosync.log")
    lines = dlm.log_lines_since(path, 0)
    assert lines[-1].endswith("corosync cfg init error 2")
    assert dlm.log_lines_since(path, dlm.file_size(path)) == []


def test_kernel_state_from_sysfs_and_mounts(tmp_path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("sysfs /sys sysfs rw 0 0\nconfigfs /sys/kernel/config configfs rw 0 0\n")
    (tmp_path / "dlm" / "lvm_global").mkdir(parents=True)
    (tmp_path / "modules").mkdir()
    kernel = dlm_kernel.DlmKernel(
        configfs=str(tmp_path / "config"),
        lockspace_dir=str(tmp_path / "dlm"),
        modules=str(tmp_path / "modules"),
        mounts=str(mounts),
    )
    assert not kernel.configfs_mounted() and not kernel.dlm_loaded()
    assert kernel.lockspaces() == ["lvm_global"]
    assert dlm_kernel.DlmKernel(mounts=str(mounts)).configfs_mounted()
    (tmp_path / "modules" / "dlm").mkdir()
    assert kernel.dlm_loaded()
