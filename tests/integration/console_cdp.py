#!/usr/bin/env python3
"""console_cdp.py: drives the web console in Debian's headless Chromium over the Chrome DevTools
Protocol (python3-websocket), as an operator would: the pages, the login, a search, a preheat.

  console_cdp.py CHROMIUM API_PORT TOKEN_FILE TASK_PATH PREHEAT_URL ARTIFACT_DIR

Fails (exit 1, with the reason) on any console error or uncaught exception, on a page that does
not render, on a data route that answers without a token. Screenshots go to ARTIFACT_DIR.
Every wait is bounded."""
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # python3-websocket

chromium, port, token_file, task_path, preheat_url, art = sys.argv[1:7]
port = int(port)
token = open(token_file).read().strip()
base = f"http://127.0.0.1:{port}"
os.makedirs(art, exist_ok=True)


def fail(msg):
    print(f"FAIL: console_chromium: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- the files: public, with a strict CSP; the data: refused without a token
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for path in ("/console/", "/console/app.js", "/console/style.css"):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    csp = r.getheader("Content-Security-Policy") or ""
    if r.status != 200 or "script-src 'self'" not in csp or "default-src 'none'" not in csp:
        fail(f"GET {path}: {r.status}, CSP '{csp}'")
    if r.getheader("X-Content-Type-Options") != "nosniff" or not r.getheader("ETag"):
        fail(f"GET {path}: no nosniff or ETag")
    if path == "/console/" and (b"<script>" in body or b"onclick=" in body):
        fail("index.html carries inline script")
    if path == "/console/" and token.encode() in body:
        fail("the console file carries the token")
c.request("GET", "/console/", headers={"If-None-Match": r.getheader("ETag")})
r = c.getresponse()
r.read()
c.request("GET", "/console/../oapi/v1/hosts")
r2 = c.getresponse()
r2.read()
if r2.status not in (400, 401, 404):
    fail(f"a dot-dot path under /console/ answered {r2.status}")

def call(method, path, body=None, tok=None):
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers={"Authorization": "Bearer " + (tok or token)})
    r = c.getresponse()
    return r.status, r.read()


def api(method, path, body=None):
    st, b = call(method, path, body)
    if st != 200:
        fail(f"{method} {path}: {st} {b[:200]!r}")
    return json.loads(b)


# ---- the browser
prof = tempfile.mkdtemp(prefix="vx-chromium-")
proc = subprocess.Popen(
    [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
     "--disable-component-update", "--disable-sync", "--metrics-recording-only",
     "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
     f"--user-data-dir={prof}", "--window-size=1280,900", "about:blank"],
    stdout=subprocess.DEVNULL, stderr=open(os.path.join(art, "chromium.log"), "w"))


def cleanup():
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    shutil.rmtree(prof, ignore_errors=True)


