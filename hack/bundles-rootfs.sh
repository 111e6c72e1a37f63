#!/usr/bin/env bash
# Builds the rootfs of every sample bundle (bundles/<pod>/<ctr>/rootfs) from
# busybox-static and podprobe, with bundles/<pod>/<ctr>/files copied over it.
# Rebuilds only when the rootfs is older than its inputs.
#   hack/bundles-rootfs.sh PODPROBE
set -euo pipefail
probe=$1
here=$(cd "$(dirname "$0")" && pwd)
for cfg in "$here"/../bundles/*/*/config.json; do
  dir=$(dirname "$cfg")
  stamp="$dir/rootfs/.podshim-built"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$probe" ] && [ "$stamp" -nt "$here/mkrootfs.sh" ] && [ -z "$(find "$dir/files" -newer "$stamp" 2>/dev/null | head -1)" ]; then
    continue
  fi
  "$here/mkrootfs.sh" "$dir/rootfs" "$probe" "$dir/files"
  touch "$dir/rootfs/.podshim-built"
done
