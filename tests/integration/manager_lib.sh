# manager_lib.sh: helpers for the management API tests (sourced after peer_lib.sh).
#   api_at PORT METHOD PATH [BODY|-] [TOKEN]   prints "STATUS BODY"
#   expect_at PORT STATUS WHAT METHOD PATH...  fails unless the status is STATUS; prints the body
#   job_wait PORT ID TOKEN [TENTHS]            waits (default 45 s) until job ID is no longer
#                                              PENDING; prints its JSON
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
