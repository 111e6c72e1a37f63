#!/usr/bin/env bash
# Installs the system packages podshim's build, tests and samples need,
# only those missing. Needs root and Debian's apt.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in busybox-static iproute2 util-linux strace bsdutils libc6-dev libseccomp-dev runc iptables containerd containernetworking-plugins protobuf-compiler; do
  have "$pkg" || need+=("$pkg")
done
for pkg in "$@"; do
  have "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "hack/deps.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
