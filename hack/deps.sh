#!/usr/bin/env bash
# Installs the system packages podshim's build, tests and samples need,
# only those missing. Needs root and Debian's apt.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
base=(busybox-static iproute2 util-linux strace bsdutils libc6-dev libseccomp-dev runc iptables containerd containernetworking-plugins protobuf-compiler)
wanted=("${base[@]}" "$@")
missing() { need=(); for pkg in "${wanted[@]}"; do have "$pkg" || need+=("$pkg"); done; }
missing
if [ ${#need[@]} -gt 0 ]; then
  echo "hack/deps.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  # An install may remove a package that was wanted (a newer one from
  # elsewhere that conflicts with Debian's dependencies): put it back.
  missing
  if [ ${#need[@]} -gt 0 ]; then
    echo "hack/deps.sh: reinstalling ${need[*]} (removed by the install)" >&2
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
