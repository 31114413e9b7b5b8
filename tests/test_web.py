"""`codeseek web`: the page in a real headless Chromium (Debian's, driven by Playwright), and
its server's security rules with plain HTTP requests.

One repository, warm process and `codeseek web` serve every test here but the progress bar's
(its own fresh repository through the `warm` fixture): starting them, the model included,
costs more than all the searches together. Each browser test gets a fresh browser context
(no cookie), so each one logs in with the printed URL as a user would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from .conftest import SAMPLE_REPO, MakeRepo, wait_for, write_files

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
SECRET = "TOP-SECRET-do-not-serve"
QUERY = "retry with exponential backoff"


@dataclass
class Web:
    """A running `codeseek web`."""

    proc: subprocess.Popen[str]
    url: str
    root: Path
    stderr: Path

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.url).query)["token"][0]

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
                auth: bool = True) -> tuple[int, dict[str, str], str]:
        """A plain HTTP request, with the page's cookie unless auth is False."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}"}
        if auth:
            sent["Cookie"] = f"codeseek-{self.port}={self.token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        conn.request(method, path, data, {k: v for k, v in sent.items() if v is not None})
        answer = conn.getresponse()
        text = answer.read().decode("utf-8", "replace")
        conn.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def _ctrl_c_stops() -> None:
    """Ctrl-C as at a terminal. Tests started in the background by a script (`cmd &`) have
    SIGINT ignored, as their children then do (Python keeps an ignored SIGINT ignored: a
    `nohup`ed program should), and the Ctrl-C tests would wait for nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_web(root: Path, log: Path, env: dict[str, str] | None = None, browser: bool = False) -> Web:
    """`codeseek web --no-browser --port 0` in `root` (with `browser`: opening one), once it
    has printed its address."""
    err = log.open("w")
    args = ["web", "--port", "0"] if browser else ["web", "--no-browser", "--port", "0"]
    proc = subprocess.Popen([sys.executable, "-P", "-m", "codeseek", *args], cwd=root,
                            stdout=subprocess.PIPE, stderr=err, text=True, env=env, preexec_fn=_ctrl_c_stops)
    err.close()
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=180)
    line = proc.stdout.readline().strip() if ready else ""
    if not line.startswith("http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"codeseek web printed {line!r}; stderr: {log.read_text()}")
    return Web(proc, line, root, log)


def hermetic_env(home: Path) -> dict[str, str]:
    """What conftest's `hermetic` sets, for processes started before any test runs (a module's
    fixture): a home of their own, no model hub, this run's warm process."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CODESEEK_") and k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
                                                          "XDG_RUNTIME_DIR")}
    env.update({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "HF_HUB_OFFLINE": "1",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
                "CODESEEK_RUNTIME_DIR": str(home / "run"), "CODESEEK_SERVER": "1"})
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """The sample repository (plus an ignored secret and links that point outside it) served
    by `codeseek web` through its own warm process, once that has embedded every chunk."""
    base = tmp_path_factory.mktemp("web")
    env = hermetic_env(base / "home")
    (base / "home").mkdir()
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    root = base / "repo"
    root.mkdir()
    write_files(root, {**SAMPLE_REPO, ".gitignore": "secret.env\n", "secret.env": SECRET + "\n"})
    (root / "outside.txt").symlink_to(outside / "secret.txt")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=root, check=True, env=env)
    web = start_web(root, base / "web.log", env)
    try:
        try:
            wait_for(lambda: json.loads(web.request("GET", "/api/status")[2]).get("unembedded") == 0, 180)
        except AssertionError:
            raise AssertionError(f"not embedded: {_stuck(web, base / 'home' / 'run')}") from None
        status, _, text = web.request("POST", "/api/find", {"query": QUERY, "k": 1})
        assert status == 200, text
        yield web
    finally:
        web.stop()
        subprocess.run([sys.executable, "-P", "-m", "codeseek", "serve", "--stop"], cwd=root, env=env,
                       capture_output=True, timeout=60)


