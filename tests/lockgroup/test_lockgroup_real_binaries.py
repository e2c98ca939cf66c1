"""The agents against Debian's real lvmlockd, lvmlockctl, lvm, dlm_tool and modprobe.

Each scenario runs in a private mount namespace with tmpfs over /run,
/var/log and LVM's backup directories and its own LVM_SYSTEM_DIR, so the
host keeps its /run, logs and lvm.conf.  The stop scenario needs lock state:
a second lvmlockd in test mode (-T: no DLM calls) holds the locks of a
shared VG on a loop device, with LVs "activated" through --driverloaded n
(no device-mapper here), as in capture/capture-lvmlockd.sh.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import AGENTS_DIR

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/usr/sbin/lvmlockd"),
    reason="needs root, unshare and lvm2-lockd",
)

PRELUDE = """
set -u
mount -t tmpfs tmpfs /run && mkdir -p /run/lvm /run/lock/lvm
mount -t tmpfs tmpfs /var/log
for d in /etc/lvm/backup /etc/lvm/archive; do [ -d "$d" ] && mount -t tmpfs tmpfs "$d"; done
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HA_LOGFACILITY=none LVM_SUPPRESS_FD_WARNINGS=1
export LVM_SYSTEM_DIR="$WORK/lvm" OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=p_real
mkdir -p "$LVM_SYSTEM_DIR"
lvmconf() {  # $1: the one device LVM may see
    {
        printf 'global {\\n use_lvmlockd = 1\\n}\\n'
        printf 'devices {\\n use_devicesfile = 0\\n filter = [ "a|^%s$|", "r|.*|" ]\\n}\\n' "$1"
    } >"$LVM_SYSTEM_DIR/lvm.conf"
}
lvmconf /dev/null
agent() {  # agent NAME ACTION [interval_ms]: prints "@@ NAME ACTION rc"
    OCF_RESKEY_CRM_meta_interval=${3:-0} "$AGENTS/$1" "$2" 2>>"$WORK/agent.err"
    echo "@@ $1 $2${3:+/$3} $?"
}
"""


def run_in_namespace(tmp_path: Path, script: str) -> tuple[list[tuple[str, int]], str]:
    """Run script in a private mount namespace; the agents' results in order, and their stderr."""
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", PRELUDE + script],
        env={"WORK": str(tmp_path), "AGENTS": str(AGENTS_DIR), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    results = []
    for line in proc.stdout.splitlines():
        match = re.fullmatch(r"@@ (\S+ \S+) (\d+)", line)
        if match:
            results.append((match.group(1), int(match.group(2))))
    err = tmp_path / "agent.err"
    return results, (err.read_text() if err.exists() else "") + proc.stderr


def test_lvmlockd_agent_runs_the_real_daemon(tmp_path: Path) -> None:
    results, log = run_in_namespace(
        tmp_path,
        """
agent lvmlockd monitor
agent lvmlockd start
agent lvmlockd monitor 30000
agent lvmlockd start
agent lvmlockd stop
agent lvmlockd monitor
agent lvmlockd stop
""",
    )
    assert results == [
        ("lvmlockd monitor", 7),
        ("lvmlockd start", 0),
        ("lvmlockd monitor/30000", 0),
        ("lvmlockd start", 0),
        ("lvmlockd stop", 0),
        ("lvmlockd monitor", 7),
        ("lvmlockd stop", 0),
    ], log
    assert "started lvmlockd --pid-file /run/lvmlockd.pid --gl-type dlm --adopt 1" in log


def test_lvmlockd_stop_refuses_real_active_lvs_then_stops_the_lockspaces(tmp_path: Path) -> None:
    if subprocess.run(["losetup", "-f"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no free loop device")
    results, log = run_in_namespace(
        tmp_path,
        """
img="$WORK/pv.img"; truncate -s 64M "$img"
loop=$(losetup -f --show "$img") || exit 1
trap 'kill -9 $(cat /run/lvmlockd.pid) 2>/dev/null; sleep 0.3; losetup -d "$loop"' EXIT
lvmconf "$loop"
lvmlockd -T -g dlm
sleep 0.5
pvcreate -q "$loop" && vgcreate -q --shared vg1 "$loop" && vgchange -q --lock-start vg1
lvcreate -q --driverloaded n -an -Zn -L 8M -n lv1 vg1
lvcreate -q --driverloaded n -an -Zn -L 8M -n lv2 vg1
lvchange -q --driverloaded n -asy vg1/lv1
lvchange -q --driverloaded n -aey vg1/lv2
agent lvmlockd monitor 30000
agent lvmlockd stop
lvmlockctl --info >"$WORK/after-refused-stop.txt"
lvchange -q --driverloaded n -an vg1/lv1 vg1/lv2
agent lvmlockd stop
agent lvmlockd monitor 30000
""",
    )
    reasons = [line for line in log.splitlines() if line.startswith("ocf-exit-reason:")]
    assert results == [
        ("lvmlockd monitor/30000", 0),
        ("lvmlockd stop", 1),
        ("lvmlockd stop", 0),
        ("lvmlockd monitor/30000", 7),
    ], log
    assert reasons[0].startswith("ocf-exit-reason:shared LVs still active: LV "), log
    assert reasons[0].count(" in VG vg1 (") == 2 and "(sh)" in reasons[0] and "(ex)" in reasons[0]
    assert "LS dlm lvm_vg1" in (tmp_path / "after-refused-stop.txt").read_text(), "the refused stop changed nothing"
    assert "stopped lockspaces lvm_global, lvm_vg1" in log


@pytest.mark.skipif("configfs" in Path("/proc/filesystems").read_text(), reason="this kernel has configfs")
def test_dlm_agent_without_configfs_is_not_installed(tmp_path: Path) -> None:
    results, log = run_in_namespace(
        tmp_path,
        """
agent dlm monitor
agent dlm start
agent dlm stop
""",
    )
    assert results == [("dlm monitor", 7), ("dlm start", 5), ("dlm stop", 0)], log
    assert (
        "ocf-exit-reason:configfs is not available: modprobe configfs: modprobe: FATAL: Module configfs not found"
        in log
    )
