"""alua-fence-peer: DRBD's fence-peer handler waiting in front of crm-fence-peer.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import types
import xml.etree.ElementTree as ET

import pytest

from alua.commands import fence_cluster as fp_cluster
from alua.commands import fence_peer as fp
from alua.tools import cib
from conftest import ROOT

HANDLER = ["/usr/lib/drbd/crm-fence-peer.sh", "--timeout", "30", "--suicide-on-failure-if-primary"]


NODE_STATE = {  # what Pacemaker writes for each state
    fp.ALIVE: 'in_ccm="true" crmd="online" expected="member"',
    fp.LOST: 'in_ccm="false" crmd="offline" expected="member"',
    fp.FENCED: 'in_ccm="false" crmd="offline" expected="down"',
}


def cib_text(peer_state, *, dc="1", resources=True):
    """A CIB of hpms01 (id 1) and hpms02 (id 2, the peer in `peer_state`), DC `dc`."""
    peer = f'<node_state id="2" uname="hpms02" {NODE_STATE[peer_state]}/>' if peer_state in NODE_STATE else ""
    res = ('<clone id="ms_drbd"><primitive id="p_drbd" class="ocf" provider="linbit" type="drbd">'
           '<instance_attributes id="ia"><nvpair id="nv" name="drbd_resource" value="vg1"/></instance_attributes>'
           '</primitive></clone>') if resources else ""
    return (f'<cib dc-uuid="{dc}"><configuration><nodes><node id="1" uname="hpms01"/><node id="2" uname="hpms02"/>'
            f'</nodes><resources>{res}</resources><constraints/></configuration><status>'
            f'<node_state id="1" uname="hpms01" {NODE_STATE[fp.ALIVE]}/>{peer}</status></cib>')


class FakeCluster:
    """The answers Pacemaker would give: one peer state per CIB read (the last one repeats)."""

    def __init__(self, states, *, answers=False, promoted=True, me="hpms01", dcs=("1",), fences=True,
                 disk=("UpToDate", "DUnknown")):
        self.states = list(states)
        self.dcs = list(dcs)
        self.answers = answers
        self.promoted = promoted
        self.me = me
        self.fences = fences
        self.disk = disk
        self.asked: list[str] = []

    def local_node(self, cib):
        return self.me

    def cib(self):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        dc = self.dcs.pop(0) if len(self.dcs) > 1 else self.dcs[0]
        self.asked.append(f"cib {state} dc={dc}")
        return fp.CibView.parse(cib_text(state, dc=dc))

    def ask_controller(self, peer, seconds):
        self.asked.append(f"crmadmin {peer} {seconds:g}")
        return types.SimpleNamespace(answered=lambda: self.answers, cancel=lambda: None)

    membership = "member"  # what corosync-quorumtool says of the peer

    def ask_membership(self, peer, node_id):
        self.asked.append(f"quorumtool {peer} {node_id}".rstrip())
        return types.SimpleNamespace(result=lambda: self.membership, cancel=lambda: None)

    on_disk = cib_text(fp.ALIVE)  # Pacemaker's configuration file (its status section is stale)

    def cib_on_disk(self):
        self.asked.append("disk")
        return fp.CibView.parse(self.on_disk)

    def fence(self, peer, seconds, action="reboot"):
        self.asked.append(f"fence {peer}")
        self.actions = [*getattr(self, "actions", []), action]
        if self.fences:  # as Pacemaker's controller records a fencing it ran
            self.states = [fp.FENCED]
        return self.fences

    def promoted_here(self, clone, me):
        self.asked.append(f"locate {clone}")
        return self.promoted

    def drbd_minor(self, minor):
        if self.disk is None:
            return None
        return fp.ProcMinor(int(minor), "WFConnection", "Primary", "Unknown", *self.disk)

    placed = None  # what place_fencing_constraint answers (None: never asked)

    started = None  # the constraint whose write start_fencing_constraint began

    def start_fencing_constraint(self, resource, cib, me):
        if self.started is not None or not cib.promotable_of(resource):  # as Cluster's: no clone, no write
            return False
        self.asked.append(f"start {resource} {cib.promotable_of(resource)} {me}")
        self.started = fp.fencing_constraint_id(resource, cib.promotable_of(resource))
        return True

    def constraint_placed(self):
        return self.started if self.started is not None and self.placed else ""

    def place_fencing_constraint(self, resource, cib, me):
        self.asked.append(f"place {resource} {cib.promotable_of(resource)} {me}")
        self.start_fencing_constraint(resource, cib, me)
        return self.constraint_placed()

    def withdraw_fencing_constraint(self):
        if self.constraint_placed():
            self.asked.append(f"withdraw {self.started}")
        self.started = None


def run_main(argv, cluster, monkeypatch, env=None):
    calls, logs, sleeps = [], [], []
    priorities = [0]
    monkeypatch.setattr(fp.os, "getpriority", lambda which, who: priorities[-1])
    monkeypatch.setattr(fp.os, "setpriority", lambda which, who, value: priorities.append(value))
    monkeypatch.setattr(fp.os, "access", lambda path, mode: True)
    monkeypatch.setattr(fp.os, "uname", lambda: types.SimpleNamespace(nodename=getattr(cluster, "me", "hpms01")))
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
    assert not any(a.startswith("fence") for a in cluster.asked)  # no --fence-after: never fences


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
    assert "fence hpms02" not in cluster.asked  # without --fence-after it waits for the cluster


def test_timeout_hands_over_to_the_handlers_own_logic():
    states = []
    cluster = FakeCluster([fp.LOST])
    opts = fp.parse_args(["--timeout", "1", "--poll", "0.05", "--", *HANDLER])
    assert fp.decide(opts, cluster, "hpms02", states.append)[0] == fp.UNKNOWN
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

    assert cib.classify(ns(in_ccm="false", crmd="offline", expected="down")) == fp.FENCED
    assert cib.classify(ns(in_ccm="true", crmd="online", expected="member")) == fp.ALIVE
    assert cib.classify(ns(in_ccm="false", crmd="offline", expected="member")) == fp.LOST  # lost, not yet fenced
    assert cib.classify(None) == fp.UNKNOWN


def test_cib_view():
    view = cib.CibView.parse(cib_text(fp.FENCED, dc="2"))
    assert view.state_of("hpms02") == fp.FENCED and view.state_of("hpms01") == fp.ALIVE
    assert view.state_of("nosuch") == fp.UNKNOWN
    assert view.members() == ["hpms01", "hpms02"] and view.node_id("hpms02") == "2"
    assert view.dc_is("hpms02") and not view.dc_is("hpms01")  # until the survivor has taken over
    assert view.promotable_of("vg1") == "ms_drbd" and view.promotable_of("r0") == ""
    for broken in ("not xml", "", None):
        v = cib.CibView.parse(broken)
        assert v.state_of("hpms02") == fp.UNKNOWN and v.members() == [] and not v.dc_is("hpms02")
    nodes = cib.CibView.parse('<nodes><node id="1" uname="a"/><node id="3" uname="q" type="ping"/></nodes>')
    assert nodes.members() == ["a"]
    locate = "resource ms_scst is running on: hpms01 Promoted\nresource ms_scst is running on: hpms02\n"
    assert cib.promoted_nodes(locate) == {"hpms01"}


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
        def ask_controller(self, peer, seconds):
            raise RuntimeError("boom")

    _, calls, logs, _ = run_main(["--", *HANDLER], Broken([fp.ALIVE]), monkeypatch, {"DRBD_PEER": "hpms02"})
    assert calls == [(HANDLER[0], HANDLER)] and any("waiting failed (RuntimeError: boom)" in m for m in logs)


FENCE_ENV = {"DRBD_PEER": "hpms02", "DRBD_RESOURCE": "vg1", "DRBD_MINOR": "0"}


def test_fenced_peer_with_crm_fence_peer_is_answered_here(monkeypatch):
    cluster = FakeCluster([fp.LOST, fp.FENCED])
    cluster.placed = True
    rc, calls, _, _ = run_main(["--poll", "0.05", "--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == [] and "place vg1 ms_drbd hpms01" in cluster.asked


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


def test_disk_state_parser():
    proc = ("version: 8.4.11 (api:1/proto:86-101)\n"
            " 0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C s-----\n"
            " 1: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n")
    assert fp.drbd_minor(proc, "0").disk_state == "UpToDate" and fp.drbd_minor(proc, "1").disk_state == "Inconsistent"
    assert fp.drbd_minor(proc, "2") is None and fp.drbd_minor(proc, "x") is None
    assert fp.drbd_minor(proc, "1").peer_disk_state == "UpToDate"


def test_promoted_node_answers_a_live_peer_outdated_with_the_constraint(monkeypatch):
    # replication link cut, both alive: the node the initiators write to places the constraint
    cluster = FakeCluster([fp.ALIVE], answers=True, promoted=True)
    cluster.placed = True
    rc, calls, _, sleeps = run_main(["--promotable", "ms_scst", "--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_OUTDATED and calls == [] and sleeps == []
    assert "place vg1 ms_drbd hpms01" in cluster.asked


def test_live_peer_with_a_disk_not_good_enough_goes_to_the_script(monkeypatch):
    for disk in (("Inconsistent", "DUnknown"), ("UpToDate", "UpToDate"), None):
        cluster = FakeCluster([fp.ALIVE], answers=True, promoted=True, disk=disk)
        cluster.placed = True
        _, calls, _, _ = run_main(["--promotable", "ms_scst", "--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
        assert calls == [(HANDLER[0], HANDLER)] and not any(a.startswith("place") for a in cluster.asked)
    # a fenced peer needs UpToDate, Consistent is not enough
    cluster = FakeCluster([fp.FENCED], disk=("Consistent", "DUnknown"))
    cluster.placed = True
    _, calls, _, _ = run_main(["--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert calls == [(HANDLER[0], HANDLER)]


def test_fence_after_fences_a_member_that_does_not_answer(monkeypatch):
    # the promoted node died; corosync has not noticed yet; its controller does not answer
    cluster = FakeCluster([fp.ALIVE], answers=False, promoted=False)
    cluster.placed = True
    rc, calls, logs, sleeps = run_main(["--promotable", "ms_scst", "--fence-after", "1", "--", *HANDLER], cluster,
                                       monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == []
    asked = cluster.asked
    assert asked.index("crmadmin hpms02 1") < asked.index("fence hpms02") < asked.index("place vg1 ms_drbd hpms01")
    assert "locate ms_scst" not in asked and 2.0 not in sleeps  # not a live peer: no loser delay
    assert any("does not answer" in m for m in logs)


def test_fence_after_fences_a_lost_peer_at_once_and_only_once(monkeypatch):
    cluster = FakeCluster([fp.LOST], fences=False)
    opts = fp.parse_args(["--fence-after", "0.5", "--timeout", "1", "--poll", "0.05", "--", *HANDLER])
    found, _ = fp.decide(opts, cluster, "hpms02", lambda m: None)
    assert found == fp.UNKNOWN and cluster.asked.count("fence hpms02") == 1
    assert not any(a.startswith("crmadmin") for a in cluster.asked)  # lost: nothing to ask
    # the fencer failed: waiting on for the cluster's own fencing, which then succeeds
    cluster = FakeCluster([fp.LOST, fp.LOST, fp.FENCED], fences=False)
    opts = fp.parse_args(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER])
    assert fp.decide(opts, cluster, "hpms02", lambda m: None)[0] == fp.FENCED


def test_a_fenced_peer_that_was_the_dc_waits_for_the_new_dc(monkeypatch):
    # the constraint can only be written once the survivor has taken over as DC
    cluster = FakeCluster([fp.FENCED], dcs=("2", "2", "2", "1"))
    cluster.placed = True
    rc, _, _, _ = run_main(["--poll", "0.05", "--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_STONITHED
    reads = [a for a in cluster.asked if a.startswith("cib")]
    assert reads[-1] == "cib fenced dc=1" and len(reads) >= 4
    assert cluster.asked.index("cib fenced dc=1") < cluster.asked.index("place vg1 ms_drbd hpms01")


@pytest.fixture
def fp_proc(request):
    """pytest-subprocess's fixture (named fp, like this module's alias of the handler)."""
    return request.getfixturevalue("fp")


def test_commands_the_handler_runs(fp_proc):
    """The argv of every command, and that the real tools accept the options (where installed)."""
    c = fp.Cluster(fp.CommandRunner(fp.Deadline(30)))
    fp_proc.register(["cibadmin", "--query", "--local"], stdout=cib_text(fp.ALIVE))
    assert c.cib().state_of("hpms02") == fp.ALIVE
    crmadmin = ["crmadmin", "--timeout", "1000ms", "--status", "hpms02"]
    fp_proc.register(crmadmin, stdout="Controller on hpms02 in state S_NOT_DC: ok\n")
    probe = c.ask_controller("hpms02", 1.0)
    deadline = time.monotonic() + 10
    while probe.answered() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.answered() is True
    fp_proc.register(crmadmin, returncode=1, stderr="error: No reply\n")
    probe = c.ask_controller("hpms02", 1.0)
    while probe.answered() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.answered() is False
    fence = ["stonith_admin", "--reboot", "hpms02", "--timeout", "20", "--tolerance", "5", "--tag", "alua-fence-peer"]
    fp_proc.register(fence, returncode=0)
    assert c.fence("hpms02", 20)
    fp_proc.register(fence, returncode=1)
    assert not c.fence("hpms02", 20)
    fp_proc.register([fence[0], "--fence", *fence[2:]], returncode=0)  # stonith-action=off
    assert c.fence("hpms02", 20, "off")
    fp_proc.register(["cibadmin", "--create", "--scope", "constraints", "--xml-text",
                      fp.fencing_constraint("vg1", "ms_drbd", "hpms01")])
    assert c.place_fencing_constraint("vg1", cib.CibView.parse(cib_text(fp.FENCED)), "hpms01") == \
        "drbd-fence-by-handler-vg1-ms_drbd"
    assert c.place_fencing_constraint("vg1", cib.CibView.parse(cib_text(fp.FENCED)), "hpms01") == \
        "drbd-fence-by-handler-vg1-ms_drbd"  # one write per handler run: a second call waits for the first
    fp_proc.register(["cibadmin", "--delete", "--scope", "constraints", "--xml-text",
                      '<rsc_location id="drbd-fence-by-handler-vg1-ms_drbd"/>'])
    c.withdraw_fencing_constraint()  # removes what it placed (the fencing it was written for failed)
    assert c.constraint_placed() == ""
    assert fp_proc.call_count(["cibadmin", "--delete", fp_proc.any()]) == 1
    c = fp.Cluster(fp.CommandRunner(fp.Deadline(30)))  # a handler run of its own
    assert c.place_fencing_constraint("vg1", cib.CibView.parse(cib_text(fp.FENCED, resources=False)), "hpms01") == ""


@pytest.mark.parametrize("tool, options", [
    ("stonith_admin", ("--fence=", "--reboot=", "--timeout=", "--tolerance=", "--tag=")),
    ("crmadmin", ("--timeout=", "--status=")),
    ("cibadmin", ("--query", "--local", "--create", "--delete", "--scope=", "--xml-text=")),
    ("corosync-quorumtool", ("-l ",)),
])
def test_pacemakers_tools_know_the_handlers_options(tool, options):
    if not shutil.which(tool):
        pytest.skip(f"Pacemaker's {tool} not installed")
    help_option = {"cibadmin": "--help", "corosync-quorumtool": "-h"}.get(tool, "--help-all")
    proc = subprocess.run([tool, help_option], capture_output=True, text=True,
                          timeout=30)
    text = proc.stdout + proc.stderr
    assert all(o in text for o in options), [o for o in options if o not in text]


def test_the_fencing_uses_the_clusters_stonith_action(monkeypatch):
    # the same action as the cluster's own requests, so that the fencer merges them
    cluster = FakeCluster([fp.LOST])
    cluster.placed = True
    run_main(["--fence-after", "1", "--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert cluster.actions == ["reboot"]
    view = cib.CibView.parse('<cib><configuration><crm_config><cluster_property_set id="o">'
                             '<nvpair id="a" name="stonith-action" value="off"/></cluster_property_set>'
                             '</crm_config></configuration></cib>')
    assert view.cluster_property("stonith-action", "reboot") == "off"
    assert cib.CibView(None).cluster_property("stonith-action", "reboot") == "reboot"


def test_with_drbd_naming_the_peer_nothing_runs_before_the_wait(monkeypatch):
    cluster = FakeCluster([fp.FENCED])
    cluster.placed = True
    rc, _, _, _ = run_main(["--", *HANDLER], cluster, monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_STONITHED
    reads = [a for a in cluster.asked if a.startswith("cib")]
    assert len(reads) == 1  # the wait's own first read, no separate one to find the nodes


def test_after_its_own_fencing_it_reads_the_cib_again_only_while_the_peer_was_dc(monkeypatch):
    cluster = FakeCluster([fp.LOST], dcs=("1",))
    opts = fp.parse_args(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER])
    assert fp.decide(opts, cluster, "hpms02", lambda m: None)[0] == fp.FENCED
    assert [a for a in cluster.asked if a.startswith("cib")] == ["cib lost dc=1"]
    cluster = FakeCluster([fp.LOST], dcs=("2", "2", "1"))  # the dead peer was the DC
    assert fp.decide(opts, cluster, "hpms02", lambda m: None)[0] == fp.FENCED
    assert [a for a in cluster.asked if a.startswith("cib")][-1] == "cib fenced dc=1"


class SilentPeer(FakeCluster):
    """A peer whose controller never answers: the crmadmin stays pending until cancelled."""

    def __init__(self, states, **kw):
        super().__init__(states, **kw)
        self.pending = types.SimpleNamespace(answered=lambda: None, cancelled=False)
        self.pending.cancel = lambda: setattr(self.pending, "cancelled", True)

    def ask_controller(self, peer, seconds):
        self.asked.append(f"crmadmin {peer} {seconds:g}")
        return self.pending


def test_a_dead_peers_controller_is_asked_in_the_background(monkeypatch):
    """While crmadmin waits for a dead peer's controller, the CIB is read on: the membership's
    loss there ends the wait at once (the lab measured 2.5 s for one crmadmin on a dead peer)."""
    cluster = SilentPeer([fp.ALIVE, fp.ALIVE, fp.LOST])
    pending = cluster.pending
    opts = fp.parse_args(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER])
    assert fp.decide(opts, cluster, "hpms02", lambda m: None)[0] == fp.FENCED
    assert cluster.asked.count("crmadmin hpms02 1") == 1 and "fence hpms02" in cluster.asked
    assert pending.cancelled  # not left running


def test_background_commands_time_out_and_are_killed():
    from alua.host.run import CommandRunner, CommandTimeout

    job = CommandRunner().start(["sleep", "30"], timeout=0.2)
    assert job.result() is None
    time.sleep(0.3)
    with pytest.raises(CommandTimeout):
        job.result()
    assert job.proc.poll() is not None  # killed
    done = CommandRunner().start(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    deadline = time.monotonic() + 10
    while done.result() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    r = done.result()
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")


def test_a_controller_silent_for_fence_after_seconds_is_not_waited_for(monkeypatch):
    # crmadmin on a dead peer exits well after its own timeout on a busy node: the handler fences
    # once --fence-after has passed without an answer, and stops the crmadmin
    now = [0.0]
    cluster = SilentPeer([fp.ALIVE])
    pending = cluster.pending
    opts = fp.parse_args(["--fence-after", "0.5", "--poll", "0.1", "--", *HANDLER])
    found, _ = fp.decide(opts, cluster, "hpms02", lambda m: None, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert found == fp.FENCED and pending.cancelled
    assert cluster.asked.count("crmadmin hpms02 0.5") == 1 and cluster.asked.count("fence hpms02") == 1


def test_the_constraint_is_written_while_the_fencer_works(monkeypatch):
    """The dead peer was the DC: the constraint's write (which waits for the new DC) starts before
    the handler's own fencing, and its success ends the wait: no CIB read after the fencing."""
    cluster = SilentPeer([fp.ALIVE], dcs=("2",))
    cluster.placed = True
    rc, calls, logs, _ = run_main(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER], cluster, monkeypatch,
                                  FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == []
    order = [a.split()[0] for a in cluster.asked if a.split()[0] in ("start", "fence", "place")]
    assert order == ["start", "fence", "place"], cluster.asked  # place: waits for the write begun before
    reads_after = cluster.asked[cluster.asked.index("fence hpms02"):]
    assert not [a for a in reads_after if a.startswith("cib")], cluster.asked
    assert any("the cluster has a DC" in m for m in logs), logs


