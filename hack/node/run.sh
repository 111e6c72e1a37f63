#!/usr/bin/env bash
# `make test-node`: the node tests in a VM per flavour (Debian 12 and 13:
# systemd, cgroup v2 only, the distribution's containerd and runc).
# Builds the image (cached, hack/node/image.sh), boots it under software
# emulation with the repository shared by 9p, waits for it to power off,
# and fails when a test failed, printing the tail of what it printed.
#   hack/node/run.sh [FLAVOUR...]        (default: bookworm trixie)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || flavours=(bookworm trixie)
# The integration tests that make sense on a node (built here, run there);
# PODSHIM_NODE_TESTS="a b" runs only those.
read -r -a tests <<<"${PODSHIM_NODE_TESTS:-devices resources placement pod oci_diff containerd cri cri_options checkpoint checkpoint_containerd}"
mkdir -p "$here/build/node"
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
# The binaries the VM runs are copied first: the build may go on meanwhile.
bin=$here/build/node/bin
rm -rf "$bin" && mkdir -p "$bin/release"
cp "$here"/target/x86_64-unknown-linux-gnu/release/{podshim,podctl,podprobe} "$bin/release/"
(cd "$here" && cargo test -q -p podshim-tests --no-run --message-format=json "${args[@]}") |
  sed -n 's/.*"target":{[^}]*"name":"\([a-z_]*\)".*"executable":"\([^"]*\)".*/\1 \2/p' |
  while read -r name exe; do
    cp "$exe" "$bin/$name"
    echo "$name build/node/bin/$name"
  done > "$here/build/node/tests.list"
[ "$(wc -l < "$here/build/node/tests.list")" -eq ${#tests[@]} ] || {
  echo "test-node: expected ${#tests[@]} test binaries, got:" >&2
  cat "$here/build/node/tests.list" >&2
  exit 1
}
status=0
for flavour in "${flavours[@]}"; do
  bash "$here/hack/node/image.sh" "$flavour"
  img=$here/build/node/$flavour
  result=$img/result
  # A guest kernel that panics under software emulation (seen once in
  # five runs of Debian 13 on Dec 2: an int3 oops in the scheduler while
  # the kernel patched its own code) gets one more boot; a test that
  # fails never does.
  for attempt in 1 2; do
    rm -rf "$result"
    mkdir -p "$result"
    begin=$(date +%s)
    # Every run starts from the clean image: snapshot=on sends the VM's
    # writes to a temporary overlay qemu deletes (no qemu-img needed: Debian
    # 12's qemu-system-x86 removes a newer qemu-utils on install).
    timeout --foreground 40m qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 4096 \
      -display none -monitor none -serial "file:$result/console.log" -no-reboot \
      -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
      -append "console=ttyS0 root=/dev/vda rw panic=-1 podshim.repo=$here podshim.out=$result" \
      -drive "file=$img/disk.raw,format=raw,if=virtio,snapshot=on" \
      -virtfs "local,path=$here,mount_tag=repo,security_model=passthrough,id=repo" \
      -nic none || echo "test-node: $flavour: qemu ended with $?" >&2
    took=$(( $(date +%s) - begin ))
    rc=$(cat "$result/rc" 2>/dev/null || echo "none")
    if [ "$rc" = none ] && [ "$attempt" = 1 ] && grep -q 'Kernel panic' "$result/console.log" 2>/dev/null; then
      echo "test-node: $flavour: the guest kernel panicked after $took s (its oops below); booting it once more" >&2
      grep -B2 -A12 -m1 'Oops\|BUG:' "$result/console.log" >&2 || tail -20 "$result/console.log" >&2
      continue
    fi
    break
  done
  grep '^== ' "$result/output.txt" 2>/dev/null || true
  if [ "$rc" = 0 ]; then
    echo "test-node: $flavour passed in $took s"
  else
    echo "test-node: $flavour FAILED (exit $rc) after $took s; the end of its output:" >&2
    tail -60 "$result/output.txt" 2>/dev/null >&2 || tail -40 "$result/console.log" >&2
    status=1
  fi
done
exit $status
