"""The dashboard end to end in a real Chromium (Debian's, driven by Playwright) against the
live stack. Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests import registry_fixture
from tests.waiting import until

registry = registry_fixture.registry
auth_registry = registry_fixture.auth_registry

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed")

# what the page is asked to paste: 1 MiB and a bit of 100-byte lines (lines stay below the
# terminal's 4095-byte line limit); built the same way in Python and in the page
PASTE_LINES = 10486
PASTE_JS = """n => { const out = [];
  for (let i = 0; i < n; i++) { const head = 'line ' + String(i).padStart(6, '0') + ' ';
    out.push(head + 'x'.repeat(99 - head.length) + '\\n'); }
  return out.join(''); }"""
BUFFER_JS = """() => { if (!window.dwTerminal) return '';
  const b = window.dwTerminal.term.buffer.active; const out = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
  return out.join('\\n'); }"""

# records what live regions (aria-live, role=status, role=alert) say from now on: [[region, text]]
ANNOUNCED_JS = """() => { window.announced = [];
  const region = (n) => { const e = n.nodeType === 1 ? n : n.parentElement;
    return e && e.closest('[aria-live]:not([aria-live=off]), [role=status], [role=alert]'); };
  new MutationObserver((ms) => { for (const m of ms) {
    const r = region(m.target); const t = r && r.textContent.trim();
    if (t) window.announced.push([r.id || r.getAttribute('role') || '', t]); } })
    .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""

# counts the stats samples shown from now on (each one rewrites #stats-now)
STATS_SAMPLES_JS = """() => { window.statsSamples = 0; new MutationObserver(() => window.statsSamples++)
  .observe(document.getElementById('stats-now'), {childList: true}); }"""


def paste_bytes() -> bytes:
    lines = []
    for i in range(PASTE_LINES):
        head = f"line {i:06d} "
        lines.append(head + "x" * (99 - len(head)) + "\n")
    return "".join(lines).encode()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser, api, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.problems = []
    # Chromium logs net::ERR_NETWORK_CHANGED for the requests in flight when a host interface
    # gets an address (any container's veth, here and in a suite running alongside): not the
    # dashboard's doing; its GETs are tried again (common.js), and what a page shows is checked
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" and "net::ERR_NETWORK_CHANGED" not in m.text else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("response", lambda r: pg.problems.append(f"HTTP {r.status} {r.request.method} {r.url}")
          if r.status >= 500 else None)
    pg.base = api.base
    yield pg
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:  # what the page said, in the failure's report
        print(f"page {pg.url}: problems {pg.problems}")
        with contextlib.suppress(Exception):
            shot(pg, f"failed-{request.node.name}")
    context.close()


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(pg) -> None:
    pg.goto(pg.base + "/")
    assert "/login/" in pg.url  # every page needs a user
    pg.fill("input[name=username]", "admin")
    pg.fill("input[name=password]", "test-password")
    pg.click("button[type=submit]")
    pg.wait_for_url(pg.base + "/")


def terminal_text(pg) -> str:
    return pg.evaluate(BUFFER_JS)


