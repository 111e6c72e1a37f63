#!/bin/sh
# Runs inside the node VM as its one unit: mounts the repository over 9p at
# the path the host has it at (the kernel command line says which), runs
# hack/node/in-vm.sh from it and leaves its exit code beside its output.
set -u
for arg in $(cat /proc/cmdline); do
  case $arg in
    podshim.repo=*) repo=${arg#podshim.repo=} ;;
    podshim.out=*) out=${arg#podshim.out=} ;;
  esac
done
mkdir -p "$repo"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 repo "$repo" || exit 1
mkdir -p "$out"
sh "$repo/hack/node/in-vm.sh" "$repo" >"$out/output.txt" 2>&1
echo $? > "$out/rc"
sync