def _stuck(web: Web, run: Path) -> str:
    """What the page's status says, and the warm process's log with every thread's stack in it
    (SIGUSR1: server.py), for a wait that timed out."""
    from codeseek import client

    where = client.address(run)
    if where is not None:
        with contextlib.suppress(OSError):  # gone: its log says what it said
            os.kill(where.pid, signal.SIGUSR1)
            time.sleep(1.0)
    log = run / client.LOG_NAME
    return f"status {web.request('GET', '/api/status')[2]}; log: {log.read_text() if log.exists() else '(none)'}"


# -- the page, in a browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: `apt-get install -y chromium` to run the web page's browser tests")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):  # noqa: ANN001, ANN201 - Playwright's Browser and Page
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(60_000)
    yield tab
    context.close()
    assert errors == [], errors


def open_page(page, web: Web) -> None:  # noqa: ANN001
    page.goto(web.url)
    assert "token" not in page.url  # traded for the cookie, out of the address bar and history
    page.wait_for_function("() => document.querySelector('#repo').textContent !== ''")  # the filters are filled


def search(page, query: str) -> None:  # noqa: ANN001
    """Type like a person (each key an input event: the debounce and sequence numbers at
    work), then wait for that query's results."""
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially(query, delay=15)
    page.wait_for_function("q => (window.codeseekTimings.at(-1) || {}).query === q", arg=query)


def symbols(page) -> list[str]:  # noqa: ANN001
    return page.locator(".hit .symbol").all_inner_texts()


def test_typing_a_query_shows_the_right_function_first(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)
    assert symbols(page)[0] == "retry_with_backoff"
    first = page.locator(".hit").first
    assert first.locator(".kind").inner_text() == "function"
    assert first.locator(".lines").inner_text() == "L5–12"
    assert first.locator(".code .nf").first.inner_text() == "retry_with_backoff"  # highlighted by Pygments
    assert first.locator(".code mark").all_inner_texts()[:2] == ["retry", "backoff"]
    assert first.locator("a", has_text="open in editor").get_attribute("href") == \
        f"vscode://file{quote(str(site.root.resolve()))}/net/retry.py:5"
    assert page.locator(".group").first.locator(".name").inner_text() == "retry.py"  # grouped by file
    page.wait_for_function("() => document.querySelector('#status-text').textContent.includes('with vectors')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-results.png"))


def test_a_stale_answer_never_replaces_a_newer_one(site: Web, page) -> None:
    open_page(page, site)
    held = []
    page.route("**/api/find", lambda route: held.append(route) if not held else route.continue_())
    page.locator("#q").fill("slugify a title")
    deadline = time.monotonic() + 30
    while not held:  # the first search waits here, unanswered
        assert time.monotonic() < deadline
        page.wait_for_timeout(50)
    search(page, QUERY)
    held[0].continue_()  # the older answer arrives last: it must be dropped
    page.wait_for_timeout(1500)
    assert symbols(page)[0] == "retry_with_backoff"
    assert {t["query"] for t in page.evaluate("window.codeseekTimings")} == {QUERY}


def test_filter_by_language(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)
    assert len(set(page.locator(".group-head .name").all_inner_texts())) > 2
    with page.expect_response("**/api/find"):
        page.select_option("#language", "go")
    page.wait_for_function("() => [...document.querySelectorAll('.hit')].length > 0 && "
                           "[...document.querySelectorAll('.group-head .name')].every(n => n.textContent === 'server.go')")
    assert set(page.locator(".group-head .dir").all_inner_texts()) == {"server/"}
    assert set(page.locator(".group-head .lang").all_inner_texts()) == {"go"}
    assert set(symbols(page)) <= {"LoadConfig", "(*Server).Handle", "Config", "Server", "server.go"}


