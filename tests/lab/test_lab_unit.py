"""Fast tests of the lab's pieces (no UML, no root needed except where noted).

The full lab (test_lab_full.py, part of every run unless ALUA_LAB=0) or tools/lab runs the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ulab import report, safety, scenario, uml  # noqa: E402
from support.observe import active_roles, failure_lines  # noqa: E402
from ulab import topology as T  # noqa: E402

SEED_MULTIPATH = """\
mpatha (23530396637643733) dm-3 SCST_BIO,vg1
size=20G features='2 queue_if_no_path retain_attached_hw_handler' hwhandler='1 alua' wp=rw
|-+- policy='round-robin 0' prio=50 status=active
| |- 2:0:0:0 sda 8:0 active ready running
| `- 8:0:0:0 sdc 8:32 active faulty running
`-+- policy='round-robin 0' prio=10 status=enabled
  |- 3:0:0:0 sdb 8:16 active ready running
  `- 9:0:0:0 sdd 8:48 failed faulty offline
"""

SEED_RTPG = """\
Report target port groups:
  target port group id : 0x1 , Pref=0, Rtpg_fmt=0
    target port group asymmetric access state : 0x00 (active/optimized)
    T_SUP : 1, O_SUP : 1, LBD_SUP : 0, U_SUP : 1, S_SUP : 1, AN_SUP : 1, AO_SUP : 1
    status code : 0x02 (target port asym. state changed by implicit lu behaviour)
    vendor unique status : 0x00
    target port count : 01
    Relative target port ids:
      0x01
  target port group id : 0x2 , Pref=0, Rtpg_fmt=0
    target port group asymmetric access state : 0x01 (active/non optimized)
    T_SUP : 1, O_SUP : 1, LBD_SUP : 0, U_SUP : 1, S_SUP : 1, AN_SUP : 1, AO_SUP : 1
    status code : 0x02 (target port asym. state changed by implicit lu behaviour)
    vendor unique status : 0x00
    target port count : 01
    Relative target port ids:
      0x02
"""

SEED_SESSIONS = """\
Target: iqn.2016-02.local.virtual:hpms01.vg1 (non-flash)
	Current Portal: 192.168.122.99:3260,1
	Persistent Portal: 192.168.122.99:3260,1
		Host Number: 18	State: running
		scsi18 Channel 00 Id 0 Lun: 0
			Attached scsi disk sda		State: running
	Current Portal: 192.168.152.99:3260,1
	Persistent Portal: 192.168.152.99:3260,1
			Attached scsi disk sdb		State: running
Target: iqn.2016-02.local.virtual:hpms02.vg1 (non-flash)
	Current Portal: 192.168.122.98:3260,1
			Attached scsi disk sdc		State: running
"""

CRM_MON = """<pacemaker-result api-version="2.30" request="crm_mon -1 --output-as=xml">
<resources>
 <clone id="ms_lio" multi_state="true">
  <resource id="p_lio" resource_agent="ocf:alua:lio" role="Promoted" active="true" failed="false">
   <node name="hpms01" id="1" cached="true"/></resource>
  <resource id="p_lio" resource_agent="ocf:alua:lio" role="Unpromoted" active="true" failed="false">
   <node name="hpms02" id="2" cached="true"/></resource>
 </clone>
 <clone id="cl_target"><group id="g_target_vg1:0">
  <resource id="p_lu_vg1" role="Started" active="true" failed="false"><node name="hpms01"/></resource>
 </group></clone>
 <resource id="p_x" role="Stopped" active="false" failed="false"/>
</resources>
<node_history><node name="hpms01"><resource_history id="p_lio"/></node></node_history>
<failures><failure op_key="p_lio_start_0" node="hpms02" exitstatus="error" exitreason="backstore missing"/></failures>
</pacemaker-result>"""


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


# -- safety ------------------------------------------------------------------------------------


def test_workdir_must_not_be_a_system_directory():
    for bad in ("/", "/etc", "/var/tmp", "/usr", "/tmp", "relative/dir"):
        with pytest.raises(safety.UnsafePath):
            safety.check_workdir(bad)
    assert safety.check_workdir("/var/tmp/alua-lab") == "/var/tmp/alua-lab"


def test_check_inside_refuses_escapes(tmp_path):
    work = tmp_path / "work"
    (work / "build").mkdir(parents=True)
    os.symlink("/etc", work / "evil")
    assert safety.check_inside(str(work), str(work / "build" / "x")).endswith("/build/x")
    for bad in ("/etc/passwd", str(work), str(work / ".." / "other"), str(work / "evil" / "passwd")):
        with pytest.raises(safety.UnsafePath):
            safety.check_inside(str(work), bad)


def test_safe_rmtree_only_below_workdir(tmp_path):
    work = tmp_path / "work"
    victim = work / "build" / "rootfs-x" / "etc"
    victim.mkdir(parents=True)
    (victim / "passwd").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(safety.UnsafePath):
        safety.safe_rmtree(str(work), str(outside))
    safety.safe_rmtree(str(work), str(work / "build" / "rootfs-x"))
    assert not (work / "build" / "rootfs-x").exists() and outside.exists()


def test_mounts_below_sees_mount_points():
    assert "/proc" in safety.mounts_below("/")


def test_host_guard_notices_a_change(tmp_path):
    f = tmp_path / "passwd"
    f.write_text("root:x:0:0\n")
    g = safety.HostGuard((str(f),))
    assert g.changed() == []
    f.write_text("root:x:0:0\numl-net:x:103:106\n")
    assert g.changed() == [str(f)]
    g.save(str(tmp_path / "guard"))
    assert safety.HostGuard.load(str(tmp_path / "guard")).changed() == [str(f)]


def test_host_guard_covers_the_files_the_issue_names():
    for p in ("/etc/passwd", "/etc/group", "/etc/shadow", "/var/lib/dpkg/statoverride"):
        assert p in safety.GUARDED_FILES


# -- image cache ---------------------------------------------------------------------------------


def test_cache_key_follows_the_inputs(monkeypatch):
    from ulab import image

    k1 = image.cache_key()
    assert k1 == image.cache_key()
    monkeypatch.setattr(image, "PACKAGES", [*image.PACKAGES, "htop"])
    assert image.cache_key() != k1


# -- the lab's kernel ------------------------------------------------------------------------------


def test_kernel_key_follows_source_fragment_patches_and_recipe(monkeypatch, tmp_path):
    from ulab import kernel

    k1 = kernel.cache_key()
    assert k1 == kernel.cache_key()
    monkeypatch.setattr(kernel, "SOURCE_VERSION", "6.1.999-1")
    assert kernel.cache_key() != k1
    monkeypatch.undo()
    frag = tmp_path / "lab.config"
    frag.write_text(open(kernel.FRAGMENT).read() + "CONFIG_NBD=m\n")
    monkeypatch.setattr(kernel, "FRAGMENT", str(frag))
    assert kernel.cache_key() != k1
    monkeypatch.undo()
    patch = tmp_path / "x.patch"
    patch.write_text("--- a/x\n+++ b/x\n")
    monkeypatch.setattr(kernel, "PATCHES", (*kernel.PATCHES, str(patch)))
    assert kernel.cache_key() != k1
    monkeypatch.undo()
    monkeypatch.setattr(kernel, "BUILD_STEPS", kernel.BUILD_STEPS[:-1])
    assert kernel.cache_key() != k1


def test_kernel_fragment_has_what_both_variants_and_the_initiator_need():
    from ulab import kernel

    opts = kernel.fragment_options()
    for name in ("BLK_DEV_DRBD", "BLK_DEV_DM", "DM_MULTIPATH", "DLM", "CONFIGFS_FS", "TARGET_CORE", "TCM_IBLOCK",
                 "ISCSI_TARGET", "ISCSI_TCP", "BLK_DEV_SD", "CHR_DEV_SG", "SCSI_DH_ALUA", "XFS_FS", "EXT4_FS",
                 "HOSTFS", "BLK_DEV_UBD", "UML_NET_TUNTAP", "MODULES", "CRC_T10DIF", "LIBCRC32C"):
        assert opts.get(f"CONFIG_{name}") in ("y", "m"), name
    assert opts["CONFIG_SCSI_DH"] == "y"
    # every module the lab loads is built (=m) or built in by the fragment
    from ulab import topology as T

    assert "scsi_dh_alua" in T.INITIATOR_MODULES
    assert {"scst", "scst_vdisk", "iscsi-scst"} <= set(T.VARIANTS["scst"].modules)
    assert set(kernel.SCST_MODULES) == {"scst", "scst_vdisk", "iscsi-scst"}


def test_kernel_config_problems_name_what_did_not_hold():
    from ulab import kernel

    config = "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=m\n"
    wanted = {"CONFIG_A": "y", "CONFIG_B": "m", "CONFIG_C": "y", "CONFIG_D": "y", "CONFIG_E": "m"}
    problems = kernel.config_problems(config, wanted)
    assert problems == ["CONFIG_C=y wanted, the kernel's .config has n",
                        "CONFIG_D=y wanted, the kernel's .config has m",
                        "CONFIG_E=m wanted, the kernel's .config has absent"]


def test_kernel_fragment_rejects_a_line_that_is_no_assignment(tmp_path):
    from ulab import kernel

    bad = tmp_path / "bad.config"
    bad.write_text("CONFIG_A=y\nSCSI_DH=y\n")
    with pytest.raises(ValueError, match="bad.config:2"):
        kernel.fragment_options(str(bad))


def test_kernel_build_runs_unprivileged_and_installs_only_below_the_workdir():
    from ulab import kernel

    assert kernel.BUILD_USER == "nobody"
    steps = {name: argv for name, _, argv in kernel.BUILD_STEPS}
    assert "INSTALL_MOD_PATH={build}/mod" in steps["modules_install"]
    assert "DEPMOD=/bin/true" in steps["modules_install"]  # depmod runs later, with -b below the workdir
    assert not any(a.startswith("/lib") or a.startswith("/usr/lib") for _, _, argv in kernel.BUILD_STEPS
                   for a in argv)
    assert all(os.path.exists(p) for p in kernel.PATCHES)


# -- ALUA samples ------------------------------------------------------------------------------------


def test_two_active_finds_overlap_between_nodes_and_within_one_view():
    from ulab import alua_samples as A

    ok = {"hpms01": [(1.0, {"vg1/hpms01": "active", "vg1/hpms02": "nonoptimized"}),
                     (2.0, {"vg1/hpms01": "nonoptimized", "vg1/hpms02": "active"})],
          "hpms02": [(1.1, {"vg1/hpms01": "active", "vg1/hpms02": "nonoptimized"}),
                     (2.1, {"vg1/hpms01": "nonoptimized", "vg1/hpms02": "active"})]}
    assert A.two_active(ok) == []
    both = {"hpms01": [(1.0, {"vg1/hpms01": "active", "vg1/hpms02": "nonoptimized"})],
            "hpms02": [(1.2, {"vg1/hpms01": "nonoptimized", "vg1/hpms02": "active"})]}
    found = A.two_active(both)
    assert found and "own groups of ['hpms01', 'hpms02'] active at once" in found[0]["what"]
    # a dead node's last sample stops counting after `stale` seconds
    dead = {"hpms01": [(1.0, {"vg1/hpms01": "active"})], "hpms02": [(3.0, {"vg1/hpms02": "active"})]}
    assert A.two_active(dead, stale=1.0) == []
    view = {"hpms01": [(1.0, {"vg1/hpms01": "active", "vg1/hpms02": "active"})], "hpms02": []}
    assert "all active" in A.two_active(view)[0]["what"]


def test_alua_samples_load_skips_a_torn_last_line(tmp_path):
    from ulab import alua_samples as A

    p = tmp_path / "alua.jsonl"
    p.write_text('{"t": 2.0, "groups": {"vg1/hpms01": "active"}}\n{"t": 1.0, "groups": {}}\n{"t": 3.0, "gro')
    assert A.load(str(p)) == [(1.0, {}), (2.0, {"vg1/hpms01": "active"})]
    assert A.summary({"n": A.load(str(p))}) == {"n": {"samples": 2, "longest_gap": 1.0}}


# -- parsers ----------------------------------------------------------------------------------------


def test_parse_multipath_seed_output():
    groups = scenario.parse_multipath(SEED_MULTIPATH)
    assert [(g["prio"], g["status"]) for g in groups] == [(50, "active"), (10, "enabled")]
    assert [p["dev"] for p in groups[0]["paths"]] == ["sda", "sdc"]
    assert groups[0]["paths"][1]["chk"] == "faulty"
    assert groups[1]["paths"][1] == {"hctl": "9:0:0:0", "dev": "sdd", "dm": "failed", "chk": "faulty",
                                     "online": "offline"}


def test_parse_rtpg_seed_output():
    assert scenario.parse_rtpg(SEED_RTPG) == [
        {"id": 1, "state": "active/optimized", "ports": 1},
        {"id": 2, "state": "active/non optimized", "ports": 1},
    ]


def test_parse_sessions():
    s = scenario.parse_sessions(SEED_SESSIONS)
    assert s == {"sda": ("iqn.2016-02.local.virtual:hpms01.vg1", "192.168.122.99"),
                 "sdb": ("iqn.2016-02.local.virtual:hpms01.vg1", "192.168.152.99"),
                 "sdc": ("iqn.2016-02.local.virtual:hpms02.vg1", "192.168.122.98")}


def test_parse_crm_mon():
    assert active_roles(CRM_MON) == {"p_lio": {"hpms01": "Promoted", "hpms02": "Unpromoted"},
                                               "p_lu_vg1": {"hpms01": "Started"}}
    assert failure_lines(CRM_MON) == ["p_lio_start_0 on hpms02: backstore missing"]


# -- initiator kit ---------------------------------------------------------------------------------


def test_kit_multipath_conf_has_what_the_issue_asks():
    text = _read(os.path.join(scenario.KIT_DIR, "multipath.conf"))
    for vendor in ("SCST_BIO", "LIO-ORG"):
        block = text[text.index(vendor):]
        block = block[: block.index("}")]
        for want in ("prio                  alua", "path_grouping_policy  group_by_prio",
                     "failback              immediate", 'hardware_handler      "1 alua"'):
            assert want in block, (vendor, want)
    conf = _read(os.path.join(scenario.KIT_DIR, "iscsid-alua.conf"))
    assert "node.session.timeo.replacement_timeout" in conf


def test_the_initiator_gets_the_kit_multipath_conf_unchanged(monkeypatch):
    monkeypatch.delenv("ALUA_LAB_FAIL_TMO", raising=False)
    kit = _read(os.path.join(scenario.KIT_DIR, "multipath.conf"))
    sc = scenario.Scenario.__new__(scenario.Scenario)
    assert sc.initiator_overlay()["/etc/multipath.conf"] == kit


def test_a_shorter_path_failover_can_be_measured_with_alua_lab_fail_tmo(monkeypatch):
    kit = _read(os.path.join(scenario.KIT_DIR, "multipath.conf"))
    monkeypatch.setenv("ALUA_LAB_FAIL_TMO", "1")
    conf = scenario.Scenario.__new__(scenario.Scenario).initiator_overlay()["/etc/multipath.conf"]
    assert conf.count("fast_io_fail_tmo      1\n") == kit.count("fast_io_fail_tmo      2\n") == 2
    assert conf.replace("fast_io_fail_tmo      1", "fast_io_fail_tmo      2") == kit
    iscsid = _read(os.path.join(scenario.KIT_DIR, "iscsid-alua.conf"))
    short = scenario.with_fail_tmo(iscsid, "node.session.timeo.replacement_timeout = ", 1)
    assert "node.session.timeo.replacement_timeout = 1\n" in short and short.count("\n") == iscsid.count("\n")
    for bad in ("0", "1.5", "2\nreboot", "61"):
        monkeypatch.setenv("ALUA_LAB_FAIL_TMO", bad)
        with pytest.raises(ValueError, match="ALUA_LAB_FAIL_TMO"):
            scenario.fail_tmo()
    with pytest.raises(ValueError, match="no 'nothing' line"):
        scenario.with_fail_tmo("a 1\n", "nothing ", 1)


def test_parse_inquiry():
    text = ("standard INQUIRY:\n  PQual=0  PDT=0  RMB=0  LU_CONG=0  hot_pluggable=0  version=0x06  [SPC-4]\n"
            "  [AERC=0]  [TrmTsk=0]  NormACA=0  HiSUP=0  Resp_data_format=2\n  SCCS=0  ACC=0  TPGS=1  3PC=0\n"
            " Vendor identification: SCST_BIO\n Product identification: vg1\n Product revision level:  380\n")
    assert scenario.parse_inquiry(text) == ("SCST_BIO", "vg1")


@pytest.mark.skipif(not shutil.which("crm"), reason="crmsh is not installed (tools/lab installs it)")
def test_the_base_cib_is_built_with_the_hosts_crmsh(tmp_path):
    """lab.crm's fence devices (stonith:fence_lab, an agent of the guests only) are committed with
    -F; any other error of crmsh's fails the stage."""
    lab_crm = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crm", "lab.crm")
    cib = tmp_path / "cib.xml"
    scenario.base_cib(lab_crm, str(cib))
    root = ET.parse(cib).getroot()
    assert {p.get("id") for p in root.iter("primitive")} == {"st_lab_hpms01", "st_lab_hpms02"}
    bad = tmp_path / "bad.crm"
    bad.write_text(open(lab_crm).read() + "primitive p_x ocf:heartbeat:NoSuchAgent\n")
    with pytest.raises(scenario.StageFailed, match="NoSuchAgent"):
        scenario.base_cib(str(bad), str(tmp_path / "bad.xml"))


def test_crm_layers_use_the_project_snippets():
    if not os.path.exists(os.path.join(scenario.CRM_DIR, "stack-lio.crm")):
        pytest.skip("crm/stack-lio.crm not there yet")
    base, stack, sources = scenario.crm_layers(T.VARIANTS["lio"])
    assert "crm/drbd.crm" in sources and "crm/lock.crm" in sources
    assert "ocf:linbit:drbd" in base and "ocf:alua:dlm" in base
    assert sources[-1] == "crm/stack-lio.crm" and "ocf:heartbeat:iSCSITarget" in stack
    # The target is created without portals; ocf:alua:lio opens each node's portals (Finding 9).
    assert 'portals=""' in stack
    for node in T.STORAGE:
        assert f"{node}={T.NET_A[node]}:3260,{T.NET_B[node]}:3260" in stack
        assert T.IQN[node] in stack
    assert f"*/p_lu_vg1={T.SERIAL}" in stack and f"path=/dev/{T.VG}/{T.LV}" in stack
    # The lab deploys as crm/README asks for production: fencing on, p_dlm as shipped.
    assert "allow_stonith_disabled=true \\" not in base + stack and "params allow_stonith" not in base + stack
    assert "stonith-enabled=true" in base and "stonith:fence_lab" in base


# -- report ------------------------------------------------------------------------------------------


def test_stalls_and_gaps():
    pts = [(100.0, 0.001, 1), (100.01, 0.002, 1), (103.5, 3.4, 1), (103.51, 0.001, 0), (110.0, 0.001, 1)]
    st = report.stalls(pts, round_starts=[110.0])
    assert st["max_latency"] == 3.4 and st["max_latency_at"] == 103.5
    assert abs(st["max_gap"] - 3.49) < 1e-6  # the 6.5 s gap before 110.0 is a round start


def test_lat_logs_and_rounds(tmp_path):
    (tmp_path / "r1_lat.1.log").write_text("1795607969391, 4895015, 1, 4096, 0\n1795607969395, 500432, 0, 4096, 0\n")
    (tmp_path / "r1.json").write_text('verify: bad header\n{"jobs": [{"error": 0, "write": {"io_bytes": 4096, '
                                      '"clat_ns": {"max": 10}}, "read": {"io_bytes": 4096, "total_ios": 1, '
                                      '"clat_ns": {"max": 20}}}]}')
    (tmp_path / "rounds").write_text("1 0 1795607970.1\n")
    pts = report.read_lat_logs(str(tmp_path))
    assert pts == [(1795607969.391, 0.004895015, 1), (1795607969.395, 0.000500432, 0)]
    (r,) = report.fio_rounds(str(tmp_path))
    assert (r["rc"], r["error"], r["written"], r["verified"]) == (0, 0, 4096, 4096)
    assert "bad header" in r["text"]


def test_failover_from_journal():
    text = ("999.0 hpms02 kernel: drbd vg1: peer( Primary -> Unknown ) conn( Connected -> NetworkFailure ) "
            "pdsk( UpToDate -> DUnknown ) susp( 0 -> 1 )\n"
            "999.25 hpms02 kernel: drbd vg1: helper command: /sbin/drbdadm fence-peer vg1\n"
            "1000.0 hpms02 alua-fence-peer[77]: vg1: lost the connection to hpms01; waiting until it is fenced "
            "or answers\n"
            "1000.5 hpms02 pacemaker-controld[1]:  notice: Node hpms01 state is now lost\n"
            "1000.75 hpms02 alua-fence-peer[77]: hpms01 is not in corosync's membership: asking Pacemaker's "
            "fencer to fence it\n"
            "1001.5 hpms02 pacemaker-fenced[9]:  notice: Operation 'off' targeting hpms01 by hpms02 for "
            "pacemaker-controld.7@hpms02: OK\n"
            "1001.75 hpms02 alua-fence-peer[77]: hpms01: fenced (2.0 s)\n"
            "1002.0 hpms02 kernel: drbd vg1: helper command: /sbin/drbdadm fence-peer vg1 exit code 7 (0x700)\n"
            "1004.25 hpms02 pacemaker-controld[1]:  notice: Result of promote operation for p_lio on hpms02: ok\n")
    fo = report.failover_from_journal(text, "hpms01", "hpms02", t_kill=998.0)
    assert fo == {"drbd_lost": 1.0, "handler_called": 1.25, "handler_started": 2.0, "membership_lost": 2.5,
                  "handler_fences": 2.75,
                  "handler_fenced": 3.75, "fenced_confirmed": 3.5, "handler_returned": 4.0, "promote_ok": 6.25}


def test_svg_is_wellformed_and_marks_events():
    pts = [(100 + i * 0.01, 0.001 * (1 + i % 7), i % 2) for i in range(3000)] + [(140.0, 4.2, 1)]
    svg = report.svg_timeline(pts, [(110.0, "link B down"), (125.0, "hpms01 killed & <x>")], "t")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "link B down" in texts and "hpms01 killed & <x>" in texts and "5 s target" in texts
    assert ET.fromstring(report.svg_timeline([], [], "empty")) is not None


# -- mconsole ----------------------------------------------------------------------------------------


def test_mconsole_request_against_a_fake_uml(tmp_path):
    path = str(tmp_path / "mconsole")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    seen = {}

    def serve():
        data, addr = srv.recvfrom(1024)
        magic, version, length = struct.unpack("=III", data[:12])
        seen["req"] = (magic, version, data[12:12 + length].decode())
        body = b"OK 6.1.176"
        srv.sendto(struct.pack("=III512s", 0, 0, len(body), body), addr)

    t = threading.Thread(target=serve)
    t.start()
    assert uml.mconsole_request(path, "version", timeout=5) == (0, "OK 6.1.176")
    t.join(5)
    assert seen["req"] == (0xCAFEBABE, 2, "version")
    srv.close()


def test_mconsole_request_is_bounded(tmp_path):
    path = str(tmp_path / "mconsole")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)  # never answers
    with pytest.raises(OSError):
        uml.mconsole_request(path, "halt", timeout=0.3)
    srv.close()


class _FakeInstance:
    def __init__(self, on: bool) -> None:
        self.on = on
        self.kills = 0

    def running(self) -> bool:
        return self.on

    def kill(self) -> None:
        self.kills += 1
        self.on = False


class _FakeLab:
    def __init__(self, share: str) -> None:
        self.share = share
        self.instances = {"hpms01": _FakeInstance(True), "hpms02": _FakeInstance(True),
                          "proxmox01": _FakeInstance(True)}

    def check(self, path: str) -> str:
        assert path.startswith(self.share)
        return path


def _fence_lab(share: str, stdin: str, *args: str) -> subprocess.CompletedProcess:
    agent = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest", "fence_lab")
    return subprocess.run(["/bin/sh", agent, *args], input=stdin, capture_output=True, text=True,
                          env={"FENCE_LAB_SHARE": share, "PATH": "/usr/bin:/bin"}, timeout=30)


def test_fence_lab_powers_a_storage_node_off_through_the_host(tmp_path):
    from ulab.fence import FenceService

    share = str(tmp_path)
    os.makedirs(os.path.join(share, "nodes", "hpms01"))
    lab = _FakeLab(share)
    results = scenario.Results(str(tmp_path / "results.json"))
    service = FenceService(lab, results)
    service.start()
    try:
        status = _fence_lab(share, "action=status\nport=hpms02\n")
        assert status.returncode == 0 and "Status: ON" in status.stdout, status
        off = _fence_lab(share, "action=off\nport=hpms02\nnodename=hpms02\n")
        assert off.returncode == 0 and "powered off" in off.stdout, off
        assert lab.instances["hpms02"].kills == 1 and lab.instances["hpms01"].kills == 0
        again = _fence_lab(share, "action=reboot\nplug=hpms02\n")
        assert again.returncode == 0 and "already off" in again.stdout, again
        assert _fence_lab(share, "action=status\nport=hpms02\n").returncode == 2
        on = _fence_lab(share, "action=on\nport=hpms02\n")
        assert on.returncode == 1 and "cannot power a node on" in on.stderr, on
        initiator = _fence_lab(share, "action=off\nport=proxmox01\n")
        assert initiator.returncode == 1 and lab.instances["proxmox01"].kills == 0, initiator
        assert _fence_lab(share, "action=monitor\n").returncode == 0
        meta = _fence_lab(share, "action=metadata\n")
        assert ET.fromstring(meta.stdout).get("name") == "fence_lab"
        # the fencer's other spellings: "option", spaces around "=", the command line
        assert _fence_lab(share, " option = status \n nodename = hpms02\n").returncode == 2
        assert _fence_lab(share, "", "-o", "status", "-n", "hpms01").returncode == 0
        assert _fence_lab(share, "", "--action=status", "--plug=hpms01").stdout == "Status: ON\n"
        assert "unknown argument" in _fence_lab(share, "", "-x").stderr
        listed = _fence_lab(share, "action=list\n")
        assert listed.returncode == 0 and listed.stdout == "hpms01,\n"
        for bad in ("port=../hpms02", "port=.x", "port=a'b", "port=a\\nb", "port="):
            refused = _fence_lab(share, f"action=off\n{bad}\n")
            assert refused.returncode == 1 and "no valid node" in refused.stderr, (bad, refused)
        assert "unrecognised action" in _fence_lab(share, "action=dance\nport=hpms02\n").stderr
    finally:
        service.stop()
    fenced = results.facts["fencing"]
    assert [(f["node"], f["action"], f["result"]) for f in fenced] == [
        ("hpms02", "off", "powered off"), ("hpms02", "reboot", "already off")]
    assert os.listdir(os.path.join(share, "fence")) == [], "every request answered and collected"


def test_fence_service_waits_for_a_request_being_written_and_collects_answers(tmp_path):
    """The agent writes its request in place (no rename on the survivor's frozen path): a request
    that does not parse yet is looked at again, one still broken after PARTIAL_GRACE is answered
    as bad; answers go once ANSWER_KEPT has passed, and all when the service stops."""
    from ulab import fence
    from ulab.fence import FenceService

    lab = _FakeLab(str(tmp_path))
    service = FenceService(lab, scenario.Results(str(tmp_path / "results.json")))
    req = os.path.join(service.dir, "n-1.req")
    with open(req, "w") as f:
        f.write('{"id": "n-1", "action": "off"')  # half written
    service.serve(req)
    assert os.path.exists(req) and not os.path.exists(os.path.join(service.dir, "n-1.res"))
    with open(req, "a") as f:
        f.write(', "node": "hpms02", "by": "hpms01"}\n')
    service.serve(req)
    assert not os.path.exists(req) and lab.instances["hpms02"].kills == 1
    with open(os.path.join(service.dir, "n-1.res")) as f:
        assert json.load(f) == {"ok": True, "result": "powered off"}
    broken = os.path.join(service.dir, "n-2.req")
    with open(broken, "w") as f:
        f.write("{")
    old = time.time() - fence.PARTIAL_GRACE - 1
    os.utime(broken, (old, old))
    service.serve(broken)
    with open(os.path.join(service.dir, "n-2.res")) as f:
        assert "bad request" in json.load(f)["error"]
    service.collect(fence.ANSWER_KEPT)
    assert sorted(os.listdir(service.dir)) == ["n-1.res", "n-2.res"], "fresh answers stay for the agent"
    os.utime(os.path.join(service.dir, "n-1.res"), (old - fence.ANSWER_KEPT,) * 2)
    service.collect(fence.ANSWER_KEPT)
    assert os.listdir(service.dir) == ["n-2.res"]
    service.stop()
    assert os.listdir(service.dir) == []


def test_fence_lab_without_the_service_fails_in_bounded_time(tmp_path):
    result = _fence_lab(str(tmp_path), "action=off\nport=hpms02\n")
    assert result.returncode == 1 and "fence service is not running" in result.stderr



# -- the fault matrix (issue 14) ---------------------------------------------------------------


def test_drbd_has_its_own_network_and_the_fencing_policy():
    res = T.drbd_res("ms_scst")
    assert "fencing resource-and-stonith;" in res
    assert 'fence-peer "/usr/bin/nice -n -10 /usr/sbin/alua-fence-peer --promotable ms_scst --fence-after 1 -- ' \
           '/usr/lib/drbd/crm-fence-peer.sh' in res
    assert "--suicide-on-failure-if-primary" in res
    assert 'after-resync-target "/usr/lib/drbd/crm-unfence-peer.sh";' in res
    for node in T.STORAGE:
        assert f"address {T.REPL[node]}:7789;" in res and T.RING[node] not in res
    # the replication network is apart from corosync's ring: its own bridge and tap per storage node
    assert set(T.REPL.values()).isdisjoint(T.RING.values())
    for node in T.STORAGE:
        assert (T.path_tap(node, "d"), "br-drbd") in T.nics(node)
        assert f"Address={T.REPL[node]}/24" in T.networkd(node)["/etc/systemd/network/10-eth3.network"]
    conf = T.overlay("hpms01", "ms_lio")["/etc/corosync/corosync.conf"]
    assert f"token: {T.TOKEN_MS}" in conf and T.REPL["hpms01"] not in conf
    assert "--promotable ms_lio" in T.overlay("hpms01", "ms_lio")[f"/etc/drbd.d/{T.DRBD_RES}.res"]


def test_matrix_runs_every_fault_of_the_issue_each_after_the_last():
    from ulab import driver

    names = [s[0] for s in driver.MATRIX]
    kills = [n for n in names if n.startswith("promoted-kill")]
    assert len(kills) >= 3
    for fault in ("paths-cut", "switchover", "replication-cut", "unpromoted-kill", "link-failure",
                  "io-stop", "data-compare"):
        assert fault in names
    assert names.index("freeze") > names.index("unpromoted-kill")  # the frozen node, since Finding 32
    assert names[-1] == "alua-samples"
    needs = {s[0]: s[2 - 1] for s in driver.MATRIX}
    for prev, cur in zip(["link-failure", *[f for f, _ in driver.MATRIX_FAULTS]], [f for f, _ in driver.MATRIX_FAULTS]):
        assert needs[cur] == (prev,)
    for name, _needs, _what in driver.MATRIX:
        assert hasattr(driver.Full, name.replace("-", "_")), name
    assert T.VARIANTS["scst"].faults == "matrix" and T.VARIANTS["lio"].faults == "testing"
    assert [s[0] for s in driver.ORDERS["freeze"]].count("freeze") == 1
    kills_only = [s[0] for s in driver.ORDERS["kills"]]
    assert [n for n in kills_only if n.startswith("promoted-kill")] == ["promoted-kill-1", "promoted-kill-2"]
    assert "paths-cut" not in kills_only and "data-compare" in kills_only and kills_only[-1] == "alua-samples"


def test_fault_table_windows_stalls_errors_and_samples():
    pts = [(100.0 + i * 0.01, 0.005, 1) for i in range(100)]          # steady until 101.0
    pts += [(105.2, 4.1, 1)] + [(105.2 + i * 0.01, 0.005, 1) for i in range(1, 100)]  # a 4.2 s gap in fault 1
    pts += [(120.0 + i * 0.01, 0.005, 1) for i in range(100)]
    pts.sort()
    rows = [{"fault": "promoted-kill-1", "victim": "hpms01", "t0": 100.5, "t_promoted": 103.0, "t_redundant": 110.0,
             "fenced": ["hpms01"]},
            {"fault": "paths-cut", "victim": "hpms02", "t0": 119.0, "t_promoted": None, "t_redundant": 122.0,
             "fenced": []}]
    rounds = [{"round": 1, "rc": 0, "error": 0, "start": None, "end": 111.0},
              {"round": 2, "rc": 1, "error": report.EILSEQ, "start": 111.0, "end": 119.5, "text": ""},
              {"round": 3, "rc": 0, "error": 0, "start": 119.5, "end": None}]
    table = report.fault_table(rows, pts, rounds, [{"t": 120.5, "what": "x"}], round_starts=[119.5])
    k, p = table
    assert k["stall"] == pytest.approx(4.21, abs=0.005) and k["to_promoted"] == 2.5 and k["to_redundant"] == 9.5
    assert k["io_errors"] == 0 and k["verify_errors"] == 0 and k["two_active"] == 0 and k["fenced"] == ["hpms01"]
    assert p["verify_errors"] == 1 and p["io_errors"] == 0 and p["two_active"] == 1 and p["to_promoted"] is None
    assert p["stall"] < 1.0  # the 119.5 round start (fio's own start-up) does not count
    lines = report.fault_table_lines(table)
    assert "promoted-kill-1" in lines[1] and "4.21 s" in lines[1] and "hpms01" in lines[1]


def test_unexpected_fencing_is_what_no_fault_explains():
    from ulab.scenario import unexpected_fencing

    faults = [{"fault": "promoted-kill-1", "victim": "hpms01", "t0": 100.0, "t_redundant": 200.0},
              {"fault": "replication-cut", "victim": "hpms02", "t0": 300.0, "t_redundant": 400.0},
              {"fault": "switchover", "victim": "hpms02", "t0": 500.0, "t_redundant": 520.0}]
    ok = [{"t": 103.0, "node": "hpms01"}, {"t": 305.0, "node": "hpms01"}]
    bad = [{"t": 104.0, "node": "hpms02"}, {"t": 505.0, "node": "hpms02"}, {"t": 250.0, "node": "hpms01"}]
    assert unexpected_fencing(ok + bad, faults) == bad


def test_freeze_and_thaw_signal_the_whole_group(tmp_path):
    import signal as _signal

    from ulab.uml import Instance

    inst = Instance.__new__(Instance)
    inst.proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert inst.freeze()
        import time as _time

        deadline = _time.monotonic() + 5  # the stop is delivered asynchronously
        while open(f"/proc/{inst.proc.pid}/stat").read().split()[2] != "T" and _time.monotonic() < deadline:
            _time.sleep(0.01)
        assert open(f"/proc/{inst.proc.pid}/stat").read().split()[2] == "T"
        assert inst.thaw()
    finally:
        os.killpg(inst.proc.pid, _signal.SIGKILL)
        inst.proc.wait()
    assert not inst.freeze() and not inst.thaw()  # gone (fenced): nothing to thaw


def test_boot_failure_reads_the_last_boot_of_the_console(tmp_path):
    console = tmp_path / "c.log"
    console.write_text("===== lab: boot 1 of hpms01 =====\nsystemd[1]: Caught <SEGV>, dumped core as pid 52.\n"
                       "systemd[1]: Freezing execution.\n===== lab: boot 2 of hpms01 =====\nWelcome\n")
    assert uml.boot_failure(str(console)) == ""
    console.write_text(console.read_text() + "Kernel panic - not syncing: VFS\n")
    assert uml.boot_failure(str(console)).startswith("Kernel panic")
    assert uml.boot_failure(str(tmp_path / "missing")) == ""


def test_a_group_whose_target_is_disabled_is_no_second_active_group(tmp_path):
    """The moment of the suite's matrix run (promoted-kill-2, hpms01 returning): SCST creates
    hpms01's target group active before ocf:alua:scst sets it non-optimized, while the target is
    still disabled. Only with an enabled target is it a second active/optimized path group."""
    from ulab import alua_samples as A

    p1, p2 = tmp_path / "hpms01.jsonl", tmp_path / "hpms02.jsonl"
    p1.write_text('{"t": 63.5, "groups": {"vg1/hpms01": "active"}, "exposed": {"vg1/hpms01": false}}\n'
                  '{"t": 63.8, "groups": {"vg1/hpms01": "nonoptimized", "vg1/hpms02": "offline"},'
                  ' "exposed": {"vg1/hpms01": false, "vg1/hpms02": false}}\n')
    p2.write_text('{"t": 63.5, "groups": {"vg1/hpms01": "offline", "vg1/hpms02": "active"},'
                  ' "exposed": {"vg1/hpms01": false, "vg1/hpms02": true}}\n')
    exposed = {"hpms01": A.load(str(p1), "hpms01"), "hpms02": A.load(str(p2), "hpms02")}
    raw = {"hpms01": A.load(str(p1), "hpms01", raw=True), "hpms02": A.load(str(p2), "hpms02", raw=True)}
    assert A.two_active(exposed) == []
    assert [x["what"] for x in A.two_active(raw)] == ["vg1: own groups of ['hpms01', 'hpms02'] active at once"]
    # the same moment with hpms01's target enabled is the hazard
    p1.write_text(p1.read_text().replace('"exposed": {"vg1/hpms01": false}', '"exposed": {"vg1/hpms01": true}'))
    assert A.two_active({"hpms01": A.load(str(p1), "hpms01"), "hpms02": exposed["hpms02"]})


def test_sampler_sees_whether_a_groups_local_target_is_enabled(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("sampler", os.path.join(os.path.dirname(__file__), "guest",
                                                                           "alua-sampler.py"))
    sampler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sampler)
    root = tmp_path / "scst_tgt"
    iqn1, iqn2 = "iqn.2016-02.local.virtual:hpms01.vg1", "iqn.2016-02.local.virtual:hpms02.vg1"
    for tg, iqn, state in (("hpms01", iqn1, "active"), ("hpms02", iqn2, "nonoptimized")):
        d = root / "device_groups/vg1/target_groups" / tg
        (d / iqn).mkdir(parents=True)
        (d / "state").write_text(state + "\n")
    (root / "targets/iscsi" / iqn1).mkdir(parents=True)
    (root / "targets/iscsi" / iqn1 / "enabled").write_text("0\n")
    monkeypatch.setattr(sampler, "SCST", str(root / "device_groups/*/target_groups/*/state"))
    monkeypatch.setattr(sampler, "SCST_TARGETS", str(root / "targets"))
    monkeypatch.setattr(sampler, "LIO", str(tmp_path / "none/*"))
    groups, exposed = sampler.sample()
    assert groups == {"vg1/hpms01": "active", "vg1/hpms02": "nonoptimized"}
    assert exposed == {"vg1/hpms01": False, "vg1/hpms02": False}  # hpms02's target is not local
    (root / "targets/iscsi" / iqn1 / "enabled").write_text("1\n")
    assert sampler.sample()[1]["vg1/hpms01"] is True


def test_a_sample_is_two_passes_that_read_the_same(monkeypatch):
    """A promotion's two writes between a pass's reads show the old peer state beside the new own
    state (the 2026-12-06 22:42 run's one "two active" sample): such a pass is read again."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sampler", os.path.join(os.path.dirname(__file__), "guest",
                                                                           "alua-sampler.py"))
    sampler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sampler)
    torn = ({"vg1/hpms01": "active", "vg1/hpms02": "active"}, {})
    after = ({"vg1/hpms01": "nonoptimized", "vg1/hpms02": "active"}, {})
    passes = iter([torn, after, after])
    monkeypatch.setattr(sampler, "read_pass", lambda: next(passes))
    assert sampler.sample() == after
    flapping = iter([torn, after] * 10)
    monkeypatch.setattr(sampler, "read_pass", lambda: next(flapping))
    assert sampler.sample(tries=3) in (torn, after)  # never repeating: the last pass counts


def test_silent_boot_is_a_boot_that_printed_nothing(tmp_path):
    console = tmp_path / "c.log"
    console.write_text("===== lab: boot 1 of hpms02 =====\nlab-init: hpms02 configured\n"
                       "===== lab: boot 2 of hpms02 at Thu Dec  3 14:49:31 2026 =====\n")
    assert uml.silent_boot(str(console))
    console.write_text(console.read_text() + "lab-init: hpms02 configured\n")
    assert not uml.silent_boot(str(console)) and not uml.silent_boot(str(tmp_path / "none"))


def test_status_line_names_each_nodes_verdict_and_its_problems():
    status = {"before": {"hpms01": {"health": "healthy", "problems": []},
                         "hpms02": {"health": "healthy", "problems": []}},
              "during": {"hpms02": {"health": "degraded", "problems": ["node hpms01 is offline"]}}}
    assert report.status_line(status) == ("before hpms01 healthy, hpms02 healthy; "
                                          "during hpms02 degraded (node hpms01 is offline)")


def test_cpu_busy_from_the_samplers_proc_stat_counters(tmp_path):
    from ulab.alua_samples import cpu_busy

    path = tmp_path / "alua.jsonl"
    lines = [{"t": 10.0, "groups": {}, "cpu": [100, 0, 50, 850, 0, 0, 0]},
             {"t": 11.0, "groups": {}, "cpu": [160, 0, 80, 860, 0, 0, 0]},  # 90 of 100 ticks busy
             {"t": 12.0, "groups": {}},  # an old sampler's line: no counters
             {"t": 13.0, "groups": {}, "cpu": [200, 0, 100, 900, 0, 0, 0]}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"t": 14.0, "cpu": [')  # torn last line
    assert cpu_busy(str(path), 10.0, 11.0) == 0.9
    assert cpu_busy(str(path), 10.5, 12.5) == 0.75  # 10.0 .. 13.0: 150 of 200 ticks busy
    assert cpu_busy(str(path), 9.0, 11.0) is None and cpu_busy(str(path), 10.0, 20.0) is None
    assert cpu_busy(str(tmp_path / "missing.jsonl"), 0, 1) is None


def test_a_stuck_stage_reads_the_newest_boots_drbd_lines_from_the_share(tmp_path):
    """When a node no longer answers, what its kernel last said of DRBD still comes from the journal
    it streamed to the share: the newest boot's file (boot-10 after boot-9), DRBD lines only."""
    from ulab import matrix

    journal = tmp_path / "nodes" / "hpms01" / "journal"
    journal.mkdir(parents=True)
    (journal / "boot-9.txt").write_text("1.0 hpms01 kernel: drbd vg1: old boot\n")
    (journal / "boot-10.txt").write_text("2.0 hpms01 kernel: drbd vg1: conn( WFConnection -> WFReportParams )\n"
                                         "2.1 hpms01 corosync[1]: drbd in a daemon's line\n"
                                         "2.2 hpms01 kernel: block drbd0: short read expecting header\n")

    class Lab:
        share = str(tmp_path)

    class Matrix(matrix.MatrixMixin):
        lab = Lab()

    assert Matrix().last_drbd_lines("hpms01") == ["drbd vg1: conn( WFConnection -> WFReportParams )",
                                                  "block drbd0: short read expecting header"]
    assert Matrix().last_drbd_lines("hpms02") == []


def test_a_stuck_stage_quotes_the_cluster_daemons_warnings_and_results_at_their_event_second(tmp_path):
    """What Pacemaker said when a stage got stuck (a CI run on another machine leaves only the
    test's message): warnings, errors and operation results of the cluster's daemons, not their
    notices or other programs' lines, timed as the report's Events are (seconds from the first)."""
    from ulab import matrix

    journal = tmp_path / "nodes" / "hpms02" / "journal"
    journal.mkdir(parents=True)
    (journal / "boot-1.txt").write_text(
        "110.0 hpms02 pacemaker-controld[7]: notice: State transition S_IDLE -> S_POLICY_ENGINE\n"
        "112.5 hpms02 pacemaker-controld[7]: notice: Result of promote operation for p_scst on hpms02: ok\n"
        "113.0 hpms02 pacemaker-execd[5]:  warning: p_lvm_vg1_monitor_30000 process (PID 9) timed out\n"
        "113.2 hpms02 sshd[3]: error: not the cluster's\n"
        "113.4 hpms02 pacemaker-controld[7]: error: Result of monitor operation for p_lvm_vg1 on hpms02: "
        "Timed Out after 90s\n"
        "a torn line\n")

    class Lab:
        share = str(tmp_path)

    class Run:
        events = [(100.0, "fio started")]

    class Matrix(matrix.MatrixMixin):
        lab, r = Lab(), Run()

    assert Matrix().last_cluster_lines("hpms02") == [
        "+12.5 pacemaker-controld: notice: Result of promote operation for p_scst on hpms02: ok",
        "+13.0 pacemaker-execd: warning: p_lvm_vg1_monitor_30000 process (PID 9) timed out",
        "+13.4 pacemaker-controld: error: Result of monitor operation for p_lvm_vg1 on hpms02: Timed Out after 90s"]
    assert Matrix().last_cluster_lines("hpms02", count=1) == [
        "+13.4 pacemaker-controld: error: Result of monitor operation for p_lvm_vg1 on hpms02: Timed Out after 90s"]


def test_each_instance_is_kept_on_one_host_cpu_round_robin(monkeypatch):
    from ulab import uml

    monkeypatch.delenv("ALUA_LAB_CPUS", raising=False)
    monkeypatch.setattr(uml.os, "sched_getaffinity", lambda pid: {3, 1})
    assert [uml.cpu_pinning(i) for i in range(3)] == [["taskset", "-c", "1"], ["taskset", "-c", "3"], ["taskset", "-c", "1"]]
    monkeypatch.setattr(uml.os, "sched_getaffinity", lambda pid: {0})
    assert uml.cpu_pinning(1) == []  # one CPU: nothing to choose
    monkeypatch.setenv("ALUA_LAB_CPUS", "none")
    monkeypatch.setattr(uml.os, "sched_getaffinity", lambda pid: {0, 1})
    assert uml.cpu_pinning(1) == []


def test_instances_can_be_kept_on_some_host_cpus_to_show_a_slower_machine(monkeypatch):
    from ulab import uml

    monkeypatch.setenv("ALUA_LAB_CPUS", "0-1,3")
    assert uml.cpu_pinning(2) == ["taskset", "-c", "0-1,3"]
    monkeypatch.setenv("ALUA_LAB_CPUS", "0; reboot")
    with pytest.raises(ValueError, match="ALUA_LAB_CPUS"):
        uml.cpu_pinning()


def test_an_instance_that_hung_silently_in_early_boot_is_power_cycled_once(tmp_path, monkeypatch):
    from ulab import lab as ulab_lab, uml

    console = tmp_path / "c.log"
    console.write_text("\n===== lab: boot 1 of scstprobe at now =====\n")

    def instance(hangs):
        inst = uml.Instance.__new__(uml.Instance)
        inst.console, calls = str(console), []
        inst.calls = calls
        inst.start = lambda: calls.append("start")
        inst.kill = lambda: calls.append("kill")

        def wait_ready(timeout):
            calls.append(f"wait {timeout}")
            if len([c for c in calls if c.startswith("wait")]) <= hangs:
                raise uml.LabTimeout("not ready")
            return 21.0

        inst.wait_ready = wait_ready
        return inst

    told = []
    monkeypatch.setattr(ulab_lab, "log", told.append)
    lab = ulab_lab.Lab.__new__(ulab_lab.Lab)
    lab.instances = {"scstprobe": instance(1)}
    assert lab.boot(["scstprobe"], timeout=240) == {"scstprobe": 21.0}
    assert lab.instances["scstprobe"].calls == ["start", "wait 90", "kill", "start", "wait 240"]
    assert told == ["scstprobe hung silently in early boot: power-cycled once"]
    lab.instances = {"scstprobe": instance(2)}  # once only
    with pytest.raises(uml.LabTimeout):
        lab.boot(["scstprobe"], timeout=240)
    inst = instance(1)  # a returning node: its own timeouts, its own note
    assert inst.wait_ready_power_cycling(120, 240, on_cycle=lambda: told.append("noted")) == 21.0
    assert inst.calls == ["wait 120", "kill", "start", "wait 240"] and told[-1] == "noted"
    console.write_text(console.read_text() + "Linux version 6.1\n")  # it printed: not the silent hang
    lab.instances = {"scstprobe": instance(1)}
    with pytest.raises(uml.LabTimeout):
        lab.boot(["scstprobe"], timeout=240)
    assert "kill" not in lab.instances["scstprobe"].calls
