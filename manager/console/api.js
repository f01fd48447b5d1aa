// api.js: the API wrapper. The token lives in session storage (this tab only) and goes out as
// a bearer header, never in a URL. A 401 forgets it and calls the login hook.
const KEY = 'vx.token';
export class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

// api(method, path, body): the decoded JSON answer; an ApiError for a non-2xx answer. A 401
// forgets the token and shows the login: the API refuses every data call without one.
export async function api(method, path, body) {
	const tok = sessionStorage.getItem(KEY);
	if (!tok) {
		unauthorized('');
		throw new ApiError(401, 'not logged in');
	}
	const r = await fetch(path, {
		method,
		headers: { Authorization: 'Bearer ' + tok, 'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
		cache: 'no-store',
		credentials: 'omit',
		redirect: 'error',
	});
	let j = null;
	try {
		j = await r.json();
	} catch (e) {
		j = null;
	}
	if (r.status === 401) {
		// a late answer to an older token must not log out the one pasted since
		if (sessionStorage.getItem(KEY) === tok) {
			sessionStorage.removeItem(KEY);
			unauthorized((j && j.message) || 'the token was refused');
		}
		throw new ApiError(401, 'refused');
	}
	if (!r.ok) throw new ApiError(r.status, (j && j.message) || 'HTTP ' + r.status);
	return j;
}

export const tokenKey = KEY;
let unauthorized = () => {};
export function onUnauthorized(fn) {
	unauthorized = fn;
}

let timer = null;

// every(ms, fn): the page's one refresh timer (a new page or the login stops it).
export function every(ms, fn) {
	stopTimer();
	timer = setInterval(fn, ms);
}

export function stopTimer() {
	if (timer) clearInterval(timer);
	timer = null;
}