def test_keys_move_the_selection_and_open_the_file(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert page.locator(".hit.selected").get_attribute("data-index") == "0"
    page.locator("#q").evaluate("box => box.blur()")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.locator(".hit.selected .symbol").inner_text() == symbols(page)[1]
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    viewer = page.locator("#viewer")
    viewer.wait_for(state="visible")
    assert "net/retry.py" in page.locator("#viewer-path").inner_text()
    marked = [int(n) for n in page.locator("#viewer-code .line.hl").evaluate_all("ls => ls.map(l => l.dataset.line)")]
    assert marked == list(range(5, 13))
    assert page.locator("#viewer-code .line").count() == 28  # the whole file
    assert page.locator("#viewer-code .line.hl").first.is_visible()
    page.keyboard.press("Escape")
    viewer.wait_for(state="hidden")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"


def test_explain_draws_bars_and_chips(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)
    with page.expect_response("**/api/find"):
        page.locator("label.toggle").click()
    page.locator(".why").first.wait_for()
    first = page.locator(".hit").first
    for bar in ("meaning", "words"):
        width = first.locator(f".fill.{bar}").evaluate("f => f.getBoundingClientRect().width")
        assert width > 0, bar
    assert first.locator(".term").all_inner_texts() == ["retry", "backoff"]
    priors = page.locator(".chip.prior").all_inner_texts()
    assert priors and all("×" in chip for chip in priors)  # module ×0.55, text ×0.45...
    assert page.locator(".chip.spread").count() > 0
    assert "{" not in " ".join(page.locator(".why").all_inner_texts())  # drawn, not dumped as JSON
    search(page, "how are calls retried with backoff")  # a question: file-level bonuses
    page.locator(".why").first.wait_for()
    assert any(chip.startswith("file top +") for chip in page.locator(".chip.bonus").all_inner_texts())
    # Every chunk has both vectors: a question takes Signals.static_asked of its meaning from the static tier.
    assert "static" in page.locator(".hit").first.locator(".bar-value").first.inner_text()
    assert "at 0.4" in page.locator(".hit").first.locator(".bar-value").first.inner_text()
    assert " at 0.45" in page.locator(".hit").first.locator(".bar-value").nth(1).inner_text()  # the words' share
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-explain.png"))


def test_similar_on_a_hit_shows_other_code(site: Web, page) -> None:
    open_page(page, site)
    search(page, "LRU cache")
    card = page.locator(".hit", has=page.locator(".symbol", has_text="LruCache.get"))
    with page.expect_response("**/api/similar"):
        card.locator("button.similar").click()
    page.wait_for_function("() => document.querySelector('#summary').textContent.includes('similar to')")
    assert "LruCache.get" in page.locator("#summary").inner_text()
    found = symbols(page)
    assert found and "LruCache.get" not in found
    assert "LruCache.set" in found[:3]


# -- the progress bar, while the warm process embeds a fresh repository ----------------------


def many_functions(files: int = 120, per_file: int = 30) -> dict[str, str]:
    """Small functions, each different (vectors are keyed by their text)."""
    out = {}
    for f in range(files):
        body = "\n\n".join(f"def step_{f}_{n}(value):\n    \"\"\"Step {n} of stage {f}.\"\"\"\n"
                           f"    return value * {n + 1} + {f}\n" for n in range(per_file))
        out[f"stages/stage_{f}.py"] = body
    return out


def test_the_progress_bar_moves_while_vectors_are_embedded(make_repo: MakeRepo, warm, page, tmp_path: Path) -> None:
    root = make_repo(many_functions())
    web = start_web(root, tmp_path / "web.log")
    try:
        open_page(page, web)
        page.locator("#embedding").wait_for(state="visible", timeout=120_000)
        page.wait_for_function("() => document.querySelector('#embed-progress').value > 0", timeout=120_000)
        first = page.evaluate("document.querySelector('#embed-progress').value")
        page.wait_for_function("v => document.querySelector('#embed-progress').value > v", arg=first,
                               timeout=60_000)
        later = page.evaluate("document.querySelector('#embed-progress').value")
        assert later > first
        assert page.evaluate("document.querySelector('#embed-progress').max") >= 3000
        assert "left" in page.locator("#embed-text").inner_text()
    finally:
        assert web.stop() == 0


# -- the server's rules, with plain HTTP requests ----------------------------------------------


def assert_nothing_leaked(text: str) -> None:
    assert SECRET not in text and "root:" not in text and "Traceback" not in text


def test_only_its_own_host_name_is_answered(site: Web) -> None:
    for host in ("evil.example", f"evil.example:{site.port}", "127.0.0.1", f"127.0.0.1:{site.port + 1}"):
        status, headers, text = site.request("GET", "/api/status", headers={"Host": host})
        assert status == 403 and "Host" in json.loads(text)["error"], host
        assert "chunks" not in text
    for host in (f"127.0.0.1:{site.port}", f"localhost:{site.port}"):
        assert site.request("GET", "/api/status", headers={"Host": host})[0] == 200


def test_every_page_and_request_needs_the_token(site: Web) -> None:
    for path in ("/", "/static/app.js", "/api/status", "/api/meta", "/api/file?path=net/retry.py"):
        status, _, text = site.request("GET", path, auth=False)
        assert status == 401 and "retry_with_backoff" not in text and "function" not in text[:20], path
        status, _, _ = site.request("GET", path, auth=False, headers={"Cookie": f"codeseek-{site.port}=wrong"})
        assert status == 401, path
    assert site.request("POST", "/api/find", {"query": "retry"}, auth=False)[0] == 401
    assert site.request("GET", "/?token=wrong", auth=False)[0] == 403
    status, headers, _ = site.request("GET", f"/?token={site.token}", auth=False)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"codeseek-{site.port}={site.token};") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    status, headers, text = site.request("GET", "/")
    assert status == 200 and "/static/app.js" in text and "script-src 'self'" in headers["content-security-policy"]
    bearer = {"Authorization": f"Bearer {site.token}"}
    assert site.request("GET", "/api/status", auth=False, headers=bearer)[0] == 200


