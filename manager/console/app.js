// app.js: the console's shell: the login form and the router over #/page fragments.
import { ApiError, onUnauthorized, stopTimer, tokenKey } from './api.js';
import { pages } from './pages.js';

const KEY = tokenKey;
const $ = (id) => document.getElementById(id);

function showLogin(msg) {
	stopTimer();
	$('login').hidden = false;
	$('page').hidden = true;
	$('nav').hidden = true;
	$('logout').hidden = true;
	$('login-error').textContent = msg;
	document.body.dataset.view = 'login';
}

async function route() {
	if (!sessionStorage.getItem(KEY)) return showLogin('');
	const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'cluster';
	const page = pages[name] || pages.cluster;
	$('login').hidden = true;
	$('nav').hidden = false;
	$('logout').hidden = false;
	for (const a of $('nav').querySelectorAll('a')) {
		a.classList.toggle('active', a.getAttribute('href') === '#/' + name);
	}
	const root = $('page');
	root.hidden = false;
	root.replaceChildren();
	stopTimer();
	document.body.dataset.view = name;
	document.body.dataset.ready = '';
	try {
		await page(root);
	} catch (e) {
		if (!(e instanceof ApiError && e.status === 401)) {
			root.append(Object.assign(document.createElement('p'),
				{ className: 'error', textContent: String(e.message || e) }));
		}
	}
	document.body.dataset.ready = name;
}

onUnauthorized(showLogin);
window.addEventListener('hashchange', route);
$('login-form').addEventListener('submit', (ev) => {
	ev.preventDefault();
	const t = $('login-token').value.trim();
	$('login-token').value = '';
	if (!t) return;
	sessionStorage.setItem(KEY, t);
	route();
});
$('logout').addEventListener('click', () => {
	sessionStorage.removeItem(KEY);
	showLogin('');
});
route();
