#!/usr/bin/env bash
# bench/soak.sh: the soak of issue 18 ("A 1-hour soak: random gets, deletes, daemon restarts and
# scheduler restarts under the ASan build; zero leaks, zero corrupt files, RSS flat"). Not a
# ctest: a bench run, results in bench/RESULTS.md.
#
#   bench/soak.sh --vx build/ci/cli/vx --duration 3600 [--files 24] [--seed N] [--out DIR]
#
# The ci build is ASan+UBSan with LeakSanitizer. One nginx origin, one `vx scheduler` on a fixed
# port, three daemons: A is never restarted (its RSS is the "flat" figure), B and C are. Until
# --duration seconds have passed, each round picks at random:
#   get      1 to 4 `vx get` at once through random daemons of random files; each output must
#            be the origin's bytes (sha256) and every get must exit 0
#   delete   `vx task rm` of a random file through the management API (gone from every store;
#            the next get refetches it)
#   restart  SIGTERM to B or C (must exit 0: LeakSanitizer makes a leaking daemon exit 23),
#            then start it again on its data directory
#   sched    SIGTERM to the scheduler (must exit 0 too), then start it again on the same port
#            and database: the daemons register again
# A and the scheduler's RSS (VmRSS, KiB) are sampled every --sample seconds into rss.csv. At the
# end every daemon is stopped (SIGTERM, exit 0), their logs are searched for sanitizer reports,
# and one summary line is printed; the exit code is 0 only with zero failed gets, zero corrupt
# outputs, zero sanitizer reports and zero bad exits. The work directory is kept (--out).
set -euo pipefail
vx=build/ci/cli/vx
duration=300
nfiles=24
sample=30
seed=$$
outdir=
while [ $# -gt 0 ]; do
	case $1 in
	--vx) vx=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--files) nfiles=$2; shift 2 ;;
	--sample) sample=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--out) outdir=$2; shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "soak: unknown argument $1" >&2; exit 2 ;;
	esac
done
name=soak
VX_TEST_KEEP=1
. "$(dirname "$0")/../tests/integration/peer_lib.sh"
peer_lib_init
# LeakSanitizer at every exit; RSS figures of a build that frees as the shipped one does
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
asan_frees_honoured
RANDOM=$seed
[ -z "$outdir" ] || { mkdir -p "$outdir"; echo "soak: work directory $dir" >"$outdir/where"; }
echo "soak: work directory $dir, seed $seed, duration ${duration}s" >&2

origin_start
sport=$(free_port)
sched_start "127.0.0.1:$sport"
sched_gen=1
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
(umask 077 && grep -oE 'vxt_[A-Za-z0-9_]+' "$dir/boot.out" | head -n1 >"$dir/api.admin")
[ -s "$dir/api.admin" ] || fail "no bootstrap token in $(cat "$dir/boot.out")"
export VX_API_TOKEN_FILE="$dir/api.admin"

for i in $(seq "$nfiles"); do
	make_file "f$i.bin" $((RANDOM * 300 + RANDOM % 4096))
done
for n in A B C; do serve_start "$n"; done

declare -A cnt=([get]=0 [get_fail]=0 [corrupt]=0 [delete]=0 [delete_fail]=0 [restart]=0
	[sched_restart]=0 [bad_exit]=0)
t0=$(date +%s)
next_sample=$t0
echo "t_s,A_rss_kib,sched_rss_kib,sched_gen" >"$dir/rss.csv"

sample_rss() {
	local now=$1
	echo "$((now - t0)),$(proc_kib "${serve_pid[A]}" VmRSS),$(proc_kib "$sched_pid" VmRSS),$sched_gen" \
		>>"$dir/rss.csv"
}

# stop_checked PID WHAT: SIGTERM, bounded wait, exit code 0 or counted as a bad exit
stop_checked() {
	local code=0
	kill -TERM "$1"
	wait_gone "$1" "$2"
	wait "$1" || code=$?
	if [ "$code" -ne 0 ]; then
		cnt[bad_exit]=$((cnt[bad_exit] + 1))
		echo "soak: $2 exited $code" >&2
	fi
}