def test_no_cors_and_other_origins_are_refused(site: Web) -> None:
    evil = {"Origin": "http://evil.example"}
    for method, path, body in (("POST", "/api/find", {"query": "retry"}), ("GET", "/api/status", None),
                               ("GET", "/api/file?path=net/retry.py", None), ("OPTIONS", "/api/find", None)):
        status, headers, text = site.request(method, path, body, headers=evil)
        assert status == 403, (method, path)
        assert not any(h.startswith("access-control-") for h in headers)
        assert "retry_with_backoff" not in text
    status, headers, _ = site.request("OPTIONS", "/api/find", headers={"Access-Control-Request-Method": "POST"})
    assert status == 405 and not any(h.startswith("access-control-") for h in headers)
    assert site.request("GET", "/api/status", headers={"Sec-Fetch-Site": "same-site"})[0] == 403
    assert site.request("GET", "/api/status", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    status, headers, _ = site.request("POST", "/api/find", {"query": "retry"},
                                      headers={"Origin": f"http://127.0.0.1:{site.port}"})
    assert status == 200 and not any(h.startswith("access-control-") for h in headers)


def test_bodies_must_be_json_and_bad_input_is_a_clear_error(site: Web) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _, text = site.request("POST", "/api/find", b'{"query": "retry"}', headers={"Content-Type": content_type})
        assert status == 415 and "application/json" in json.loads(text)["error"]
    cases = [({"query": 5}, "query must be a string"), ({"query": "x", "k": 0}, "k must be"),
             ({"query": "x", "mode": "fuzzy"}, "mode must be one of"), ({"query": "x", "evil": 1}, "unknown field"),
             (b"{not json", "not JSON"), ({"query": " "}, "the query is empty")]
    for body, words in cases:
        status, headers, text = site.request("POST", "/api/find", body)
        assert status == 400 and headers["content-type"] == "application/json", body
        assert words in json.loads(text)["error"] and "Traceback" not in text
    status, _, text = site.request("POST", "/api/similar", {"where": "nowhere.py:3"})
    assert status == 400 and "no indexed chunk" in json.loads(text)["error"]
    assert site.request("GET", "/api/file?path=net/retry.py&start=abc")[0] == 400
    status, _, text = site.request("GET", "/api/nothing")
    assert status == 404 and "error" in json.loads(text)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", str(Path("/etc/passwd")), "net/../../outside",
                                  "secret.env", "outside.txt", "linked/secret.txt", ".git/config", "net/./retry.py",
                                  "", "net", "net\\retry.py", "net/retry.py\0"])
