#!/usr/bin/env bash
# Builds a small container rootfs: busybox-static with its applets linked,
# podprobe, the directories the OCI mounts need, and optional extra files.
#   hack/mkrootfs.sh DEST PODPROBE [EXTRA_DIR]
# EXTRA_DIR's contents are copied over the result (e.g. a web root).
set -euo pipefail
dest=$1 probe=$2 extra=${3:-}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "mkrootfs: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "mkrootfs: $busybox is dynamically linked (install busybox-static)" >&2; exit 1
fi
tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,www,run,var/tmp}
cp "$busybox" "$tmp/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$tmp/bin/$applet"
done
install -m 0755 "$probe" "$tmp/bin/podprobe"
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$tmp/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/etc/group"
# Mount points for the pod's shared files, as every image has them.
: > "$tmp/etc/hosts"; : > "$tmp/etc/hostname"; : > "$tmp/etc/resolv.conf"
if [ -n "$extra" ] && [ -d "$extra" ]; then
  cp -a "$extra"/. "$tmp"/
fi
rm -rf "$dest"
mv "$tmp" "$dest"
