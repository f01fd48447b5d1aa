# manager_lib.sh: helpers for the management API tests (sourced after peer_lib.sh).
#   api_at PORT METHOD PATH [BODY|-] [TOKEN]   prints "STATUS BODY"
#   expect_at PORT STATUS WHAT METHOD PATH...  fails unless the status is STATUS; prints the body
#   job_wait PORT ID TOKEN [TENTHS]            waits (default 45 s) until job ID is no longer
#                                              PENDING; prints its JSON
#   pg_need                                    skips (77) without Debian's postgresql (sets
#                                              $pgbin); before peer_lib_init
#   pg_start                                   a throwaway PostgreSQL on a loopback port (scram
#                                              password in a 0600 $PGPASSFILE): $uri, $pg_port,
#                                              $pgpass_word
api_at() {
	python3 - "$@" <<'PY'
import http.client, sys
port, method, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
tok = sys.argv[5] if len(sys.argv) > 5 else None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
h = {"Content-Type": "application/json"}
if tok:
    h["Authorization"] = "Bearer " + tok
c.request(method, path, body=body, headers=h)
r = c.getresponse()
print(r.status, r.read().decode())
PY
}

expect_at() {
	local port=$1 want=$2 what=$3 got
	shift 3
	got=$(api_at "$port" "$@")
	[ "${got%% *}" = "$want" ] || fail "$what: want $want, got $got"
	echo "${got#* }"
}

job_wait() {
	local port=$1 id=$2 tok=$3 n=${4:-450} got end
	end=$((SECONDS + n / 10))
	while [ "$SECONDS" -lt "$end" ]; do
		got=$(expect_at "$port" 200 "job $id" GET "/oapi/v1/jobs/$id" - "$tok")
		case $got in *'"state":"PENDING"'*) sleep 0.1 ;; *)
			echo "$got"
			return 0
			;;
		esac
	done
	fail "job $id still PENDING after $((n / 10)) s: $got"
}

pg_need() {
	pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
	if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
		echo "$name: needs the postgresql package (scripts/deps/manager.apt), skipping" >&2
		exit 77
	fi
}

pg_start() {
	local i as_pg=()
	pgpass_word=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	mkdir "$dir/pg" "$dir/pgsock"
	printf '%s\n' "$pgpass_word" >"$dir/pg.pw"
	if [ "$(id -u)" = 0 ]; then # initdb refuses root
		chown postgres: "$dir/pg" "$dir/pgsock" "$dir/pg.pw"
		as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups)
	fi
	"${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg/data" -U vxtest --pwfile="$dir/pg.pw" \
		--auth-host=scram-sha-256 --auth-local=trust >"$dir/initdb.out" 2>&1 ||
		fail "initdb: $(tail -n5 "$dir/initdb.out")"
	pg_port=$(free_port)
	"${as_pg[@]}" "$pgbin/postgres" -D "$dir/pg/data" -p "$pg_port" -k "$dir/pgsock" \
		-c listen_addresses=127.0.0.1 -c fsync=off >"$dir/postgres.out" 2>&1 &
	bg_pids+=("$!")
	for i in $(seq 200); do
		"$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
		sleep 0.1
	done
	"$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" || fail "PostgreSQL did not start"
	(umask 077 && printf '127.0.0.1:%s:*:vxtest:%s\n' "$pg_port" "$pgpass_word" >"$dir/pgpass")
	export PGPASSFILE="$dir/pgpass"
	uri="postgres://vxtest@127.0.0.1:$pg_port/postgres"
}
