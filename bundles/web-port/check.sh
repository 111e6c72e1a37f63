#!/usr/bin/env bash
# web-port: the pod has an address on the CNI network and the host reaches
# its web server through the mapped host port 18080 (portmap), on the
# bridge's address; /etc/hosts in the container names the pod.
set -euo pipefail
info=$("$PODCTL" inspect "$POD" | tr -d '\n ')
ip=$(sed -n 's/.*"network":{[^}]*"ip":"\([0-9.]*\)".*/\1/p' <<<"$info")
gw=$(sed -n 's/.*"network":{[^}]*"gateway":"\([0-9.]*\)".*/\1/p' <<<"$info")
[ -n "$ip" ] && [ -n "$gw" ] || { echo "the pod has no address: $info" >&2; exit 1; }
echo "web-port: pod address $ip, gateway $gw"
grep -q "^$ip[[:space:]]web-port\$" <<<"$("$PODCTL" exec "$POD" web -- cat /etc/hosts)" || {
  echo "/etc/hosts does not name the pod" >&2; exit 1; }
for _ in $(seq 100); do
  if exec 3<>"/dev/tcp/$gw/18080" 2>/dev/null; then
    printf 'GET / HTTP/1.0\r\n\r\n' >&3
    page=$(cat <&3); exec 3>&-
    if grep -q "hello from web-port" <<<"$page"; then
      echo "web-port: fetched the page from the host through $gw:18080"
      exit 0
    fi
  fi
  sleep 0.05
done
echo "the host never reached the pod through $gw:18080" >&2
exit 1
