"""The lab's base image: Debian 12 + the cluster, target and initiator packages.

Built once under WORKDIR/build/ (debootstrap inside a private mount
namespace, niced), turned into WORKDIR/images/base-<key>.img with
``mkfs.ext4 -d`` (no loop device), and cached: <key> hashes everything that
goes into the image (package list, mirror, this file, the build script).
The kernel and its modules are not in the image either: ulab.kernel builds
them, and each instance copies the modules in at boot (guest/lab-init).
The project's agents are not in it: each run stages them with
tools/install.py --destdir and every instance copies the staged tree in at
boot (see guest/lab-init), so editing an agent never costs a rebuild.

The image is node-agnostic: the node name and role come from the kernel
command line, the per-node configuration from the hostfs share.
"""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import time

from . import safety

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(os.path.dirname(HERE), "guest")
MIRROR = "http://deb.debian.org/debian"

PACKAGES = """
systemd-sysv udev dbus kmod iproute2 iputils-ping procps psmisc util-linux less
python3 python3-lxml
pacemaker pacemaker-cli-utils corosync crmsh resource-agents
drbd-utils lvm2 lvm2-lockd dlm-controld
targetcli-fb python3-rtslib-fb
open-iscsi multipath-tools sg3-utils lsscsi xfsprogs fio
""".split()  # noqa: SIM905

# Units that must not start on their own: the lab (or Pacemaker) starts what a node needs.
DISABLE = """
corosync.service pacemaker.service multipathd.service multipathd.socket iscsid.service
iscsid.socket open-iscsi.service lvm2-monitor.service lvm2-lvmpolld.socket lvmlockd.service
lvmlocks.service dlm.service drbd.service rtslib-fb-targetctl.service targetclid.service
targetclid.socket e2scrub_all.timer e2scrub_reap.service fstrim.timer apt-daily.timer
apt-daily-upgrade.timer dpkg-db-backup.timer systemd-timesyncd.service remote-fs.target
""".split()  # noqa: SIM905
MASK = ["getty.target", "console-getty.service", "serial-getty@.service", "getty@.service",
        "systemd-firstboot.service"]

LAB_BOOT_UNIT = """\
[Unit]
Description=lab: mount the hostfs share and apply this node's configuration
DefaultDependencies=no
After=local-fs.target systemd-udevd.service
Before=systemd-networkd.service network-pre.target sysinit.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-boot
StandardOutput=journal+console

[Install]
WantedBy=sysinit.target
"""

LAB_AGENT_UNIT = """\
[Unit]
Description=lab: command channel over the hostfs share
After=lab-boot.service
Requires=lab-boot.service

[Service]
ExecStart=/usr/bin/python3 -u /lab/guest/lab-agent.py
Restart=always
RestartSec=1
Nice=-5

[Install]
WantedBy=multi-user.target
"""

# SCST's iSCSI daemon, as SCST's own init script starts it after loading the modules.  The
# binary comes from the lab kernel's build (ulab.kernel, installed by guest/lab-init); the
# unit runs only where lab-init loaded iscsi-scst (the SCST variant's storage nodes).
ISCSI_SCSTD_UNIT = """\
[Unit]
Description=lab: SCST iSCSI target daemon (iscsi-scstd)
After=lab-boot.service
Before=corosync.service pacemaker.service
ConditionPathExists=/sys/module/iscsi_scst
ConditionPathExists=/usr/local/sbin/iscsi-scstd

[Service]
ExecStart=/usr/local/sbin/iscsi-scstd -f
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

# Mounts the share (the kernel's hostfs= confines it to the lab's share directory) and
# hands over to the lab-init script in the share, so guest-side logic changes need no rebuild.
LAB_BOOT = """\
#!/bin/sh
set -eu
mkdir -p /lab
mountpoint -q /lab || mount -t hostfs none /lab
exec /bin/sh /lab/guest/lab-init
"""


def cache_key() -> str:
    h = hashlib.sha256()
    for part in (" ".join(PACKAGES), MIRROR, " ".join(DISABLE), " ".join(MASK)):
        h.update(part.encode() + b"\0")
    for path in (os.path.abspath(__file__), os.path.join(GUEST, "build-rootfs.sh")):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def image_path(workdir: str) -> str:
    return os.path.join(workdir, "images", f"base-{cache_key()}.img")


def log(msg: str) -> None:
    print(f"[image {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _write(workdir: str, root: str, rel: str, text: str, mode: int = 0o644) -> None:
    path = os.path.join(root, rel.lstrip("/"))
    safety.check_inside(workdir, os.path.dirname(path) + "/x")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def configure(workdir: str, root: str) -> None:
    """Static, node-agnostic configuration of the root file system."""
    safety.check_inside(workdir, root)
    _write(workdir, root, "/etc/fstab", "/dev/ubda / ext4 defaults,noatime,errors=remount-ro 0 1\n")
    _write(workdir, root, "/etc/hostname", "lab\n")
    _write(workdir, root, "/usr/local/sbin/lab-boot", LAB_BOOT, 0o755)
    _write(workdir, root, "/etc/systemd/system/lab-boot.service", LAB_BOOT_UNIT)
    _write(workdir, root, "/etc/systemd/system/lab-agent.service", LAB_AGENT_UNIT)
    _write(workdir, root, "/etc/systemd/system/iscsi-scstd.service", ISCSI_SCSTD_UNIT)
    # journald: keep logs small and in memory+disk; no rate limits (we read them for timings)
    _write(workdir, root, "/etc/systemd/journald.conf.d/lab.conf",
           "[Journal]\nStorage=persistent\nRateLimitBurst=0\nSystemMaxUse=64M\n")
    # no password prompt anywhere; root without password on the (unused) console
    subprocess.run(["chroot", root, "passwd", "-d", "root"], check=True, capture_output=True)
    enable = ["lab-boot.service", "lab-agent.service", "systemd-networkd.service", "iscsi-scstd.service"]
    subprocess.run(["chroot", root, "systemctl", "enable", *enable], check=True, capture_output=True)
    present = set()
    for unit in DISABLE:
        if glob.glob(os.path.join(root, "lib/systemd/system", unit)) or glob.glob(
            os.path.join(root, "etc/systemd/system", "*", unit)
        ):
            present.add(unit)
    if present:
        subprocess.run(["chroot", root, "systemctl", "disable", *sorted(present)], check=True, capture_output=True)
    subprocess.run(["chroot", root, "systemctl", "mask", *MASK], check=True, capture_output=True)
    # /lab is the hostfs mount point
    os.makedirs(os.path.join(root, "lab"), exist_ok=True)


def stray_processes(root: str) -> list[int]:
    """PIDs whose root directory is inside the build tree (daemons a postinst left running)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                r = os.readlink(f"/proc/{entry}/root")
            except OSError:
                continue
            if r == root or r.startswith(root + "/"):
                pids.append(int(entry))
    return pids


