#!/usr/bin/env bash
# Runs every sample pod in bundles/ under podshim, checks it with the pod's
# check.sh, removes it, and checks that nothing of it is left.
#   hack/e2e.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export PODSHIM_ROOT=${PODSHIM_ROOT:-/run/podshim-e2e}
export PODSHIM_BIN=$bin/podshim
podctl="$bin/podctl"
failed=0

# The pods get addresses on a CNI network of e2e's own (bridge, subnet,
# IPAM directory), which is removed at the end.
cni=${PODSHIM_ROOT}-cni
bridge=podctl-e2e
mkdir -p "$cni/net.d"
cat > "$cni/net.d/10-e2e.conflist" <<EOF_CONF
{"cniVersion": "1.0.0", "name": "podctl-e2e", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$cni/ipam", "ranges": [[{"subnet": "10.90.0.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]}
EOF_CONF
export PODCTL_CNI_CONF_DIR=$cni/net.d

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }

leftovers() {
  local pod=$1 found=""
  [ -e "$PODSHIM_ROOT/podctl/$pod" ] && found+=" state-dir"
  grep -q "$PODSHIM_ROOT" /proc/self/mountinfo && found+=" mounts"
  for h in /sys/fs/cgroup/*/; do
    [ -e "${h}podshim/podctl/$pod" ] && found+=" cgroup:${h}podshim/podctl/$pod"
  done
  [ -n "$(ip -o link show master "$bridge" 2>/dev/null)" ] && found+=" veth"
  [ -n "$(find "$cni/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null)" ] && found+=" ip-reservation"
  # Outputs are read whole, then searched: under pipefail a `grep -q` that
  # stops early fails its pipeline and would hide the leak it found.
  grep -q -- "$pod" <<<"$(iptables-save -t nat 2>/dev/null)" && found+=" iptables-rule"
  for p in /proc/[0-9]*; do
    if grep -qx "PODSHIM_ROOT=$PODSHIM_ROOT" <<<"$(tr '\0' '\n' 2>/dev/null < "$p/environ")"; then
      found+=" process:${p#/proc/}"
    fi
  done
  echo "$found"
}

for dir in "$here"/../bundles/*/; do
  pod=$(basename "$dir")
  echo "=== $pod"
  start=$(date +%s%N)
  if ! PODCTL_TIMING=1 "$podctl" run "$dir"; then
    echo "FAIL $pod: podctl run failed"; failed=1; continue
  fi
  end=$(date +%s%N)
  shim=$(sed -n 's/.*"shim": *{ *"pid": *\([0-9]*\).*/\1/p' <(tr -d '\n' < "$PODSHIM_ROOT/podctl/$pod/pod.json"))
  pause=$(sed -n 's/.*"pause": *{ *"pid": *\([0-9]*\).*/\1/p' <(tr -d '\n' < "$PODSHIM_ROOT/podctl/$pod/pod.json"))
  echo "$pod: podctl run took $(( (end - start) / 1000 )) us; RSS shim $(rss_kb "$shim") kB, pause $(rss_kb "$pause") kB"
  "$podctl" ps
  if PODCTL="$podctl" POD="$pod" bash "$dir/check.sh"; then
    echo "ok   $pod"
  else
    echo "FAIL $pod: check.sh failed"; failed=1
    "$podctl" events "$pod" || true
  fi
  "$podctl" rm "$pod" || { echo "FAIL $pod: podctl rm failed"; failed=1; }
  left=$(leftovers "$pod")
  if [ -n "$left" ]; then
    echo "FAIL $pod: left behind:$left"; failed=1
  fi
done
rmdir "$PODSHIM_ROOT/podctl" "$PODSHIM_ROOT" 2>/dev/null || true
ip link del "$bridge" 2>/dev/null || true
rm -rf "$cni"
[ "$failed" -eq 0 ] && echo "e2e: all pods passed" || { echo "e2e: failures"; exit 1; }