do_gets() {
	local k=$((RANDOM % 4 + 1)) j n f tag
	local -a tags=() files=()
	get_pids=()
	for j in $(seq "$k"); do
		n=$(printf 'A\nB\nC\n' | sed -n "$((RANDOM % 3 + 1))p")
		f=f$((RANDOM % nfiles + 1)).bin
		tag=g${cnt[get]}_$j
		get_bg "$n" "$base/$f" "$dir/out/$tag" "$tag"
		tags+=("$tag")
		files+=("$f")
	done
	wait_gets
	for j in "${!tags[@]}"; do
		tag=${tags[$j]}
		cnt[get]=$((cnt[get] + 1))
		if [ "$(cat "$dir/$tag.rc")" != 0 ]; then
			cnt[get_fail]=$((cnt[get_fail] + 1))
			echo "soak: get $tag of ${files[$j]} exited $(cat "$dir/$tag.rc"): $(tail -n2 "$dir/$tag.err")" >&2
		elif ! cmp -s "$dir/out/$tag" "$dir/www/${files[$j]}"; then
			cnt[corrupt]=$((cnt[corrupt] + 1))
			echo "soak: get $tag of ${files[$j]}: output differs from the origin" >&2
			cp "$dir/out/$tag" "$dir/corrupt-$tag"
		fi
		rm -f "$dir/out/$tag" "$dir/$tag.json" "$dir/$tag.err" "$dir/$tag.rc"
	done
}

do_delete() {
	local f=f$((RANDOM % nfiles + 1)).bin
	cnt[delete]=$((cnt[delete] + 1))
	VX_API="http://127.0.0.1:$api_port" timeout -k 5 60 "$vx" task rm "$base/$f" --json \
		>"$dir/rm.json" 2>&1 || {
		cnt[delete_fail]=$((cnt[delete_fail] + 1))
		echo "soak: task rm $f: $(tail -c 300 "$dir/rm.json")" >&2
	}
}

do_restart() {
	local n
	n=$(printf 'B\nC\n' | sed -n "$((RANDOM % 2 + 1))p")
	cnt[restart]=$((cnt[restart] + 1))
	stop_checked "${serve_pid[$n]}" "vx serve $n"
	unset "serve_pid[$n]"
	serve_start "$n"
}

do_sched_restart() {
	cnt[sched_restart]=$((cnt[sched_restart] + 1))
	mv "$dir/sched.log" "$dir/sched.$sched_gen.log"
	stop_checked "$sched_pid" "vx scheduler"
	sched_gen=$((sched_gen + 1))
	sched_start "127.0.0.1:$sport"
}

while :; do
	now=$(date +%s)
	[ "$((now - t0))" -lt "$duration" ] || break
	if [ "$now" -ge "$next_sample" ]; then
		sample_rss "$now"
		next_sample=$((now + sample))
	fi
	r=$((RANDOM % 100))
	if [ "$r" -lt 80 ]; then
		do_gets
	elif [ "$r" -lt 90 ]; then
		do_delete
	elif [ "$r" -lt 97 ]; then
		do_restart
	else
		do_sched_restart
	fi
done
sample_rss "$(date +%s)"
for n in A B C; do
	stop_checked "${serve_pid[$n]}" "vx serve $n"
	unset "serve_pid[$n]"
done
stop_checked "$sched_pid" "vx scheduler"
reports=$(cat "$dir"/*.log | grep -cE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' || true)
summary="soak: ${duration}s seed $seed: gets ${cnt[get]} (failed ${cnt[get_fail]}, corrupt ${cnt[corrupt]}), deletes ${cnt[delete]} (failed ${cnt[delete_fail]}), daemon restarts ${cnt[restart]}, scheduler restarts ${cnt[sched_restart]}, bad exits ${cnt[bad_exit]}, sanitizer reports $reports"
echo "$summary" | tee "$dir/summary.txt"
awk -F, 'NR > 1 { print "  t=" $1 "s A " $2 " KiB, scheduler " $3 " KiB (gen " $4 ")" }' "$dir/rss.csv"
[ -z "$outdir" ] || cp "$dir/rss.csv" "$dir/summary.txt" "$outdir/"
[ "${cnt[get_fail]}" -eq 0 ] && [ "${cnt[corrupt]}" -eq 0 ] && [ "$reports" -eq 0 ] &&
	[ "${cnt[bad_exit]}" -eq 0 ] && [ "${cnt[delete_fail]}" -eq 0 ]
