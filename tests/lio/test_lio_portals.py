"""ocf:alua:lio parameter 'portals' against the LIO configfs emulator.

With 'portals' set, the agent opens the local target's iSCSI network portals
(tpgt_N/np/IP:PORT) only after start has put every LUN in this node's group
with the unpromoted state, closes them on stop and reopens one that went
missing while the instance runs. A real kernel lets initiators log in the
moment a portal exists, while a returning node's LUNs still sit in LIO's
active/optimized default group (LIO-FACTS.md, network portals).
"""

from __future__ import annotations

import pytest
from backends.adapters import LIO_DEVICE, LioBackend, lio_node_config, lio_params, lio_target
from backends.harness import NODES
from conftest import REASON_PREFIX, assert_no_traceback
from emulators.lio_fixtures import lio_emulator  # noqa: F401 - fixture

A, B = NODES
PORTALS = {A: ("192.168.122.99:3260", "192.168.152.99:3260"), B: ("192.168.122.98:3260", "192.168.152.98:3260")}
PORTALS_PARAM = " ".join(f"{node}={','.join(portals)}" for node, portals in PORTALS.items())
TPG = f"target/iscsi/{lio_target(A)}/tpgt_1"
NP = f"{TPG}/np"
LUN = f"{TPG}/lun/lun_0"
ALUA = f"target/core/{LIO_DEVICE}/alua"
BACKEND = LioBackend()
P1, P2 = PORTALS[A]


def config_with(*portals: str) -> dict:
    """The local node's LIO with these portals already open (a saved configuration, an iSCSITarget with portals)."""
    config = lio_node_config(A)
    config["targets"]["iscsi"][lio_target(A)]["tpgs"]["1"]["portals"] = list(portals)
    return config


def node_with(lio_emulator, tmp_path, config: dict | None = None, **params: str):  # noqa: F811
    params.setdefault("portals", PORTALS_PARAM)
    if params["portals"] is None:
        del params["portals"]
    emulator = lio_emulator(lio_node_config(A) if config is None else config, name="n")
    return BACKEND.node(A, emulator, tmp_path / "node", lio_params(**params))


def portals(node) -> list[str]:
    return node.emulator.portals(lio_target(A))


def ops(node, since: int = 0) -> list[tuple[str, str, str, str]]:
    return [(w["op"], w["path"], w["data"].strip(), w["result"]) for w in node.emulator.writes()[since:]]


def np_ops(node, since: int = 0) -> list[tuple[str, str, str]]:
    """(op, portal, result) of every mkdir/rmdir under the local TPG's np since a mark."""
    return [(op, path.removeprefix(f"{NP}/"), result) for op, path, _, result in ops(node, since)
            if path.startswith(f"{NP}/")]


def any_np_op(node) -> list[dict]:
    return [w for w in node.emulator.writes() if "/np/" in w["path"] or w["path"].endswith("/np")]


def warnings_naming(result, portal: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("WARNING:") and portal in line]


# -- start -------------------------------------------------------------------------------