def test_the_file_route_serves_only_repository_files(site: Web, path: str) -> None:
    status, _, text = site.request("GET", f"/api/file?path={quote(path)}&start=1&end=2")
    assert status in (400, 404), (path, status)
    assert_nothing_leaked(text)
    assert "lines" not in json.loads(text)


def test_a_repository_file_is_served_highlighted(site: Web) -> None:
    status, _, text = site.request("GET", "/api/file?path=net/retry.py&start=5&end=12&q=retry%20backoff")
    body = json.loads(text)
    assert status == 200 and body["language"] == "python" and len(body["lines"]) == 28
    assert body["lines"][4].startswith('<span class="k">def</span>') and "<mark>retry</mark>" in body["lines"][4]


def test_ctrl_c_stops_it_with_one_line(site: Web, tmp_path: Path) -> None:
    """A second page on the same index, in this process's own search (CODESEEK_SERVER=0)."""
    web = start_web(site.root, tmp_path / "web.log")
    assert web.request("GET", "/api/status")[0] == 200
    assert web.stop(signal.SIGINT) == 0
    assert web.stderr.read_text().strip().splitlines()[-1] == "codeseek: the web page stopped"
    web = start_web(site.root, tmp_path / "web2.log")
    assert web.stop(signal.SIGTERM) == 0


def test_the_browser_is_never_given_the_token_on_its_command_line(site: Web, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every local user can read a process's arguments (`ps`): the browser opens a redirect
    file that only this user can read, as Jupyter's does, and it goes when the page stops."""
    log = tmp_path / "browser-args"
    recorder = tmp_path / "browser"
    recorder.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" > {log}.part && mv {log}.part {log}\n")
    recorder.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(recorder))
    web = start_web(site.root, tmp_path / "web.log", browser=True)
    try:
        wait_for(log.exists, 60)
        args = log.read_text().splitlines()
        assert web.token not in " ".join(args), args
        opened = Path(urlsplit(args[-1]).path)
        assert args[-1].startswith("file://") and opened.is_file(), args
        assert os.stat(opened).st_mode & 0o777 == 0o600 and os.stat(opened.parent).st_mode & 0o777 == 0o700
        assert web.url.replace("&", "&amp;") in opened.read_text()  # it sends the browser on, with the token
    finally:
        assert web.stop() == 0
    assert not opened.exists()


