#!/usr/bin/env bash
# proxy_limits.sh: the registry mirror's limits, each measured (proxy_limits.py), against a
# small fake upstream (proxy_fake_registry.py):
# - proxy.rate_limit: 5 requests/s: of 100 quick requests at most 5 + 5/s elapsed pass, the
#   rest are 429, and the bucket refills;
# - proxy.client_timeout: 1s: a slow-loris client (half a request) is cut off within 10 s
#   (the 30 s default would not be);
# - proxy.max_connections: 2: with two connections held, a third is not served; afterwards
#   requests pass again;
# - proxy.client_rate_limit: 5 per client address: 127.0.0.1 is held to it while 127.0.0.2,
#   at the same moment, still passes.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 13, 15.
set -euo pipefail
vx=$1
name=proxy_limits
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
fake_upstream_start

printf 'proxy:\n  rate_limit: 5\n' >"$dir/r.yaml"
printf 'proxy:\n  client_timeout: 1s\n' >"$dir/t.yaml"
printf 'proxy:\n  max_connections: 2\n' >"$dir/c.yaml"
printf 'proxy:\n  client_rate_limit: 5\n' >"$dir/p.yaml"
for n in r t c p; do
	serve_start "$n" --no-scheduler --proxy 127.0.0.1:0 --upstream "$fake_url" --config "$dir/$n.yaml"
done
python3 "$here/proxy_limits.py" rate "$(mirror_port r)" 5 || fail "proxy.rate_limit"
python3 "$here/proxy_limits.py" timeout "$(mirror_port t)" 10 || fail "proxy.client_timeout"
python3 "$here/proxy_limits.py" conns "$(mirror_port c)" 2 || fail "proxy.max_connections"
python3 "$here/proxy_limits.py" client "$(mirror_port p)" 5 || fail "proxy.client_rate_limit"
for n in r t c p; do
	serve_stop "$n"
done
echo "PASS: $name"
