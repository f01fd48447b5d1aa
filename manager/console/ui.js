// ui.js: building DOM without innerHTML (every value from the API is text, never markup).

export function h(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else if (k === 'class') e.className = v;
		else e.setAttribute(k, v === true ? '' : String(v));
	}
	for (const k of kids.flat()) {
		if (k === undefined || k === null || k === false) continue;
		e.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return e;
}

export function table(cols, rows, onpick) {
	return h('table', {},
		h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c[0])))),
		h('tbody', {}, rows.map((r) => h('tr', onpick ? { class: 'pick', onclick: () => onpick(r) } : {},
			cols.map((c) => {
				const v = c[1](r);
				return h('td', { class: typeof v === 'number' ? 'num' : '' }, v);
			})))));
}

export function bytes(n) {
	if (n === null || n === undefined || n < 0) return '?';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

export function bps(n) {
	const u = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
	let i = 0;
	n = n || 0;
	while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
	return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

export function when(unix) {
	return unix ? new Date(unix * 1000).toISOString().replace('T', ' ').slice(0, 19) : '';
}

export function bar(done, total) {
	const pct = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
	const b = h('span', { class: 'bar', title: pct + '%' }, h('span', {}));
	b.firstChild.style.width = pct + '%';
	return h('span', {}, b, ' ' + pct + '%');
}

export function stateSpan(s) {
	return h('span', { class: 'state-' + s }, s);
}
