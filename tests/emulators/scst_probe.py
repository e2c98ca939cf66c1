#!/usr/bin/python3
"""One script of SCST sysfs operations, run against the real SCST and against the emulator.

    scst_probe.py --root /sys/kernel/scst_tgt --device /dev/ubdb > real.json

The same steps run in a User-Mode Linux guest with SCST 3.11 loaded (the lab,
tests/lab/ulab/scst_probe.py) and on the host against scst_sysfs.py
(tests/emulators/test_scst_differential.py); the two JSON outputs must be the
same after normalize().  Standard library only: it runs on the guest's python3.

Every step is one system call, as the agent makes it: a write(2) of the whole
value (errno name or "ok"), a read (text or errno), a directory listing, a
readlink, or the kind of an entry.  After every write the script also reads
``last_sysfs_mgmt_res``.  It starts from a loaded SCST with no devices,
targets or device groups, needs the iscsi driver (iscsi-scstd running), and
removes everything it made.  The device named by --device is opened by a
vdisk_blockio device for the duration.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys

DG = "dg1"
DEV = "vg1"
T1 = "iqn.2016-02.local.virtual:hpms01.vg1"  # local target (registered)
T2 = "iqn.2016-02.local.virtual:hpms02.vg1"  # remote: never registered here
T3 = "iqn.2016-02.local.virtual:probe.other"  # a second registered target
TG1, TG2 = "hpms01", "hpms02"
DGP = f"device_groups/{DG}"
TGS = f"{DGP}/target_groups"
TGT1 = f"targets/iscsi/{T1}"


def err_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e.errno))


class Probe:
    def __init__(self, root: str) -> None:
        self.root = root
        self.steps: list[dict] = []

    def p(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def record(self, op: str, rel: str, result: object, data: str | None = None) -> None:
        step: dict = {"n": len(self.steps), "op": op, "path": rel, "result": result}
        if data is not None:
            step["data"] = data
        self.steps.append(step)

    def last_res(self) -> str:
        try:
            fd = os.open(self.p("last_sysfs_mgmt_res"), os.O_RDONLY)
            try:
                return os.read(fd, 64).decode()
            finally:
                os.close(fd)
        except OSError as e:
            return err_name(e)

    def write(self, rel: str, data: str) -> str:
        try:
            fd = os.open(self.p(rel), os.O_WRONLY)
        except OSError as e:
            result = f"open:{err_name(e)}"
        else:
            try:
                os.write(fd, data.encode())
                result = "ok"
            except OSError as e:
                result = err_name(e)
            finally:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.record("write", rel, {"write": result, "last_sysfs_mgmt_res": self.last_res()}, data)
        return result

    def read(self, rel: str) -> None:
        try:
            fd = os.open(self.p(rel), os.O_RDONLY)
            try:
                chunks = []
                while True:
                    b = os.read(fd, 65536)
                    if not b:
                        break
                    chunks.append(b)
                result: object = b"".join(chunks).decode(errors="replace")
            finally:
                os.close(fd)
        except OSError as e:
            result = {"error": err_name(e)}
        self.record("read", rel, result)

    def list(self, rel: str) -> None:
        try:
            result: object = sorted(os.listdir(self.p(rel)))
        except OSError as e:
            result = {"error": err_name(e)}
        self.record("list", rel, result)

    def link(self, rel: str) -> None:
        try:
            result: object = os.readlink(self.p(rel))
        except OSError as e:
            result = {"error": err_name(e)}
        self.record("readlink", rel, result)

    def kind(self, rel: str) -> None:
        try:
            st = os.lstat(self.p(rel))
            result = ("link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode)
                      else "file")
            result += f" {stat.S_IMODE(st.st_mode):o}"
        except OSError as e:
            result = f"error {err_name(e)}"
        self.record("kind", rel, result)

    def read_all(self, rel: str, names: tuple[str, ...]) -> None:
        for name in names:
            self.read(f"{rel}/{name}")


def script(pr: Probe, device: str) -> None:
    w, r, ls, ln, kind = pr.write, pr.read, pr.list, pr.link, pr.kind
    # -- the empty tree ---------------------------------------------------------------------
    for rel in ("", "device_groups", "targets", "targets/iscsi", "handlers", "handlers/vdisk_blockio",
                "handlers/vdisk_fileio", "devices"):
        ls(rel)
    for rel in ("last_sysfs_mgmt_res", "device_groups/mgmt", "targets/iscsi/mgmt", "targets/iscsi/enabled",
                "handlers/vdisk_blockio/mgmt", "handlers/vdisk_blockio/type", "handlers/vdisk_fileio/mgmt"):
        r(rel)
    for rel in ("device_groups/mgmt", "targets/iscsi/mgmt", "targets/iscsi/enabled", "last_sysfs_mgmt_res",
                "version"):
        kind(rel)
    # -- devices: handlers/vdisk_blockio/mgmt --------------------------------------------------
    hm = "handlers/vdisk_blockio/mgmt"
    w(hm, f"frob {DEV}")                        # unknown verb
    w(hm, "add_device")                         # no name
    w(hm, f"add_device {DEV}")                  # no filename
    w(hm, f"add_device {DEV} filename=relative/path")
    w(hm, f"add_device {DEV} filename={device}; nosuchparam=1")
    w(hm, f"add_device {DEV} filename={device}")
    w(hm, f"add_device {DEV} filename={device}")  # again
    w(hm, "del_device nosuchdev")
    ls("devices")
    kind(f"devices/{DEV}")
    ls(f"devices/{DEV}")
    ln(f"devices/{DEV}/handler")
    ln(f"handlers/vdisk_blockio/{DEV}")
    ls("handlers/vdisk_blockio")
    pr.read_all(f"devices/{DEV}", ("type", "filename", "active", "bind_alua_state", "read_only", "nv_cache",
                                   "blocksize", "t10_dev_id", "usn", "prod_id", "t10_vend_id", "cluster_mode",
                                   "threads_num", "threads_pool_type"))
    r(f"devices/{DEV}/block")
    w(f"devices/{DEV}/filename", "/dev/other")  # refused while active
    w(f"devices/{DEV}/bind_alua_state", "2")
    r(f"devices/{DEV}/bind_alua_state")
    w(f"devices/{DEV}/bind_alua_state", "1")
    r(f"devices/{DEV}/bind_alua_state")
    # -- targets: targets/iscsi/mgmt -------------------------------------------------------------
    tm = "targets/iscsi/mgmt"
    w(tm, "frob x")
    w(tm, "add_target")
    w(tm, f"add_target {T1}")
    w(tm, f"add_target {T1}")                   # again
    w(tm, f"del_target {T2}")                   # not there
    w(tm, f"add_target {T3}")
    ls("targets/iscsi")
    kind(TGT1)
    ls(TGT1)
    pr.read_all(TGT1, ("enabled", "rel_tgt_id", "luns/mgmt", "ini_groups/mgmt"))
    ls(f"{TGT1}/luns")
    ls(f"{TGT1}/sessions")
    for value in ("abc", "70000", "1"):
        w(f"{TGT1}/rel_tgt_id", value)
        r(f"{TGT1}/rel_tgt_id")
    w(f"{TGT1}/enabled", "2")
    r(f"{TGT1}/enabled")
    # LUNs
    lm = f"{TGT1}/luns/mgmt"
    w(lm, "frob")
    w(lm, "add nosuchdev 0")
    w(lm, f"add {DEV}")                         # no LUN number
    w(lm, f"add {DEV} 0")
    w(lm, f"add {DEV} 0")                       # again
    w(lm, "del 5")                              # not there
    ls(f"{TGT1}/luns")
    ls(f"{TGT1}/luns/0")
    ln(f"{TGT1}/luns/0/device")
    r(f"{TGT1}/luns/0/read_only")
    ls(f"devices/{DEV}/exported")
    # enable: with rel_tgt_id 1; the second target with the same id; then with 0 (picks one)
    w(f"{TGT1}/enabled", "1")
    r(f"{TGT1}/enabled")
    w(f"{TGT1}/rel_tgt_id", "0")                # 0 refused while enabled
    r(f"{TGT1}/rel_tgt_id")
    w(f"targets/iscsi/{T3}/rel_tgt_id", "1")    # duplicate, target disabled
    w(f"targets/iscsi/{T3}/enabled", "1")       # duplicate id: refused
    r(f"targets/iscsi/{T3}/enabled")
    w(f"targets/iscsi/{T3}/rel_tgt_id", "0")
    w(f"targets/iscsi/{T3}/enabled", "1")       # 0: picks a free id
    r(f"targets/iscsi/{T3}/rel_tgt_id")
    w(f"targets/iscsi/{T3}/rel_tgt_id", "1")    # duplicate while enabled
    w(f"targets/iscsi/{T3}/enabled", "0")
    # -- device groups: device_groups/mgmt ---------------------------------------------------------
    dm = "device_groups/mgmt"
    for data in ("frob x", "create", "", "del nosuchgroup", f"create {DG}", f"create {DG}", f"CREATE {DG}x extra",
                 "create a\ncreate b", "create mgmt"):
        w(dm, data)
    ls("device_groups")
    for extra in (f"{DG}x", "a", "b"):
        w(dm, f"del {extra}")
    ls(DGP)
    ls(f"{DGP}/devices")
    ls(TGS)
    r(f"{DGP}/devices/mgmt")
    r(f"{TGS}/mgmt")
    # devices in the group
    ddm = f"{DGP}/devices/mgmt"
    for data in ("frob", "add", "add nosuchdev", f"add {DEV}", f"add {DEV}", "del nosuchdev"):
        w(ddm, data)
    ls(f"{DGP}/devices")
    kind(f"{DGP}/devices/{DEV}")
    ln(f"{DGP}/devices/{DEV}")
    # target groups
    tgm = f"{TGS}/mgmt"
    for data in ("frob", "create", f"create {TG1}", f"create {TG1}", f"add {TG2}", "create mgmt", "del nosuchtg"):
        w(tgm, data)
    ls(TGS)
    tg1, tg2 = f"{TGS}/{TG1}", f"{TGS}/{TG2}"
    ls(tg1)
    pr.read_all(tg1, ("group_id", "preferred", "state", "mgmt"))
    for rel in ("group_id", "state", "preferred", "mgmt"):
        kind(f"{tg1}/{rel}")
    for value in ("0", "70000", "abc", "1", "12345678"):
        w(f"{tg1}/group_id", value)
        r(f"{tg1}/group_id")
    w(f"{tg2}/group_id", "1")                   # the same id in another group: no check
    r(f"{tg2}/group_id")
    w(f"{tg2}/group_id", "2")
    for value in ("nonoptimized", "active ", "Active", "lba_dependent", "bogus", "", "transitioning",
                  "standby", "unavailable", "offline", "active\nstandby", "nonoptimized\n"):
        w(f"{tg1}/state", value)
        r(f"{tg1}/state")
    for value in ("2", "x", "1", "0"):
        w(f"{tg1}/preferred", value)
        r(f"{tg1}/preferred")
    # members: local (symlink), remote (directory with rel_tgt_id)
    m1, m2 = f"{tg1}/mgmt", f"{tg2}/mgmt"
    for path, data in ((m1, "frob"), (m1, "add"), (m1, f"add {T1}"), (m1, f"add {T1}"), (m2, f"add {T1}"),
                       (m2, f"add {T2}"), (m2, f"add {T2}"), (m1, "del nosuchtarget")):
        w(path, data)
    ls(tg1)
    ls(tg2)
    kind(f"{tg1}/{T1}")
    ln(f"{tg1}/{T1}")
    kind(f"{tg2}/{T2}")
    ls(f"{tg2}/{T2}")
    r(f"{tg2}/{T2}/rel_tgt_id")
    for value in ("0", "70000", "2"):
        w(f"{tg2}/{T2}/rel_tgt_id", value)
        r(f"{tg2}/{T2}/rel_tgt_id")
    # block (the agent's block_devices parameter)
    for value in ("1", "0", "0", "x"):
        w(f"devices/{DEV}/block", value)
        r(f"devices/{DEV}/block")
    # -- a registered target removed: its local membership goes ----------------------------------
    w(tm, f"del_target {T1}")                   # refused? it still has a LUN and is enabled
    ls(tg1)
    # -- teardown, in the agent's stop order ---------------------------------------------------------
    w(f"{TGT1}/enabled", "0")
    r(f"{TGT1}/enabled")
    w(lm, "del 0")
    w(lm, "del 0")
    w(m1, f"del {T1}")
    w(m2, f"del {T2}")
    w(m2, f"del {T2}")
    ls(tg1)
    ls(tg2)
    w(tgm, f"del {TG2}")
    w(ddm, f"del {DEV}")
    w(ddm, f"del {DEV}")
    w(f"{tg1}/state", "offline")
    w(dm, f"del {DG}")                          # with a target group left: resets it, removes it
    ls("device_groups")
    w(tm, f"del_target {T1}")
    w(tm, f"del_target {T3}")
    w(tm, f"del_target {T3}")
    ls("targets/iscsi")
    w(hm, f"del_device {DEV}")
    w(hm, f"del_device {DEV}")
    ls("devices")
    ls("handlers/vdisk_blockio")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="/sys/kernel/scst_tgt")
    ap.add_argument("--device", required=True, help="a block device vdisk_blockio may open")
    args = ap.parse_args(argv)
    pr = Probe(args.root)
    script(pr, args.device)
    json.dump({"steps": pr.steps}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