try:
    devport = None
    for _ in range(200):
        try:
            devport = int(open(os.path.join(prof, "DevToolsActivePort")).read().split()[0])
            break
        except (OSError, ValueError, IndexError):
            if proc.poll() is not None:
                fail("chromium exited at start; see chromium.log")
            time.sleep(0.1)
    if not devport:
        fail("chromium did not open its DevTools port within 20 s")
    pages = []
    for _ in range(100):
        pages = [t for t in json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{devport}/json/list", timeout=5)) if t["type"] == "page"]
        if pages:
            break
        time.sleep(0.1)
    if not pages:
        fail("no page target")
    ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=20,
                                     suppress_origin=True)
    seq = [0]
    errors = []

    def on_event(m):
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        elif meth == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif meth == "Log.entryAdded":
            e = p["entry"]
            # refused API calls (401 when logged out, 404 of a missing route) are network
            # entries, expected; a CSP violation (security) or a script error is not
            if e["level"] == "error" and e.get("source") != "network":
                errors.append(f"log ({e.get('source')}): {e.get('text')}")

    def cdp(method, **params):
        seq[0] += 1
        ws.send(json.dumps({"id": seq[0], "method": method, "params": params}))
        end = time.time() + 20
        while time.time() < end:
            m = json.loads(ws.recv())
            if m.get("id") == seq[0]:
                if "error" in m:
                    fail(f"{method}: {m['error']}")
                return m.get("result", {})
            on_event(m)
        fail(f"{method}: no answer in 20 s")

    def js(expr):
        r = cdp("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            fail(f"evaluating {expr[:60]}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait_for(expr, what, secs=20):
        end = time.time() + secs
        while time.time() < end:
            v = js(f"(() => {{ try {{ return {expr}; }} catch (e) {{ return false; }} }})()")
            if v:
                return v
            time.sleep(0.1)
        shot("timeout")
        fail(f"{what}: not within {secs} s (page: {js('document.body.innerText')[:600]!r})")

    def shot(name):
        png = cdp("Page.captureScreenshot", format="png")["data"]
        with open(os.path.join(art, f"{name}.png"), "wb") as f:
            f.write(base64.b64decode(png))

    def goto(page):
        js(f"document.body.dataset.ready = ''; location.hash = '#/{page}'")
        wait_for(f"document.body.dataset.ready === '{page}'", f"the {page} page")

    cdp("Runtime.enable")
    cdp("Log.enable")
    cdp("Page.enable")
    cdp("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1,
        mobile=False)

    # ---- unauthenticated: the login, and the API refuses the data
    cdp("Page.navigate", url=f"{base}/console/#/tasks")
    wait_for("document.body.dataset.view === 'login'", "the login page without a token")
    for route in ("/oapi/v1/tasks", "/oapi/v1/hosts", "/oapi/v1/stats", "/oapi/v1/jobs",
                  "/oapi/v1/blocklist", "/oapi/v1/audits"):
        st = js(f"fetch('{route}').then(r => r.status)")
        if st != 401:
            fail(f"an unauthenticated fetch of {route} from the page answered {st}")
    if js("document.getElementById('page').hidden") is not True:
        fail("data shown without a token")
    shot("login")

    # ---- a refused token: back to the login with the API's reason
    js("sessionStorage.setItem('vx.token', 'vxt_1_" + "0" * 64 + "'); location.hash = '#/cluster'")
    wait_for("document.getElementById('login-error').textContent.includes('unknown')",
             "the login after a refused token")
    if js("sessionStorage.getItem('vx.token')") is not None:
        fail("a refused token was kept")

    # ---- log in through the form
    js("document.body.dataset.ready = ''; document.getElementById('login-token').value = "
       + json.dumps(token) + "; document.getElementById('login-form').requestSubmit()")
    wait_for("document.body.dataset.ready === 'cluster'", "the cluster page after login")
    if token in js("location.href"):
        fail("the token is in the URL")

    # ---- every page renders
    wait_for("document.querySelectorAll('main table tbody tr').length >= 2", "hosts on the cluster page")
    wait_for("!!document.querySelector('#traffic-chart path.line-peer')", "the traffic chart", 15)
    shot("cluster")
    for page in ("jobs", "cache", "tokens", "audit"):
        goto(page)
        if page == "cache" and os.environ.get("CONSOLE_CACHE_ID"):
            # the persistent cache task the test imported is listed (its id's first 16 hex)
            wait_for("[...document.querySelectorAll('main table tbody code')].some("
                     "(c) => c.textContent === " + json.dumps(os.environ["CONSOLE_CACHE_ID"][:16]) + ")",
                     "the imported persistent cache task on the cache page")
        shot(page)
    if js("document.querySelectorAll('main table tbody tr').length") < 1:
        fail("no token listed")

    # ---- tasks: the task just downloaded, its holders and its swarm
    goto("tasks")
    js("document.getElementById('task-q').value = " + json.dumps(task_path)
       + "; document.querySelector('main form').requestSubmit()")
    wait_for(f"[...document.querySelectorAll('main table tbody tr')].some(r => r.innerText.includes({json.dumps(task_path)}))",
             "the downloaded task in the task list")
    js(f"[...document.querySelectorAll('main table tbody tr')].find(r => r.innerText.includes({json.dumps(task_path)})).click()")
    wait_for("!!document.querySelector('#swarm line.flow')", "the swarm picture")
    wait_for("document.body.innerText.includes('100%')", "a complete holder")
    shot("task")

    # ---- a preheat from the form runs to SUCCESS
    goto("jobs")
    js("document.getElementById('preheat-url').value = " + json.dumps(preheat_url)
       + "; document.getElementById('preheat-form').requestSubmit()")
    wait_for("!!document.getElementById('watched-state')", "the preheat job")
    state = wait_for("(s => s && s.textContent !== 'PENDING' && s.textContent)(document.getElementById('watched-state'))",
                     "the preheat's end", 40)
    shot("preheat")
    if state != "SUCCESS":
        why = js("document.getElementById('preheat-status').innerText")
        fail(f"the preheat ended {state}: {why}")
    job = js("document.getElementById('watched-job').textContent")
    j = api("GET", f"/oapi/v1/jobs/{job}")
    if j["state"] != "SUCCESS" or j["type"] != "preheat" or j["args"]["url"] != preheat_url:
        fail(f"job {job} as the API shows it: {j}")

    # ---- the blocklist from the cluster page: listed, audited, taken off
    goto("cluster")
    wait_for("[...document.querySelectorAll('main table tbody tr')].some(r => r.innerText.includes('seed'))",
             "the seed on the cluster page")
    js("[...document.querySelectorAll('main table tbody tr')].find(r => r.innerText.includes('seed')).querySelector('button').click()")
    wait_for("[...document.querySelectorAll('main table tbody tr')].some(r => r.innerText.includes('blocked'))",
             "the seed blocked")
    shot("blocked")
    seed = js("[...document.querySelectorAll('main table tbody tr')].find(r => r.innerText.includes('blocked')).cells[0].innerText")
    bl = api("GET", "/oapi/v1/blocklist")
    if [e["host"] for e in bl["blocklist"]] != [seed]:
        fail(f"blocklist after the click: {bl}")
    js("[...document.querySelectorAll('main table tbody tr')].find(r => r.innerText.includes('blocked')).querySelector('button').click()")
    wait_for("![...document.querySelectorAll('main table tbody tr')].some(r => r.innerText.includes('blocked'))",
             "the seed unblocked")
    acts = [(a["action"], a["target"], a["result"]) for a in api("GET", "/oapi/v1/audits")]
    for want in (("POST /oapi/v1/blocklist", f"host={seed}", 200),
                 (f"DELETE /oapi/v1/blocklist/{seed}", f"host={seed}", 200)):
        if want not in acts:
            fail(f"no audit record {want}")

    # ---- scopes: the views need cluster:read, the blocklist cluster:admin
    reader = api("POST", "/oapi/v1/tokens", {"name": "jobs-only", "scopes": ["job:read"]})["token"]
    viewer = api("POST", "/oapi/v1/tokens", {"name": "viewer", "scopes": ["cluster:read"]})["token"]
    for path in ("/oapi/v1/hosts", "/oapi/v1/tasks", "/oapi/v1/stats", "/oapi/v1/blocklist"):
        if call("GET", path, None, reader)[0] != 403:
            fail(f"GET {path} with a job:read token was not refused")
        if call("GET", path, None, viewer)[0] != 200:
            fail(f"GET {path} with a cluster:read token was refused")
    if call("POST", "/oapi/v1/blocklist", {"host": seed}, viewer)[0] != 403:
        fail("a cluster:read token changed the blocklist")

    time.sleep(0.2)
    cdp("Runtime.evaluate", expression="1")  # drain queued events
    if errors:
        fail("console errors: " + "; ".join(errors))
    print(f"console_chromium: every page rendered; preheat job {job} SUCCESS; screenshots in {art}")
finally:
    cleanup()
