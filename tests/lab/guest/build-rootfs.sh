#!/bin/sh
# Build the lab's Debian 12 root file system in $1 (run by ulab.image inside
# `unshare --mount --propagation private`, so every mount made here vanishes
# with this process and is never visible on the host).
# Usage: build-rootfs.sh TARGET WORKDIR MIRROR PACKAGES...
set -eu
target=$1 workdir=$2 mirror=$3
shift 3
case "$target" in
    "$workdir"/build/rootfs-*) ;;
    *) echo "build-rootfs: refusing target $target (not under $workdir/build/)" >&2; exit 2 ;;
esac
[ "$(realpath "$target")" = "$target" ] || { echo "build-rootfs: $target is not a real path" >&2; exit 2; }
[ ! -e "$target" ] || { echo "build-rootfs: $target exists" >&2; exit 2; }
mkdir -p "$target"
debootstrap --variant=minbase bookworm "$target" "$mirror"
# No daemon may start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' > "$target/usr/sbin/policy-rc.d"
chmod 755 "$target/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$target/etc/resolv.conf"
mount -t proc proc "$target/proc"
mount -t sysfs sysfs "$target/sys"
chroot "$target" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get update -qq
chroot "$target" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@"
chroot "$target" apt-get clean
umount "$target/sys" "$target/proc"
rm -f "$target/usr/sbin/policy-rc.d" "$target/etc/resolv.conf"
rm -rf "$target/var/lib/apt/lists/"* "$target/var/cache/apt/"*.bin
