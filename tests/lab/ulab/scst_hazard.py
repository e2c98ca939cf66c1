"""What an initiator gets from the real SCST while a target is not yet (or no longer) placed in ALUA.

Part of ``tools/lab scst-probe``: one SCST node and one initiator on one
network.  The node's target is enabled before its device is in any device
group (what an scst.conf does at boot), then the device is placed and its
group driven through transitioning, standby, offline, unavailable and
nonoptimized, and finally the device is blocked (ocf:alua:scst's
block_devices) for 2 s.  At each step the initiator records sg_inq's TPGS,
sg_rtpg, a direct 4 KiB read and write (result, sense, seconds) and
sg_turs.  The results (hazard.json) back the lab README's finding on why
ocf:alua:scst enables its target only after the ALUA placement.
"""

from __future__ import annotations

import json
import shlex
import time

from .lab import Lab, log

TARGET_NODE = "scstprobe"
INITIATOR = "scstini"
BRIDGE = "br-probe"
ADDR = {TARGET_NODE: "10.9.0.1", INITIATOR: "10.9.0.2"}
T1 = "iqn.2016-02.local.virtual:hpms01.vg1"
T2 = "iqn.2016-02.local.virtual:hpms02.vg1"
SYS = "/sys/kernel/scst_tgt"
INITIATOR_MODULES = ["iscsi_tcp", "sd_mod", "sg", "scsi_dh_alua"]


def network(node: str, tap: str) -> dict[str, str]:
    return {"/etc/systemd/network/10-eth0.network":
            f"[Match]\nName=eth0\n\n[Network]\nAddress={ADDR[node]}/24\nLinkLocalAddressing=no\n"
            "IPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n"}


def add_instances(lab: Lab, scst_modules: list[str]) -> None:
    lab.net.bridge(BRIDGE)
    lab.add(TARGET_NODE, mem_mb=512, nics=[("tprobe", BRIDGE)], disks={"probe": 64},
            overlay={"/etc/hostname": f"{TARGET_NODE}\n", **network(TARGET_NODE, "tprobe")}, modules=scst_modules)
    lab.add(INITIATOR, mem_mb=384, nics=[("tprobei", BRIDGE)],
            overlay={"/etc/hostname": f"{INITIATOR}\n", **network(INITIATOR, "tprobei"),
                     "/etc/iscsi/initiatorname.iscsi": "InitiatorName=iqn.1993-08.org.debian:01:scstini\n"},
            modules=INITIATOR_MODULES)


IO_SCRIPT = r"""
dev=$1; what=$2
t0=$(date +%s%N)
case $what in
  read)  out=$(timeout 15 dd if=/dev/$dev of=/dev/null bs=4k count=1 iflag=direct 2>&1); rc=$? ;;
  write) out=$(timeout 15 dd if=/dev/zero of=/dev/$dev bs=4k count=1 seek=100 oflag=direct 2>&1); rc=$? ;;
esac
t1=$(date +%s%N)
[ $rc = 124 ] && out="no answer within 15 s"
echo "rc=$rc ms=$(( (t1 - t0) / 1000000 )) $(echo "$out" | grep -iE 'error|denied|no answer' | head -1)"
"""


