#!/bin/sh
# The node tests, inside the node VM (systemd, cgroup v2 only), as root:
# the integration test binaries listed in build/node/tests.list, built on
# the host, run one after the other against the static release binaries
# and the node's own containerd and runc. Prints what the node is, then
# each test's output; exits non-zero when any test failed.
#   in-vm.sh REPO
set -u
repo=$1
echo "== node: $(uname -r), $(systemctl --version | head -1), $(containerd --version | cut -d' ' -f3), $(runc --version | head -1)"
echo "== cgroup: $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
grep cgroup /proc/self/mountinfo
cat /proc/self/cgroup
# CRIU's first run loads the kernel modules it probes and dumps sockets
# with (tun, the *_diag family, af_packet): loaded here, before any test
# runs, while the node is quiet. Under software emulation Debian 13's
# kernel twice took an int3 oops in __schedule while patching its own
# text for such a load in the middle of the checkpoint tests (Dec 2).
for m in tun af_packet inet_diag tcp_diag udp_diag raw_diag unix_diag netlink_diag packet_diag; do
  modprobe -q "$m" 2>/dev/null || true
done
criu check >/dev/null 2>&1 || true
export PODSHIM_BIN_DIR="$repo/build/node/bin/release"
export PODSHIM_TEST_IMAGE="$repo/build/test-image.tar"
# The containers' rootfs on the node's own disk, not the 9p share.
mkdir -p /var/lib/podshim-node
cp -a "$repo/build/test-rootfs" /var/lib/podshim-node/rootfs
export PODSHIM_TEST_ROOTFS=/var/lib/podshim-node/rootfs
export RUST_BACKTRACE=1
failed=""
ran=0
passed=0
while read -r name bin; do
  [ -n "$name" ] || continue
  begin=$(date +%s)
  echo "== test $name"
  # One test at a time, each checked for what it did to the node.
  for t in $("$repo/$bin" --list 2>/dev/null | sed -n 's/: test$//p'); do
    if "$repo/$bin" --exact "$t" --include-ignored --show-output --test-threads=1 2>&1; then
      passed=$((passed + 1))
    else
      failed="$failed $name::$t"
      echo "== FAILED $name::$t"
    fi
    grep -q ' - cgroup2 ' /proc/self/mountinfo || {
      echo "== the node's cgroup2 mount is gone after $name::$t"
      mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
    }
  done
  echo "== done $name ($(( $(date +%s) - begin )) s)"
  ran=$((ran + 1))
done < "$repo/build/node/tests.list"
echo "== leftovers: units $(systemctl list-units --all --plain --no-legend --type=scope,slice | grep -c -e podshim -e cri-containerd), mounts $(grep -c podshim /proc/self/mountinfo)"
if [ -n "$failed" ]; then
  echo "== node tests: $ran binaries, $passed tests passed, failed:$failed"
  exit 1
fi
echo "== node tests: $ran binaries, all $passed tests passed"
