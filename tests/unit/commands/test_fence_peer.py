"""alua-fence-peer: DRBD's fence-peer handler waiting in front of crm-fence-peer.sh."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from alua.commands import fence_peer as fp
from conftest import ROOT

HANDLER = ["/usr/lib/drbd/crm-fence-peer.sh", "--timeout", "30", "--suicide-on-failure-if-primary"]


class FakeCluster:
    """The answers Pacemaker would give, one peer_state per poll."""

    def __init__(self, states, *, answers=False, promoted=True, me="hpms01", nodes=("hpms01", "hpms02")):
        self.states = list(states)
        self.answers = answers
        self.promoted = promoted
        self.me = me
        self.nodes = nodes
        self.asked: list[str] = []

    def local_node(self):
        return self.me

    def peer_of(self, me):
        others = [n for n in self.nodes if n != me]
        return others[0] if len(others) == 1 else ""

    def peer_state(self, peer):
        self.asked.append(f"state {peer}")
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def controller_answers(self, peer):
        self.asked.append(f"crmadmin {peer}")
        return self.answers

    def promoted_here(self, clone, me):
        self.asked.append(f"locate {clone}")
        return self.promoted

    placed = None  # what place_fencing_constraint answers (None: never asked)

    def place_fencing_constraint(self, resource, minor, log):
        self.asked.append(f"place {resource} {minor}")
        return bool(self.placed)


def run_main(argv, cluster, monkeypatch, env=None):
    calls, logs, sleeps = [], [], []
    monkeypatch.setattr(fp.os, "access", lambda path, mode: True)
    monkeypatch.setattr(fp.time, "sleep", lambda s: sleeps.append(s))
    for k in ("DRBD_PEER", "DRBD_RESOURCE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    rc = fp.main(argv, cluster=cluster, execv=lambda path, args: calls.append((path, args)), log=logs.append)
    return rc, calls, logs, sleeps


def test_fenced_peer_hands_over_with_the_arguments_unchanged(monkeypatch):
    cluster = FakeCluster([fp.ALIVE, fp.LOST, fp.LOST, fp.FENCED])
    rc, calls, logs, _ = run_main(["--poll", "0.05", "--", *HANDLER], cluster, monkeypatch, {"DRBD_RESOURCE": "vg1"})
    assert calls == [(HANDLER[0], HANDLER)]
    assert rc == fp.HANDLER_FAILED  # only reached when exec returns
    assert any("hpms02 was fenced" in m for m in logs), logs
    assert "locate" not in " ".join(cluster.asked)  # the tie-break is only for a live peer


def test_live_peer_on_the_promoted_node_hands_over_at_once(monkeypatch):
    cluster = FakeCluster([fp.ALIVE], answers=True, promoted=True)
    _, calls, logs, sleeps = run_main(["--promotable", "ms_scst", "--", *HANDLER], cluster, monkeypatch)
    assert calls == [(HANDLER[0], HANDLER)]
    assert sleeps == [] and any("replication link failed" in m for m in logs)


def test_live_peer_on_the_unpromoted_node_lets_the_promoted_node_win(monkeypatch):
    cluster = FakeCluster([fp.ALIVE], answers=True, promoted=False)
    _, calls, logs, sleeps = run_main(["--promotable=ms_scst", "--loser-delay", "3", "--", *HANDLER], cluster,
                                      monkeypatch)
    assert sleeps == [3.0] and calls == [(HANDLER[0], HANDLER)]
    assert "locate ms_scst" in cluster.asked


def test_dead_member_is_not_taken_for_alive(monkeypatch):
    # the membership has not noticed yet and the controller does not answer: keep waiting
    cluster = FakeCluster([fp.ALIVE, fp.ALIVE, fp.LOST, fp.FENCED], answers=False, promoted=False)
    _, calls, _, sleeps = run_main(["--promotable", "ms_scst", "--poll", "0.05", "--", *HANDLER], cluster,
                                   monkeypatch)
    assert calls and 3.0 not in sleeps and 2.0 not in sleeps  # no loser delay: the peer was fenced


def test_timeout_hands_over_to_the_handlers_own_logic():
    states = []
    cluster = FakeCluster([fp.LOST])
    opts = fp.parse_args(["--timeout", "1", "--poll", "0.05", "--", *HANDLER])
    assert fp.decide(opts, cluster, "hpms02", states.append) == fp.UNKNOWN
    assert "neither fenced nor answering" in states[-1]


@pytest.mark.parametrize("argv, reason", [
    ([*HANDLER], "missing '--'"),
    (["--"], "no handler"),
    (["--", "crm-fence-peer.sh"], "absolute path"),
    (["--timeout", "0", "--", *HANDLER], "between 1 and 600"),
    (["--timeout", "x", "--", *HANDLER], "not a number"),
    (["--poll", "--", *HANDLER], "needs a value"),
    (["--promotable", "ms scst", "--", *HANDLER], "not a resource id"),
    (["--peer", "a\nb", "--", *HANDLER], "not a node name"),
    (["--bogus", "1", "--", *HANDLER], "unknown option"),
])
def test_bad_usage_exits_1_so_drbd_keeps_io_frozen(argv, reason, monkeypatch):
    rc, calls, logs, _ = run_main(argv, FakeCluster([fp.FENCED]), monkeypatch)
    assert rc == fp.HANDLER_FAILED and calls == []
    assert reason in logs[0], logs


def test_classify_node_states():
    def ns(**attrs):
        return ET.Element("node_state", attrs)

    assert fp.classify(ns(in_ccm="false", crmd="offline", expected="down")) == fp.FENCED
    assert fp.classify(ns(in_ccm="true", crmd="online", expected="member")) == fp.ALIVE
    assert fp.classify(ns(in_ccm="false", crmd="offline", expected="member")) == fp.LOST  # lost, not yet fenced
    assert fp.classify(None) == fp.UNKNOWN


def test_parsers():
    status = ('<status><node_state id="1" uname="hpms01" in_ccm="true" crmd="online"/>'
              '<node_state id="2" uname="hpms02" in_ccm="false" crmd="offline" expected="down"><lrm/></node_state>'
              '</status>')
    assert fp.classify(fp.parse_status(status, "hpms02")) == fp.FENCED
    assert fp.parse_status("not xml", "hpms02") is None
    nodes = '<nodes><node id="1" uname="hpms01"/><node id="2" uname="hpms02"/><node id="3" uname="q" type="ping"/></nodes>'
    assert fp.parse_nodes(nodes) == ["hpms01", "hpms02"]
    locate = "resource ms_scst is running on: hpms01 Promoted\nresource ms_scst is running on: hpms02\n"
    assert fp.promoted_nodes(locate) == {"hpms01"}


def test_command_exits_1_without_arguments_and_without_traceback():
    proc = subprocess.run([str(ROOT / "sbin" / "alua-fence-peer")], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]}, timeout=30)
    assert proc.returncode == 1
    assert "usage: alua-fence-peer" in proc.stderr and "Traceback" not in proc.stderr


def test_runs_without_standard_streams_as_drbd_starts_it():
    # The kernel starts DRBD's handlers with fds 0-2 closed: Python's sys.stderr is None then.
    # (The lab's first fault run: the handler died writing to it, and DRBD kept I/O frozen.)
    code = ("import os, sys; sys.path.insert(0, %r); "
            "os.environ.update(DRBD_PEER='hpms02', DRBD_RESOURCE='vg1'); "
            "from alua.commands import fence_peer as fp; "
            "sys.exit(fp.main(['--timeout', '1', '--poll', '0.1', '--', '/bin/sh', '-c', 'exit 7']))"
            % str(ROOT / "lib"))
    proc = subprocess.run(["/usr/bin/python3", "-IS", "-c", code], stdin=subprocess.DEVNULL, timeout=60,
                          preexec_fn=lambda: [os.close(fd) for fd in (0, 1, 2)])
    assert proc.returncode == 7  # the handler's own answer, through exec


def test_an_unexpected_error_while_waiting_hands_over(monkeypatch):
    class Broken(FakeCluster):
        def peer_state(self, peer):
            raise RuntimeError("boom")

    _, calls, logs, _ = run_main(["--", *HANDLER], Broken([fp.ALIVE]), monkeypatch, {"DRBD_PEER": "hpms02"})
    assert calls == [(HANDLER[0], HANDLER)] and any("waiting failed (RuntimeError: boom)" in m for m in logs)


FENCE_ENV = {"DRBD_PEER": "hpms02", "DRBD_RESOURCE": "vg1", "DRBD_MINOR": "0"}


def test_fenced_peer_with_crm_fence_peer_is_answered_here(monkeypatch):
    cluster = FakeCluster([fp.LOST, fp.FENCED])
    cluster.placed = True
    rc, calls, _, _ = run_main(["--poll", "0.05", "--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == [] and "place vg1 0" in cluster.asked


def test_fenced_peer_goes_to_the_script_when_placing_fails_or_is_not_ours(monkeypatch):
    cluster = FakeCluster([fp.FENCED])
    cluster.placed = False
    _, calls, _, _ = run_main(["--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert calls == [(HANDLER[0], HANDLER)]
    # another constraint than the script's default, or another handler: the script decides
    for handler in ([*HANDLER, "--role=Promoted"], ["/usr/lib/drbd/stonith_admin-fence-peer.sh"]):
        cluster = FakeCluster([fp.FENCED])
        cluster.placed = True
        _, calls, _, _ = run_main(["--", *handler], cluster, monkeypatch, FENCE_ENV)
        assert calls == [(handler[0], handler)] and not any(a.startswith("place") for a in cluster.asked)


def test_the_constraint_is_crm_fence_peers_own():
    xml = ET.fromstring(fp.fencing_constraint("vg1", "ms_drbd", "hpms01"))
    assert xml.tag == "rsc_location" and xml.get("rsc") == "ms_drbd"
    assert xml.get("id") == "drbd-fence-by-handler-vg1-ms_drbd"  # the id crm-unfence-peer.sh removes
    rule = xml.find("rule")
    assert (rule.get("role"), rule.get("score"), rule.get("id")) == \
        ("Master", "-INFINITY", "drbd-fence-by-handler-vg1-rule-ms_drbd")
    expr = rule.find("expression")
    assert (expr.get("attribute"), expr.get("operation"), expr.get("value"), expr.get("id")) == \
        ("#uname", "ne", "hpms01", "drbd-fence-by-handler-vg1-expr-ms_drbd")
    script = "/usr/lib/drbd/crm-fence-peer.sh"
    if os.path.exists(script):  # the same template in LINBIT's script (drbd-utils)
        text = open(script).read()
        assert '<rule role=\\"$role\\" score=\\"-INFINITY\\" id=\\"$id_prefix-rule-$master_id\\">' in text
        assert 'id_prefix="$id_prefix-$DRBD_RESOURCE"' in text and ':="drbd-fence-by-handler"' in text


def test_disk_state_and_clone_parsers():
    proc = ("version: 8.4.11 (api:1/proto:86-101)\n"
            " 0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C s-----\n"
            " 1: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n")
    assert fp.local_disk_state(proc, "0") == "UpToDate" and fp.local_disk_state(proc, "1") == "Inconsistent"
    assert fp.local_disk_state(proc, "2") == ""
    resources = ('<resources><clone id="ms_drbd"><primitive id="p" class="ocf" provider="linbit" type="drbd">'
                 '<instance_attributes id="a"><nvpair id="n" name="drbd_resource" value="vg1"/></instance_attributes>'
                 '</primitive></clone><clone id="cl_lvm"><primitive id="q"/></clone></resources>')
    assert fp.promotable_of(resources, "vg1") == "ms_drbd" and fp.promotable_of(resources, "r0") == ""
