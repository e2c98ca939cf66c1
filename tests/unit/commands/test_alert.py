"""alua-alert: Pacemaker's alert agent that marks fenced nodes for the ALUA agents."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from alua.commands import alert
from alua.host.state import FencedPeers
from conftest import ROOT

COMMAND = str(ROOT / "sbin" / "alua-alert")
request_cleanup: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _cleanup():
    yield
    for path in request_cleanup:
        shutil.rmtree(path, ignore_errors=True)


def env_for(recipient: str, **values: str) -> dict[str, str]:
    return {"CRM_alert_recipient": recipient, "CRM_alert_timestamp_epoch": "1796318391",
            **{f"CRM_alert_{k}": v for k, v in values.items()}}


@pytest.mark.parametrize("values, marked", [
    ({"kind": "node", "node": "hpms02", "desc": "lost"}, ""),  # maintenance mode: it may run on
    # what Pacemaker 2.1 passes (controld's crmd_alert_fencing_op: the operation as the task)
    ({"kind": "fencing", "node": "hpms02", "task": "st_fence", "rc": "0",
      "desc": "Operation reboot of hpms02 by hpms01 for stonith-api.878@hpms01: OK (ref=4f1c)"}, "hpms02"),
    ({"kind": "fencing", "node": "hpms02", "task": "st_fence", "rc": "0",
      "desc": "Operation off of hpms02 by hpms01 for pacemaker-controld.317@hpms01: OK (ref=4f1d)"}, "hpms02"),
    ({"kind": "fencing", "node": "hpms02", "task": "st_fence", "rc": "0",
      "desc": "Operation on of hpms02 by hpms01 for pacemaker-controld.317@hpms01: OK (ref=4f1e)"}, ""),
    ({"kind": "fencing", "node": "hpms02", "task": "st_fence", "rc": "-62",
      "desc": "Operation reboot of hpms02 by <no-one> for stonith-api.878@hpms01: Timer expired"}, ""),
    ({"kind": "fencing", "node": "hpms02", "task": "reboot", "rc": "0", "desc": "OK"}, "hpms02"),
    ({"kind": "fencing", "node": "hpms02", "task": "off", "rc": "0"}, "hpms02"),
    ({"kind": "fencing", "node": "hpms02", "task": "reboot", "rc": "1"}, ""),  # failed: not fenced
    ({"kind": "fencing", "node": "hpms02", "task": "on", "rc": "0"}, ""),  # unfencing
    ({"kind": "node", "node": "hpms02", "desc": "member"}, ""),
    ({"kind": "resource", "node": "hpms02", "desc": "lost"}, ""),
    ({"kind": "attribute", "node": "hpms02"}, ""),
    ({}, ""),
])
def test_which_events_mark_a_node(values, marked, tmp_path) -> None:
    fenced_dir = FencedPeers(str(tmp_path))
    assert alert.main(env_for(str(tmp_path), **values)) == 0
    assert sorted(os.listdir(tmp_path)) == ([marked] if marked else [])
    if marked:
        assert fenced_dir.marked(marked) and (tmp_path / marked).read_text().startswith(values["kind"])


def test_a_second_event_moves_the_stamp(tmp_path) -> None:
    fenced_dir = FencedPeers(str(tmp_path))
    alert.main(env_for(str(tmp_path), kind="fencing", node="b", task="reboot", rc="0"))
    os.utime(tmp_path / "b", ns=(1, 1))
    assert fenced_dir.marked("b") == "1"
    alert.main(env_for(str(tmp_path), kind="fencing", node="b", task="reboot", rc="0"))
    assert fenced_dir.marked("b") not in ("", "1")


@pytest.mark.parametrize("node", ["a/b", "../etc", "a\nb", ""])
def test_a_bad_node_name_writes_nothing(node, tmp_path, capsys) -> None:
    rc = alert.main(env_for(str(tmp_path), kind="fencing", node=node, task="off", rc="0"))
    assert os.listdir(tmp_path) == []
    if node:
        assert rc == 1 and "CRM_alert_node" in capsys.readouterr().err


@pytest.mark.parametrize("recipient", ["", "relative/dir", "/nonexistent/alua-fenced"])
def test_an_unusable_recipient_is_reported(recipient, capsys) -> None:
    assert alert.main(env_for(recipient, kind="fencing", node="b", task="reboot", rc="0")) == 1
    assert "recipient" in capsys.readouterr().err


def test_the_command_as_pacemaker_runs_it() -> None:
    """As hacluster, the user Pacemaker runs alert agents as, into the directory the agents create."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as hacluster")
    try:
        user = pwd.getpwnam("hacluster")
    except KeyError:
        pytest.skip("no hacluster user (Pacemaker not installed)")
    base = Path(tempfile.mkdtemp(prefix="alua-alert-"))  # hacluster cannot enter pytest's tmp_path
    request_cleanup.append(base)
    os.chmod(base, 0o755)
    fenced_dir = FencedPeers.below(str(base))
    fenced_dir.ensure()
    argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", COMMAND]
    env = {"PATH": os.environ["PATH"], **env_for(fenced_dir.dir, kind="fencing", node="hpms02", task="reboot", rc="0")}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert fenced_dir.marked("hpms02")
    # a node name that would escape the directory: refused, with a reason and no traceback
    env["CRM_alert_node"] = "../x"
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "CRM_alert_node" in proc.stderr and "Traceback" not in proc.stderr
    assert not (base / "x").exists()