def test_start_opens_exactly_the_local_portals_after_the_lun_and_state(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert portals(node) == [], "iSCSITarget created the target without portals"
    result = node.run("start")
    assert result.rc == 0, str(result)
    assert portals(node) == [P1, P2], "the local node's portals, not the peer's"
    done = ops(node)
    first_np = next(i for i, op in enumerate(done) if op[1].startswith(f"{NP}/"))
    lun_joined = done.index(("write", f"{LUN}/alua_tg_pt_gp", A, "ok"))
    states = [i for i, op in enumerate(done) if op[:3] == ("write", f"{ALUA}/{A}/alua_access_state", "1")]
    assert states and lun_joined < first_np and max(states) < first_np, done
    assert done[first_np:] == [("mkdir", f"{NP}/{P1}", "", "ok"), ("mkdir", f"{NP}/{P2}", "", "ok")], \
        "the portals are the last thing start does in configfs"
    assert f"opening network portal {P1}" in result.stderr
    assert node.monitor().rc == 0


def test_start_with_a_portal_already_open_adds_only_the_missing_one(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, config_with(P2))
    result = node.run("start")
    assert result.rc == 0, str(result)
    assert sorted(portals(node)) == sorted([P1, P2])
    assert np_ops(node) == [("mkdir", P1, "ok")], "no mkdir of the open one (it would be EEXIST)"
    mark = len(node.emulator.writes())
    assert node.run("start").rc == 0
    assert np_ops(node, mark) == [], "a second start opens nothing"
    assert sorted(portals(node)) == sorted([P1, P2])


def test_a_failing_portal_mkdir_fails_start_with_the_path_and_errno(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    node.emulator.fault(f"{NP}/{P1}", kind="einval", on="mkdir")
    result = node.run("start")
    assert result.rc == 1, str(result)
    assert_no_traceback(result)
    assert f"/sys/kernel/config/{NP}/{P1}" in result.reason and "EINVAL" in result.reason, result.reason
    assert portals(node) == []
    g = node.emulator.dump()["backstores"][LIO_DEVICE]["alua"]
    assert g[A]["members"] == [f"iSCSI/{lio_target(A)}/tpgt_1/lun_0"] and g[A]["state"] == 1, \
        "the LUN was placed and stated before the portal failed"
    assert node.run("stop").rc == 0
    assert node.emulator.dump()["backstores"][LIO_DEVICE]["alua"][A]["state"] == 14


def test_a_failure_on_the_second_portal_leaves_the_first_for_stop_to_close(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    node.emulator.fault(f"{NP}/{P2}", kind="enomem", on="mkdir")
    result = node.run("start")
    assert result.rc == 1, str(result)
    assert_no_traceback(result)
    assert f"{NP}/{P2}" in result.reason and "ENOMEM" in result.reason, result.reason
    assert [line for line in result.stderr.splitlines() if line.startswith(REASON_PREFIX)] == \
        [f"{REASON_PREFIX}{result.reason}"], "one reason"
    assert portals(node) == [P1]
    node.emulator.clear_faults()
    assert node.run("stop").rc == 0  # what Pacemaker does after a failed start
    assert portals(node) == []


# -- stop --------------------------------------------------------------------------------


def test_stop_closes_the_listed_local_portals_only_after_the_inactive_state(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    node.emulator.sh(f"mkdir /sys/kernel/config/{NP}/10.0.0.1:3260")  # an admin's portal, not in 'portals'
    mark = len(node.emulator.writes())
    result = node.run("stop")
    assert result.rc == 0, str(result)
    assert portals(node) == ["10.0.0.1:3260"]
    done = ops(node, mark)
    assert done[0] == ("write", f"{ALUA}/{A}/alua_access_state", "14", "ok"), done
    assert done[1:] == [("rmdir", f"{NP}/{P1}", "", "ok"), ("rmdir", f"{NP}/{P2}", "", "ok")], done
    mark = len(node.emulator.writes())
    assert node.run("stop").rc == 0, "stop twice"
    assert np_ops(node, mark) == []
    assert portals(node) == ["10.0.0.1:3260"]
    assert node.monitor(probe=True).rc == 7


def test_stop_closes_listed_portals_that_were_open_before_any_start(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, config_with(P1, P2))
    assert node.monitor(probe=True).rc == 7
    assert node.run("stop").rc == 0
    assert portals(node) == []
    assert [op[0] for op in ops(node)] == ["rmdir", "rmdir"], "no group state written for a stopped node"


def test_stop_after_the_target_is_gone_succeeds(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    node.emulator.remove_target(lio_target(A))  # iSCSITarget stopped first
    mark = len(node.emulator.writes())
    result = node.run("stop")
    assert result.rc == 0, str(result)
    assert_no_traceback(result)
    assert np_ops(node, mark) == []
    assert node.emulator.dump()["backstores"][LIO_DEVICE]["alua"][A]["state"] == 14


def test_a_portal_that_cannot_be_closed_fails_stop_with_the_path(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    node.emulator.fault(f"{NP}/{P1}", kind="ebusy", on="rmdir")
    result = node.run("stop")
    assert result.rc == 1, str(result)
    assert_no_traceback(result)
    assert f"{NP}/{P1}" in result.reason and "EBUSY" in result.reason, result.reason
    assert portals(node) == [P1, P2], "the agent stops at the first failure"
    assert node.emulator.dump()["backstores"][LIO_DEVICE]["alua"][A]["state"] == 14, "the state went first"


# -- monitor -----------------------------------------------------------------------------


def test_monitor_reopens_a_missing_portal_with_a_warning(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    mark = len(node.emulator.writes())
    result = node.monitor()
    assert result.rc == 0 and np_ops(node, mark) == [] and "WARNING" not in result.stderr, str(result)
    node.emulator.sh(f"rmdir /sys/kernel/config/{NP}/{P1}")
    mark = len(node.emulator.writes())
    result = node.monitor()
    assert result.rc == 0, str(result)
    assert np_ops(node, mark) == [("mkdir", P1, "ok")]
    assert sorted(portals(node)) == sorted([P1, P2])
    assert warnings_naming(result, P1) and not warnings_naming(result, P2), result.stderr


def test_monitor_of_a_promoted_instance_reopens_missing_portals(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    assert node.run("promote").rc == 0
    node.emulator.sh(f"rmdir /sys/kernel/config/{NP}/{P1} /sys/kernel/config/{NP}/{P2}")
    assert portals(node) == []
    result = node.monitor()
    assert result.rc == 8, str(result)
    assert portals(node) == [P1, P2]
    assert warnings_naming(result, P1) and warnings_naming(result, P2), result.stderr


def test_a_probe_of_a_stopped_instance_opens_nothing(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path)
    assert node.monitor(probe=True).rc == 7
    assert node.monitor().rc == 7
    assert node.run("start").rc == 0
    assert node.run("stop").rc == 0
    mark = len(node.emulator.writes())
    assert node.monitor(probe=True).rc == 7
    assert portals(node) == [] and np_ops(node, mark) == []
    assert [op for op in ops(node) if op[0] == "mkdir" and op[1].startswith(f"{NP}/")] == \
        [("mkdir", f"{NP}/{P1}", "", "ok"), ("mkdir", f"{NP}/{P2}", "", "ok")], "only start opened them"


def test_a_broken_instance_does_not_reopen_portals(lio_emulator, tmp_path) -> None:  # noqa: F811
    """A monitor that reports a failure leaves the portals to stop: none is opened to a LUN in the wrong group."""
    node = node_with(lio_emulator, tmp_path)
    assert node.run("start").rc == 0
    node.emulator.sh(f"rmdir /sys/kernel/config/{NP}/{P1}")
    node.emulator.set(f"{LUN}/alua_tg_pt_gp", "default_tg_pt_gp")
    result = node.monitor()
    assert result.rc == 1, str(result)
    assert portals(node) == [P2]


# -- without 'portals' -------------------------------------------------------------------


def test_without_portals_the_agent_never_touches_np(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, config_with(P1), portals=None)
    for action in ("start", "monitor", "promote", "monitor", "demote", "stop", "stop"):
        result = node.monitor() if action == "monitor" else node.run(action)
        assert result.rc in (0, 8), f"{action}: {result}"
    assert node.monitor(probe=True).rc == 7
    assert any_np_op(node) == []
    assert portals(node) == [P1], "a portal iSCSITarget opened stays"


# -- the parameter -----------------------------------------------------------------------

BAD = {
    "no port": (f"{A}=1.2.3:3260", "not a dotted IPv4 address"),
    "no colon": (f"{A}=1.2.3.4", "is not ADDRESS:PORT"),
    "port too big": (f"{A}=1.2.3.4:70000", "not a number from 1 to 65535"),
    "bad IPv6": (f"{A}=[zz::1]:3260", "not a valid IPv6 address"),
    "twice": (f"{A}=1.2.3.4:3260,1.2.3.4:3260", "'1.2.3.4:3260' twice"),
    "unknown node": (f"{A}=1.2.3.4:3260 hpms03=1.2.3.5:3260", "node hpms03 is not in parameter 'targets'"),
    "newline": (f"{A}=1.2.3.4:3260\n{B}=1.2.3.5:3260", "control character"),
    "port with a leading zero": (f"{A}=1.2.3.4:03260", "not a number from 1 to 65535"),
    "octet with a leading zero": (f"{A}=1.2.3.04:3260", "not a valid IPv4 address"),
    "empty entry": (f"{A}=", "is not ADDRESS:PORT"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_portals_are_refused_before_configfs_is_touched(case, lio_emulator, tmp_path) -> None:  # noqa: F811
    value, problem = BAD[case]
    node = node_with(lio_emulator, tmp_path, config_with(P1), portals=value)
    for action in ("validate-all", "start"):
        result = node.run(action)
        assert result.rc == 6, f"{action}: {result}"
        assert_no_traceback(result)
        assert result.reason.startswith("parameter 'portals': ") and problem in result.reason, result.reason
    assert ops(node) == []
    result = node.run("stop")
    assert result.rc == 0, str(result)
    assert portals(node) == [P1], "stop with a value it cannot read closes nothing"


def test_the_local_node_must_be_listed_when_portals_is_set(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, portals=f"{B}={PORTALS[B][0]}")
    for action in ("validate-all", "start"):
        result = node.run(action)
        assert result.rc == 6, f"{action}: {result}"
        assert result.reason.startswith("parameter 'portals': ") and f"this node '{A}' is not listed" in result.reason
    assert ops(node) == []
    assert node.run("stop").rc == 0
    assert node.monitor(probe=True).rc == 7


def test_ipv6_portals_are_opened_by_name(lio_emulator, tmp_path) -> None:  # noqa: F811
    value = f"{A}=[fd00:122::99]:3260,192.168.152.99:3260 {B}=[fd00:122::98]:3260"
    node = node_with(lio_emulator, tmp_path, portals=value)
    assert node.run("start").rc == 0
    assert portals(node) == ["[fd00:122::99]:3260", "192.168.152.99:3260"]
    assert node.run("stop").rc == 0
    assert portals(node) == []


# -- values LIO refuses, caught by the parameter check --


def test_a_link_local_portal_without_a_scope_is_a_configuration_error(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, portals=f"{A}=[fe80::99]:3260")
    result = node.run("validate-all")
    assert result.rc == 6 and result.reason.startswith("parameter 'portals': "), str(result)


def test_one_address_spelled_twice_is_a_configuration_error(lio_emulator, tmp_path) -> None:  # noqa: F811
    node = node_with(lio_emulator, tmp_path, portals=f"{A}=[fd00::99]:3260,[fd00:0::99]:3260")
    result = node.run("validate-all")
    assert result.rc == 6 and result.reason.startswith("parameter 'portals': "), str(result)