def build(workdir: str, *, force: bool = False) -> str:
    """Return the cached image for the current inputs, building it if needed."""
    workdir = safety.check_workdir(workdir)
    img = image_path(workdir)
    if os.path.exists(img + ".ok") and os.path.exists(img) and not force:
        log(f"cached: {img}")
        return img
    os.makedirs(os.path.join(workdir, "build"), exist_ok=True)
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
    key = cache_key()
    root = os.path.join(workdir, "build", f"rootfs-{key}")
    safety.check_inside(workdir, root)
    safety.safe_rmtree(workdir, root)
    t0 = time.monotonic()
    log(f"building root file system in {root} (debootstrap, niced; about 3 minutes)")
    blog = os.path.join(workdir, "build", f"build-{key}.log")
    with open(blog, "w") as logf:
        # its own session, so an interrupted build (Ctrl-C, timeout, lab killed) is ended as a whole
        proc = subprocess.Popen(
            ["nice", "-n", "10", "unshare", "--mount", "--propagation", "private", "--",
             "/bin/sh", os.path.join(GUEST, "build-rootfs.sh"), root, workdir, MIRROR, *PACKAGES],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=1800)
        finally:
            if proc.poll() is None:
                log("build interrupted: ending its process group")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    strays = stray_processes(root)
    if strays:
        raise RuntimeError(f"processes left running inside the build tree: {strays}")
    if rc != 0:
        raise RuntimeError(f"root file system build failed (rc={rc}); see {blog}")
    log(f"debootstrap + packages: {time.monotonic() - t0:.0f} s")
    configure(workdir, root)
    used = int(subprocess.run(["du", "-sxm", root], capture_output=True, text=True, check=True).stdout.split()[0])
    size_mb = used + 1536
    tmp = img + ".tmp"
    safety.check_inside(workdir, tmp)
    safety.safe_unlink(workdir, tmp)
    t1 = time.monotonic()
    subprocess.run(["nice", "-n", "10", "mkfs.ext4", "-q", "-F", "-L", "labroot", "-d", root, tmp, f"{size_mb}M"],
                   check=True, timeout=900)
    os.replace(tmp, img)
    with open(img + ".ok", "w") as f:
        f.write(f"built {time.ctime()} in {time.monotonic() - t0:.0f} s; {used} MB used\n")
    log(f"mkfs.ext4 -d: {time.monotonic() - t1:.0f} s; image {img} ({size_mb} MB, {used} MB used)")
    # the tree is not needed any more, nor are images built from older inputs
    safety.safe_rmtree(workdir, root)
    prune_images(workdir, keep=img)
    return img


def prune_images(workdir: str, keep: str) -> None:
    for old in glob.glob(os.path.join(workdir, "images", "base-*.img*")):
        if not old.startswith(keep):
            log(f"removing the image of older inputs {old}")
            safety.safe_unlink(workdir, old)
