#!/usr/bin/env bash
# ipc-uts-pid: both containers report the pod's net, ipc and uts
# namespaces and hostname, their own pid and mount namespaces, and the
# reader sees the SysV shared memory segment the writer made.
set -euo pipefail
# Each log is read whole before it is searched: under pipefail a `grep -q`
# that stops reading early would fail the pipeline it ends.
report() { local l; l=$("$PODCTL" logs "$POD" "$1"); grep '^{' <<<"$l" | tail -1; }
field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }
for _ in $(seq 100); do
  r=$("$PODCTL" logs "$POD" reader 2>/dev/null || true) w=$("$PODCTL" logs "$POD" writer 2>/dev/null || true)
  if grep -q '^{' <<<"$r" && grep -q '^{' <<<"$w"; then
    break
  fi
  sleep 0.05
done
w=$(report writer) r=$(report reader)
echo "writer: $w"; echo "reader: $r"
grep -q "shm: hello from writer" <<<"$("$PODCTL" logs "$POD" reader)" || { echo "reader did not see the writer's segment" >&2; exit 1; }
pause=$(tr -d '\n' < "$PODSHIM_ROOT/podctl/$POD/pod.json" | sed -n 's/.*"pause": *{ *"pid": *\([0-9]*\).*/\1/p')
for ns in net ipc uts; do
  want=$(stat -L -c %i "/proc/$pause/ns/$ns")
  for rep in "$w" "$r"; do
    [ "$(field "$rep" "$ns")" = "$want" ] || { echo "$ns namespace differs from the pause's ($want)" >&2; exit 1; }
  done
done
for ns in pid mnt; do
  host=$(stat -L -c %i "/proc/self/ns/$ns")
  a=$(field "$w" "$ns") b=$(field "$r" "$ns")
  [ "$a" != "$b" ] && [ "$a" != "$host" ] && [ "$b" != "$host" ] || { echo "$ns namespaces are not private" >&2; exit 1; }
done
grep -q '"hostname":"probe-host"' <<<"$w" && grep -q '"hostname":"probe-host"' <<<"$r" || { echo "hostname is not the pod's" >&2; exit 1; }
echo "namespaces, hostname and shared memory as expected"
