# tls_lib.sh: test certificates by the openssl CLI, in the profile of spec/control.md section 10
# (EC P-256, SHA-256, SAN URIs urn:vx:host:/urn:vx:role:/urn:vx:tenant:, serverAuth+clientAuth).
# Sourced by tests; needs $dir. A CA is a directory made by tls_ca; `openssl ca` keeps its index,
# so certificates can be revoked and a CRL generated, and validity can be set in the past.

# tls_ca NAME: a CA in $dir/NAME (ca.pem, ca.key 0600, index, serial, ca.cnf).
tls_ca() {
	local d=$dir/$1
	mkdir -p "$d/new"
	: >"$d/index.txt"
	echo 1000 >"$d/serial"
	echo 1000 >"$d/crlnumber"
	cat >"$d/ca.cnf" <<CNF
[ ca ]
default_ca = vxca
[ vxca ]
database = $d/index.txt
new_certs_dir = $d/new
certificate = $d/ca.pem
private_key = $d/ca.key
serial = $d/serial
crlnumber = $d/crlnumber
default_md = sha256
default_days = 2
default_crl_days = 2
policy = pol
unique_subject = no
copy_extensions = none
[ pol ]
commonName = supplied
CNF
	(umask 077 && openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key") 2>/dev/null
	openssl req -x509 -new -key "$d/ca.key" -out "$d/ca.pem" -days 3650 -sha256 \
		-subj "/CN=vx test CA $1" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		fail "openssl: cannot make CA $1"
}

# tls_req NAME CN SAN: $dir/NAME.key (0600), the request $dir/NAME.csr and the extensions of
# the profile in $dir/NAME.ext (section "ext"), for tls_cert and tls_cert_by.
tls_req() {
	printf '[ ext ]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = %s\n' \
		"$3" >"$dir/$1.ext"
	(umask 077 && openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$1.key") 2>/dev/null
	openssl req -new -key "$dir/$1.key" -subj "/CN=$2" -out "$dir/$1.csr" 2>/dev/null ||
		fail "openssl: cannot make the request of $1"
}

# tls_cert CA NAME CN SAN [openssl ca args...]: $dir/NAME.pem and $dir/NAME.key (0600), signed
# by CA; SAN is the subjectAltName value ("URI:urn:vx:role:peer,IP:127.0.0.1").
tls_cert() {
	local ca=$dir/$1 n=$2
	tls_req "$n" "$3" "$4"
	shift 4
	openssl ca -batch -notext -config "$ca/ca.cnf" -in "$dir/$n.csr" -out "$dir/$n.pem" \
		-extfile "$dir/$n.ext" -extensions ext "$@" 2>"$dir/$n.ca.txt" ||
		fail "openssl ca: cannot sign $n: $(cat "$dir/$n.ca.txt")"
}

# tls_cert_by CA_PEM CA_KEY NAME CN SAN: $dir/NAME.pem and .key (0600) signed by a CA given as
# files (the scheduler's own, DATA/sched.db.pki/), for fakes holding a real cluster certificate.
tls_cert_by() {
	local n=$3
	tls_req "$n" "$4" "$5"
	openssl x509 -req -in "$dir/$n.csr" -CA "$1" -CAkey "$2" -CAcreateserial \
		-CAserial "$dir/$n.srl" -days 1 -sha256 -extfile "$dir/$n.ext" -extensions ext \
		-out "$dir/$n.pem" 2>"$dir/$n.ca.txt" ||
		fail "openssl x509: cannot sign $n: $(cat "$dir/$n.ca.txt")"
}

# tls_host CA NAME HOSTID ROLE: a daemon certificate of the profile.
tls_host() {
	tls_cert "$1" "$2" "$3" "URI:urn:vx:host:$3,URI:urn:vx:role:$4,IP:127.0.0.1"
}

# tls_install NAME CA_PEM CRL: NAME's certificate and key, the CA and the CRL as the files a
# daemon finds by itself in $dir/NAME/tls/ (its data directory).
tls_install() {
	mkdir -p "$dir/$1/tls"
	cp "$dir/$1.pem" "$dir/$1/tls/cert.pem"
	cp "$dir/$1.key" "$dir/$1/tls/key.pem"
	cp "$2" "$dir/$1/tls/ca.pem"
	cp "$3" "$dir/$1/tls/crl.pem"
}

# tls_revoke CA NAME, then tls_crl CA OUT: revoke a certificate; write the CA's CRL.
tls_revoke() {
	openssl ca -config "$dir/$1/ca.cnf" -revoke "$dir/$2.pem" 2>/dev/null ||
		fail "openssl ca: cannot revoke $2"
}
tls_crl() {
	openssl ca -config "$dir/$1/ca.cnf" -gencrl -out "$2" 2>/dev/null ||
		fail "openssl ca: cannot write the CRL of $1"
}

# tls_need_openssl: skip (77) when the openssl CLI is missing.
tls_need_openssl() {
	command -v openssl >/dev/null && return 0
	echo "$name: needs openssl, skipping" >&2
	exit 77
}
