#!/usr/bin/env bash
# Packs a rootfs directory into a single-layer OCI image archive that
# `ctr images import` takes, so tests need no registry:
#   hack/mkimage.sh ROOTFS NAME OUT.tar      (NAME like docker.io/podshim/busybox:1)
# The archive holds NAME (Cmd sh) and NAME's -pause twin (Cmd sleep).
set -euo pipefail
rootfs=$1 name=$2 out=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

# blob FILE -> prints "digest size" and moves FILE into blobs/
blob() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1)
  s=$(stat -c %s "$1")
  mv "$1" "$work/blobs/sha256/$d"
  echo "$d $s"
}

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$work/layer" .
read -r layer layer_size < <(blob "$work/layer")
# image CMD_JSON -> prints the "digest size" of a manifest over the layer
image() {
  local config config_size manifest manifest_size
  printf '%s' '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":'"$1"',"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer"'"]}}' > "$work/config"
  read -r config config_size < <(blob "$work/config")
  printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config"'","size":'"$config_size"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' > "$work/manifest"
  blob "$work/manifest"
}
# entry NAME DIGEST SIZE -> an index entry naming the manifest
entry() {
  printf '%s' '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$2"'","size":'"$3"',"annotations":{"io.containerd.image.name":"'"$1"'","org.opencontainers.image.ref.name":"'"${1##*:}"'"}}'
}
# NAME (Cmd sh), and NAME with -pause before its tag: the same layer whose
# Cmd sleeps, a sandbox image for runtimes that run it (runc).
read -r main main_size < <(image '["sh"]')
pause_name="${name%:*}-pause:${name##*:}"
read -r pause pause_size < <(image '["sleep","2147483647"]')
printf '%s' '{"schemaVersion":2,"manifests":['"$(entry "$name" "$main" "$main_size"),$(entry "$pause_name" "$pause" "$pause_size")"']}' > "$work/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
mkdir -p "$(dirname "$out")"
tar -C "$work" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
