#!/usr/bin/env bash
# Fetches containerd from Debian's stable and unstable suites (1.7 and 2.x)
# into build/containerd/<suite>/, for the containerd tests to run against
# beside the machine's own (1.6 on Debian 12). apt-get download with a
# private sources list, lists and cache, so the machine's apt is never
# touched; dpkg -x, never installed. Cached: a suite already there is kept.
#   hack/containerd-versions.sh [SUITE...]      (default: stable unstable)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/build/containerd
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(stable unstable)
for suite in "${suites[@]}"; do
  dest=$out/$suite
  if [ -x "$dest/usr/bin/containerd" ]; then
    echo "containerd-versions: $suite: $("$dest/usr/bin/containerd" --version | awk '{print $3}') (cached)"
    continue
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' "$suite" \
    > "$work/etc/sources.list"
  opts=(-o "Dir::Etc::SourceList=$work/etc/sources.list" -o "Dir::Etc::SourceParts=-"
        -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
        -o "Dir::State::status=/var/lib/dpkg/status" -o "Debug::NoLocking=1"
        -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" -qq update
  (cd "$work" && apt-get "${opts[@]}" -qq download "containerd/$suite")
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  dpkg -x "$work"/containerd_*.deb "$dest.tmp"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  rm -rf "$work"
  trap - EXIT
  echo "containerd-versions: $suite: $("$dest/usr/bin/containerd" --version | awk '{print $3}')"
done