class Hazard:
    def __init__(self, lab: Lab) -> None:
        self.t = lab.instances[TARGET_NODE]
        self.i = lab.instances[INITIATOR]
        self.steps: list[dict] = []
        self.dev = ""
        self.dmesg = ""

    def w(self, path: str, value: str) -> None:
        self.t.sh(f"printf '%s' {shlex.quote(value)} > {SYS}/{path}", timeout=30)

    def look_pending(self, label: str, wait: float = 5.0) -> dict:
        """A read sent now, looked at after ``wait`` s: still pending (transitioning holds commands)?"""
        i, dev = self.i, self.dev
        i.sh(f"rm -f /tmp/pending.out; (dd if=/dev/{dev} of=/dev/null bs=4k count=1 iflag=direct "
             f"> /tmp/pending.out 2>&1; echo rc=$? >> /tmp/pending.out) > /dev/null 2>&1 &", timeout=20)
        time.sleep(wait)
        out = i.run("cat /tmp/pending.out", timeout=20, check=False)["stdout"]
        rtpg = i.run(f"timeout 15 sg_rtpg -d /dev/{dev} 2>&1", timeout=30, check=False)["stdout"]
        done = [ln for ln in out.splitlines() if ln.startswith("rc=")]
        read = done[0] if done else f"pending after {wait:.0f} s"
        step = {"step": label, "tpgs": "1", "rtpg": rtpg.strip()[-1200:], "read": read, "write": "not sent",
                "turs": ""}
        self.steps.append(step)
        log(f"hazard {label}: read[{read}]")
        return step

    def look(self, label: str) -> dict:
        """The initiator's view now: TPGS, RTPG, a read, a write, TEST UNIT READY (with sense)."""
        i, dev = self.i, self.dev
        inq = i.run(f"timeout 15 sg_inq /dev/{dev}", timeout=30, check=False)["stdout"]
        tpgs = next((w.split("=")[1] for line in inq.splitlines() for w in line.split() if w.startswith("TPGS=")),
                    "?")
        rtpg = i.run(f"timeout 15 sg_rtpg -d /dev/{dev} 2>&1", timeout=30, check=False)["stdout"]
        turs = i.run(f"timeout 10 sg_turs -v -t 5 /dev/{dev} 2>&1; timeout 10 sg_turs -v -t 5 /dev/{dev} 2>&1",
                     timeout=40, check=False)["stdout"]
        read = i.run(["sh", "-c", IO_SCRIPT, "io", dev, "read"], timeout=60, check=False)["stdout"].strip()
        write = i.run(["sh", "-c", IO_SCRIPT, "io", dev, "write"], timeout=60, check=False)["stdout"].strip()
        step = {"step": label, "tpgs": tpgs, "rtpg": rtpg.strip()[-1200:], "read": read, "write": write,
                "turs": turs.strip()[-800:]}
        if "Sense" in turs or "sense" in turs:
            step["turs_sense"] = " | ".join(ln.strip() for ln in turs.splitlines() if "ense" in ln or "ASC" in ln)[:300]
        self.steps.append(step)
        log(f"hazard {label}: TPGS={tpgs} read[{read}] write[{write}]")
        return step

    def run(self) -> list[dict]:
        t, i = self.t, self.i
        t.sh("systemctl is-active iscsi-scstd || systemctl start iscsi-scstd", timeout=30)
        # what an scst.conf gives at boot: device, target, LUN, enabled; no ALUA placement yet
        self.w("handlers/vdisk_blockio/mgmt", "add_device vg1 filename=/dev/ubdb")
        self.w("targets/iscsi/mgmt", f"add_target {T1}")
        self.w(f"targets/iscsi/{T1}/rel_tgt_id", "1")
        self.w(f"targets/iscsi/{T1}/luns/mgmt", "add vg1 0")
        self.w("targets/iscsi/enabled", "1")
        self.w(f"targets/iscsi/{T1}/enabled", "1")
        i.sh("systemctl start iscsid", timeout=60)
        i.sh(f"iscsiadm -m discovery -t st -p {ADDR[TARGET_NODE]} && "
             f"iscsiadm -m node -T {T1} -p {ADDR[TARGET_NODE]} --login", timeout=90)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.dev:
            out = i.run("ls -l /dev/disk/by-path/ | grep -o 'iscsi.*lun-0 -> ../../sd[a-z]*'", timeout=20,
                        check=False)["stdout"]
            self.dev = out.strip().rsplit("/", 1)[-1] if "sd" in out else ""
            time.sleep(1)
        if not self.dev:
            raise RuntimeError("the initiator found no disk of the SCST target")
        self.look("enabled, device in no device group")
        self.w("device_groups/mgmt", "create vg1")
        self.w("device_groups/vg1/devices/mgmt", "add vg1")
        self.look("device in a device group without target groups")
        tgs = "device_groups/vg1/target_groups"
        self.w(f"{tgs}/mgmt", "create hpms01")
        self.w(f"{tgs}/hpms01/group_id", "1")
        self.w(f"{tgs}/mgmt", "create hpms02")
        self.w(f"{tgs}/hpms02/group_id", "2")
        self.w(f"{tgs}/hpms02/mgmt", f"add {T2}")
        self.w(f"{tgs}/hpms02/{T2}/rel_tgt_id", "2")
        self.w(f"{tgs}/hpms02/state", "active")
        self.look("target in no target group, peer group active")
        self.w(f"{tgs}/hpms01/state", "nonoptimized")
        self.w(f"{tgs}/hpms01/mgmt", f"add {T1}")
        self.w(f"{tgs}/hpms02/state", "offline")
        self.w(f"{tgs}/hpms01/state", "transitioning")
        self.look_pending("own group transitioning")
        for state in ("standby", "unavailable", "offline", "nonoptimized", "active"):
            self.w(f"{tgs}/hpms01/state", state)
            self.look(f"own group {state}")
        # block_devices: hold commands for 2 s, then release
        t.sh(f"(printf 1 > {SYS}/devices/vg1/block; sleep 2; printf 0 > {SYS}/devices/vg1/block) "
             f"> /dev/null 2>&1 &", timeout=30)
        time.sleep(0.3)
        self.look("device blocked for 2 s")
        # clean up as the agent's stop does
        i.run(f"iscsiadm -m node -T {T1} -p {ADDR[TARGET_NODE]} --logout", timeout=60, check=False)
        self.w(f"targets/iscsi/{T1}/enabled", "0")
        self.w("device_groups/mgmt", "del vg1")
        self.w(f"targets/iscsi/{T1}/luns/mgmt", "del 0")
        self.w("targets/iscsi/mgmt", f"del_target {T1}")
        self.w("handlers/vdisk_blockio/mgmt", "del_device vg1")
        self.dmesg = i.run("dmesg | grep -E 'sd [0-9:]+|alua|ALUA|Sense|sense' | tail -80", timeout=20,
                           check=False)["stdout"]
        return self.steps


def summarize(steps: list[dict]) -> str:
    lines = []
    for s in steps:
        if "error" in s:
            lines.append(f"{s['step']}: {s['error']}")
            continue
        rtpg = " ".join(ln.strip() for ln in s["rtpg"].splitlines() if "access state" in ln or "illegal" in ln.lower()
                        or "not supported" in ln.lower())[:160]
        lines.append(f"{s['step']}: TPGS={s['tpgs']}; read {s['read']}; write {s['write']}; RTPG {rtpg or '-'}")
    return "\n".join(lines)


def save(path: str, steps: list[dict], dmesg: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"steps": steps, "summary": summarize(steps), "initiator_dmesg": dmesg}, f, indent=1)
