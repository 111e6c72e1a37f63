#!/usr/bin/env bash
# podshim side by side with runc, crun and containerd-shim-runc-v2, in one
# run on one machine, the Kubernetes way: a pause holding net/ipc/uts, app
# containers joining it by /proc/PID/ns path with their own pid and mnt.
#
#   hack/bench.sh [--quick] BIN_DIR ROOTFS OUT_DIR
#
# Writes OUT_DIR/<date>.md (median, min, max, ratio podshim/peer) and
# OUT_DIR/<date>.svg (start time and memory per pod against pods running).
# Whole commands are timed with hyperfine; loops are timed in bash with
# $EPOCHREALTIME (no fork per sample); memory is read from /proc and the
# memory cgroup.
#
# crun refuses this hybrid host ("cgroups in hybrid mode not supported")
# while the v2 mount delegates a controller; its runs happen in a private
# mount namespace where an empty file is bind-mounted over
# /sys/fs/cgroup/unified/cgroup.controllers. Nothing else changes for it.
set -euo pipefail

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
bin=$(cd "$1" && pwd)
rootfs=$(cd "$2" && pwd)
out=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=/run/podshim-bench
export PODSHIM_ROOT=$work/podshim
export PODSHIM_BIN=$bin/podshim
export PODSHIM_CGROUP_PARENT=podshim-bench
podctl=$bin/podctl
runc_root=$work/runc
crun_root=$work/crun

if [ $quick = 1 ]; then
  runs=10; pod_runs=5; scale=(10); ctr_scale=(10); soak=1000
else
  runs=40; pod_runs=20; scale=(10 100 500); ctr_scale=(10 100); soak=10000
fi

log() { echo "bench: $*" >&2; }

# --- statistics -------------------------------------------------------------

# Reads numbers (one per line) and prints "median min max".
stats() {
  sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "nan nan nan"; exit }
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
    printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

# Milliseconds between two $EPOCHREALTIME values.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'; }

# hyperfine on one command; prints "median min max" in ms.
hf() {
  local name=$1; shift
  settle
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/hf-$name.json" "$@" >/dev/null 2>&1 || {
    log "hyperfine $name failed: $*"; echo "nan nan nan"; return
  }
  jq -r '.results[0] | "\(.median*1000) \(.min*1000) \(.max*1000)"' "$work/hf-$name.json" |
    awk '{ printf "%.3f %.3f %.3f\n", $1, $2, $3 }'
}

declare -A R   # R[scenario|system] = "median min max" (ms or MiB)

