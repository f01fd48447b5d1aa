#!/usr/bin/env bash
# peer_load.sh VX: one daemon under load (issue 18, "Load": 1,000 concurrent Vortex connections
# and 200 concurrent `vx get` of 50 different files: all complete, RSS stays under a stated
# bound, slow and stalled clients time out and free their slots). Security test list
# (shared/reference/dragonfly-behaviour.md 5.5): 13 (connection limits), 15 (one client cannot
# hold every slot), 16 (memory bounded under many clients).
#
# ctest runs the short form (200 connections, 40 gets of 10 files); the full size is
#   VX_LOAD_CONNS=1000 VX_LOAD_GETS=200 VX_LOAD_FILES=50 tests/integration/peer_load.sh build/ci/cli/vx
# (results in bench/RESULTS.md). Daemon D first fetches 6 small files and a 12 MiB one (the
# Vortex side's pieces), with upload.max_connections = VX_LOAD_CONNS, idle and send stall
# timeouts of 4 s and 2 s (10 s at the full size: one python process drives 1,000 connections
# beside 200 gets, and a connection whose HELLO the starved client sends late is rightly closed
# as idle). Then at once: load_client.py opens VX_LOAD_CONNS connections to D's upload port (a tenth
# stall on a piece they never read, a tenth stay idle after HELLO, a twentieth trickle a header
# (slowloris), the rest fetch random pieces and check every byte), while VX_LOAD_GETS `vx get`
# through D fetch VX_LOAD_FILES files D has not got (from the origin: round robin, several gets
# per file). Checks: every get exits 0 with the origin's bytes; every fetched piece is right and
# no fetching connection fails; D closes every stalled, idle and slowloris connection (the slow
# ones by its header timeout) and as many new connections then get a piece (the slots were
# freed: without that they are refused, D being at its connection limit); D's peak RSS (VmHWM,
# ASan frees honoured) stays under VX_LOAD_RSS_MIB (default 128 MiB short, 256 MiB full).
# Every wait is bounded.
set -euo pipefail
vx=$1
name=peer_load
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
conns=${VX_LOAD_CONNS:-200}
gets=${VX_LOAD_GETS:-40}
nfiles=${VX_LOAD_FILES:-10}
# short form: fetchers for 4 s, every slow client closed within 16 s; the full form: 10 s and
# 90 s
if [ "$conns" -ge 1000 ]; then
	rss_mib=${VX_LOAD_RSS_MIB:-256} stall_s=10 idle_s=10 fetch_s=10 bound_s=90
else
	rss_mib=${VX_LOAD_RSS_MIB:-128} stall_s=2 idle_s=4 fetch_s=4 bound_s=16
fi
stall=$((conns / 10))
idle=$((conns / 10))
slow=$((conns / 20))
# every vx get, the daemon and the load client hold descriptors: raise the soft limit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
asan_frees_honoured
origin_start
sched_start

for i in 1 2 3 4 5 6; do make_file "s$i.bin" $((65536 * i + 777 * i)); done
make_file big.bin $((12 << 20))
for i in $(seq "$nfiles"); do make_file "g$i.bin" $((262144 + (i * 104729) % 1048576)); done
printf 'metrics_listen: ""\nupload:\n  max_connections: %d\n  send_stall_timeout: %ds\n  idle_timeout: %ds\n' \
	"$conns" "$stall_s" "$idle_s" >"$dir/d.yaml"
serve_start D --config "$dir/d.yaml"
small=()
get_pids=()
for f in s1 s2 s3 s4 s5 s6 big; do get_bg D "$base/$f.bin" "$dir/out/$f.bin" "seed-$f"; done
wait_gets
for f in s1 s2 s3 s4 s5 s6 big; do
	rc=$(cat "$dir/seed-$f.rc") err=$(cat "$dir/seed-$f.err")
	expect_rc 0 "D fetches $f"
	small+=("$(json task_id "$(cat "$dir/seed-$f.json")") $dir/www/$f.bin $(stat -c %s "$dir/www/$f.bin")")
done
python3 - "$dir/manifest.json" "$conns" "$stall" "$idle" "$slow" "$fetch_s" "$bound_s" "${small[@]}" <<'PY'
import json, sys
out, conns, stall, idle, slow, secs, bound = sys.argv[1], *map(int, sys.argv[2:8])
files = [[t, p, int(s)] for t, p, s in (a.split() for a in sys.argv[8:])]
json.dump({"small": files[:-1], "big": files[-1], "conns": conns, "stall": stall,
           "idle": idle, "slow": slow, "per_addr": 50, "seconds": secs, "bound": bound},
          open(out, "w"))
PY

PYTHONPATH="$(dirname "$0")" timeout -k 5 $((bound_s + 40)) python3 "$(dirname "$0")/load_client.py" \
	"${serve_port[D]}" "$dir/manifest.json" "$dir/load.json" 2>"$dir/load.log" &
load=$!
bg_pids+=("$load")
get_pids=()
for i in $(seq "$gets"); do
	k=$(((i - 1) % nfiles + 1))
	get_bg D "$base/g$k.bin" "$dir/out/get$i" "get$i"
done
wait_gets
bad=0
for i in $(seq "$gets"); do
	k=$(((i - 1) % nfiles + 1))
	if [ "$(cat "$dir/get$i.rc")" != 0 ]; then
		echo "get $i of g$k.bin exited $(cat "$dir/get$i.rc"): $(tail -n2 "$dir/get$i.err")" >&2
		bad=$((bad + 1))
	elif ! cmp -s "$dir/www/g$k.bin" "$dir/out/get$i"; then
		echo "get $i of g$k.bin: not the origin's bytes" >&2
		bad=$((bad + 1))
	fi
done
[ "$bad" -eq 0 ] || fail "$bad of $gets gets failed or were wrong under load"
code=0
wait "$load" || code=$?
[ "$code" -eq 0 ] && [ -s "$dir/load.json" ] || fail "load_client exited $code: $(tail -n5 "$dir/load.log")"
hwm=$(proc_kib "${serve_pid[D]}" VmHWM)
python3 - "$dir/load.json" "$conns" "$stall" "$idle" "$slow" <<'PY' || fail "load: $(cat "$dir/load.json")"
import json, sys
c = json.load(open(sys.argv[1]))
conns, stall, idle, slow = map(int, sys.argv[2:6])
fetchers = conns - stall - idle - slow
want = {"open_failed": 0, "fetch_err": 0, "fetch_bad": 0, "stall_closed": stall,
        "idle_closed": idle, "slow_closed": slow, "fresh_ok": stall + idle + slow,
        "fresh_failed": 0}
bad = ["%s %s (want %s)" % (k, c[k], v) for k, v in want.items() if c[k] != v]
if c["fetch_ok"] < fetchers:
    bad.append("fetch_ok %d (want at least one per fetching connection, %d)" % (c["fetch_ok"], fetchers))
for b in bad:
    print("load:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ "$hwm" -le $((rss_mib * 1024)) ] || fail "D's peak RSS $((hwm / 1024)) MiB, bound $rss_mib MiB"
echo "$name: $conns connections, $gets gets of $nfiles files: ok; D peak RSS $((hwm / 1024)) MiB (bound $rss_mib); $(cat "$dir/load.json")"