def test_a_narrow_screen_keeps_symbols_whole_and_similar_in_reach(site: Web, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_page(page, site)
        search(page, "LRU cache get a key")
        assert page.locator(".hit").count() > 3
        for card in page.locator(".hit").all():
            symbol = card.locator(".symbol").evaluate(
                "s => [s.getBoundingClientRect().height, parseFloat(getComputedStyle(s).lineHeight)]")
            assert symbol[0] < 2.5 * symbol[1], (card.locator(".symbol").inner_text(), symbol)  # not a letter a line
            edges = card.evaluate("c => [c.getBoundingClientRect().right, "
                                  "c.querySelector('button.similar').getBoundingClientRect().right]")
            assert edges[1] <= edges[0] <= 390, edges  # "similar" is inside its card, on the screen
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-narrow.png"))
    finally:
        context.close()


def test_esc_in_the_search_box_keeps_the_query(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)
    page.locator("#q").press("Escape")
    assert page.locator("#q").input_value() == QUERY
    assert page.evaluate("document.activeElement.id") != "q"  # it leaves the box: the keys move again
    assert symbols(page)[0] == "retry_with_backoff"
    page.keyboard.press("j")
    assert page.locator(".hit.selected").get_attribute("data-index") == "0"


def test_after_the_file_view_closes_the_keys_move_the_selection(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)  # the cursor is in the search box
    page.keyboard.press("Enter")  # opens the first hit
    page.locator("#viewer").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.locator("#viewer").wait_for(state="hidden")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.locator("#q").input_value() == QUERY  # nothing typed into the box
    assert page.locator(".hit.selected").get_attribute("data-index") == "1"


def test_a_bad_glob_or_filter_is_an_error_on_the_page(site: Web, page) -> None:
    open_page(page, site)
    search(page, QUERY)
    page.locator("#path").fill("net/[ab")
    page.wait_for_function("() => !document.querySelector('#error').hidden", timeout=20_000)
    assert "never closed" in page.locator("#error").inner_text()
    page.locator("#path").fill("retry.py")  # a bare file name: that file, wherever it is
    page.wait_for_function("() => document.querySelector('#error').hidden && "
                           "[...document.querySelectorAll('.group-head')].length > 0", timeout=20_000)
    assert {d + n for d, n in zip(page.locator(".group-head .dir").all_inner_texts(),
                                  page.locator(".group-head .name").all_inner_texts(), strict=True)} == {"net/retry.py"}
    status, _, text = site.request("POST", "/api/find", {"query": QUERY, "languages": ["klingon"]})
    assert status == 400 and "unknown language 'klingon'; known: bash" in json.loads(text)["error"]
    status, _, text = site.request("POST", "/api/find", {"query": QUERY, "languages": ["Py"], "k": 1})
    assert status == 200 and json.loads(text)["hits"][0]["path"] == "net/retry.py"


def test_git_is_what_decides_which_files_show(make_repo: MakeRepo) -> None:
    """An untracked file that is not ignored shows; once ignored it does not (no server needed)."""
    from codeseek.repo import open_workspace
    from codeseek.web.api import App, NotFound

    root = make_repo({"a.py": "def a():\n    return 1\n"})
    (root / "new.py").write_text("def b():\n    return 2\n")
    app = App(open_workspace(root), searcher=None)  # type: ignore[arg-type] - no search here
    assert len(app.file("new.py", 1, 1)["lines"]) == 3
    (root / ".gitignore").write_text("new.py\n")
    app.files.forget()
    with pytest.raises(NotFound):
        app.file("new.py", 1, 1)


@pytest.mark.parametrize(("template", "link"), [
    (None, "vscode://file/r/a b.py:7"), ("vscode://file/{path}:{line}", "vscode://file/r/a b.py:7"),
    ("idea://open?file={path}&line={line}", "idea://open?file=/r/a b.py&line=7"),
    ("javascript:alert(1)//{path}", "vscode://file/r/a b.py:7"), (" data:text/html,{path}", "vscode://file/r/a b.py:7"),
    ("{path.__class__}", "vscode://file/r/a b.py:7")])
def test_editor_links_follow_the_config_but_never_run_code(template: str | None, link: str) -> None:
    from codeseek.repo import Workspace
    from codeseek.web.api import App

    app = App(Workspace(Path("/r"), Path("/r/.git/codeseek")), searcher=None, editor_url=template)  # type: ignore[arg-type]
    assert app.editor_link("a b.py", 7) == link.replace(" ", "%20")