# Waits (30 s at most) until the machine is quiet, more than 90% idle over
# half a second: what an earlier teardown left the kernel to do (network
# namespaces cleaned up, memory cgroups freed, the journal written) must
# not land in the next runtime's timing. Called before every timed loop.
settle() {
  local a b k total idle
  for _ in $(seq 60); do
    read -r -a a < /proc/stat; sleep 0.5; read -r -a b < /proc/stat
    total=0
    for k in 1 2 3 4 5 6 7 8; do total=$((total + b[k] - a[k])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    if [ "$total" -gt 0 ] && [ $((idle * 100 / total)) -ge 90 ]; then return 0; fi
  done
  log "the machine did not settle (${idle}/${total} idle); timing anyway"
}

# --- bundles ----------------------------------------------------------------

# An OCI spec: process args (JSON array), namespaces (JSON array), cgroupsPath.
spec() {
  cat <<EOF
{"ociVersion": "1.0.2",
 "process": {"user": {"uid": 0, "gid": 0}, "args": $1, "cwd": "/",
   "env": ["PATH=/bin:/sbin:/usr/bin"], "noNewPrivileges": true,
   "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}},
 "root": {"path": "$rootfs", "readonly": true},
 "hostname": "bench",
 "mounts": [
   {"destination": "/proc", "type": "proc", "source": "proc"},
   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}],
 "linux": {"namespaces": $2${3:+, \"cgroupsPath\": \"$3\"},
   "maskedPaths": ["/proc/kcore", "/proc/keys"], "readonlyPaths": ["/proc/sys"]}}
EOF
}

own_ns='[{"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]'
member_ns='[{"type": "pid"}, {"type": "mount"}, {"type": "network", "path": "/proc/__PID__/ns/net"}, {"type": "ipc", "path": "/proc/__PID__/ns/ipc"}, {"type": "uts", "path": "/proc/__PID__/ns/uts"}]'
sleep_args='["sleep", "1000000"]'

# podshim pods: a pod dir per id, from one template.
podshim_pod() { # dir id args...
  local dir=$1 id=$2; shift 2
  mkdir -p "$dir"
  local list="" n=0
  for args in "$@"; do
    n=$((n + 1))
    mkdir -p "$dir/c$n"
    spec "$args" '[{"type": "pid"}, {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]' > "$dir/c$n/config.json"
    list+="${list:+, }{\"name\": \"c$n\", \"bundle\": \"c$n\"}"
  done
  echo "{\"id\": \"$id\", \"containers\": [$list]}" > "$dir/pod.json"
}

# --- the peers' pods, done by hand the Kubernetes way ------------------------

# rt_pod_up RUNTIME ROOT ID: pause + 2 sleeping members; echoes nothing.
rt_pod_up() {
  local rt=$1 root=$2 id=$3 b=$work/$1-bundles/$3
  mkdir -p "$b/pause" "$b/a" "$b/b"
  spec "$sleep_args" "$own_ns" "/podshim-bench-$rt/$id/pause" > "$b/pause/config.json"
  "$rt" --root "$root" run -d -b "$b/pause" --pid-file "$b/pause.pid" "$id-pause" </dev/null >/dev/null 2>&1
  local pid; pid=$(<"$b/pause.pid")
  local ns=${member_ns//__PID__/$pid}
  for c in a b; do
    spec "$sleep_args" "$ns" "/podshim-bench-$rt/$id/$c" > "$b/$c/config.json"
    "$rt" --root "$root" run -d -b "$b/$c" "$id-$c" </dev/null >/dev/null 2>&1
  done
}

rt_pod_down() {
  local rt=$1 root=$2 id=$3
  for c in a b pause; do "$rt" --root "$root" delete -f "$id-$c" >/dev/null 2>&1 || true; done
  rm -rf "$work/$rt-bundles/$id"
  for h in /sys/fs/cgroup/*/; do rmdir "${h}podshim-bench-$rt/$id" 2>/dev/null || true; done
}

rt_pids() { # pids of one runc/crun pod
  local rt=$1 root=$2 id=$3
  for c in pause a b; do "$rt" --root "$root" state "$id-$c" 2>/dev/null | jq -r .pid; done
}

# --- memory -----------------------------------------------------------------

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
cg_bytes() { cat "/sys/fs/cgroup/memory/$1/memory.usage_in_bytes" 2>/dev/null || echo 0; }

# --- scenario 1: one container running /bin/true ----------------------------

scenario_one() {
  log "1: one container, /bin/true"
  podshim_pod "$work/one" one '["true"]'
  R["one|podshim"]=$(hf podshim "$podctl run --rm $work/one")
  mkdir -p "$work/one-oci"
  spec '["true"]' "$own_ns" "/podshim-bench-one" > "$work/one-oci/config.json"
  R["one|runc"]=$(hf runc "runc --root $runc_root run -b $work/one-oci bench-one")
  R["one|crun"]=$(in_crun_ns hf crun "crun --root $crun_root run -b $work/one-oci bench-one")
  R["one|floor"]=$(hf floor "$work/floor - $rootfs /bin/true")
}

# Runs a function of this script in crun's private mount namespace.
in_crun_ns() {
  unshare -m --propagation private bash -c '
    : > '"$work"'/empty
    mount --bind '"$work"'/empty /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true
    source '"$work"'/lib.sh
    "$@"' bench "$@"
}

# --- scenario 2: a pod of pause + 2 containers, up and down -----------------

scenario_pod() {
  log "2: pod of pause + 2 containers, up and teardown"
  podshim_pod "$work/pod3" pod3 "$sleep_args" "$sleep_args"
  : > "$work/up"; : > "$work/down"
  settle
  for _ in $(seq "$pod_runs"); do
    local t0=$EPOCHREALTIME
    "$podctl" run "$work/pod3" >/dev/null
    local t1=$EPOCHREALTIME
    "$podctl" rm --timeout 0 pod3
    local t2=$EPOCHREALTIME
    ms "$t0" "$t1" >> "$work/up"; ms "$t1" "$t2" >> "$work/down"
  done
  R["podup|podshim"]=$(stats < "$work/up"); R["poddown|podshim"]=$(stats < "$work/down")
  for rt in runc crun; do
    local root=$work/$rt
    local res
    res=$(in_if_crun "$rt" rt_pod_loop "$rt" "$root" "$pod_runs")
    R["podup|$rt"]=$(sed -n 1p <<<"$res"); R["poddown|$rt"]=$(sed -n 2p <<<"$res")
  done
  mkdir -p "$work/one-pause"
  spec "$sleep_args" "$own_ns" > "$work/one-pause/config.json"
}

in_if_crun() { local rt=$1; shift; if [ "$rt" = crun ]; then in_crun_ns "$@"; else "$@"; fi; }

rt_pod_loop() { # rt root runs -> two lines: up stats, down stats
  local rt=$1 root=$2 n=$3 up=$work/up-$1 down=$work/down-$1
  : > "$up"; : > "$down"
  settle
  for _ in $(seq "$n"); do
    local t0=$EPOCHREALTIME
    rt_pod_up "$rt" "$root" bp
    local t1=$EPOCHREALTIME
    rt_pod_down "$rt" "$root" bp
    local t2=$EPOCHREALTIME
    ms "$t0" "$t1" >> "$up"; ms "$t1" "$t2" >> "$down"
  done
  stats < "$up"; stats < "$down"
}

# --- scenario 3: N pods, start, memory, teardown ----------------------------

scale_podshim() { # N
  local n=$1 t0 t1 t2
  for i in $(seq "$n"); do
    mkdir -p "$work/scale/p$i"
    sed "s/\"id\": \"pod3\"/\"id\": \"p$i\"/" "$work/pod3/pod.json" > "$work/scale/p$i/pod.json"
    ln -sfn "$work/pod3/c1" "$work/scale/p$i/c1"; ln -sfn "$work/pod3/c2" "$work/scale/p$i/c2"
  done
  settle
  t0=$EPOCHREALTIME
  for i in $(seq "$n"); do "$podctl" run "$work/scale/p$i" >/dev/null; done
  t1=$EPOCHREALTIME
  local rss=$work/rss pss=$work/pss cg=$work/cg prss=$work/prss ppss=$work/ppss
  : > "$rss"; : > "$pss"; : > "$cg"; : > "$prss"; : > "$ppss"
  for i in $(seq "$n"); do
    local rec=$PODSHIM_ROOT/podctl/p$i/pod.json shim pause
    shim=$(jq -r .shim.pid "$rec"); pause=$(jq -r .pause.pid "$rec")
    echo "scale=3; $(rss_kb "$shim")/1024" | bc >> "$rss"
    echo "scale=3; $(pss_kb "$shim")/1024" | bc >> "$pss"
    echo "scale=3; $(rss_kb "$pause")/1024" | bc >> "$prss"
    echo "scale=3; $(pss_kb "$pause")/1024" | bc >> "$ppss"
    echo "scale=3; $(cg_bytes "$PODSHIM_CGROUP_PARENT/podctl/p$i")/1048576" | bc >> "$cg"
  done
  t2=$EPOCHREALTIME
  for i in $(seq "$n"); do "$podctl" rm --timeout 0 "p$i"; done
  local t3=$EPOCHREALTIME
  R["scale$n-start|podshim"]="$(ms "$t0" "$t1") - -"
  R["scale$n-perpod|podshim"]="$(awk -v t="$(ms "$t0" "$t1")" -v n="$n" 'BEGIN{printf "%.3f", t/n}') - -"
  R["scale$n-down|podshim"]="$(ms "$t2" "$t3") - -"
  R["scale$n-shimrss|podshim"]=$(stats < "$rss"); R["scale$n-shimpss|podshim"]=$(stats < "$pss")
  R["scale$n-pauserss|podshim"]=$(stats < "$prss"); R["scale$n-pausepss|podshim"]=$(stats < "$ppss")
  R["scale$n-cg|podshim"]=$(stats < "$cg")
  rm -rf "$work/scale"
}

scale_rt() { # rt N -> lines: start down perpod-pause-rss cg
  local rt=$1 n=$2 root=$work/$1 t0 t1 t2
  settle
  t0=$EPOCHREALTIME
  for i in $(seq "$n"); do rt_pod_up "$rt" "$root" "s$i"; done
  t1=$EPOCHREALTIME
  local cg=$work/cg-$rt prss=$work/prss-$rt
  : > "$cg"; : > "$prss"
  for i in $(seq "$n"); do
    local p; p=$("$rt" --root "$root" state "s$i-pause" | jq -r .pid)
    echo "scale=3; $(rss_kb "$p")/1024" | bc >> "$prss"
    echo "scale=3; $(cg_bytes "podshim-bench-$rt/s$i")/1048576" | bc >> "$cg"
  done
  t2=$EPOCHREALTIME
  for i in $(seq "$n"); do rt_pod_down "$rt" "$root" "s$i"; done
  local t3=$EPOCHREALTIME
  echo "$(ms "$t0" "$t1")"; echo "$(ms "$t2" "$t3")"; stats < "$prss"; stats < "$cg"
}

scenario_scale() {
  for n in "${scale[@]}"; do
    log "3: $n pods of pause + 2 containers"
    scale_podshim "$n"
    for rt in runc crun; do
      local res; res=$(in_if_crun "$rt" scale_rt "$rt" "$n")
      R["scale$n-start|$rt"]="$(sed -n 1p <<<"$res") - -"
      R["scale$n-perpod|$rt"]="$(awk -v t="$(sed -n 1p <<<"$res")" -v n="$n" 'BEGIN{printf "%.3f", t/n}') - -"
      R["scale$n-down|$rt"]="$(sed -n 2p <<<"$res") - -"
      R["scale$n-pauserss|$rt"]=$(sed -n 3p <<<"$res")
      R["scale$n-cg|$rt"]=$(sed -n 4p <<<"$res")
    done
  done
}

# --- containerd: scenario 4 and the runc-v2 shim at scale --------------------

ctd_pid=""
ctd_bin=containerd ctr_bin=ctr ctd_path=""
ctd_start() { # [containerd binary: its ctr and runc shim beside it]
  ctd_bin=${1:-containerd} ctr_bin=ctr ctd_path=""
  if [ -n "${1:-}" ]; then ctd_path=$(dirname "$1"):; ctr_bin=$(dirname "$1")/ctr; fi
  local d=$work/containerd
  rm -rf "$d"; mkdir -p "$d"
  cat > "$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/sock"
[ttrpc]
  address = "$d/sock.ttrpc"
EOF
  mkdir -p "$d/bin"; ln -sfn "$bin/podshim" "$d/bin/containerd-shim-podshim-v1"
  PATH=$d/bin:$ctd_path$PATH "$ctd_bin" --config "$d/config.toml" >"$d/log" 2>&1 &
  ctd_pid=$!
  for _ in $(seq 200); do [ -S "$d/sock" ] && break; sleep 0.05; done
}
ctd_stop() { [ -n "$ctd_pid" ] && kill "$ctd_pid" && wait "$ctd_pid" 2>/dev/null || true; ctd_pid=""; }
ctr_() { "$ctr_bin" -a "$work/containerd/sock" -n bench "$@"; }

scenario_ctr() { # key
  local k=${1:-ctr}
  log "4: ctr run --rm /bin/true through $("$ctd_bin" --version | awk '{print $1, $3}')"
  R["$k|podshim"]=$(hf "${k}p" "$ctr_bin -a $work/containerd/sock -n bench run --rm --runtime io.containerd.podshim.v1 --rootfs $rootfs b1 /bin/true")
  R["$k|runcv2"]=$(hf "${k}r" "$ctr_bin -a $work/containerd/sock -n bench run --rm --runtime io.containerd.runc.v2 --rootfs $rootfs b2 /bin/true")
}

# N pods through ctr, grouped one shim per pod as CRI does (sandbox-id).
scale_ctr() { # runtime-name N
  local name=$1 n=$2 runtime t0 t1 t2
  runtime=$([ "$name" = podshim ] && echo io.containerd.podshim.v1 || echo io.containerd.runc.v2)
  settle
  t0=$EPOCHREALTIME
  for i in $(seq "$n"); do
    local g=(--runtime "$runtime" --annotation "io.kubernetes.cri.sandbox-id=c$i")
    ctr_ run -d "${g[@]}" --annotation io.kubernetes.cri.container-type=sandbox \
      --rootfs "$rootfs" "c$i" /bin/sleep 1000000 >/dev/null
    local pid; pid=$(ctr_ task ls | awk -v id="c$i" '$1 == id {print $2}')
    for c in a b; do
      ctr_ run -d "${g[@]}" --annotation io.kubernetes.cri.container-type=container \
        --with-ns "network:/proc/$pid/ns/net" --with-ns "ipc:/proc/$pid/ns/ipc" \
        --with-ns "uts:/proc/$pid/ns/uts" --rootfs "$rootfs" "c$i-$c" /bin/sleep 1000000 >/dev/null
    done
  done
  t1=$EPOCHREALTIME
  local rss=$work/rss-$name pss=$work/pss-$name
  : > "$rss"; : > "$pss"
  # The daemons: runc's shim by its path, podshim's serve by its arg0.
  for s in $(pgrep -f "^(/usr/bin/containerd-shim-runc-v2|podshim) -namespace bench " || true); do
    echo "scale=3; $(rss_kb "$s")/1024" | bc >> "$rss"; echo "scale=3; $(pss_kb "$s")/1024" | bc >> "$pss"
  done
  t2=$EPOCHREALTIME
  for i in $(seq "$n"); do
    for c in "c$i-b" "c$i-a" "c$i"; do
      ctr_ task kill -s KILL "$c" >/dev/null 2>&1 || true
    done
    for c in "c$i-b" "c$i-a" "c$i"; do
      for _ in $(seq 100); do ctr_ task rm "$c" >/dev/null 2>&1 && break; sleep 0.01; done
      ctr_ containers rm "$c" >/dev/null 2>&1 || true
    done
  done
  local t3=$EPOCHREALTIME
  R["ctr$n-start|$name"]="$(ms "$t0" "$t1") - -"
  R["ctr$n-perpod|$name"]="$(awk -v t="$(ms "$t0" "$t1")" -v n="$n" 'BEGIN{printf "%.3f", t/n}') - -"
  R["ctr$n-down|$name"]="$(ms "$t2" "$t3") - -"
  R["ctr$n-shimrss|$name"]=$(stats < "$rss"); R["ctr$n-shimpss|$name"]=$(stats < "$pss")
  R["ctr$n-shims|$name"]="$(wc -l < "$rss") - -"
}

# --- scenario 5: the shim's memory over many execs -------------------------

scenario_soak() {
  log "5: $soak execs in one pod"
  "$podctl" run "$work/pod3" >/dev/null
  local shim before after t0 t1
  shim=$(jq -r .shim.pid "$PODSHIM_ROOT/podctl/pod3/pod.json")
  # What the first exec allocates once (buffers, the exec path's code
  # paged in) belongs to "first". The heap's resident pages then grow by
  # about 28 KiB over the next few hundred execs and stay there (all by
  # exec 1000, flat from there to exec 20,000 on Dec 2), so growth is
  # judged from after a warm-up of a tenth of the soak.
  local first warm=$(( soak / 10 ))
  "$podctl" exec pod3 c1 -- true
  first=$(rss_kb "$shim")
  for _ in $(seq "$warm"); do "$podctl" exec pod3 c1 -- true; done
  before=$(rss_kb "$shim")
  t0=$EPOCHREALTIME
  for _ in $(seq "$soak"); do "$podctl" exec pod3 c1 -- true; done
  t1=$EPOCHREALTIME
  after=$(rss_kb "$shim")
  "$podctl" rm --timeout 0 pod3
  R["soak-first|podshim"]="$(echo "scale=3; $first/1024" | bc) - -"
  R["soak-before|podshim"]="$(echo "scale=3; $before/1024" | bc) - -"
  R["soak-after|podshim"]="$(echo "scale=3; $after/1024" | bc) - -"
  R["soak-perexec|podshim"]="$(awk -v t="$(ms "$t0" "$t1")" -v n="$soak" 'BEGIN{printf "%.3f", t/n}') - -"
}

# --- report -----------------------------------------------------------------

cell() { local v=${R["$1|$2"]:-}; [ -z "$v" ] && { echo "-"; return; }
  set -- $v; if [ "$2" = "-" ]; then echo "$1"; else echo "$1 ($2-$3)"; fi; }
med() { local v=${R["$1|$2"]:-}; set -- ${v:-nan}; echo "$1"; }
ratio() { awk -v a="$(med "$1" podshim)" -v b="$(med "$1" "$2")" 'BEGIN {
  if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }

row() { # key label unit
  printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" "$2" "$3" \
    "$(cell "$1" podshim)" "$(cell "$1" runc)" "$(cell "$1" crun)" "$(cell "$1" runcv2)" "$(cell "$1" floor)" \
    "$(ratio "$1" runc)" "$(ratio "$1" crun)"
}

report() {
  local md=$out/$1.md
  {
    echo "# podshim benchmarks, $1"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)."
    echo "Peers: $(runc --version | head -1), $(crun --version | head -1), $(containerd --version | awk '{print $1, $3}')."
    echo "Mode: $([ $quick = 1 ] && echo quick || echo full); $runs runs per hyperfine command, $pod_runs pod up/down cycles."
    echo "Cells: median (min-max); single measurements have no range. Times in ms, memory in MiB."
    echo "podshim's one-container case is a pod (pause + the container, shim started and stopped: \`podctl run --rm\`)."
    echo "crun runs in a private mount namespace with the v2 mount's cgroup.controllers hidden (hybrid host)."
    echo
    echo "| scenario | unit | podshim | runc | crun | containerd-shim-runc-v2 | floor | podshim/runc | podshim/crun |"
    echo "|---|---|---|---|---|---|---|---|---|"
    row one "1. one container, /bin/true" ms
    row podup "2. pod (pause + 2) up" ms
    row poddown "2. pod (pause + 2) teardown" ms
    for n in "${scale[@]}"; do
      row "scale$n-start" "3. $n pods up, total" ms
      row "scale$n-perpod" "3. $n pods, per pod" ms
      row "scale$n-down" "3. $n pods teardown, total" ms
      row "scale$n-shimrss" "3. $n pods, shim RSS per pod" MiB
      row "scale$n-shimpss" "3. $n pods, shim PSS per pod" MiB
      row "scale$n-pauserss" "3. $n pods, pause RSS" MiB
      row "scale$n-pausepss" "3. $n pods, pause PSS" MiB
      row "scale$n-cg" "3. $n pods, memory cgroup per pod" MiB
    done
    row soak-first "5. shim RSS after 1 exec" MiB
    row soak-before "5. shim RSS after $(( soak / 10 )) more (warm-up)" MiB
    row soak-after "5. shim RSS after $soak more execs" MiB
    row soak-perexec "5. podctl exec, per exec" ms
    echo
    echo "Through containerd $(containerd --version | awk '{print $3}') (ctr; one shim per pod, grouped by io.kubernetes.cri.sandbox-id):"
    echo
    echo "| scenario | unit | podshim (io.containerd.podshim.v1) | io.containerd.runc.v2 | podshim/runc.v2 |"
    echo "|---|---|---|---|---|"
    local keys=(ctr)
    for n in "${ctr_scale[@]}"; do keys+=("ctr$n-start" "ctr$n-perpod" "ctr$n-down" "ctr$n-shimrss" "ctr$n-shimpss" "ctr$n-shims"); done
    for k in "${keys[@]}"; do
      local label=$k unit=ms
      case $k in
        ctr) label="4. ctr run --rm /bin/true" ;;
        *-start) label="$k: pods up, total" ;;
        *-perpod) label="$k: per pod" ;;
        *-down) label="$k: teardown, total" ;;
        *-shimrss) label="$k: RSS per shim"; unit=MiB ;;
        *-shimpss) label="$k: PSS per shim"; unit=MiB ;;
        *-shims) label="$k: shim processes"; unit=count ;;
      esac
      printf "| %s | %s | %s | %s | %s |\n" "$label" "$unit" "$(cell "$k" podshim)" "$(cell "$k" runcv2)" \
        "$(awk -v a="$(med "$k" podshim)" -v b="$(med "$k" runcv2)" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f", a/b; else printf "-" }')"
    done
    if [ -n "${ctd2_version:-}" ]; then
      printf "| 4. ctr run --rm /bin/true, containerd %s | ms | %s | %s | %s |\n" "$ctd2_version" \
        "$(cell ctr2 podshim)" "$(cell ctr2 runcv2)" \
        "$(awk -v a="$(med ctr2 podshim)" -v b="$(med ctr2 runcv2)" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f", a/b; else printf "-" }')"
    fi
    echo
    targets
    echo
    echo "![start time and memory per pod]($1.svg)"
  } > "$md"
  plot "$out/$1.svg"
  log "wrote $md and $out/$1.svg"
}

# The targets of issue 18, each with its measured value and pass or FAIL.
target() { # label measured limit
  local met
  met=$(awk -v v="$2" -v l="$3" 'BEGIN { if (v == "-" || v == "" || v == "nan") print "-";
    else if (v + 0 <= l + 0) print "pass"; else print "FAIL" }')
  printf "| %s | %s | %s | %s |\n" "$1" "$2" "$3" "$met"
}
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }

targets() {
  echo "Targets (issue 18), podshim against its peers in this run:"
  echo
  echo "| target | measured | limit | met |"
  echo "|---|---|---|---|"
  target "pod of pause + 2 up, x crun" "$(ratio podup crun)" 0.5
  target "one container (podctl run --rm), x crun" "$(ratio one crun)" 1.0
  local n first="${scale[0]}" last="${scale[-1]}"
  for n in "${scale[@]}"; do
    target "$n pods, per-pod start, x crun" "$(ratio "scale$n-perpod" crun)" 1.0
  done
  [ "$first" != "$last" ] && target "$last pods per-pod start, x podshim at $first" \
    "$(ratio_of "$(med "scale$last-perpod" podshim)" "$(med "scale$first-perpod" podshim)")" 1.2
  target "ctr run --rm, containerd $(containerd --version | awk '{print $3}'), x runc.v2" \
    "$(ratio_of "$(med ctr podshim)" "$(med ctr runcv2)")" 0.5
  [ -n "${ctd2_version:-}" ] && target "ctr run --rm, containerd $ctd2_version, x runc.v2" \
    "$(ratio_of "$(med ctr2 podshim)" "$(med ctr2 runcv2)")" 0.5
  for n in "${scale[@]}"; do
    [ "$n" -le 100 ] && target "shim PSS at $n pods, MiB" "$(med "scale$n-shimpss" podshim)" 1.0
    target "pause PSS at $n pods, MiB" "$(med "scale$n-pausepss" podshim)" 0.2
  done
  target "shim RSS after $soak execs, x after the warm-up" \
    "$(awk -v a="$(med soak-after podshim)" -v b="$(med soak-before podshim)" 'BEGIN { if (b+0 > 0) printf "%.3f", a/b; else printf "-" }')" 1.01
  target "pod teardown, x runc" "$(ratio poddown runc)" 0.05
}

# Two panels: per-pod start time and per-pod memory against pods running.
plot() {
  local svg=$1 pts=""
  for n in "${scale[@]}"; do
    pts+="$n $(med "scale$n-perpod" podshim) $(med "scale$n-perpod" runc) $(med "scale$n-perpod" crun)"
    pts+=" $(med "scale$n-shimrss" podshim) $(med "scale$n-shimpss" podshim) $(med "scale$n-pauserss" podshim)"
    pts+=" $(med "scale$n-cg" podshim) $(med "scale$n-cg" runc)"$'\n'
  done
  awk -v pts="$pts" 'BEGIN {
    n = split(pts, lines, "\n"); k = 0
    for (i = 1; i <= n; i++) if (lines[i] != "") { k++; split(lines[i], f, " "); for (j = 1; j <= 9; j++) d[k, j] = f[j] + 0 }
    W = 420; H = 260; L = 50; B = 220; T = 30
    print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1040\" height=\"300\" font-family=\"sans-serif\" font-size=\"11\">"
    panel(0, "start time per pod (ms)", 2, 4, "podshim runc crun", "#d62728 #1f77b4 #2ca02c")
    panel(500, "memory per pod (MiB)", 5, 9, "shim-RSS shim-PSS pause-RSS podshim-cgroup runc-cgroup", "#d62728 #8c564b #ff7f0e #9467bd #1f77b4")
    print "</svg>"
  }
  function panel(x0, title, c1, c2, names, colors,   i, j, m, ymax, xs, ys, nm, cl, c, line) {
    split(names, nm, " "); split(colors, cl, " "); ymax = 0
    for (i = 1; i <= k; i++) for (c = c1; c <= c2; c++) if (d[i, c] > ymax) ymax = d[i, c]
    if (ymax == 0) ymax = 1
    printf "<text x=\"%d\" y=\"18\" font-weight=\"bold\">%s</text>\n", x0 + L, title
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0 + L, B, x0 + L + 340, B
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0 + L, T, x0 + L, B
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f</text>\n", x0 + L - 4, T + 4, ymax
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", x0 + L - 4, B
    for (i = 1; i <= k; i++) {
      xs = x0 + L + (k == 1 ? 170 : (i - 1) * 340 / (k - 1))
      printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d pods</text>\n", xs, B + 16, d[i, 1]
    }
    for (c = c1; c <= c2; c++) {
      line = ""
      for (i = 1; i <= k; i++) {
        xs = x0 + L + (k == 1 ? 170 : (i - 1) * 340 / (k - 1)); ys = B - (B - T) * d[i, c] / ymax
        line = line sprintf("%.1f,%.1f ", xs, ys)
        printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", xs, ys, cl[c - c1 + 1]
      }
      printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\"/>\n", line, cl[c - c1 + 1]
      printf "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", x0 + L + 350, T + 14 * (c - c1 + 1), cl[c - c1 + 1], nm[c - c1 + 1]
    }
  }' > "$svg"
}

cleanup() {
  ctd_stop
  "$podctl" ps >/dev/null 2>&1 || true
  for d in "$PODSHIM_ROOT"/podctl/*/; do [ -d "$d" ] && "$podctl" rm --timeout 0 "$(basename "$d")" >/dev/null 2>&1 || true; done
  for rt in runc crun; do
    for c in $("$rt" --root "$work/$rt" list -q 2>/dev/null); do "$rt" --root "$work/$rt" delete -f "$c" >/dev/null 2>&1 || true; done
  done
  for h in /sys/fs/cgroup/*/; do
    for top in podshim-bench podshim-bench-runc podshim-bench-crun podshim-bench-one bench; do
      [ -d "$h$top" ] && find "$h$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
  # The bundles and state made here (the results are written already).
  rm -rf "$work"
}

# --- main ---------------------------------------------------------------------

if [ "${BENCH_LIB_ONLY:-}" = 1 ]; then return 0 2>/dev/null || exit 0; fi
rm -rf "$work"; mkdir -p "$work" "$runc_root" "$crun_root"
trap cleanup EXIT
gcc -O2 -static -o "$work/floor" "$here/floor.c"
# The crun namespace re-enters this file for its functions.
{ echo "BENCH_LIB_ONLY=1"; declare -p quick bin rootfs out here work podctl runc_root crun_root runs pod_runs own_ns member_ns sleep_args; declare -f; } > "$work/lib.sh"

date_tag=$(date -u +%Y-%m-%d)$([ $quick = 1 ] && echo -quick || true)
scenario_one
scenario_pod
scenario_scale
scenario_soak
ctd_start
scenario_ctr
for n in "${ctr_scale[@]}"; do
  log "3/4: $n pods through containerd"
  scale_ctr podshim "$n"
  scale_ctr runcv2 "$n"
done
ctd_stop
# Scenario 4 again through containerd 2.x (Debian unstable's, fetched by
# `make containerd-versions` into build/containerd/unstable).
ctd2=$(cd "$here/.." && pwd)/build/containerd/unstable/usr/bin/containerd
ctd2_version=""
if [ -x "$ctd2" ]; then
  ctd_start "$ctd2"
  ctd2_version=$("$ctd2" --version | awk '{print $3}')
  scenario_ctr ctr2
  ctd_stop
fi
report "$date_tag"
