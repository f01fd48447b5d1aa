// pages.js: one function per page; each renders into its root from the API's JSON.
import { api, ApiError, every } from './api.js';
import { swarmPicture, trafficChart } from './chart.js';
import { bar, bps, bytes, h, stateSpan, table, when } from './ui.js';

const SCOPES = ['job:read', 'job:write', 'preheat', 'task:delete', 'token:admin', 'audit:read',
	'metrics:read', 'cluster:read', 'cluster:admin', 'publish', 'subscribe'];

function errorLine(e) {
	return h('p', { class: 'error' }, String(e.message || e));
}

// runs fn, showing a refusal (403, 409...) in @where instead of failing the page
async function attempt(where, fn) {
	try {
		where.replaceChildren();
		return await fn();
	} catch (e) {
		if (!(e instanceof ApiError && e.status === 401)) where.replaceChildren(errorLine(e));
		return undefined;
	}
}

async function cluster(root) {
	const cards = h('div', { class: 'cards' });
	const chart = h('div', {});
	const hosts = h('div', {});
	const msg = h('div', {});
	const blocked = h('div', {});
	root.append(h('h1', {}, 'Cluster'), cards,
		h('h2', {}, 'Bytes from ', h('span', { class: 'legend-peer' }, 'peers'), ' and from ',
			h('span', { class: 'legend-origin' }, 'origins'), ' per sample'), chart,
		h('h2', {}, 'Seeds and peers'), msg, hosts, h('h2', {}, 'Blocklist'), blocked);
	const ban = (id, on) => attempt(msg, async () => {
		if (on) await api('POST', '/oapi/v1/blocklist', { host: id });
		else await api('DELETE', '/oapi/v1/blocklist/' + encodeURIComponent(id));
		await draw();
	});
	const draw = async () => {
		const [st, hs, bl] = await Promise.all([api('GET', '/oapi/v1/stats'),
			api('GET', '/oapi/v1/hosts'), api('GET', '/oapi/v1/blocklist')]);
		const s = st.scheduler;
		cards.replaceChildren(
			h('div', { class: 'card' }, 'Scheduler', h('b', {}, 'this control plane')),
			h('div', { class: 'card' }, 'Hosts', h('b', {}, s.hosts)),
			h('div', { class: 'card' }, 'Tasks', h('b', {}, s.tasks)),
			h('div', { class: 'card' }, 'Peers', h('b', {}, s.peers)),
			h('div', { class: 'card' }, 'From peers', h('b', {}, bytes(st.totals.bytes_from_peers))),
			h('div', { class: 'card' }, 'From origins', h('b', {}, bytes(st.totals.bytes_from_origin))));
		chart.replaceChildren(trafficChart(st.series));
		hosts.replaceChildren(table([
			['Host', (x) => x.id], ['Address', (x) => x.ip + ':' + x.port], ['Type', (x) => x.type],
			['State', (x) => (x.active ? 'active' : 'silent') + (x.blocked ? ', blocked' : '')],
			['Tasks', (x) => x.tasks], ['Download', (x) => bps(x.rx_bps)],
			['Upload', (x) => bps(x.tx_bps)], ['Announced upload', (x) => bps(x.announced_tx_bps)],
			['From peers', (x) => bytes(x.rx_peer_bytes)], ['From origins', (x) => bytes(x.rx_origin_bytes)],
			['Served', (x) => bytes(x.tx_bytes)],
			['', (x) => h('button', { type: 'button', onclick: () => ban(x.id, !x.blocked) },
				x.blocked ? 'Unblock' : 'Block')],
		], hs.hosts));
		blocked.replaceChildren(bl.blocklist.length ? table([
			['Host', (x) => x.host], ['Since', (x) => when(x.created)], ['By token', (x) => x.token_id],
			['', (x) => h('button', { type: 'button', onclick: () => ban(x.host, false) }, 'Unblock')],
		], bl.blocklist) : h('p', { class: 'note' }, 'none'));
	};
	await draw();
	every(2000, () => draw().catch(() => {}));
}