def wait_terminal(pg, pattern: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = terminal_text(pg)
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the terminal:\n{terminal_text(pg)[-2000:]}")


def create_from_form(pg, cmd: str, name: str, tty: bool, stdin: bool) -> str:
    pg.goto(pg.base + "/")
    pg.fill("#create-form input[name=cmd]", cmd)
    pg.fill("#create-form input[name=name]", name)
    pg.set_checked("#create-form input[name=tty]", tty)
    pg.set_checked("#create-form input[name=open_stdin]", stdin)
    pg.click("#create-form button[type=submit]")
    pg.wait_for_url(re.compile(r".*/containers/[0-9a-f]{64}/$"))
    return pg.url.rstrip("/").rsplit("/", 1)[1]


def stty_size(pg) -> tuple[int, int]:
    marker = f"size-{time.monotonic_ns()}"
    pg.keyboard.type(f"echo {marker} $(stty size)\n")
    text = wait_terminal(pg, rf"{marker} \d+ \d+")
    rows, cols = re.findall(rf"{marker} (\d+) (\d+)", text)[-1]
    return int(rows), int(cols)


def test_terminal_resize_reload_paste_and_exec(page, api):
    pg = page
    login(pg)
    shot(pg, "01-containers")
    cid = create_from_form(pg, "sh", "e2e-shell", tty=True, stdin=True)
    pg.wait_for_selector("#term-status:has-text('attached')")
    wait_terminal(pg, r"/ # ")
    pg.click("#terminal")
    pg.keyboard.type("echo hello $((6*7))\n")
    wait_terminal(pg, r"(?m)^hello 42$")
    shot(pg, "02-terminal")

    before = stty_size(pg)
    assert before == tuple(pg.evaluate("[dwTerminal.term.rows, dwTerminal.term.cols]"))
    pg.set_viewport_size({"width": 900, "height": 640})
    pg.wait_for_function(f"dwTerminal.term.cols !== {before[1]}")
    after = until(lambda: (size := stty_size(pg)) != before and size)  # the resize reached the pty
    assert after == tuple(pg.evaluate("[dwTerminal.term.rows, dwTerminal.term.cols]"))
    shot(pg, "03-terminal-resized")

    pg.reload()  # reattach: the scrollback comes back
    pg.wait_for_selector("#term-status:has-text('attached')")
    wait_terminal(pg, r"(?m)^hello 42$")
    shot(pg, "04-terminal-after-reload")

    # a 1 MiB paste into cat arrives byte for byte
    pg.click("#terminal")
    pg.keyboard.type("stty -echo; echo ready-$((1+1)); cat > /tmp/f; stty echo; echo pasted-$((40+2))\n")
    wait_terminal(pg, r"ready-2")  # echo is off before the paste
    pg.evaluate(f"dwTerminal.term.paste(({PASTE_JS})({PASTE_LINES}))")
    pg.keyboard.press("Control+D")
    wait_terminal(pg, r"pasted-42", timeout=60)
    eid = api.api("POST", f"/api/containers/{cid}/exec/", json={"cmd": ["sha256sum", "/tmp/f"]}).json()["id"]
    digest = api.api("POST", f"/api/exec/{eid}/start/", json={}).content.split()[0].decode()
    assert digest == hashlib.sha256(paste_bytes()).hexdigest()

    # exec shell button: a second terminal in the running container
    pg.click("#exec-shell")
    pg.wait_for_selector("#exec-status:has-text('attached')")
    pg.click("#exec-terminal")
    pg.keyboard.type("echo exec $((2+3)) in $(hostname)\n")
    pg.wait_for_function("""() => { const b = dwExecTerminal.term.buffer.active; let t = '';
        for (let i = 0; i < b.length; i++) t += b.getLine(i).translateToString(true) + '\\n';
        return /exec 5 in /.test(t); }""")
    shot(pg, "05-exec-shell")
    pg.click("#exec-close")

    pg.click("[data-tab=stats]")
    pg.wait_for_selector("#stats-now:has-text('CPU')")  # a first sample; wait for a second one
    pg.evaluate(STATS_SAMPLES_JS)
    pg.wait_for_function("window.statsSamples >= 1")
    shot(pg, "06-stats")
    pg.click("[data-tab=inspect]")
    assert cid in pg.inner_text("#inspect-json")
    assert not pg.problems, pg.problems


def test_logs_follow_search_stop_and_remove(page, api):
    pg = page
    login(pg)
    script = "i=0; while [ $i -lt 3000 ]; do echo log line $i; i=$((i+1)); done; sleep 1000"
    cid = create_from_form(pg, f"sh -c '{script}'", "e2e-logs", tty=False, stdin=False)
    pg.click("[data-tab=logs]")
    pg.wait_for_selector("#log-count:has-text('3000 lines')")
    assert "log line 2999" in pg.inner_text("#logview")  # following: the end is in view
    pg.fill("#log-search", "line 1234")
    pg.wait_for_selector("#log-count:has-text('1 of 3000 lines')")
    assert pg.inner_text("#logview .row mark") == "line 1234"
    shot(pg, "07-logs-search")
    pg.fill("#log-search", "")
    pg.wait_for_selector("#log-count:text-is('3000 lines')")
    pg.check("#log-stamps")
    pg.wait_for_selector("#logview .row .ts")
    assert re.search(r"\d{4}-\d\d-\d\dT[\d:.]+Z log line", pg.inner_text("#logview"))

    pg.click("#c-actions [data-action=stop]")
    pg.click("#confirm-dialog .confirm-ok")
    pg.wait_for_selector("#c-state:has-text('exited')", timeout=30000)
    assert "Exit code 143" in pg.inner_text("#c-exit")
    shot(pg, "08-stopped")
    pg.click("#c-actions [data-action=remove]")
    pg.click("#confirm-dialog .confirm-ok")
    pg.wait_for_url(pg.base + "/")
    pg.wait_for_selector("#create-form")
    assert pg.locator(f"#containers tr[data-id='{cid}']").count() == 0
    assert api.api("GET", f"/api/containers/{cid}/").status_code == 404
    assert not pg.problems, pg.problems


def test_list_is_live_and_100k_log_lines_stay_smooth(page, api):
    pg = page
    login(pg)
    c = api.create(cmd=["seq", "1", "100000"], name="e2e-seq")  # created behind the page's back
    pg.wait_for_selector(f"#containers tr[data-id='{c['id']}'] .badge:has-text('created')")
    api.api("POST", f"/api/containers/{c['id']}/start/")
    pg.wait_for_selector(f"#containers tr[data-id='{c['id']}'] .badge:has-text('exited')", timeout=30000)

    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.click("[data-tab=logs]")
    t0 = time.monotonic()
    pg.wait_for_selector("#log-count:has-text('100000 lines')", timeout=30000)
    loaded = time.monotonic() - t0
    rows = pg.locator("#logview .row").count()
    assert rows < 200, rows  # virtualised: only what is in view is in the DOM
    took_ms = pg.evaluate("""() => new Promise(done => {
        const box = document.getElementById('logview'); const t0 = performance.now();
        box.scrollTop = box.scrollHeight / 2;
        requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0))); })""")
    assert "50000" in pg.inner_text("#logview")
    assert took_ms < 200, took_ms
    assert loaded < 15, loaded
    assert not pg.evaluate("document.getElementById('log-follow').checked")  # scrolled up: stays put
    shot(pg, "09-logs-100k")
    assert not pg.problems, pg.problems


def test_pages_at_phone_width_and_other_pages(page, api):
    pg = page
    login(pg)
    c = api.run(cmd=["sh", "-c", "echo phone; sleep 1000"], name="e2e-phone", tty=True)
    pg.set_viewport_size({"width": 375, "height": 740})
    for path, name in (("/", "10-phone-containers"), (f"/containers/{c['id']}/", "11-phone-container"),
                       ("/images/", "12-phone-images"), ("/events/", "13-phone-events")):
        pg.goto(pg.base + path)
        pg.wait_for_load_state("networkidle")
        if "container" in name and "containers" not in name:
            wait_terminal(pg, "phone")
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (path, overflow)
        shot(pg, name)
    pg.set_viewport_size({"width": 1280, "height": 800})
    pg.goto(pg.base + "/images/")
    assert "busybox:latest" in pg.inner_text("#images")
    shot(pg, "14-images")
    pg.goto(pg.base + "/events/")
    assert pg.locator("#events tbody tr").count() > 0
    shot(pg, "15-events")
    pg.goto(pg.base + "/")
    pg.click("form.logout button")
    pg.wait_for_url(re.compile(r".*/login/$"))
    pg.goto(pg.base + "/images/")
    assert "/login/" in pg.url
    assert not pg.problems, pg.problems


def test_images_page_pulls_from_a_registry(page, api, registry, tmp_path):
    # an image of its own (pulling busybox back would give busybox's id a second tag)
    c = api.run(cmd=["sh", "-c", "echo dash > /dash"])
    api.wait(c["id"])
    img = api.api("POST", f"/api/containers/{c['id']}/commit/", json={"repo": "dash-src"}).json()
    archive = tmp_path / "dash-oci.tar"
    archive.write_bytes(api.api("GET", "/api/images/dash-src/save/?format=oci").content)
    registry.skopeo("copy", "--dest-tls-verify=false", f"oci-archive:{archive}",
                    f"docker://{registry.addr}/dash/pulled:1")
    pg = page
    login(pg)
    pg.goto(pg.base + "/images/")
    pg.fill("#pull-form input[name=image]", f"{registry.addr}/dash/pulled:nope")
    pg.click("#pull-form button[type=submit]")
    pg.wait_for_function("document.getElementById('pull-status').textContent.startsWith('failed')")
    assert "nope" in pg.inner_text("#pull-status")
    assert_invalid_and_described(pg, "#pull-form input[name=image]", "nope")  # the field that failed
    pg.fill("#pull-form input[name=image]", f"{registry.addr}/dash/pulled:1")
    pg.click("#pull-form button[type=submit]")
    pg.wait_for_function("document.getElementById('pull-status').textContent === 'pulled'")
    assert pg.get_attribute("#pull-form input[name=image]", "aria-invalid") is None
    assert "Status: " in pg.inner_text("#pull-log")
    pg.wait_for_function(f"document.getElementById('images').innerText.includes('{registry.addr}/dash/pulled:1')")
    shot(pg, "16-images-pulled")
    assert [p for p in pg.problems if "404" not in p] == [], pg.problems
    api.api("DELETE", f"/api/containers/{c['id']}/")
    for ref in (f"{registry.addr}/dash/pulled:1", "dash-src"):
        assert api.api("DELETE", f"/api/images/{ref}/").status_code == 200
    assert api.api("GET", f"/api/images/{img['id']}/").status_code == 404


def test_artifacts_are_ignored_by_git():
    ignore = Path(__file__).resolve().parents[1] / ".gitignore"
    assert "/test-artifacts/" in ignore.read_text()
    assert os.path.isdir(ARTIFACTS)


# ---- issue 15 --------------------------------------------------------------------------------
def exec_output(api, cid: str, cmd: list[str]) -> bytes:
    eid = api.api("POST", f"/api/containers/{cid}/exec/", json={"cmd": cmd}).json()["id"]
    return api.api("POST", f"/api/exec/{eid}/start/", json={}).content


def file_in(api, cid: str, path: str) -> bytes:
    return exec_output(api, cid, ["sh", "-c", f"cat {path} 2>/dev/null; true"])


def test_opening_and_reloading_a_container_page_types_nothing_into_it(page, api):
    """Replayed scrollback asks the terminal for its cursor position (ESC[6n, as busybox's line
    editing does at each prompt); the page must not type the answers into the container (nor can
    the output forge the page's end-of-history marker). A live query is still answered."""
    script = ("printf '\\033[6n\\033]7707;l\\007\\033[6n'; echo ready; cat > /tmp/y; "
              "printf '\\033[6n'; echo second; cat > /tmp/z; sleep 1000")
    c = api.run(cmd=["sh", "-c", script], tty=True, open_stdin=True, name="e2e-replay")
    until(lambda: b"ready" in api.logs(c["id"]))  # the queries are history now
    pg = page
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    wait_terminal(pg, "ready")
    pg.click("#terminal")
    pg.keyboard.type("typed-1\n")
    assert until(lambda: b"typed-1" in (got := file_in(api, c["id"], "/tmp/y")) and got) == b"typed-1\n"

    pg.reload()
    wait_terminal(pg, "typed-1")
    pg.click("#terminal")
    pg.keyboard.type("typed-2\n")
    got = until(lambda: b"typed-2" in (got := file_in(api, c["id"], "/tmp/y")) and got)
    assert got == b"typed-1\ntyped-2\n"

    pg.keyboard.press("Control+D")  # cat ends; the shell asks live: that answer goes in
    wait_terminal(pg, "second")
    pg.keyboard.type("typed-3\n")
    live = until(lambda: b"typed-3" in (got := file_in(api, c["id"], "/tmp/z")) and got)
    assert re.fullmatch(rb"\x1b\[\d+;\d+Rtyped-3\n", live), live
    assert not pg.problems, pg.problems


def rootfs_tar(path: Path) -> None:
    """A minimal rootfs tar for import: one file."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        data = b"imported through the browser\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def wait_status(pg, sel: str, kind: str) -> str:
    """The text of status `sel` once its work ended (no "…" left), which must be of `kind`."""
    pg.wait_for_function(f"(t => t && !t.endsWith('…'))(document.querySelector('{sel}').textContent)",
                         timeout=60000)
    text = pg.inner_text(sel)
    assert kind in pg.get_attribute(sel, "class").split(), (sel, text)
    return text


def http_problems(pg) -> list[str]:
    """Console problems other than the browser's own log line of an HTTP 4xx answer."""
    return [p for p in pg.problems if "the server responded with a status of 4" not in p]


def test_a_get_that_meets_a_network_error_is_tried_again(page, api):
    """A GET that fails in the network (as Chromium fails requests in flight when a container's
    veth appears on the host) is tried again; a POST is not repeated (it may have run)."""
    pg = page
    login(pg)
    failed: list[str] = []

    def fail_once(route):
        if failed:
            route.continue_()
        else:
            failed.append(route.request.url)
            route.abort("failed")

    pg.route("**/api/info/", fail_once)
    r = pg.evaluate("dw.api('GET', '/api/info/')")
    assert r["ok"] and r["data"]["worker"] and len(failed) == 1, r
    posted: list[str] = []
    pg.route("**/api/containers/", lambda route: (posted.append(route.request.method), route.abort("failed")))
    r = pg.evaluate("dw.api('POST', '/api/containers/', {image: 'busybox'})")
    assert r["status"] == 0 and "network error" in r["data"]["message"] and posted == ["POST"], r
    pg.problems.clear()  # the browser's log lines of the two aborted requests


# The first attach socket goes to a port the browser refuses: it never opens (code 1006), as
# a connection that Chromium fails in flight when a host interface changes.
FIRST_ATTACH_FAILS = """(() => {
  const Real = window.WebSocket;
  window.attachTries = 0;
  window.WebSocket = function (url, protocols) {
    if (url.includes("/attach/") && window.attachTries++ === 0) return new Real("ws://127.0.0.1:9/");
    return new Real(url, protocols);
  };
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket.prototype = Real.prototype;
})();"""


def test_a_terminal_socket_that_never_opened_is_tried_again(page, api):
    """The terminal's attach socket that fails before it opens is opened again (a full suite
    saw the terminal stay "disconnected" when another run's container came up meanwhile)."""
    c = api.run(cmd=["sh"], name="e2e-retry", tty=True, open_stdin=True)
    pg = page
    pg.add_init_script(FIRST_ATTACH_FAILS)
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.wait_for_selector("#term-status:has-text('attached')")
    # 2: the refused one, then one that opened (more when a host interface changed meanwhile)
    assert pg.evaluate("window.attachTries") >= 2
    pg.problems.clear()  # the browser's log line of the refused connection


def test_images_page_load_and_import_uploads_succeed_and_fail_as_errors(page, api, tmp_path):
    c = api.run(cmd=["sh", "-c", "echo up > /up"])
    api.wait(c["id"])
    img = api.api("POST", f"/api/containers/{c['id']}/commit/", json={"repo": "dash-load"}).json()
    saved = tmp_path / "dash-load.tar"
    saved.write_bytes(api.api("GET", "/api/images/dash-load/save/").content)
    api.api("DELETE", f"/api/containers/{c['id']}/")
    assert api.api("DELETE", "/api/images/dash-load/").status_code == 200
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not an archive\n" * 100)
    rootfs = tmp_path / "rootfs.tar"
    rootfs_tar(rootfs)

    pg = page
    login(pg)
    pg.goto(pg.base + "/images/")
    pg.set_input_files("#load-form input[name=file]", str(saved))
    pg.click("#load-form button[type=submit]")
    assert "dash-load:latest" in wait_status(pg, "#load-status", "ok")
    pg.wait_for_function("document.getElementById('images').innerText.includes('dash-load:latest')")
    assert api.api("GET", "/api/images/dash-load/").json()["id"] == img["id"]

    pg.set_input_files("#load-form input[name=file]", str(junk))
    pg.click("#load-form button[type=submit]")
    text = wait_status(pg, "#load-status", "error")
    assert text.startswith("failed: ") and "media type" not in text, text
    assert pg.is_hidden("#load-progress")  # not a full bar that reads like success
    assert pg.evaluate("getComputedStyle(document.getElementById('load-status')).color") == "rgb(201, 60, 55)"
    shot(pg, "17-images-load-failed")

    pg.fill("#import-form input[name=repo]", "dash-imported:1")
    pg.set_input_files("#import-form input[name=file]", str(rootfs))
    pg.click("#import-form button[type=submit]")
    assert "dash-imported:1" in wait_status(pg, "#import-status", "ok")
    pg.set_input_files("#import-form input[name=file]", str(junk))
    pg.click("#import-form button[type=submit]")
    text = wait_status(pg, "#import-status", "error")
    assert text.startswith("failed: ") and "media type" not in text, text
    assert not http_problems(pg), pg.problems
    for ref in ("dash-load", "dash-imported:1"):
        assert api.api("DELETE", f"/api/images/{ref}/").status_code == 200


def test_create_with_a_missing_image_shows_the_servers_message(page, api):
    pg = page
    login(pg)
    pg.fill("#create-form input[name=image]", "no-such-image-e2e:1")
    pg.click("#create-form button[type=submit]")
    pg.wait_for_function("document.getElementById('create-form').innerText.includes('No such image')")
    assert "No such image: no-such-image-e2e:1" in pg.inner_text("#create-form")
    assert "not available" not in pg.inner_text("#create-form")
    shot(pg, "18-create-missing-image")


def dialog_answer(pg, text: str) -> None:
    pg.wait_for_selector("#confirm-dialog[open]")
    pg.fill("#confirm-dialog .confirm-input", text)
    pg.click("#confirm-dialog .confirm-ok")


def test_registry_references_commit_tag_login_push_and_untag(page, api, auth_registry):
    """`host:port/repo:tag` is split at the last colon after the last slash (Docker's
    reference grammar), in commit and tag; push and registry login from the images page."""
    c = api.run(cmd=["sh", "-c", "echo ux > /ux"], name="e2e-ux")
    api.wait(c["id"])
    pg = page
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.click("[data-tab=fs]")
    pg.click("#fs-commit")
    dialog_answer(pg, "127.0.0.1:5000/ux/c:3")
    pg.wait_for_function("document.getElementById('fs-output').textContent.startsWith('Committed')")
    committed = api.api("GET", "/api/images/127.0.0.1:5000/ux/c:3/")
    assert committed.status_code == 200, committed.text

    pushed = f"{auth_registry.addr}/ux/img:2"
    pg.goto(pg.base + "/images/")
    pg.click("tr:has([data-tag='127.0.0.1:5000/ux/c:3']) button:text-is('Tag')")
    dialog_answer(pg, pushed)
    chip = f"[data-tag='{pushed}']"
    pg.wait_for_selector(chip)
    assert api.api("GET", f"/api/images/{pushed}/").json()["id"] == committed.json()["id"]

    pg.click(f"{chip} button:text-is('Push')")  # not logged in: the registry refuses
    assert wait_status(pg, "#registry-status", "error").startswith("failed: push")
    pg.fill("#login-form input[name=serveraddress]", auth_registry.addr)
    pg.fill("#login-form input[name=username]", "alice")
    pg.fill("#login-form input[name=password]", "wrong")
    pg.click("#login-form button[type=submit]")
    assert wait_status(pg, "#registry-status", "error").startswith("failed: login")
    pg.fill("#login-form input[name=password]", "s3cret")
    pg.click("#login-form button[type=submit]")
    assert wait_status(pg, "#registry-status", "ok").startswith("logged in")
    pg.click(f"{chip} button:text-is('Push')")
    assert wait_status(pg, "#registry-status", "ok") == f"pushed {pushed}"
    auth_registry.skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", f"docker://{pushed}")
    shot(pg, "19-images-pushed")

    pg.click("[data-tag='127.0.0.1:5000/ux/c:3'] button:text-is('Untag')")  # one tag, not the image
    pg.click("#confirm-dialog .confirm-ok")
    pg.wait_for_selector("[data-tag='127.0.0.1:5000/ux/c:3']", state="detached")
    assert api.api("GET", f"/api/images/{pushed}/").status_code == 200
    assert not http_problems(pg), pg.problems
    api.api("DELETE", f"/api/containers/{c['id']}/")
    assert api.api("DELETE", f"/api/images/{pushed}/").status_code == 200


SLOW_STOP = "trap 'sleep 3; exit 7' TERM; sleep 1000 & wait"  # a stop that takes 3 s, exit code 7


def test_list_actions_give_feedback_and_live_updates_patch_rows(page, api):
    a = api.run(cmd=["sh", "-c", SLOW_STOP], name="e2e-slow-stop")
    b = api.run(cmd=["sleep", "1000"], name="e2e-keep", ports=["127.0.0.1:0:80"])
    pg = page
    login(pg)
    row_a, row_b = f"#containers tr[data-id='{a['id']}']", f"#containers tr[data-id='{b['id']}']"
    up = pg.inner_text(f"{row_a} td.status")
    assert re.fullmatch(r"Up (Less than a second|\d+ seconds?|About a minute)", up), up
    port = api.inspect(b["id"])["network_settings"]["ports"]["80/tcp"][0]["host_port"]
    assert pg.get_attribute(f"{row_b} td.ports a", "href") == f"http://127.0.0.1:{port}/"
    assert pg.inner_text(f"{row_b} td.ip").startswith(api.inspect(b["id"])["network_settings"]["ip"][:4])
    pg.evaluate(f"window.rowA = document.querySelector(\"{row_a}\")")
    pg.check(f"{row_b} input.select")
    pg.focus(f"{row_b} input.select")

    # a container made behind the page's back: a row is inserted, focus and selection stay
    c = api.create(cmd=["true"], name="e2e-behind")
    pg.wait_for_selector(f"#containers tr[data-id='{c['id']}']")
    assert pg.evaluate(f"document.activeElement === document.querySelector(\"{row_b} input.select\")")
    assert pg.is_checked(f"{row_b} input.select")
    assert pg.inner_text("#bulk-count") == "1 selected"

    pg.click(f"{row_a} [data-action=stop]")
    pg.click("#confirm-dialog .confirm-ok")
    # at once, not when the stop ends (it takes 3 s and more)
    pg.wait_for_selector(f"{row_a} .badge:text-is('stopping…')", timeout=2500)
    assert pg.inner_text(f"{row_a} td.status") == "stopping…"
    for action in ("start", "stop", "restart", "kill", "remove"):
        assert pg.is_disabled(f"{row_a} [data-action={action}]"), action
    shot(pg, "20-list-stopping")
    pg.wait_for_selector(f"{row_a} .badge:text-is('exited')", timeout=30000)
    exited = pg.inner_text(f"{row_a} td.status")
    assert re.fullmatch(r"Exited \(7\) (Less than a second|\d+ seconds?) ago", exited), exited
    assert pg.is_enabled(f"{row_a} [data-action=start]") and pg.is_disabled(f"{row_a} [data-action=stop]")
    assert pg.evaluate(f"window.rowA === document.querySelector(\"{row_a}\")")  # patched, not redrawn
    assert pg.is_checked(f"{row_b} input.select")

    # a failure is an error (role=alert, not grey text), with the server's message
    pg.evaluate("dw.containerAction('no-such-container-e2e', 'stop')")
    pg.wait_for_selector(".toast.error[role=alert]")
    assert "stop failed: No such container: no-such-container-e2e" in pg.inner_text(".toast.error")

    # bulk: remove both selected
    pg.check(f"{row_a} input.select")
    assert pg.inner_text("#bulk-count") == "2 selected"
    pg.click("#bulk [data-bulk=remove]")
    pg.click("#confirm-dialog .confirm-ok")
    pg.wait_for_selector(row_a, state="detached", timeout=30000)
    pg.wait_for_selector(row_b, state="detached", timeout=30000)
    for x in (a, b):
        assert api.api("GET", f"/api/containers/{x['id']}/").status_code == 404
    assert not http_problems(pg), pg.problems


def test_create_form_errors_are_per_field_and_every_option_is_sent(page, api):
    pg = page
    login(pg)
    form = "#create-form"
    pg.fill(f"{form} input[name=memory]", "lots")  # checked in the page
    pg.click(f"{form} button[type=submit]")
    pg.wait_for_selector(f"{form} input[name=memory][aria-invalid=true]")
    assert "64m" in pg.inner_text("#err-memory")
    assert pg.evaluate("document.activeElement.name") == "memory"
    assert pg.get_attribute(f"{form} input[name=memory]", "aria-describedby") == "err-memory"
    assert "Memory" in pg.inner_text("#create-error")  # role=alert: announced
    pg.fill(f"{form} input[name=memory]", "")
    assert pg.get_attribute(f"{form} input[name=memory]", "aria-invalid") is None  # edited: cleared

    pg.fill(f"{form} input[name=hostname]", "h" * 300)  # checked by the server
    pg.click(f"{form} button[type=submit]")
    pg.wait_for_selector(f"{form} input[name=hostname][aria-invalid=true]")
    assert "253" in pg.inner_text("#err-hostname")
    assert "Hostname" in pg.inner_text("#create-error")
    shot(pg, "21-create-field-error")
    pg.fill(f"{form} input[name=hostname]", "")

    pg.fill(f"{form} input[name=image]", "no-such-image-e2e:2")
    pg.click(f"{form} button[type=submit]")
    pg.wait_for_selector(f"{form} input[name=image][aria-invalid=true]")
    assert "No such image: no-such-image-e2e:2" in pg.inner_text("#err-image")

    pg.fill(f"{form} input[name=image]", "busybox")
    pg.fill(f"{form} input[name=entrypoint]", "sh -c")
    pg.fill(f"{form} input[name=cmd]", "'echo opts; sleep 1000'")
    pg.fill(f"{form} input[name=name]", "e2e-opts")
    pg.fill(f"{form} input[name=cpus]", "0.5")
    pg.fill(f"{form} input[name=pids_limit]", "64")
    pg.select_option(f"{form} select[name=network_mode]", "none")
    pg.fill(f"{form} textarea[name=labels]", "team=ux\ntier=test")
    pg.check(f"{form} input[name=auto_remove]")
    pg.click(f"{form} button[type=submit]")
    pg.wait_for_url(re.compile(r".*/containers/[0-9a-f]{64}/$"))
    cid = pg.url.rstrip("/").rsplit("/", 1)[1]
    cfg = api.inspect(cid)["config"]
    assert cfg["entrypoint"] == ["sh", "-c"] and cfg["cmd"] == ["echo opts; sleep 1000"]
    assert (cfg["nano_cpus"], cfg["pids_limit"], cfg["network_mode"], cfg["auto_remove"]) == (
        500_000_000, 64, "none", True)
    assert cfg["labels"] == {"team": "ux", "tier": "test"}
    pg.wait_for_selector("#c-facts dd")
    assert "sh -c 'echo opts; sleep 1000'" in pg.inner_text("#c-facts"), pg.problems  # quoting kept
    assert not http_problems(pg), pg.problems


# axe-core (npm devDependency; DOCKERWEB_AXE_JS points at another copy of axe.min.js)
AXE_JS = os.environ.get("DOCKERWEB_AXE_JS") or str(
    Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js")
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(pg) -> list[str]:
    """WCAG 2.1 A/AA violations axe-core finds in the page as it is now."""
    if not pg.evaluate("typeof window.axe !== 'undefined'"):
        pg.add_script_tag(path=AXE_JS)
    found = pg.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                        ".then(r => r.violations.map(v => v.id + ': ' + v.help + ' @ ' +"
                        " v.nodes.map(n => n.target.join(' ')).slice(0, 4).join(' | ')))", WCAG_AA)
    return found


@pytest.mark.skipif(not os.path.exists(AXE_JS), reason="no axe-core (npm ci, or DOCKERWEB_AXE_JS)")
def test_every_page_has_no_wcag_aa_violations(page, api):
    c = api.run(cmd=["sh", "-c", "echo axe; echo err >&2; sleep 1000"], name="e2e-axe", tty=True,
                open_stdin=True, ports=["127.0.0.1:0:80"])
    pg = page
    pg.goto(pg.base + "/login/")
    assert axe_violations(pg) == [], "login"
    login(pg)
    pg.wait_for_selector(f"#containers tr[data-id='{c['id']}']")
    assert axe_violations(pg) == [], "containers"
    pg.fill("#create-form input[name=memory]", "lots")  # a form showing an error
    pg.click("#create-form button[type=submit]")
    pg.wait_for_selector("#create-form [aria-invalid=true]")
    assert axe_violations(pg) == [], "containers with a field error"
    pg.goto(pg.base + f"/containers/{c['id']}/")
    wait_terminal(pg, "axe")
    assert axe_violations(pg) == [], "container: terminal"
    for tab in ("logs", "stats", "inspect", "fs"):
        pg.click(f"[data-tab={tab}]")
        pg.wait_for_selector(f"#tab-{tab}:not([hidden])")
        assert axe_violations(pg) == [], f"container: {tab}"
    for path in ("/images/", "/volumes/", "/networks/", "/events/", "/audit/", "/hosts/",
                 "/no-such-page/"):
        pg.goto(pg.base + path)
        pg.wait_for_load_state("networkidle")
        assert axe_violations(pg) == [], path
    assert not http_problems(pg), pg.problems


def test_keyboard_skip_link_tabs_and_terminal_release(page, api):
    c = api.run(cmd=["sh"], name="e2e-keys", tty=True, open_stdin=True)
    pg = page
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.wait_for_selector("#term-status:has-text('attached')")
    pg.keyboard.press("Tab")  # the first stop is the skip link
    assert pg.evaluate("document.activeElement.className") == "skip-link"
    pg.keyboard.press("Enter")
    assert pg.evaluate("location.hash") == "#main"

    # tabs: one tab stop, arrows move and select, Home/End
    pg.focus("#tabbtn-terminal")
    stops = pg.evaluate("[...document.querySelectorAll('[role=tab]')].map(t => t.tabIndex).join()")
    assert stops == "0,-1,-1,-1,-1", stops
    pg.keyboard.press("ArrowRight")
    assert pg.evaluate("document.activeElement.id") == "tabbtn-logs"
    assert pg.get_attribute("#tabbtn-logs", "aria-selected") == "true" and pg.is_visible("#tab-logs")
    pg.keyboard.press("End")
    assert pg.evaluate("document.activeElement.id") == "tabbtn-fs" and pg.is_visible("#tab-fs")
    pg.keyboard.press("ArrowRight")  # wraps
    assert pg.evaluate("document.activeElement.id") == "tabbtn-terminal" and pg.is_visible("#tab-terminal")
    assert pg.get_attribute("#tab-terminal", "role") == "tabpanel"

    # the terminal keeps every key (Tab too) until Shift+Esc, which moves focus out of it
    pg.click("#terminal")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.getElementById('terminal').contains(document.activeElement)")
    pg.keyboard.press("Shift+Escape")
    assert not pg.evaluate("document.getElementById('terminal').contains(document.activeElement)")
    assert pg.evaluate("document.activeElement.tagName") in ("BUTTON", "A", "INPUT")
    assert "Shift" in pg.inner_text("#term-hint") and "Esc" in pg.inner_text("#term-hint")
    assert not pg.problems, pg.problems


def wait_log_count(pg, n: int) -> None:
    """Wait until the logs tab counts `n` lines; else fail with what the tab shows."""
    try:
        pg.wait_for_selector(f"#log-count:text-is('{n} lines')", timeout=30000)
    except playwright.TimeoutError:
        raise AssertionError(
            f"not {n} lines: count {pg.inner_text('#log-count')!r}, state "
            f"{pg.inner_text('#log-state')!r}, shown {pg.inner_text('#logview')[-500:]!r}, "
            f"problems {pg.problems}") from None


def test_logs_stream_filter_tail_and_since(page, api):
    script = "for i in 1 2 3 4 5; do echo out-$i; echo err-$i >&2; done; sleep 1000"
    c = api.run(cmd=["sh", "-c", script], name="e2e-logfilter")
    until(lambda: b"err-5" in api.logs(c["id"]))
    pg = page
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.click("[data-tab=logs]")
    wait_log_count(pg, 10)
    assert pg.inner_text("#log-state") == "live"
    pg.select_option("#log-streams", "stderr")
    wait_log_count(pg, 5)
    assert "out-" not in pg.inner_text("#logview") and "err-5" in pg.inner_text("#logview")
    pg.fill("#log-tail", "2")
    pg.locator("#log-tail").blur()  # a field's change comes when it is left
    wait_log_count(pg, 2)
    assert pg.inner_text("#logview").split() == ["err-4", "err-5"]
    assert "stderr=1" in pg.get_attribute("#log-download", "href")
    with pg.expect_download() as got:  # the download follows the filters, with progress
        pg.get_by_role("link", name="Download").click()
    lines = Path(got.value.path()).read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["err-4", "err-5"], lines
    assert wait_status(pg, "#log-download-status", "ok").startswith("downloaded ")
    pg.fill("#log-tail", "")
    pg.locator("#log-tail").blur()
    pg.select_option("#log-streams", "both")
    pg.fill("#log-since", "2099-01-01T00:00:00")  # nothing is that new
    pg.locator("#log-since").blur()
    wait_log_count(pg, 0)
    api.api("POST", f"/api/containers/{c['id']}/kill/")
    pg.wait_for_selector("#log-state:has-text('ended')", timeout=30000)  # follow state is the truth
    assert not pg.problems, pg.problems


def test_unknown_pages_are_inside_the_layout(page, api):
    pg = page
    login(pg)
    r = pg.goto(pg.base + "/no-such-page/")
    assert r.status == 404
    assert pg.locator("nav a:text-is('Containers')").count() == 1 and pg.locator(".skip-link").count() == 1
    assert "/no-such-page/" in pg.inner_text("main")
    r = pg.goto(pg.base + "/containers/no-such-container-e2e/")
    assert r.status == 404 and "No such container" in pg.inner_text("main")
    r = api.api("GET", "/api/no-such-endpoint/")
    assert r.status_code == 404 and r.json() == {"message": "not found"}
    shot(pg, "22-not-found")


def test_phone_width_actions_reachable_and_touch_targets(page, api):
    c = api.run(cmd=["sh", "-c", "echo phone; sleep 1000"], name="e2e-phone390", tty=True,
                ports=["127.0.0.1:0:80"])
    pg = page
    pg.set_viewport_size({"width": 390, "height": 844})
    login(pg)
    # (tabs are in a strip that scrolls sideways: only their height counts)
    targets = ("button, a.button, input:not([type=checkbox]):not([type=hidden]), select, textarea, "
               "nav a, #containers a, summary")
    small_js = """sel => [...document.querySelectorAll(sel)]
      .filter(e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden')
      .map(e => [e, e.getBoundingClientRect()])
      .filter(([e, r]) => r.height < 40 || (r.right > innerWidth + 1 && !e.closest('.tabs')))
      .map(([e, r]) => (e.id || e.name || e.textContent.trim().slice(0, 20)) + ' ' +
           Math.round(r.width) + 'x' + Math.round(r.height) + ' right ' + Math.round(r.right))"""
    pages = ["/", f"/containers/{c['id']}/", "/images/", "/events/", "/volumes/", "/networks/", "/hosts/",
             "/audit/", "/no-such-page/"]
    for path in pages:
        pg.goto(pg.base + path)
        pg.wait_for_load_state("networkidle")
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (path, overflow)
        assert pg.evaluate(small_js, targets) == [], path
        shot(pg, "23-phone390" + path.replace("/", "-")[:40])
    pg.goto(pg.base + f"/containers/{c['id']}/")
    for tab in ("logs", "stats", "inspect", "fs"):  # every tab's controls too
        pg.click(f"[data-tab={tab}]")
        if tab == "stats":
            pg.click("#stats-table-box summary")
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (tab, overflow)
        assert pg.evaluate(small_js, targets) == [], tab
    pg.goto(pg.base + "/")
    row = f"#containers tr[data-id='{c['id']}']"
    for action in ("stop", "restart", "kill", "remove"):  # every action in reach, no sideways scroll
        box = pg.locator(f"{row} [data-action={action}]").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (action, box)
    card, tick = pg.locator(row).bounding_box(), pg.locator(f"{row} input.select").bounding_box()
    assert card["x"] <= tick["x"] and tick["x"] + tick["width"] <= card["x"] + card["width"], (card, tick)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.click("[data-tab=fs]")  # the last tab: scrolled into view
    box = pg.locator("#tabbtn-fs").bounding_box()
    assert box["x"] + box["width"] <= 391, box
    assert not http_problems(pg), pg.problems  # (the browser logs /no-such-page/'s 404)


def test_worker_calls_answer_while_a_page_is_open(page, api):
    """With a dashboard page open (its /ws/events/ consumer receives channel-layer hints), each
    worker call gets its answer: the reply channel once shared channels_redis's process-local
    receive machinery with those consumers, and replies were lost (503 after 30 s)."""
    c = api.run(cmd=["sleep", "1000"], name="e2e-rpc")
    pg = page
    login(pg)
    row = f"#containers tr[data-id='{c['id']}']"
    pg.wait_for_selector(f"{row} .badge:text-is('running')")
    assert api.api("POST", f"/api/containers/{c['id']}/kill/").status_code == 200
    pg.wait_for_selector(f"{row} .badge:text-is('exited')", timeout=30000)
    for _ in range(4):  # each is answered at once: 409, the container does not run
        t0 = time.monotonic()
        r = api.api("POST", f"/api/containers/{c['id']}/kill/", timeout=25)
        assert r.status_code == 409 and time.monotonic() - t0 < 10, (r.status_code, r.text)
    assert not pg.problems, pg.problems


def test_hosts_page_lists_this_host_and_staff_drain_and_resume_it(page, api):
    """Issue 16's Hosts page: the session's host is listed up with its figures; Drain and
    Resume go through the API and the page shows the result."""
    pg = page
    login(pg)
    pg.goto(pg.base + "/hosts/")
    row = pg.wait_for_selector("#hosts tbody tr[data-host]")
    name = row.get_attribute("data-host")
    assert "up" in row.inner_text()
    try:
        pg.click(f"#hosts tr[data-host='{name}'] button[data-drain=true]")
        pg.wait_for_selector(f"#hosts tr[data-host='{name}'] button[data-drain=false]")
        assert "draining" in pg.inner_text(f"#hosts tr[data-host='{name}']")
        assert api.api("GET", f"/api/hosts/{name}/").json()["draining"] is True
        pg.click(f"#hosts tr[data-host='{name}'] button[data-drain=false]")
        pg.wait_for_selector(f"#hosts tr[data-host='{name}'] button[data-drain=true]")
    finally:
        api.api("POST", f"/api/hosts/{name}/drain/", json={"draining": False})
    assert api.api("GET", f"/api/hosts/{name}/").json()["draining"] is False


def test_volumes_and_networks_pages_create_use_and_remove(page, api):
    """Issue 14 in the browser: a volume and a user network made on their pages, a container
    created on the network with the volume from the containers page, then both removed."""
    pg = page
    login(pg)
    pg.goto(pg.base + "/volumes/")
    pg.fill("#volume-form input[name=name]", "e2e-vol")
    pg.click("#volume-form button[type=submit]")
    pg.wait_for_selector("#volumes tr[data-name='e2e-vol']")
    pg.goto(pg.base + "/networks/")
    pg.fill("#network-form input[name=name]", "e2e-net")
    pg.click("#network-form button[type=submit]")
    pg.wait_for_selector("#networks tr[data-name='e2e-net']")
    pg.goto(pg.base + "/")
    pg.fill("#create-form input[name=cmd]", "sleep 1000")
    pg.fill("#create-form input[name=name]", "e2e-netvol")
    pg.fill("#create-form input[name=volumes]", "e2e-vol:/data")
    pg.select_option("#create-form select[name=network_mode]", "e2e-net")
    pg.click("#create-form button[type=submit]")
    # the form creates, starts, then opens the container's page: wait for that page (going
    # elsewhere before would race the form's own navigation, which a slow start lets win)
    pg.wait_for_url(re.compile(r".*/containers/[0-9a-f]{64}/$"))
    c = api.inspect(pg.url.rstrip("/").rsplit("/", 1)[1])
    assert c["name"] == "e2e-netvol"
    assert c["config"]["network_mode"] == "e2e-net"
    assert "e2e-vol:/data" in c["config"]["binds"]
    pg.goto(pg.base + "/volumes/")
    assert c["id"][:12] in pg.inner_text("#volumes tr[data-name='e2e-vol']")
    pg.on("dialog", lambda d: d.accept())
    pg.evaluate(ANNOUNCED_JS)
    pg.click("#volumes tr[data-name='e2e-vol'] button[data-remove]")  # in use: an error, kept
    pg.wait_for_selector(".toast.error")
    assert "announcer: removing e2e-vol…" in announced(pg, "e2e-vol"), pg.evaluate("window.announced")
    assert api.api("DELETE", f"/api/containers/{c['id']}/?force=1").status_code == 204
    pg.goto(pg.base + "/volumes/")
    pg.click("#volumes tr[data-name='e2e-vol'] button[data-remove]")
    pg.wait_for_selector("#volumes tr[data-name='e2e-vol']", state="detached")
    pg.goto(pg.base + "/networks/")
    pg.click("#networks tr[data-name='e2e-net'] button[data-remove]")
    pg.wait_for_selector("#networks tr[data-name='e2e-net']", state="detached")
    assert not http_problems(pg), pg.problems


def test_stats_tab_shows_the_kept_hour_network_and_block_io_with_a_table(page, api):
    """Issue 15's stats: a page opened (or reloaded) later shows the readings the worker kept
    (every 2 s in the tests), then live ones; network and block I/O charts next to CPU and
    memory; each chart's canvas is named by its figures in words, and a per-minute table
    says the same in text."""
    import requests

    c = api.run(cmd=["sh", "-c", "mkdir -p /www; head -c 200000 /dev/zero > /www/big; "
                     "exec httpd -f -p 8080 -h /www"], name="e2e-stats", ports=["127.0.0.1:0:8080"])
    port = api.inspect(c["id"])["network_settings"]["ports"]["8080/tcp"][0]["host_port"]
    # some traffic (httpd may not listen yet: start answers once the container runs)
    until(lambda: requests.get(f"http://127.0.0.1:{port}/big", timeout=5).ok,
          ignore=(requests.ConnectionError,))
    until(lambda: len(api.api("GET", f"/api/containers/{c['id']}/stats/history/").json()["samples"]) >= 4,
          timeout=30)
    pg = page
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    opened = pg.evaluate("Date.now()")
    pg.click("[data-tab=stats]")
    pg.wait_for_function("window.dwStats && dwStats.points.length >= 4")
    assert pg.evaluate("dwStats.points[0].t") < opened - 3000  # from the kept history, not live
    pg.wait_for_selector("#stats-now:has-text('network received')")
    pg.wait_for_function(f"dwStats.last().t > {opened}")  # then the live readings join them
    assert "block I/O read" in pg.inner_text("#stats-now")
    for chart, words in (("cpu", "CPU over the last 60 minutes: CPU now"),
                         ("mem", "Memory over the last 60 minutes: working set now"),
                         ("net", "Network over the last 60 minutes: received now"),
                         ("blk", "Block I/O over the last 60 minutes: read now")):
        label = pg.get_attribute(f"#chart-{chart}", "aria-label")
        assert label.startswith(words) and "highest" in label, label
    assert "sent now" in pg.get_attribute("#chart-net", "aria-label")
    pg.select_option("#stats-range", "120")
    assert "over the last 2 minutes" in pg.get_attribute("#chart-cpu", "aria-label")
    pg.click("#stats-table-box summary")
    pg.wait_for_selector("#stats-table tbody tr")
    rows = [r.locator("td").all_inner_texts() for r in pg.locator("#stats-table tbody tr").all()]
    cells = rows[0]  # the newest minute: "–" for its CPU when its only reading has none yet
    assert len(cells) == 6 and re.fullmatch(r"[\d.]+|–", cells[0]) and cells[2].endswith("/s"), cells
    assert any(re.fullmatch(r"[\d.]+", r[0]) for r in rows), rows  # a CPU mean per minute
    shot(pg, "24-stats-history")

    pg.reload()  # the history comes back at once, without waiting for live readings
    pg.click("[data-tab=stats]")
    pg.wait_for_function("window.dwStats && dwStats.points.length >= 4")
    if os.path.exists(AXE_JS):
        pg.click("#stats-table-box summary")
        pg.wait_for_selector("#stats-table tbody tr")
        assert axe_violations(pg) == [], "stats with the table open"
    pg.set_viewport_size({"width": 390, "height": 844})
    overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, overflow
    box = pg.locator("#chart-blk").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    shot(pg, "25-stats-phone")
    assert not http_problems(pg), pg.problems


def test_stderr_is_not_shown_by_colour_alone(page, api):
    """Without a tty, stderr lines carry an "err" tag in the terminal (inverse text) and in the
    log view (a gutter tag that assistive technology reads as "stderr:"), not only red."""
    script = ("echo out-1; sleep 0.3; echo oops-1 >&2; sleep 0.3; printf 'mixed '; sleep 0.3; "
              "echo tail >&2; sleep 1000")
    c = api.run(cmd=["sh", "-c", script], name="e2e-stderr")
    until(lambda: b"tail" in api.logs(c["id"]))
    pg = page
    login(pg)
    pg.goto(pg.base + f"/containers/{c['id']}/")
    text = wait_terminal(pg, "tail")
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    assert lines[:3] == ["out-1", "err oops-1", "mixed err tail"], lines  # "mixed " came live
    pg.click("[data-tab=logs]")
    pg.wait_for_selector("#logview .row.stderr")  # ("mixed " waits for its newline, as in Docker)
    before = """sel => getComputedStyle(document.querySelector(sel), '::before').content"""
    err_row = "#logview .row.stderr"
    assert pg.locator(err_row).first.inner_text() == "oops-1"  # the tag stays out of copied text
    assert pg.evaluate(before, err_row) == '"err" / "stderr: "'
    assert pg.evaluate(before, "#logview .row:not(.stderr)") in ('""', "none")
    snapshot = pg.locator("#logview").aria_snapshot()
    assert "stderr: oops-1" in snapshot and "stderr: out-1" not in snapshot, snapshot
    if os.path.exists(AXE_JS):
        assert axe_violations(pg) == [], "logs with stderr lines"
    shot(pg, "26-stderr-tagged")
    assert not pg.problems, pg.problems


def announced(pg, pattern: str, region: str | None = None) -> list[str]:
    """Wait until a live region said something matching `pattern` (in `region`: its id);
    what the live regions said."""
    pg.wait_for_function("""([p, r]) => window.announced.some(([id, t]) => new RegExp(p).test(t) &&
                            (r === null || id === r))""", arg=[pattern, region], timeout=20000)
    return [f"{r}: {t}" for r, t in pg.evaluate("window.announced")]


def assert_invalid_and_described(pg, field: str, message: str) -> None:
    """`field` is marked invalid for assistive technology and described by its message."""
    assert pg.get_attribute(field, "aria-invalid") == "true", field
    ids = pg.get_attribute(field, "aria-describedby").split()
    said = " ".join(pg.inner_text(f"#{i}") for i in ids)
    assert message in said, (field, ids, said)


def test_screen_readers_hear_actions_and_field_errors(page, api):
    """What a screen reader user gets: an action's progress and outcome ("stopping…", then
    "stopped") and its failure reach a live region; a form's wrong fields are aria-invalid,
    described by their message, and the summary is announced (role=alert), on the create
    form (page and server checks) and the network form (the server's message)."""
    c = api.run(cmd=["sh", "-c", SLOW_STOP], name="e2e-announce")
    bulk = [api.run(cmd=["sleep", "1000"], name=f"e2e-announce-bulk{i}") for i in (1, 2)]
    pg = page
    login(pg)
    row = f"#containers tr[data-id='{c['id']}']"
    pg.wait_for_selector(f"{row} .badge:text-is('running')")
    pg.evaluate(ANNOUNCED_JS)
    pg.click(f"{row} [data-action=stop]")
    pg.click("#confirm-dialog .confirm-ok")
    announced(pg, "^e2e-announce: stopping…$", "announcer")
    said = announced(pg, "^e2e-announce: stopped$", "announcer")
    assert said.index("announcer: e2e-announce: stopping…") < said.index("announcer: e2e-announce: stopped")
    pg.evaluate("dw.containerAction('no-such-container-e2e', 'kill')")
    announced(pg, "kill failed: No such container: no-such-container-e2e")
    assert pg.locator(".toast.error[role=alert]").count() >= 1
    for b in bulk:  # a bulk action is said once for all, not once per row
        pg.check(f"#containers tr[data-id='{b['id']}'] input.select")
    pg.click("#bulk [data-bulk=kill]")
    pg.click("#confirm-dialog .confirm-ok")
    said = announced(pg, "^2 containers killed$", "announcer")
    assert "announcer: killing 2 containers…" in said, said
    assert not [t for t in said if "e2e-announce-bulk" in t], said

    form = "#create-form"
    pg.fill(f"{form} input[name=memory]", "lots")  # checked in the page
    pg.click(f"{form} button[type=submit]")
    announced(pg, "^Memory: use a size", "create-error")
    assert_invalid_and_described(pg, f"{form} input[name=memory]", "use a size such as 64m or 1g")
    assert pg.get_attribute("#create-error", "role") == "alert"
    pg.fill(f"{form} input[name=memory]", "")
    pg.fill(f"{form} input[name=hostname]", "h" * 300)  # checked by the server
    pg.click(f"{form} button[type=submit]")
    announced(pg, "^Hostname: .*253", "create-error")
    assert_invalid_and_described(pg, f"{form} input[name=hostname]", "253")
    assert pg.get_attribute(f"{form} input[name=memory]", "aria-invalid") is None  # only what is wrong

    pg.goto(pg.base + f"/containers/{c['id']}/")  # the container page: its own state is a status
    pg.evaluate(ANNOUNCED_JS)
    pg.click("#c-actions [data-action=start]")
    said = announced(pg, "^e2e-announce: started$", "announcer")
    assert "c-state: starting…" in said, said  # the state badge is a status too

    pg.goto(pg.base + "/networks/")
    pg.evaluate(ANNOUNCED_JS)
    pg.fill("#network-form input[name=name]", "e2e-badnet")
    pg.fill("#network-form input[name=subnet]", "bogus")
    pg.click("#network-form button[type=submit]")
    announced(pg, "^Subnet: invalid subnet 'bogus'", "network-error")
    assert_invalid_and_described(pg, "#network-form input[name=subnet]", "invalid subnet 'bogus'")
    assert pg.evaluate("document.activeElement.name") == "subnet"
    assert pg.get_attribute("#network-form input[name=name]", "aria-invalid") is None
    pg.fill("#network-form input[name=subnet]", "10.1")  # edited: no longer marked
    assert pg.get_attribute("#network-form input[name=subnet]", "aria-invalid") is None
    if os.path.exists(AXE_JS):
        pg.fill("#network-form input[name=subnet]", "bogus")
        pg.click("#network-form button[type=submit]")
        pg.wait_for_selector("#network-form input[name=subnet][aria-invalid=true]")
        assert axe_violations(pg) == [], "networks with a field error"
    shot(pg, "27-network-field-error")
    assert not http_problems(pg), pg.problems


def test_live_state_in_words_and_failures_shown_as_errors(page, api):
    """Colour is never the only signal: the live-updates indicator says "live" in words; a
    failed filesystem action is an error (class and icon), not grey text; removing an image
    says "removing…" at once with its buttons off, then the outcome."""
    c = api.run(cmd=["sh", "-c", "echo x > /x"], name="e2e-words")
    api.wait(c["id"])
    img = api.api("POST", f"/api/containers/{c['id']}/commit/", json={"repo": "e2e-words-img"}).json()
    pg = page
    login(pg)
    pg.wait_for_selector("#live-status:text-is('● live')")
    pg.goto(pg.base + "/events/")
    pg.wait_for_selector("#live-status:text-is('● live')")

    pg.goto(pg.base + f"/containers/{c['id']}/")
    pg.click("[data-tab=fs]")
    pg.click("#fs-commit")
    dialog_answer(pg, "Not A Valid Name")
    pg.wait_for_function("document.getElementById('fs-output').textContent.startsWith('Commit: ')")
    assert "error" in pg.get_attribute("#fs-output", "class").split()
    assert pg.evaluate("getComputedStyle(document.getElementById('fs-output'), '::before').content") == '"⚠ "'

    pg.goto(pg.base + "/images/")
    row = f"#images tr[data-id='{img['id']}']"
    pg.wait_for_selector(row)
    pg.evaluate(ANNOUNCED_JS)
    pg.evaluate("""() => { window.offWhileRemoving = null; const orig = window.fetch;
      window.fetch = (...a) => { if ((a[1] || {}).method === 'DELETE') window.offWhileRemoving =
        [...document.querySelectorAll("#images tr button")].filter(b => b.closest('tr').dataset.id ===
        '""" + img["id"] + """').every(b => b.disabled); return orig(...a); }; }""")
    pg.click(f"{row} button:text-is('Remove')")
    pg.click("#confirm-dialog .confirm-ok")
    said = announced(pg, "^removed image " + img["id"][:12])
    assert any(t.startswith("announcer: removing image " + img["id"][:12]) for t in said), said
    assert pg.evaluate("window.offWhileRemoving") is True
    pg.wait_for_selector(row, state="detached")
    assert not http_problems(pg), pg.problems


def test_audit_times_read_like_the_other_pages(page, api):
    """The audit log's times are shown as on the hosts page (date and time to the second),
    with the exact instant in a machine-readable <time>."""
    pg = page
    login(pg)
    pg.goto(pg.base + "/audit/")
    cell = pg.locator("#audit tbody tr").first.locator("time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cell.inner_text()), cell.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", cell.get_attribute("datetime"))


def test_create_form_more_options_reach_the_api(page, api):
    """Every create option the API has is in the form: the folded "More options" (stop
    timeout, restart retries, swap, swappiness, CPU shares/period/quota, capabilities, log
    driver and rotation, more networks, host, tmpfs, privileged, stdin once); a wrong one is
    a field error that unfolds them."""
    net = api.api("POST", "/api/networks/", json={"name": "e2e-more-net"})
    assert net.status_code == 201, net.text
    pg = page
    login(pg)
    form = "#create-form"
    assert pg.get_attribute("#more-options", "open") is None
    pg.evaluate("document.getElementById('more-options').open = true")
    pg.fill(f"{form} input[name=memory_swappiness]", "101")
    pg.evaluate("document.getElementById('more-options').open = false")
    pg.click(f"{form} button[type=submit]")
    pg.wait_for_selector(f"{form} input[name=memory_swappiness][aria-invalid=true]")
    assert pg.get_attribute("#more-options", "open") is not None  # unfolded to show it
    assert pg.evaluate("document.activeElement.name") == "memory_swappiness"
    assert "0 to 100" in pg.inner_text("#err-memory_swappiness")

    values = {"memory_swappiness": "10", "stop_timeout": "3", "restart_max_retries": "2", "memory": "64m",
              "memory_swap": "128m", "cpu_shares": "512", "cpu_period": "100000", "cpu_quota": "50000",
              "cap_add": "NET_ADMIN, SYS_TIME", "cap_drop": "CHOWN", "log_max_size": "1m",
              "log_max_file": "2", "networks": "e2e-more-net", "cmd": "sleep 1000", "name": "e2e-more"}
    for name, value in values.items():
        pg.fill(f"{form} input[name={name}]", value)
    pg.select_option(f"{form} select[name=restart_policy]", "on-failure")
    pg.select_option(f"{form} select[name=log_driver]", "local")
    pg.fill(f"{form} textarea[name=tmpfs]", "/scratch:size=8m")
    pg.check(f"{form} input[name=stdin_once]")
    pg.check(f"{form} input[name=open_stdin]")
    pg.click(f"{form} button[type=submit]")
    pg.wait_for_url(re.compile(r".*/containers/[0-9a-f]{64}/$"))
    cid = pg.url.rstrip("/").rsplit("/", 1)[1]
    doc = api.inspect(cid)
    cfg = doc["config"]
    got = {k: cfg.get(k) for k in ("stop_timeout", "restart_max_retries", "memory_swap", "memory_swappiness",
                                   "cpu_shares", "cpu_period", "cpu_quota", "cap_add", "cap_drop",
                                   "log_driver", "log_opts", "stdin_once", "privileged")}
    assert got == {"stop_timeout": 3, "restart_max_retries": 2, "memory_swap": 128 << 20,
                   "memory_swappiness": 10, "cpu_shares": 512, "cpu_period": 100000, "cpu_quota": 50000,
                   "cap_add": ["NET_ADMIN", "SYS_TIME"], "cap_drop": ["CHOWN"], "log_driver": "local",
                   "log_opts": {"max-size": "1m", "max-file": "2"},
                   "stdin_once": True, "privileged": False}, (got, sorted(cfg))
    if os.path.exists(AXE_JS):
        pg.goto(pg.base + "/")
        pg.evaluate("document.getElementById('more-options').open = true")
        assert axe_violations(pg) == [], "the create form's more options"
    mounts = exec_output(api, cid, ["grep", " /scratch ", "/proc/mounts"]).decode()
    assert mounts.startswith("tmpfs /scratch tmpfs") and "size=8192k" in mounts, mounts
    assert "e2e-more-net" in str(doc["network_settings"]), doc["network_settings"]
    assert not http_problems(pg), pg.problems
    api.api("DELETE", f"/api/containers/{cid}/?force=1")
    api.api("DELETE", "/api/networks/e2e-more-net/")
