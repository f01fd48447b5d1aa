#!/usr/bin/env bash
# deploy_k8s.sh SRC: deploy/kubernetes renders (base and the PostgreSQL overlay) and passes the
# Kubernetes API schema check and vx's own rules (deploy_k8s.mjs); with kubectl on the PATH
# its kustomize renders the same objects. A copy with a schema error and one with a container
# without limits must fail the check (so the check can fail). Security list
# (dragonfly-behaviour.md 5.5): none.
set -euo pipefail
src=$(realpath "$1")
name=deploy_k8s
npm=$src/build/npm
fail() {
	echo "FAIL: $name: $*" >&2
	exit 1
}
command -v node >/dev/null || fail "node is missing (scripts/deps/deploy.apt)"
[ -d "$npm/node_modules/kubernetes-models" ] && [ -d "$npm/node_modules/yaml" ] ||
	fail "kubernetes-models and yaml are missing: run scripts/install-deps (scripts/deps/deploy.npm)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { # KUSTOMIZATION_DIR
	local rendered=()
	if command -v kubectl >/dev/null && kubectl kustomize "$1" >"$dir/kubectl.yaml" 2>"$dir/kubectl.err"; then
		rendered=("$dir/kubectl.yaml")
	fi
	node "$src/tests/integration/deploy_k8s.mjs" "$npm" "$1" "${rendered[@]}"
}
for k in base overlays/postgres; do
	check "$src/deploy/kubernetes/$k" >"$dir/out" 2>&1 || fail "$k: $(cat "$dir/out")"
	echo "$k: $(cat "$dir/out")"
done
cp -r "$src/deploy/kubernetes" "$dir/bad"
sed -i 's/^  replicas: 1$/  replicas: "one"/' "$dir/bad/base/scheduler.yaml"
if check "$dir/bad/base" >"$dir/out" 2>&1; then
	fail "a StatefulSet with replicas: \"one\" passed the schema check"
fi
grep -q 'replicas must be integer' "$dir/out" || fail "unexpected error: $(cat "$dir/out")"
cp "$src/deploy/kubernetes/base/scheduler.yaml" "$dir/bad/base/scheduler.yaml"
sed -i '/^            limits:$/,/memory: 1Gi$/d' "$dir/bad/base/scheduler.yaml"
if check "$dir/bad/base" >"$dir/out" 2>&1; then
	fail "a container without limits passed"
fi
echo "PASS: $name"
