// deploy_k8s.mjs NPM_PREFIX KUSTOMIZE_DIR [RENDERED.yaml]: renders a kustomization of
// deploy/kubernetes and checks every object against the Kubernetes API schemas
// (kubernetes-models, generated from the API's OpenAPI document of one release; pinned in
// scripts/deps/deploy.npm), then what vx's manifests promise: resource limits on every
// container, /healthy and /ready probes on the daemons, scrape annotations, a host-network
// peer DaemonSet whose init step runs `vx init containerd`, a default-deny NetworkPolicy.
// The renderer here knows the kustomize fields these manifests use (resources, namespace,
// labels, images, patches of JSON6902 "add" ops) and refuses any other; given RENDERED (from
// `kubectl kustomize`), it must produce the same objects.
// Prints "ok N objects" or the errors, exit 1.
import fs from "node:fs";
import path from "node:path";

const [prefix, kdir, rendered] = process.argv.slice(2);
const YAML = (await import(path.join(prefix, "node_modules/yaml/dist/index.js"))).default;
const errors = [];
const err = (m) => errors.push(m);

function render(dir) {
	const k = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
	const known = ["apiVersion", "kind", "namespace", "labels", "resources", "images", "patches"];
	for (const key of Object.keys(k))
		if (!known.includes(key)) throw new Error(`${dir}: kustomize field ${key} not supported here`);
	let objs = [];
	for (const r of k.resources ?? []) {
		const p = path.join(dir, r);
		if (fs.statSync(p).isDirectory()) objs.push(...render(p));
		else objs.push(...YAML.parseAllDocuments(fs.readFileSync(p, "utf8")).map((d) => d.toJS()).filter(Boolean));
	}
	for (const o of objs) {
		if (k.namespace && o.kind !== "Namespace") o.metadata.namespace = k.namespace;
		for (const l of k.labels ?? []) {
			if (l.includeSelectors) throw new Error("labels.includeSelectors not supported here");
			o.metadata.labels = { ...(o.metadata.labels ?? {}), ...l.pairs };
			if (l.includeTemplates) throw new Error("labels.includeTemplates not supported here");
		}
		const tpl = o.spec?.template?.spec;
		for (const c of [...(tpl?.initContainers ?? []), ...(tpl?.containers ?? [])])
			for (const im of k.images ?? [])
				if (c.image === im.name || c.image.startsWith(im.name + ":"))
					c.image = `${im.newName ?? im.name}:${im.newTag}`;
	}
	for (const p of k.patches ?? []) {
		for (const o of objs) {
			if (o.kind !== p.target.kind || o.metadata.name !== p.target.name) continue;
			for (const op of YAML.parse(p.patch)) {
				if (op.op !== "add") throw new Error(`patch op ${op.op} not supported here`);
				const keys = op.path.split("/").slice(1);
				let at = o;
				for (const key of keys.slice(0, -1)) at = at[key];
				const last = keys.at(-1);
				if (last === "-") at.push(op.value);
				else at[last] = op.value;
			}
		}
	}
	return objs;
}

const objs = render(kdir);
if (rendered) {
	const theirs = YAML.parseAllDocuments(fs.readFileSync(rendered, "utf8")).map((d) => d.toJS()).filter(Boolean);
	const key = (o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
	const canon = (v) => Array.isArray(v) ? v.map(canon) : v && typeof v === "object" ?
		Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
	const mine = new Map(objs.map((o) => [key(o), JSON.stringify(canon(o))]));
	for (const o of theirs) {
		if (!mine.has(key(o))) err(`kubectl renders ${key(o)}, this renderer does not`);
		else if (mine.get(key(o)) !== JSON.stringify(canon(o))) err(`${key(o)} renders differently`);
	}
	if (theirs.length !== objs.length) err(`kubectl renders ${theirs.length} objects, this ${objs.length}`);
}

for (const o of objs) {
	const group = o.apiVersion.includes("/") ? o.apiVersion : o.apiVersion;
	const mod = path.join(prefix, "node_modules/kubernetes-models", group, `${o.kind}.js`);
	if (!fs.existsSync(mod)) {
		err(`${o.kind} ${o.metadata.name}: no schema for ${o.apiVersion} ${o.kind}`);
		continue;
	}
	const Model = (await import(mod))[o.kind];
	try {
		new Model(o).validate();
	} catch (e) {
		err(`${o.kind} ${o.metadata.name}: ${e.message}`);
	}
}

const by = (kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
for (const o of objs) {
	const tpl = o.spec?.template;
	if (!tpl) continue;
	for (const c of [...(tpl.spec.initContainers ?? []), ...tpl.spec.containers]) {
		if (!c.resources?.limits?.cpu || !c.resources?.limits?.memory)
			err(`${o.metadata.name}/${c.name}: no cpu and memory limits`);
		if (c.securityContext?.allowPrivilegeEscalation !== false)
			err(`${o.metadata.name}/${c.name}: allowPrivilegeEscalation is not false`);
	}
}
for (const [kind, name] of [["StatefulSet", "vx-seed"], ["DaemonSet", "vx-peer"]]) {
	const o = by(kind, name);
	if (!o) { err(`no ${kind} ${name}`); continue; }
	const c = o.spec.template.spec.containers[0];
	if (c.readinessProbe?.httpGet?.path !== "/ready") err(`${name}: readiness is not /ready`);
	if (c.livenessProbe?.httpGet?.path !== "/healthy") err(`${name}: liveness is not /healthy`);
	const a = o.spec.template.metadata.annotations ?? {};
	if (a["prometheus.io/scrape"] !== "true" || a["prometheus.io/port"] !== "4002")
		err(`${name}: no scrape annotations for port 4002`);
}
const peer = by("DaemonSet", "vx-peer");
if (peer) {
	if (peer.spec.template.spec.hostNetwork !== true) err("vx-peer: not on the host network");
	const init = peer.spec.template.spec.initContainers ?? [];
	if (!init.some((c) => (c.args ?? []).slice(0, 2).join(" ") === "init containerd"))
		err("vx-peer: no init step running `vx init containerd`");
}
if (!by("StatefulSet", "vx-scheduler")) err("no StatefulSet vx-scheduler");
const deny = objs.find((o) => o.kind === "NetworkPolicy" && Object.keys(o.spec.podSelector).length === 0 && !o.spec.ingress);
if (!deny) err("no default-deny NetworkPolicy");

if (errors.length) {
	for (const e of errors) console.error(e);
	process.exit(1);
}
console.log(`ok ${objs.length} objects`);
