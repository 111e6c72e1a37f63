#!/usr/bin/env bash
# web-sidecar: the client container fetched the web container's page over
# 127.0.0.1, which only works if both share the pod's network namespace;
# the web container runs under the limits pod.json gives it.
set -euo pipefail
"$PODCTL" stats "$POD"
"$PODCTL" stats "$POD" | awk '$1 == "web" && $3 == "64.0MiB" && $6 == 64 {ok=1} END {exit !ok}' || {
  echo "web does not run under its pod.json limits (memory 64 MiB, 64 pids)" >&2
  exit 1
}
for _ in $(seq 100); do
  if grep -q "client: fetched hello from web-sidecar" <<<"$("$PODCTL" logs "$POD" client 2>/dev/null || true)"; then
    "$PODCTL" logs "$POD" client
    exit 0
  fi
  sleep 0.05
done
echo "client never fetched the page; its log:" >&2
"$PODCTL" logs "$POD" client >&2 || true
exit 1