async function taskDetail(box, id, back) {
	const t = await api('GET', '/oapi/v1/tasks/' + id);
	const out = h('div', {});
	box.replaceChildren(h('h2', {}, 'Task ', h('code', {}, t.id)),
		h('p', {}, h('code', {}, t.url || '(no URL bound)'), t.private ? ' (private)' : ''),
		h('p', {}, 'State ', t.state, ', ', bytes(t.content_length), ', ', t.piece_count,
			' pieces of ', bytes(t.piece_length)),
		h('h2', {}, 'Holders'),
		table([['Host', (x) => x.host], ['Address', (x) => x.ip], ['Type', (x) => x.type],
			['State', (x) => x.state],
			['Complete', (x) => bar(x.finished_pieces, x.piece_count || t.piece_count)]],
		t.holders),
		h('h2', {}, 'Swarm: who fetched from whom'),
		swarmPicture(t.flows, t.holders),
		t.flows_dropped ? h('p', { class: 'note' }, t.flows_dropped + ' more edges not recorded') : '',
		h('p', {}, h('button', { type: 'button', id: 'delete-task', onclick: () => attempt(out, async () => {
			const j = await api('POST', '/oapi/v1/jobs', { type: 'delete_task', args: { task_id: t.id } });
			out.replaceChildren(h('p', {}, 'delete_task job ', j.id, ': ', stateSpan(j.state)));
			await back();
		}) }, 'Delete everywhere')), out);
}

async function tasks(root) {
	const q = h('input', { type: 'text', id: 'task-q', placeholder: 'URL or task id', size: 60 });
	const list = h('div', {});
	const detail = h('div', {});
	const load = async () => {
		const r = await api('GET', '/oapi/v1/tasks?per_page=200&q=' + encodeURIComponent(q.value.trim()));
		list.replaceChildren(r.tasks.length ? table([
			['Task', (x) => h('code', {}, x.id.slice(0, 16))], ['URL', (x) => h('code', {}, x.url || '')],
			['State', (x) => x.state], ['Size', (x) => bytes(x.content_length)],
			['Holders', (x) => x.peers], ['Complete copies', (x) => x.done_peers],
		], r.tasks, (x) => attempt(detail, () => taskDetail(detail, x.id, load))) :
			h('p', { class: 'note' }, 'no task matches'));
	};
	root.append(h('h1', {}, 'Tasks'),
		h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); load().catch(() => {}); } },
			q, h('button', { type: 'submit' }, 'Search')), list, detail);
	await load();
}

async function jobs(root) {
	const url = h('input', { type: 'text', id: 'preheat-url', placeholder: 'https://... or an image manifest URL', size: 60 });
	const kind = h('select', { id: 'preheat-type' }, h('option', { value: 'file' }, 'file'), h('option', { value: 'image' }, 'image'));
	const scope = h('select', { id: 'preheat-scope' }, ['single_seed_peer', 'all_seed_peers', 'all_peers'].map((s) => h('option', { value: s }, s)));
	const status = h('div', { id: 'preheat-status' });
	const list = h('div', {});
	let watching = null;
	const load = async () => {
		const js = await api('GET', '/oapi/v1/jobs?per_page=50');
		list.replaceChildren(js.length ? table([
			['Job', (x) => x.id], ['Type', (x) => x.type], ['State', (x) => stateSpan(x.state)],
			['URL or task', (x) => h('code', {}, (x.args && (x.args.url || x.args.task_id)) || '')],
			['Created', (x) => x.created_at], ['Updated', (x) => x.updated_at],
		], js) : h('p', { class: 'note' }, 'none'));
		if (watching) {
			const j = await api('GET', '/oapi/v1/jobs/' + watching);
			const res = j.result && j.result.job_states && j.result.job_states[0];
			status.replaceChildren(h('p', {}, 'Job ', h('span', { id: 'watched-job' }, j.id), ': ',
				h('span', { id: 'watched-state' }, stateSpan(j.state)),
				res && res.error ? ' (' + res.error + ')' : ''));
			if (j.state !== 'PENDING') watching = null;
		}
	};
	const create = (e) => {
		e.preventDefault();
		attempt(status, async () => {
			const j = await api('POST', '/oapi/v1/jobs', { type: 'preheat',
				args: { type: kind.value, url: url.value.trim(), scope: scope.value } });
			watching = j.id;
			await load();
		});
	};
	root.append(h('h1', {}, 'Jobs'), h('h2', {}, 'Preheat'),
		h('form', { class: 'inline', id: 'preheat-form', onsubmit: create }, url, kind, scope,
			h('button', { type: 'submit' }, 'Preheat')), status, h('h2', {}, 'Recent jobs'), list);
	await load();
	every(1000, () => load().catch(() => {}));
}

