#!/usr/bin/env bash
# Builds a node VM image: a Debian system as Kubernetes nodes run it
# (systemd as PID 1, cgroup v2 only, containerd, runc), from Debian's
# archive with mmdebstrap, on an ext4 disk made with mkfs.ext4 -d, plus
# the kernel and initrd to boot it with. Cached under build/node/FLAVOUR/,
# keyed by the package list and this script: rebuilt only when they change.
#   hack/node/image.sh FLAVOUR      (bookworm: Debian 12, trixie: Debian 13)
set -euo pipefail
flavour=${1:?usage: image.sh bookworm|trixie}
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$here/build/node/$flavour
packages=systemd,systemd-sysv,linux-image-amd64,udev,dbus,kmod,procps,util-linux,iproute2,iptables,containerd,runc,containernetworking-plugins,busybox-static,ca-certificates,strace,criu
key=$( { echo "$flavour $packages"; cat "$0" "$here/hack/node/node-boot.sh"; } | sha256sum | cut -c1-16)
if [ -e "$out/disk.raw" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
  echo "node image $flavour: cached ($key)"
  exit 0
fi
rm -rf "$out" && mkdir -p "$out"
tree=$(mktemp -d /var/tmp/podshim-node.XXXXXX)
trap 'rm -rf "$tree"' EXIT
start=$(date +%s)
# The VM runs one unit: mount the repository (9p, at the same path as on
# the host, so the test binaries find what they were built with), run the
# node tests from it, write the results there, and power off.
mmdebstrap --variant=apt --quiet --include="$packages" \
  --customize-hook='echo podshim-node > "$1/etc/hostname"' \
  --customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"' \
  --customize-hook="install -D -m 0755 '$here/hack/node/node-boot.sh' \"\$1/usr/local/sbin/podshim-node-boot\"" \
  --customize-hook='cat > "$1/etc/systemd/system/podshim-node.service" <<UNIT
[Unit]
Description=podshim node tests
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
StandardOutput=journal+console
StandardError=journal+console
ExecStart=/usr/local/sbin/podshim-node-boot
[Install]
WantedBy=multi-user.target
UNIT' \
  --customize-hook='chroot "$1" systemctl enable podshim-node.service' \
  --customize-hook='chroot "$1" systemctl disable containerd.service' \
  --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer' \
  --customize-hook='passwd --root "$1" -d root' \
  "$flavour" "$tree" http://deb.debian.org/debian
cp -L "$tree"/boot/vmlinuz-* "$out/vmlinuz"
cp -L "$tree"/boot/initrd.img-* "$out/initrd.img"
mkfs.ext4 -q -F -L podshim-node -d "$tree" "$out/disk.raw" 4G
echo "$key" > "$out/key"
echo "node image $flavour: built in $(( $(date +%s) - start )) s ($key)"
