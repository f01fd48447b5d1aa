#!/usr/bin/env bash
# proxy_maven.sh VX: a Maven repository through `vx serve`'s forward proxy on two hosts of one
# cluster (issue 21, "Sources": Yum/APT/Maven through the forward proxy; spec/proxy.md 5.3),
# with the default rules: .jar files go P2P, maven-metadata.xml straight through.
# - a local repository (nginx) written here: vx.test:vxext:1.0 (a build extension) depending
#   on vx.test:vxlib:[1.0,2.0), of which 1.0 and 1.1 are published (maven-metadata.xml lists
#   them; .sha1 files beside every .pom and .jar), and the plexus-utils 1.1 Maven adds to
#   every extension's class path (an empty stand-in: nothing runs it);
# - mvn validate of a project using the extension, with a settings.xml whose mirror is that
#   repository and whose <proxy> is h1: Maven resolves the range through maven-metadata.xml
#   and fetches vxext-1.0.jar and vxlib-1.1.jar, checking each against its .sha1 (fail);
#   the test compares them with the repository's bytes; each .jar is h1's P2P task;
# - a second mvn with an empty local repository through h2: h2 takes every .jar byte from
#   peers (h1), none from the upstream, and the origin sent each .jar once;
# - maven-metadata.xml and its .sha1 were passed through by both daemons, never a task;
# - vxlib 1.2 is published (maven-metadata.xml rewritten under its URL): mvn -U through h1
#   resolves the range to 1.2 and fetches it.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): none new.
set -euo pipefail
vx=$1
name=proxy_maven
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
need_tools scripts/deps/proxy.apt mvn zip
peer_lib_init
repo=$dir/www/maven

# artifact GROUP_PATH ID VERSION SIZE [POM_BODY]: a .jar of SIZE random bytes (stored, not
# deflated) and its .pom, each with its .sha1
artifact() {
	local d=$repo/$1/$2/$3 b=$dir/build/$2-$3 f
	mkdir -p "$d" "$b"
	head -c "$4" /dev/urandom >"$b/data.bin"
	(cd "$b" && zip -q -0 "$d/$2-$3.jar" data.bin)
	printf '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version>%s</project>\n' \
		"${1//\//.}" "$2" "$3" "${5:-}" >"$d/$2-$3.pom"
	for f in "$d/$2-$3.jar" "$d/$2-$3.pom"; do
		sha1sum <"$f" | cut -d' ' -f1 >"$f.sha1"
	done
}
# metadata VERSION...: vxlib's maven-metadata.xml (and .sha1) listing VERSIONs, the last newest
metadata() {
	local m=$repo/vx/test/vxlib/maven-metadata.xml v
	{
		printf '<metadata><groupId>vx.test</groupId><artifactId>vxlib</artifactId><versioning>'
		printf '<latest>%s</latest><release>%s</release><versions>' "${!#}" "${!#}"
		for v in "$@"; do printf '<version>%s</version>' "$v"; done
		printf '</versions><lastUpdated>%s</lastUpdated></versioning></metadata>\n' "$(date -u +%Y%m%d%H%M%S)"
	} >"$m"
	sha1sum <"$m" | cut -d' ' -f1 >"$m.sha1"
}
artifact vx/test vxlib 1.0 300000
artifact vx/test vxlib 1.1 700000
artifact vx/test vxext 1.0 500000 \
	'<dependencies><dependency><groupId>vx.test</groupId><artifactId>vxlib</artifactId><version>[1.0,2.0)</version></dependency></dependencies>'
artifact org/codehaus/plexus plexus-utils 1.1 1000
metadata 1.0 1.1
mkdir -p "$dir/proj"
cat >"$dir/proj/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>vx.t</groupId><artifactId>p</artifactId><version>1</version><packaging>pom</packaging>
<build><extensions><extension><groupId>vx.test</groupId><artifactId>vxext</artifactId>
<version>1.0</version></extension></extensions></build></project>
POM
origin_start
pkg_hosts_start

# mvnx CLIENT PORT ARGS...: mvn validate with CLIENT's own local repository through the proxy
# on PORT (checksums strict: a wrong byte fails the build)
mvnx() {
	local c=$1 port=$2
	shift 2
	cat >"$dir/$c.settings.xml" <<XML
<settings><localRepository>$dir/$c.m2</localRepository>
<mirrors><mirror><id>vx</id><mirrorOf>*</mirrorOf><url>$base/maven</url></mirror></mirrors>
<proxies><proxy><id>vx</id><active>true</active><protocol>http</protocol>
<host>127.0.0.1</host><port>$port</port></proxy></proxies></settings>
XML
	(cd "$dir/proj" && MAVEN_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" timeout -k 5 90 mvn -B -q -C -s "$dir/$c.settings.xml" "$@" validate) \
		>>"$dir/mvn.out" 2>&1 || fail "mvn through port $port: $(tail -20 "$dir/mvn.out")"
}
same_jar() { # CLIENT ID VERSION
	local f=vx/test/$2/$3/$2-$3.jar
	[ -f "$dir/$1.m2/$f" ] || fail "$1: Maven did not fetch $f"
	[ "$(sha256sum <"$dir/$1.m2/$f")" = "$(sha256sum <"$repo/$f")" ] || fail "$1: $f: wrong sha256"
}

mvnx a "$p1"
mvnx b "$p2"
for av in "vxext 1.0" "vxlib 1.1"; do
	set -- $av
	same_jar a "$1" "$2"
	same_jar b "$1" "$2"
	pkg_via_p2p "maven/vx/test/$1/$2/$1-$2.jar"
done
pkg_direct maven/vx/test/vxlib/maven-metadata.xml h1 h2
pkg_direct maven/vx/test/vxlib/maven-metadata.xml.sha1 h1 h2

# vxlib 1.2 is published under the same maven-metadata.xml URL: Maven resolves the range to it
artifact vx/test vxlib 1.2 200000
sleep 1 # a new lastUpdated
metadata 1.0 1.1 1.2
mvnx a "$p1" -U
same_jar a vxlib 1.2
echo "PASS: $name"