// a holder as the cache route may give it: a host id, or an object naming one
function holderName(x) {
	return typeof x === 'string' ? x : x.hostname || x.host || x.id || JSON.stringify(x);
}

async function cache(root) {
	const box = h('div', {});
	root.append(h('h1', {}, 'Persistent cache tasks'), box);
	let r;
	try {
		r = await api('GET', '/oapi/v1/persistent-cache-tasks');
	} catch (e) {
		if (e instanceof ApiError && e.status === 404) {
			box.append(h('p', { class: 'note', id: 'cache-missing' },
				'This control plane has no persistent cache tasks route (GET /oapi/v1/persistent-cache-tasks answered 404): it is not in this build.'));
			return;
		}
		throw e;
	}
	const list = Array.isArray(r) ? r : (r && r.tasks) || [];
	box.append(list.length ? table([
		['Id', (x) => h('code', {}, String(x.id).slice(0, 16))], ['Size', (x) => bytes(x.size)],
		['Piece', (x) => bytes(x.piece_length)], ['Replicas', (x) => x.replicas],
		['Holders', (x) => (Array.isArray(x.holders) ? x.holders.map(holderName).join(', ') : x.holders)],
		['TTL left', (x) => x.ttl_left_s + ' s'], ['Tag', (x) => x.tag || ''],
		['Application', (x) => x.application || ''], ['Created', (x) => x.created_at],
	], list) : h('p', { class: 'note', id: 'cache-none' }, 'none'));
}

async function tokens(root) {
	const name = h('input', { type: 'text', id: 'token-name', placeholder: 'name' });
	const ttl = h('input', { type: 'text', id: 'token-ttl', value: '90', size: 4 });
	const boxes = SCOPES.map((s) => h('label', {}, h('input', { type: 'checkbox', value: s }), s));
	const shown = h('div', {});
	const list = h('div', {});
	const load = async () => {
		const ts = await api('GET', '/oapi/v1/tokens');
		list.replaceChildren(table([
			['Id', (x) => x.id], ['Name', (x) => x.name], ['Scopes', (x) => x.scopes.join(', ')],
			['Created', (x) => when(x.created_at)], ['Expires', (x) => when(x.expires_at)],
			['', (x) => (x.revoked ? 'revoked' : h('button', { type: 'button', onclick: () =>
				attempt(shown, async () => { await api('DELETE', '/oapi/v1/tokens/' + x.id); await load(); }) }, 'Revoke'))],
		], ts));
	};
	const create = (e) => {
		e.preventDefault();
		attempt(shown, async () => {
			const scopes = boxes.map((b) => b.firstChild).filter((b) => b.checked).map((b) => b.value);
			const r = await api('POST', '/oapi/v1/tokens', { name: name.value.trim(), scopes,
				ttl_days: Number(ttl.value) || 90 });
			shown.replaceChildren(h('div', { class: 'secret' }, 'Token ', r.id,
				' (shown once, copy it now): ', h('code', {}, r.token)));
			await load();
		});
	};
	root.append(h('h1', {}, 'Tokens'),
		h('form', { class: 'inline', onsubmit: create }, name, boxes, 'days', ttl,
			h('button', { type: 'submit' }, 'Create')), shown, list);
	await load();
}

async function audit(root) {
	const a = await api('GET', '/oapi/v1/audits?limit=10000');
	const recent = a.slice(-200).reverse();
	root.append(h('h1', {}, 'Audit log'), h('p', { class: 'note' }, 'The last ', recent.length,
		' of ', a.length, ' records, newest first (hash-chained, append-only).'),
	table([['Seq', (x) => x.seq], ['Time', (x) => when(x.time)], ['Token', (x) => x.token_id],
		['Source', (x) => x.source], ['Action', (x) => h('code', {}, x.action)],
		['Target', (x) => h('code', {}, x.target)], ['Result', (x) => x.result]], recent));
}

export const pages = { cluster, tasks, jobs, cache, tokens, audit };