def test_a_constraint_written_for_a_fencing_that_failed_is_withdrawn(monkeypatch):
    """The fencing failed and the peer turned out alive: the early constraint (which would keep the
    peer from promotion) is removed, and what to do is decided as for any live peer."""

    class SlowPeer(FakeCluster):
        def ask_controller(self, peer, seconds):
            self.asked.append(f"crmadmin {peer} {seconds:g}")
            late = len([a for a in self.asked if a.startswith("crmadmin")]) > 1  # answers the second time
            return types.SimpleNamespace(answered=lambda: True if late else None, cancel=lambda: None)

    cluster = SlowPeer([fp.ALIVE], fences=False, promoted=False)
    cluster.placed = True
    now = [0.0]
    monkeypatch.setattr(fp.time, "monotonic", lambda: now[0])
    opts = fp.parse_args(["--fence-after", "0.5", "--poll", "0.1", "--promotable", "ms_scst", "--", *HANDLER])
    started = []
    found, _ = fp.decide(opts, cluster, "hpms02", lambda m: None, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s),
                         early=lambda view: started.append(1) or cluster.start_fencing_constraint("vg1", view, "hpms01"))
    assert found == fp.ALIVE and started == [1] and "fence hpms02" in cluster.asked
    cluster.withdraw_fencing_constraint()
    assert cluster.asked[-1] == f"withdraw {fp.fencing_constraint_id('vg1', 'ms_drbd')}"


