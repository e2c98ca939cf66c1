"""alua-status: the stack at a glance, judged; from crm_mon XML fixtures and fake kernel trees."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from alua.commands import status
from alua.host.run import CommandRunner
from conftest import ROOT
from support.status_fixtures import (
    NODES,
    cib_resources,
    crm_mon_xml,
    lio_tree,
    primitive_xml,
    scst_tree,
    target,
)

CRM_MON = ["crm_mon", "-1", "--output-as=xml"]
CIBADMIN = ["cibadmin", "--query", "--local", "--scope", "resources"]
HEALTHY = {"hpms01": "active", "hpms02": "nonoptimized"}
BOTH_ONLINE = {"hpms01": "online", "hpms02": "online"}
PROMOTED_01 = {"hpms01": "Promoted", "hpms02": "Unpromoted"}
TOP_KEYS = {"version", "node", "health", "exit_code", "problems", "cluster", "alua", "drbd", "vgs"}
ALUA_KEYS = {"clone", "primitive", "agent", "kernel", "unpromoted_state", "loaded", "units", "target", "local_problems"}


@pytest.fixture(autouse=True)
def on_hpms01(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "hostname", lambda: "hpms01")


def run(fp, tmp_path: Path, capsys, *, kernel: str = "scst", nodes=BOTH_ONLINE, roles=PROMOTED_01, states=HEALTHY,
        cib: str | None = None, mon_more: str = "", args=("--json",), tree_kw=None, paths_kw=None):
    """alua-status in-process against a fake tree, crm_mon and cibadmin; (exit code, JSON or text)."""
    agent = f"ocf:alua:{kernel}"
    fp.register(CRM_MON, stdout=crm_mon_xml(nodes, roles, agent=agent, primitive=f"p_{kernel}",
                                            clone=f"ms_{kernel}", more=mon_more))
    fp.register(CIBADMIN, stdout=cib if cib is not None else cib_resources(kernel))
    root = (scst_tree if kernel == "scst" else lio_tree)(tmp_path / kernel, states, **(tree_kw or {}))
    paths = status.Paths(**{kernel: str(root), **(paths_kw or {})})
    rc = status.main(list(args), paths=paths)
    out = capsys.readouterr().out
    return rc, json.loads(out) if "--json" in args else out


def texts(result: dict) -> list[str]:
    return [p["text"] for p in result["problems"]]


@pytest.mark.parametrize("kernel", ["scst", "lio"])
def test_healthy_pair_is_exit_0_with_every_documented_key(fp, tmp_path, capsys, kernel) -> None:
    kw = {"portals": ("192.168.122.99",) if kernel == "scst" else ("192.168.122.99:3260",),
          "sessions": ("iqn.1994-05.com.redhat:ini1", "iqn.1994-05.com.redhat:ini2")}
    rc, result = run(fp, tmp_path, capsys, kernel=kernel, tree_kw=kw)
    assert rc == 0 and result["health"] == "healthy" and result["exit_code"] == 0, result["problems"]
    assert set(result) == TOP_KEYS and result["version"] == 1 and result["node"] == "hpms01"
    assert result["problems"] == []
    assert result["cluster"]["nodes"] == {"hpms01": {"state": "online", "alua_role": "Promoted"},
                                          "hpms02": {"state": "online", "alua_role": "Unpromoted"}}
    assert result["cluster"]["dc"] == "hpms01" and result["cluster"]["quorate"] is True
    alua = result["alua"]
    assert set(alua) == ALUA_KEYS and alua["agent"] == f"ocf:alua:{kernel}" and alua["loaded"] is True
    unit = "vg1" if kernel == "scst" else "iblock_0/vg1"
    assert alua["units"] == {unit: HEALTHY} and alua["local_problems"] == []
    name = target("hpms01") + ("" if kernel == "scst" else " tpgt_1")
    assert alua["target"] == {"name": name, "enabled": True, "portals": list(kw["portals"]), "sessions": 2}
    assert [list(c) for c in fp.calls] == [CRM_MON, CIBADMIN], "two Pacemaker calls, nothing else"


def test_healthy_text_shows_nodes_groups_and_target(fp, tmp_path, capsys) -> None:
    rc, text = run(fp, tmp_path, capsys, args=(), tree_kw={"portals": ("192.168.122.99",)})
    assert rc == 0
    lines = text.splitlines()
    assert lines[0] == "alua-status on hpms01: HEALTHY (exit 0)"
    assert any(line.split() == ["hpms01", "online", "ms_scst", "Promoted", "(this", "node)"] for line in lines)
    assert any(line.split() == ["vg1", "hpms01=active", "hpms02=nonoptimized"] for line in lines), text
    assert f"target   {target('hpms01')} enabled, portals 192.168.122.99, 0 session(s)" in lines
    assert lines[-1] == "no problems"


@pytest.mark.parametrize("kernel", ["scst", "lio"])
def test_two_active_groups_are_broken(fp, tmp_path, capsys, kernel) -> None:
    rc, result = run(fp, tmp_path, capsys, kernel=kernel, states={"hpms01": "active", "hpms02": "active"})
    assert rc == 2 and result["health"] == "broken"
    unit = "vg1" if kernel == "scst" else "iblock_0/vg1"
    assert f"two groups active/optimized in {unit}: hpms01, hpms02" in texts(result)
    assert f"hpms02's group in {unit} is active but hpms02 is not promoted (Unpromoted)" in texts(result)


def test_promoted_group_not_active_is_broken(fp, tmp_path, capsys) -> None:
    rc, text = run(fp, tmp_path, capsys, args=(), states={"hpms01": "nonoptimized", "hpms02": "nonoptimized"})
    assert rc == 2
    assert "  BROKEN   hpms01 is promoted but its group in vg1 is nonoptimized in this node's view" in text.splitlines()
    assert text.splitlines()[0] == "alua-status on hpms01: BROKEN (exit 2)"


def test_peer_stopped_and_shown_offline_is_degraded(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, nodes={"hpms01": "online", "hpms02": "offline"},
                     roles={"hpms01": "Promoted"}, states={"hpms01": "active", "hpms02": "offline"})
    assert rc == 1 and result["health"] == "degraded"
    assert result["problems"] == [{"severity": "degraded", "text": "node hpms02 is offline"}]
    assert result["cluster"]["nodes"]["hpms02"] == {"state": "offline", "alua_role": "Stopped"}


def test_peer_stopped_but_still_nonoptimized_is_broken(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, nodes={"hpms01": "online", "hpms02": "offline"},
                     roles={"hpms01": "Promoted"}, states={"hpms01": "active", "hpms02": "nonoptimized"})
    assert rc == 2
    assert ("hpms02 is stopped but its group in vg1 is nonoptimized in this node's view "
            "(initiators would still use its paths)") in texts(result)


def test_unpromoted_peer_shown_offline_is_degraded(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, states={"hpms01": "active", "hpms02": "offline"})
    assert rc == 1
    assert texts(result) == ["hpms02 runs unpromoted but its group in vg1 is offline in this node's view "
                             "(expected nonoptimized)"]


def test_target_disabled_while_the_instance_runs_is_broken(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, tree_kw={"enabled": "0"})
    assert rc == 2 and result["alua"]["target"]["enabled"] is False
    assert f"local target {target('hpms01')} is not enabled (while p_scst runs here)" in texts(result)


def test_no_promoted_node_is_broken(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, roles={"hpms01": "Unpromoted", "hpms02": "Unpromoted"},
                     states={"hpms01": "nonoptimized", "hpms02": "nonoptimized"})
    assert rc == 2 and "ms_scst is promoted on no node: no path is active/optimized" in texts(result)


def test_no_crm_mon_cannot_tell(tmp_path, capsys) -> None:
    rc = status.main([], runner=CommandRunner(env={"PATH": str(tmp_path)}))
    out = capsys.readouterr().out
    assert rc == 3
    assert "UNKNOWN  cannot read the cluster: crm_mon not found (is its package installed?)" in out


def test_cluster_not_running_cannot_tell_with_crm_mons_reason(fp, capsys) -> None:
    fp.register(CRM_MON, returncode=102, stdout='<pacemaker-result><status code="102" message="Not connected">'
                '<errors><error>crm_mon: Connection to cluster failed: Connection refused</error></errors>'
                '</status></pacemaker-result>')
    rc = status.main(["--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 3 and result["health"] == "unknown" and result["cluster"] is None and result["node"] == "hpms01"
    assert texts(result) == ["cannot read the cluster: crm_mon exited 102: crm_mon: Connection to cluster failed: "
                             "Connection refused (is the cluster running here?)"]


def test_target_module_not_loaded_cannot_tell(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, paths_kw={"scst": str(tmp_path / "absent")})
    assert rc == 3 and result["alua"]["loaded"] is False
    assert f"SCST is not loaded ({tmp_path / 'absent'} missing): this node's ALUA view cannot be read" in texts(result)


def test_no_alua_clone_cannot_tell(fp, capsys) -> None:
    fp.register(CRM_MON, stdout=crm_mon_xml(BOTH_ONLINE, PROMOTED_01, agent="ocf:heartbeat:Dummy"))
    assert status.main(["--json"]) == 3
    assert "the cluster has no ALUA clone (of ocf:alua:scst or ocf:alua:lio)" in texts(json.loads(
        capsys.readouterr().out))


def test_missing_parameters_are_broken(fp, tmp_path, capsys) -> None:
    rc, result = run(fp, tmp_path, capsys, cib=cib_resources("scst", {"device_groups": "vg1"}))
    assert rc == 2 and "the ALUA primitive's parameter 'targets': is required but not set" in texts(result)


def test_crm_node_only_when_the_host_name_is_not_a_node(fp, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(status, "hostname", lambda: "storage-a")
    fp.register(["crm_node", "-n"], stdout="hpms01\n")
    rc, result = run(fp, tmp_path, capsys)
    assert rc == 0 and result["node"] == "hpms01"
    assert [list(c) for c in fp.calls] == [CRM_MON, ["crm_node", "-n"], CIBADMIN]


def drbd_and_vg(tmp_path: Path, proc: str, *, lv: bool, kernel: str = "scst") -> tuple[str, str, dict]:
    """A DRBD clone (resource vg1, minor 0 via udev's by-res link) and a VG clone, and their trees."""
    (tmp_path / "proc_drbd").write_text(proc)
    (tmp_path / "by-res" / "vg1").mkdir(parents=True)
    os.symlink("../../drbd0", tmp_path / "by-res" / "vg1" / "0")
    dm = tmp_path / "sys_block" / "dm-0" / "dm"
    dm.mkdir(parents=True)
    if lv:
        (dm / "name").write_text("vg1-lun1\n")
        (dm / "uuid").write_text("LVM-abcdef\n")
        (dm / "suspended").write_text("0\n")
    mon = ('<clone id="ms_drbd" multi_state="true"><resource id="p_drbd" resource_agent="ocf:linbit:drbd" '
           'role="Promoted" active="true" failed="false"><node name="hpms01"/></resource></clone>'
           '<clone id="cl_lvm"><resource id="p_lvm" resource_agent="ocf:alua:drbd-lvm" role="Started" '
           'active="true" failed="false"><node name="hpms01"/></resource></clone>')
    cib = cib_resources(kernel, more=primitive_xml("p_drbd", "linbit", "drbd", {"drbd_resource": "vg1"}, "ms_drbd")
                        + primitive_xml("p_lvm", "alua", "drbd-lvm", {"volume_group": "vg1"}, "cl_lvm"))
    paths = {"proc_drbd": str(tmp_path / "proc_drbd"), "by_res": str(tmp_path / "by-res"),
             "sys_block": str(tmp_path / "sys_block")}
    return mon, cib, paths


PROC_84 = "version: 8.4.11 (api:1/proto:86-101)\n 0: cs:{cs} ro:{ro} ds:{ds} C r-----\n"


def test_drbd_and_vg_healthy_without_drbdsetup(fp, tmp_path, capsys) -> None:
    mon, cib, paths = drbd_and_vg(tmp_path, PROC_84.format(cs="Connected", ro="Primary/Primary",
                                                           ds="UpToDate/UpToDate"), lv=True)
    rc, result = run(fp, tmp_path, capsys, cib=cib, mon_more=mon, paths_kw=paths)
    assert rc == 0, result["problems"]
    assert result["drbd"] == {"vg1": {"role": "Primary", "disks": ["UpToDate"], "resyncing": False, "problem": None,
                                      "peers": {"peer": {"connection": "Connected", "role": "Primary",
                                                         "disks": ["UpToDate"]}}}}
    assert result["vgs"] == {"vg1": {"clone": "cl_lvm", "expected_lvs": [], "active_lvs": ["lun1"]}}
    assert [list(c) for c in fp.calls] == [CRM_MON, CIBADMIN], "DRBD 8.4 with by-res links: no drbdsetup"


def test_drbd_resync_is_degraded(fp, tmp_path, capsys) -> None:
    mon, cib, paths = drbd_and_vg(tmp_path, PROC_84.format(cs="SyncTarget", ro="Primary/Primary",
                                                           ds="Inconsistent/UpToDate"), lv=True)
    rc, result = run(fp, tmp_path, capsys, cib=cib, mon_more=mon, paths_kw=paths)
    assert rc == 1 and texts(result) == ["DRBD resource vg1 is Primary/Inconsistent (resyncing from a peer)"]


def test_drbd_secondary_and_vg_inactive_where_alua_runs_are_broken(fp, tmp_path, capsys) -> None:
    mon, cib, paths = drbd_and_vg(tmp_path, PROC_84.format(cs="StandAlone", ro="Secondary/Unknown",
                                                           ds="Outdated/DUnknown"), lv=False)
    rc, result = run(fp, tmp_path, capsys, cib=cib, mon_more=mon, paths_kw=paths)
    assert rc == 2
    assert texts(result) == [
        "DRBD resource vg1 is Secondary/Outdated while the ALUA clone runs here",
        "DRBD resource vg1: the peer is StandAlone",
        "VG vg1 has no LV active here while p_scst runs here",
    ]


def test_options(capsys) -> None:
    assert status.main(["--verbose"]) == 2
    assert capsys.readouterr().err == "alua-status: unknown option '--verbose'\nusage: alua-status [--json]\n"
    assert status.main(["--help"]) == 0 and capsys.readouterr().out.startswith("usage: alua-status [--json]\n")


def test_an_unexpected_error_is_one_line_and_exit_3(monkeypatch, capsys) -> None:
    def boom(*_args, **_kw):
        raise RuntimeError("surprise")

    monkeypatch.setattr(status, "collect", boom)
    assert status.main([]) == 3
    captured = capsys.readouterr()
    assert captured.err == "alua-status: cannot tell: RuntimeError: surprise\n" and captured.out == ""


def test_the_executable_rejects_an_option_without_a_traceback() -> None:
    proc = subprocess.run([str(ROOT / "sbin" / "alua-status"), "-x"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.splitlines() == ["alua-status: unknown option '-x'",
                                                                 "usage: alua-status [--json]"]


# -- read-only ------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: its kind, content (files, links) and mtime."""
    seen = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            seen[str(path)] = ("link", os.readlink(path), st.st_mtime_ns)
        elif path.is_dir():
            seen[str(path)] = ("dir", None, st.st_mtime_ns)
        else:
            seen[str(path)] = ("file", path.read_bytes(), st.st_mtime_ns)
    return seen


ALLOWED = (CRM_MON, CIBADMIN, ["crm_node", "-n"], ["drbdsetup", "events2", "--now", "all"])


@pytest.mark.parametrize("kernel", ["scst", "lio"])
def test_read_only_no_file_changes_and_only_query_commands(fp, tmp_path, capsys, kernel) -> None:
    mon, cib, paths = drbd_and_vg(tmp_path, "version: 9.2.4 (api:2/proto:86-122)\n", lv=True, kernel=kernel)
    fp.register(["drbdsetup", "events2", "--now", "all"],
                stdout="exists resource name:vg1 role:Primary suspended:no\n"
                       "exists device name:vg1 volume:0 minor:0 disk:UpToDate\n"
                       "exists connection name:vg1 peer-node-id:1 conn-name:hpms02 connection:Connected role:Primary\n"
                       "exists -\n")
    (tmp_path / "by-res" / "vg1" / "0").unlink()  # DRBD 9 without udev links: events2 answers
    states = {"hpms01": "active", "hpms02": "active"}  # broken: nothing must "repair" it
    root = (scst_tree if kernel == "scst" else lio_tree)(tmp_path / kernel, states, portals=())
    before = snapshot(tmp_path)
    fp.register(CRM_MON, stdout=crm_mon_xml(BOTH_ONLINE, PROMOTED_01, agent=f"ocf:alua:{kernel}",
                                            primitive=f"p_{kernel}", clone=f"ms_{kernel}", more=mon))
    fp.register(CIBADMIN, stdout=cib)
    rc = status.main(["--json"], paths=status.Paths(**{kernel: str(root)}, **paths))
    result = json.loads(capsys.readouterr().out)
    assert rc == 2 and "two groups active/optimized" in " ".join(texts(result))
    assert result["drbd"]["vg1"]["peers"] == {"hpms02": {"connection": "Connected", "role": "Primary",
                                                         "disks": []}}
    assert snapshot(tmp_path) == before, "alua-status changed a file"
    calls = [list(c) for c in fp.calls]
    assert calls and all(call in [list(a) for a in ALLOWED] for call in calls), calls
