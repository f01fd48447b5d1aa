// chart.js: two small SVG pictures drawn by hand (no library): bytes from peers versus bytes
// from origins over time, and who fetched from whom in one task's swarm.
import { bytes } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, text) {
	const e = document.createElementNS(NS, tag);
	for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
	if (text !== undefined) e.textContent = text;
	return e;
}

// series: [[unix_ms, peer_total, origin_total], ...] cumulative; plots bytes per interval.
export function trafficChart(series) {
	const W = 720, H = 220, L = 70, B = 24, T = 10, R = 10;
	const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: 'traffic-chart',
		role: 'img', 'aria-label': 'bytes from peers and from origins over time' });
	const pts = [];
	for (let i = 1; i < series.length; i++) {
		pts.push([series[i][0], Math.max(0, series[i][1] - series[i - 1][1]),
			Math.max(0, series[i][2] - series[i - 1][2])]);
	}
	if (pts.length < 2) {
		svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' },
			'collecting samples...'));
		return svg;
	}
	const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
	const ymax = Math.max(1, ...pts.map((p) => Math.max(p[1], p[2])));
	const x = (t) => L + ((W - L - R) * (t - t0)) / Math.max(1, t1 - t0);
	const y = (v) => H - B - ((H - B - T) * v) / ymax;
	svg.append(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#999' }));
	svg.append(s('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#999' }));
	svg.append(s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, bytes(ymax)));
	svg.append(s('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'));
	svg.append(s('text', { x: L, y: H - 6 }, new Date(t0).toLocaleTimeString()));
	svg.append(s('text', { x: W - R, y: H - 6, 'text-anchor': 'end' },
		new Date(t1).toLocaleTimeString()));
	for (const [k, color] of [[1, '#2a7de1'], [2, '#e0782a']]) {
		const d = pts.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[k]).toFixed(1));
		svg.append(s('path', { d: d.join(' '), fill: 'none', stroke: color, 'stroke-width': 2,
			class: k === 1 ? 'line-peer' : 'line-origin' }));
	}
	return svg;
}

// flows: [{from: host id | null (origin), to, bytes}]; holders: [{host, type}]
export function swarmPicture(flows, holders) {
	const W = 520, H = 440, cx = W / 2, cy = 270, rx = 180, ry = 130;
	const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: 'swarm',
		role: 'img', 'aria-label': 'who fetched from whom' });
	const defs = s('defs', {});
	const mk = s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
		markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
	mk.append(s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#667' }));
	defs.append(mk);
	svg.append(defs);
	const names = [];
	const kind = new Map();
	for (const hd of holders) { if (!names.includes(hd.host)) names.push(hd.host); kind.set(hd.host, hd.type); }
	for (const f of flows) {
		for (const n of [f.from, f.to]) if (n && !names.includes(n)) names.push(n);
	}
	const pos = new Map();
	pos.set(null, [cx, 24]);
	names.forEach((n, i) => {
		const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, names.length);
		pos.set(n, [cx + rx * Math.cos(a), cy + ry * Math.sin(a)]);
	});
	const maxb = Math.max(1, ...flows.map((f) => f.bytes));
	for (const f of flows) {
		const [x1, y1] = pos.get(f.from), [x2, y2] = pos.get(f.to);
		const len = Math.hypot(x2 - x1, y2 - y1) || 1;
		const k = (len - 16) / len;
		const line = s('line', { x1, y1, x2: x1 + (x2 - x1) * k, y2: y1 + (y2 - y1) * k,
			stroke: f.from === null ? '#e0782a' : '#2a7de1',
			'stroke-width': 1 + (4 * f.bytes) / maxb, 'marker-end': 'url(#arrow)',
			class: 'flow' });
		line.append(s('title', {}, `${f.from === null ? 'origin' : f.from} -> ${f.to}: ${bytes(f.bytes)}`));
		svg.append(line);
	}
	const node = (n, label, fill) => {
		const [x, y] = pos.get(n);
		svg.append(s('circle', { cx: x, cy: y, r: 14, fill, stroke: '#333' }));
		svg.append(s('text', { x, y: y + 28, 'text-anchor': 'middle' }, label));
	};
	if (flows.some((f) => f.from === null)) node(null, 'origin', '#f3c79f');
	for (const n of names) node(n, n.length > 22 ? n.slice(0, 21) + '...' : n || '(gone)',
		kind.get(n) === 'seed' ? '#b9d4f5' : '#e4e8ef');
	return svg;
}
