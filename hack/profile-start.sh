#!/usr/bin/env bash
# Where a pod's start goes, phase by phase, from the shim log's own
# timestamps (no tracer slows the run down): RUNS starts and removals of a
# podctl pod of pause + 1 (`/bin/true`), and the median of each phase.
#
#   hack/profile-start.sh BIN_DIR ROOTFS [RUNS]     (default 20 runs)
#
# BIN_DIR holds podctl and podshim (a release build: target/<triple>/release,
# or another checkout's, to compare two builds on the same machine minutes
# apart). Prints one line per phase: name and median in ms.
set -euo pipefail
bin=$(cd "$1" && pwd)
rootfs=$(cd "$2" && pwd)
runs=${3:-20}
work=/run/podshim-profile
export PODSHIM_ROOT=$work/state PODSHIM_BIN=$bin/podshim PODSHIM_CGROUP_PARENT=podshim-profile
podctl=$bin/podctl

cleanup() {
  "$podctl" rm --timeout 0 prof >/dev/null 2>&1 || true
  for h in /sys/fs/cgroup/*/; do
    [ -d "${h}podshim-profile" ] && find "${h}podshim-profile" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"; mkdir -p "$work/pod/c1"
cat > "$work/pod/pod.json" <<EOF
{"id": "prof", "containers": [{"name": "c1", "bundle": "c1"}]}
EOF
cat > "$work/pod/c1/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"user": {"uid": 0, "gid": 0}, "args": ["true"], "cwd": "/",
   "env": ["PATH=/bin:/sbin:/usr/bin"], "noNewPrivileges": true},
 "root": {"path": "$rootfs", "readonly": true},
 "mounts": [
   {"destination": "/proc", "type": "proc", "source": "proc"},
   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]}}
EOF

# Seconds since the epoch of the first shim log line matching $2.
at() { date -d "$(grep -m1 "$2" "$1" | cut -d' ' -f1)" +%s.%N; }

rows=$work/rows
: > "$rows"
for _ in $(seq "$runs"); do
  t0=$EPOCHREALTIME
  "$podctl" run "$work/pod" >/dev/null
  t1=$EPOCHREALTIME
  log=$PODSHIM_ROOT/podctl/prof/shim.log
  # The container's exit is logged once /bin/true is gone.
  for _ in $(seq 100); do grep -q 'exited pid' "$log" && break; sleep 0.01; done
  serving=$(at "$log" 'shim serving')
  ready=$(at "$log" 'pause ready')
  created=$(at "$log" 'container created')
  exited=$(at "$log" 'exited pid')
  t2=$EPOCHREALTIME
  "$podctl" rm prof
  t3=$EPOCHREALTIME
  awk -v t0="$t0" -v s="$serving" -v r="$ready" -v c="$created" -v e="$exited" \
    -v t1="$t1" -v t2="$t2" -v t3="$t3" 'BEGIN {
      printf "%.3f %.3f %.3f %.3f %.3f %.3f\n", (s - t0) * 1000, (r - s) * 1000,
        (c - r) * 1000, (e - c) * 1000, (t1 - t0) * 1000, (t3 - t2) * 1000 }' >> "$rows"
done

names=("podctl started to the shim serving" "serving to the pause ready"
       "pause ready to the container created" "created to its exit"
       "podctl run, in all" "podctl rm")
for c in 1 2 3 4 5 6; do
  printf "%s: %s ms\n" "${names[$((c - 1))]}" \
    "$(awk -v c="$c" '{print $c}' "$rows" | sort -g | awk '{v[NR]=$1} END {
      m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.2f", m }')"
done
