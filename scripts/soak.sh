#!/usr/bin/env bash
# make soak: a live capture on loopback with churning flows for SOAK_TIME (default 3m),
# printing portclass's memory over time. Needs root (a network namespace and
# CAP_NET_RAW) and iproute2; the traffic never leaves the namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_TIME="${SOAK_TIME:-3m}"
if [ "$(id -u)" -ne 0 ]; then echo "soak: needs root (network namespace, CAP_NET_RAW)" >&2; exit 2; fi
command -v ip >/dev/null || { echo "soak: needs iproute2 (apt-get install iproute2)" >&2; exit 2; }
mkdir -p bin
CGO_ENABLED=0 go build -o bin/portclass ./cmd/portclass
CGO_ENABLED=0 go build -o bin/soak ./scripts/soak
ns="portclass-soak-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
ip netns exec "$ns" bin/soak -portclass bin/portclass -time "$SOAK_TIME" "$@"
