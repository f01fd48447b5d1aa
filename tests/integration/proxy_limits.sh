#!/usr/bin/env bash
# proxy_limits.sh: the registry mirror's limits, each measured (proxy_limits.py), against a
# small fake upstream (proxy_fake_registry.py):
# - proxy.rate_limit: 20 requests/s for all clients together, and proxy.client_rate_limit: 10
#   per client address, measured at once over 10 s (issue 16: each limit measured within 10 %):
#   clients from 127.0.0.1 and 127.0.0.2 ask as fast as they are answered; the first mirror
#   serves the two 20/s together, the second each of them 10/s, the rest are 429;
# - proxy.client_timeout: 1s: a slow-loris client (half a request) is cut off within 10 s
#   (the 30 s default would not be);
# - proxy.max_connections: 2: with two connections held, a third is not served; afterwards
#   requests pass again;
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 13, 15.
set -euo pipefail
vx=$1
name=proxy_limits
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
fake_upstream_start

printf 'proxy:\n  rate_limit: 20\n' >"$dir/r.yaml"
printf 'proxy:\n  client_timeout: 1s\n' >"$dir/t.yaml"
printf 'proxy:\n  max_connections: 2\n' >"$dir/c.yaml"
printf 'proxy:\n  client_rate_limit: 10\n' >"$dir/p.yaml"
for n in r t c p; do
	serve_start "$n" --no-scheduler --proxy 127.0.0.1:0 --upstream "$fake_url" --config "$dir/$n.yaml"
done
python3 "$here/proxy_limits.py" measure "$(mirror_port r)" 20 "$(mirror_port p)" 10 10 ||
	fail "proxy.rate_limit, proxy.client_rate_limit"
python3 "$here/proxy_limits.py" timeout "$(mirror_port t)" 10 || fail "proxy.client_timeout"
python3 "$here/proxy_limits.py" conns "$(mirror_port c)" 2 || fail "proxy.max_connections"
for n in r t c p; do
	serve_stop "$n"
done
echo "PASS: $name"
