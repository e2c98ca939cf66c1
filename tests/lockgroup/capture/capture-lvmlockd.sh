#!/bin/sh
# Capture real lvmlockctl outputs from Debian's lvmlockd (lvm2-lockd) for the
# fixtures in ../fixtures/.  lvmlockd runs in test mode (-T: no lock manager
# calls, so no DLM is needed), on a loop device, inside a private mount
# namespace with tmpfs over /run and LVM's backup/archive directories, so the
# host's /run and /etc/lvm stay untouched.  device-mapper is missing on the
# capture machine, so LVs are "activated" with --driverloaded n: lvmlockd
# still takes the LV locks, exactly as a real activation would.
#
#   sudo unshare --mount --propagation private sh capture-lvmlockd.sh OUTDIR
set -u
out=${1:?usage: capture-lvmlockd.sh OUTDIR}
mkdir -p "$out"
img=$(mktemp /tmp/lockgroup-pv.XXXXXX)
loop=""
cleanup() {
    [ -f /run/lvmlockd.pid ] && kill -9 "$(cat /run/lvmlockd.pid)" 2>/dev/null
    sleep 0.3
    [ -n "$loop" ] && losetup -d "$loop"
    rm -f "$img"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run
mkdir -p /run/lvm /run/lock/lvm
for d in /etc/lvm/backup /etc/lvm/archive; do [ -d "$d" ] && mount -t tmpfs tmpfs "$d"; done
export LVM_SUPPRESS_FD_WARNINGS=1
lvmlockctl --info >"$out/lvmlockctl-info-no-daemon.stdout" 2>"$out/lvmlockctl-info-no-daemon.stderr"
echo $? >"$out/lvmlockctl-info-no-daemon.rc"
lvmconfig --type full global/use_lvmlockd >"$out/lvmconfig-use_lvmlockd-0.txt" 2>&1
truncate -s 64M "$img"
loop=$(losetup -f --show "$img")
cfg="global/use_lvmlockd=1 devices/filter=[\"a|^$loop\$|\",\"r|.*|\"] backup/backup=0 backup/archive=0 devices/use_devicesfile=0"
lvmconfig --type full --config "$cfg" global/use_lvmlockd >"$out/lvmconfig-use_lvmlockd-1.txt" 2>&1
lvmlockd -T -g dlm -A 1
sleep 0.5
lvmlockctl --info --dump >"$out/lvmlockctl-info-dump-idle.txt"; echo $? >"$out/lvmlockctl-info-dump-idle.rc"
lvmlockctl --info >"$out/lvmlockctl-info-idle.txt"
pvcreate -q --config "$cfg" "$loop"
vgcreate -q --config "$cfg" --shared vg1 "$loop"
vgchange -q --config "$cfg" --lock-start vg1
lvcreate -q --driverloaded n --config "$cfg" -an -Zn -L 8M -n lv1 vg1
lvcreate -q --driverloaded n --config "$cfg" -an -Zn -L 8M -n lv2 vg1
lvs --config "$cfg" --driverloaded n -o vg_name,lv_name,lv_uuid,vg_uuid >"$out/lvs-uuids.txt" 2>/dev/null
lvmlockctl --info --dump >"$out/lvmlockctl-info-dump-lockspaces.txt"
lvmlockctl --info >"$out/lvmlockctl-info-lockspaces.txt"
lvchange -q --driverloaded n --config "$cfg" -asy vg1/lv1
lvchange -q --driverloaded n --config "$cfg" -aey vg1/lv2
lvmlockctl --info --dump >"$out/lvmlockctl-info-dump-lv-active.txt"
lvmlockctl --info >"$out/lvmlockctl-info-lv-active.txt"
# With LV locks held, --stop-lockspaces stops lvm_global and then waits for ever.
timeout 5 lvmlockctl --stop-lockspaces; echo $? >"$out/lvmlockctl-stop-lockspaces-busy.rc"
lvmlockctl --info --dump >"$out/lvmlockctl-info-dump-after-busy-stop.txt"
# SIGTERM is ignored while a lockspace remains.
kill -TERM "$(cat /run/lvmlockd.pid)"; sleep 1
lvmlockctl --dump >"$out/lvmlockd-dump-busy.txt"
lvchange -q --driverloaded n --config "$cfg" -an vg1/lv1 vg1/lv2
sleep 2
lvmlockctl --info --dump >"$out/lvmlockctl-info-dump-after-deactivate.txt"
timeout 10 lvmlockctl --stop-lockspaces; echo $? >"$out/lvmlockctl-stop-lockspaces.rc"
lvmlockctl --info --dump >"$out/lvmlockctl-info-dump-stopped.txt"
lvmlockd -V >"$out/lvmlockd-version.txt" 2>&1
