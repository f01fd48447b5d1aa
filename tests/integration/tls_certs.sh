#!/bin/sh
# tls_certs.sh DIR: a test PKI for the data plane's TLS tests and vx-bench pair --tls, made
# with the openssl CLI in the cluster's certificate profile (spec/dataplane.md section 10):
# EC P-256, SHA-256, subjectAltName URIs urn:vx:host:<id> and urn:vx:role:<role>,
# serverAuth + clientAuth. In DIR:
#   ca.pem ca.key            the cluster CA
#   seed.pem seed.key        host seed-00000000000000a1, role seed
#   peer.pem peer.key        host peer-00000000000000b2, role peer
#   foreign.pem foreign.key  host peer-00000000000000b2 too, but issued by another CA
#   expired.pem expired.key  host peer-00000000000000c3, valid only in 2020
#   revoked.pem revoked.key  host peer-00000000000000d4, revoked in crl.pem
#   noid.pem noid.key        no vx identity (no URIs)
#   crl.pem                  the CA's CRL
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
VX_SAN=URI:urn:vx:host:unused
export VX_SAN

cat >ca.cnf <<'CNF'
[ca]
default_ca = vxca
[vxca]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 1
default_crl_days = 30
policy = anything
copy_extensions = none
unique_subject = no
[anything]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = $ENV::VX_SAN
[cacert]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[req]
distinguished_name = dn
[dn]
CNF

newca() { # name
	mkdir -p "$1.d/newcerts"
	: >"$1.d/index.txt"
	echo 1000 >"$1.d/serial"
	echo 1000 >"$1.d/crlnumber"
	openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
	openssl req -new -x509 -sha256 -key "$1.key" -subj "/CN=vx test $1" -days 3650 \
		-config ca.cnf -extensions cacert -out "$1.pem" 2>/dev/null
}

leaf() { # name ca host role [startdate enddate]
	openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
	openssl req -new -sha256 -key "$1.key" -subj "/CN=${3:-noid}" -config ca.cnf \
		-out "$1.csr" 2>/dev/null
	if [ -n "$3" ]; then
		VX_SAN="URI:urn:vx:host:$3,URI:urn:vx:role:$4"
	else
		VX_SAN="DNS:noid.invalid"
	fi
	export VX_SAN
	dates=""
	[ $# -ge 6 ] && dates="-startdate $5 -enddate $6"
	# shellcheck disable=SC2086 # dates is two options or none
	(cd "$2.d" && openssl ca -batch -config ../ca.cnf -name vxca -cert "../$2.pem" \
		-keyfile "../$2.key" -extensions leaf -in "../$1.csr" -out "../$1.pem" $dates \
		2>/dev/null)
	rm -f "$1.csr"
}

newca ca
newca otherca
leaf seed ca seed-00000000000000a1 seed
leaf peer ca peer-00000000000000b2 peer
leaf foreign otherca peer-00000000000000b2 peer
leaf expired ca peer-00000000000000c3 peer 20200101000000Z 20200102000000Z
leaf revoked ca peer-00000000000000d4 peer
leaf noid ca "" ""
(cd ca.d && openssl ca -config ../ca.cnf -name vxca -cert ../ca.pem -keyfile ../ca.key \
	-revoke ../revoked.pem 2>/dev/null &&
	openssl ca -config ../ca.cnf -name vxca -cert ../ca.pem -keyfile ../ca.key -gencrl \
		-out ../crl.pem 2>/dev/null)