def test_a_peer_corosync_dropped_is_fenced_without_waiting_for_its_controller():
    """The dead peer was the DC: the CIB still shows it a member, its controller never answers,
    but corosync's membership has dropped it: the handler fences at once (--fence-after 5 would
    otherwise pass first)."""
    now = [0.0]
    cluster = SilentPeer([fp.ALIVE], dcs=("2", "1"))  # hpms01 elected once the peer is gone
    cluster.membership = "left"
    opts = fp.parse_args(["--fence-after", "5", "--poll", "0.1", "--", *HANDLER])
    found, _ = fp.decide(opts, cluster, "hpms02", lambda m: None, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert found == fp.FENCED and now[0] < 1.0, now
    assert "quorumtool hpms02 2" in cluster.asked and "fence hpms02" in cluster.asked


def test_a_member_with_a_silent_controller_waits_for_fence_after():
    now = [0.0]
    cluster = SilentPeer([fp.ALIVE])  # still in corosync's membership
    opts = fp.parse_args(["--fence-after", "2", "--poll", "0.1", "--", *HANDLER])
    found, _ = fp.decide(opts, cluster, "hpms02", lambda m: None, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert found == fp.FENCED and now[0] >= 2.0


CMAP = ("runtime.members.1.config_version (u64) = 0\nruntime.members.1.ip (str) = r(0) ip(10.0.0.99) \n"
        "runtime.members.1.join_count (u32) = 4\nruntime.members.1.status (str) = {one}\n"
        "runtime.members.2.config_version (u64) = 0\nruntime.members.2.ip (str) = r(0) ip(10.0.0.98) \n"
        "runtime.members.2.join_count (u32) = 1\nruntime.members.2.status (str) = joined\n")


@pytest.mark.parametrize("stdout, rc, seen", [
    (CMAP.format(one="left"), 0, "left"),  # what the lab's corosync 3.1 printed (2026-12-06)
    (CMAP.format(one="joined"), 0, "member"),
    (CMAP.replace("runtime.members.1.", "runtime.members.3."), 0, "unknown"),  # no entry for node 1
    ("Failed to initialize the cmap API. Error CS_ERR_LIBRARY\n", 1, "unknown"),
])
def test_corosyncs_membership_as_the_handler_reads_it(fp_proc, stdout, rc, seen):
    """By node id: corosync-cmapctl's runtime.members (it resolves no names: 0.2 s in UML
    against corosync-quorumtool's 0.6 s)."""
    fp_proc.register(["corosync-cmapctl", "-b", "runtime.members"], stdout=stdout, returncode=rc)
    probe = fp.Cluster(fp.CommandRunner(fp.Deadline(30))).ask_membership("hpms01", "1")
    deadline = time.monotonic() + 10
    while probe.result() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.result() == seen


def test_fenced_by_the_cibs_account_under_the_dead_dc_asks_the_fencer(monkeypatch):
    """The dead peer was the DC: the CIB already shows it down, but still names it the DC, so no
    new DC has recorded anything and the constraint could not be written yet. With --fence-after
    the handler asks the fencer (a fencing of the last 5 s counts: --tolerance) and writes the
    constraint meanwhile, instead of polling the CIB until a DC shows up (the lab: 2 s)."""
    cluster = FakeCluster([fp.FENCED], dcs=("2",))  # the CIB never names another DC here
    cluster.placed = True
    rc, calls, logs, _ = run_main(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER], cluster, monkeypatch,
                                  FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == []
    assert [a.split()[0] for a in cluster.asked if a.split()[0] in ("start", "fence")] == ["start", "fence"]
    assert any("fenced in the CIB, DC 2" in m for m in logs), logs


def test_a_peer_corosync_has_dropped_is_fenced_before_any_cib_read_returns(monkeypatch):
    """The promoted node died and corosync has re-formed without it: before any CIB call (each
    takes 1-2 s on the busy survivor), the handler asks corosync, fences the peer (merged with
    dlm_controld's fencing) and writes the constraint meanwhile, naming the clone from the
    configuration Pacemaker keeps on disk: it answers once both are done, with no CIB read."""
    cluster = FakeCluster([fp.ALIVE], dcs=("2",))  # the CIB would still show the dead DC a member
    cluster.membership = "left"
    cluster.placed = True
    rc, calls, logs, _ = run_main(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER], cluster, monkeypatch,
                                  FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == []
    order = [a for a in cluster.asked if a.split()[0] in ("quorumtool", "disk", "start", "fence", "place")]
    # the configuration on disk first: the peer's node id (corosync's membership by id), the clone
    assert order == ["disk", "quorumtool hpms02 2", "start vg1 ms_drbd hpms01", "fence hpms02",
                     "place vg1 ms_drbd hpms01"], cluster.asked  # place: waits for the write begun before
    assert not any(a.startswith(("crmadmin", "cib")) for a in cluster.asked), cluster.asked
    assert any("not in corosync's membership" in m for m in logs) and any("constraint is written" in m for m in logs)


def test_without_the_clone_on_disk_the_cib_decides_after_the_fencing(monkeypatch):
    """No configuration file (or no DRBD clone in it): the fencing still starts at once, the
    constraint waits for the CIB's own account, and the fencer is not asked twice."""
    cluster = FakeCluster([fp.ALIVE], dcs=("1",))
    cluster.membership = "left"
    cluster.on_disk = ""
    cluster.placed = True
    rc, calls, _, _ = run_main(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER], cluster, monkeypatch,
                               FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == []
    assert cluster.asked.count("fence hpms02") == 1
    assert cluster.asked.index("fence hpms02") < cluster.asked.index("place vg1 ms_drbd hpms01")


def test_a_failed_fencing_of_a_dropped_peer_waits_for_the_clusters_own(monkeypatch):
    cluster = FakeCluster([fp.LOST, fp.LOST, fp.FENCED], fences=False)
    cluster.membership = "left"
    cluster.placed = True
    rc, calls, _, _ = run_main(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER], cluster, monkeypatch,
                               FENCE_ENV)
    assert rc == fp.PEER_STONITHED and calls == [] and cluster.asked.count("fence hpms02") == 1


def test_a_member_in_corosync_leaves_the_decision_to_the_cib(monkeypatch):
    """Only the replication link failed: corosync still lists the peer, so nothing is fenced or
    written before the CIB and the controller's answer say it lives; the promoted node then
    places the constraint (exit 4)."""
    cluster = FakeCluster([fp.ALIVE], answers=True, promoted=True, disk=("UpToDate", "DUnknown"))
    cluster.placed = True
    rc, calls, _, _ = run_main(["--promotable", "ms_scst", "--fence-after", "1", "--", *HANDLER], cluster,
                               monkeypatch, FENCE_ENV)
    assert rc == fp.PEER_OUTDATED and calls == []
    assert cluster.asked[:2] == ["disk", "quorumtool hpms02 2"] and "fence hpms02" not in cluster.asked
    starts = [i for i, a in enumerate(cluster.asked) if a.startswith("start")]
    assert starts == [cluster.asked.index("place vg1 ms_drbd hpms01") + 1], cluster.asked  # no early write


@pytest.mark.parametrize("stdout, seen", [
    ("    Nodeid      Votes Name\n         1          1 hpms01 (local)\n", "left"),
    ("    Nodeid      Votes Name\n         1          1 hpms01 (local)\n         2          1 hpms02\n", "member"),
    # addresses instead of names (a nodelist without names): nothing to tell by name
    ("    Nodeid      Votes Name\n         1          1 10.0.0.1 (local)\n", "unknown"),
])
def test_corosyncs_membership_by_name_alone_needs_this_nodes_name_listed(fp_proc, stdout, seen):
    fp_proc.register(["corosync-quorumtool", "-l"], stdout=stdout)
    probe = fp.MembershipProbe(fp.Cluster(fp.CommandRunner(fp.Deadline(30))).runner.start(
        ["corosync-quorumtool", "-l"], timeout=5), "hpms02", "", local="hpms01")
    deadline = time.monotonic() + 10
    while probe.result() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.result() == seen


def test_the_configuration_on_disk_is_read_without_a_command(tmp_path, monkeypatch, fp_proc):
    path = tmp_path / "cib.xml"
    path.write_text(cib_text(fp.ALIVE))
    monkeypatch.setattr(fp_cluster, "CIB_ON_DISK", str(path))
    view = fp.Cluster(fp.CommandRunner(fp.Deadline(30))).cib_on_disk()
    assert view.promotable_of("vg1") == "ms_drbd"
    path.unlink()
    assert fp.Cluster(fp.CommandRunner(fp.Deadline(30))).cib_on_disk().root is None


def test_the_first_phase_runs_ahead_of_the_node_and_the_polling_does_not(monkeypatch):
    """While corosync, the first CIB read and the fencing run, the handler (and the commands it
    starts, which inherit it) is at nice -10; before it polls the CIB it is back at its own value."""
    seen = []
    monkeypatch.setattr(fp.os, "getpriority", lambda which, who: 0)
    monkeypatch.setattr(fp.os, "setpriority", lambda which, who, value: seen.append(value))

    class Watching(FakeCluster):
        def ask_membership(self, peer, node_id):
            self.asked.append(f"quorumtool at {seen[-1] if seen else 0}")
            return super().ask_membership(peer, node_id)

    cluster = Watching([fp.ALIVE], answers=True)
    opts = fp.parse_args(["--fence-after", "1", "--poll", "0.05", "--", *HANDLER])
    found, _ = fp.decide(opts, cluster, "hpms02", lambda m: None, sleep=lambda s: None,
                         early=lambda view: False)
    assert found == fp.ALIVE and seen == [fp.HURRY, 0]
    quorum = [a for a in cluster.asked if a.startswith("quorumtool")]
    assert quorum[0] == f"quorumtool at {fp.HURRY}" and "quorumtool at 0" in quorum  # the loop's

    # started at -10 by DRBD's handler line (crm/README): the polling still runs at the normal value
    seen.clear()
    monkeypatch.setattr(fp.os, "getpriority", lambda which, who: fp.HURRY)
    with fp.ahead_of_the_node(logs := []):
        assert seen == [fp.HURRY]
    assert seen == [fp.HURRY, 0] and logs == []

    def refuse(which, who, value):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fp.os, "setpriority", refuse)
    logs = []
    with fp.ahead_of_the_node(logs.append):
        pass
    assert logs == ["cannot raise my priority: Permission denied"]
