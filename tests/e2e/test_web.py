"""End to end: `llm-tutor serve web` in a real headless Chromium shows the lesson list, with no other host."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, llm_tutor_cmd
from tests.e2e.browser import Browser, chromium, free_port

pytestmark = [pytest.mark.xdist_group("web-server"), pytest.mark.e2e, pytest.mark.slow]


class WebServer:
    """`llm-tutor serve web` on a free loopback port; `url` is the address it printed, token included."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.port = free_port()
        self.log_path = tmp / "web.log"
        self._log = open(self.log_path, "wb")
        self.data = tmp / "data"
        env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(self.data))
        self.proc = subprocess.Popen([*llm_tutor_cmd(), "serve", "web", "--port", str(self.port), "--lessons",
                                      str(FIXTURES / "good"), "--device", "cpu", "--allow-root", *extra],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.url = self.wait_log(r"open (http://\S+/\?token=\S+)").group(1)
        self.base = self.url.split("?", 1)[0]
        self.token = self.url.split("token=", 1)[1]
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log()
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.log())):
            assert self.proc.poll() is None and time.monotonic() < deadline, f"{pattern!r} not in:\n{self.log()}"
            time.sleep(0.05)
        return found

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    web = WebServer(tmp_path_factory.mktemp("web"), "--max-tabs", "2")
    try:
        yield web
    finally:
        web.stop()


def test_page_needs_no_external_host(server: WebServer) -> None:
    with urllib.request.urlopen(server.url, timeout=10) as resp:
        page = resp.read().decode()
    links = re.findall(r'(?:href|src)="([^"]+)"|url\("?([^")]+)', page)
    urls = [a or b for a, b in links]
    assert urls and all(u.startswith(server.base) for u in urls), urls
    assert "fonts.googleapis.com" not in page
    assert "/static/fonts/RobotoMono-VariableFont_wght.ttf" in page
    for asset in ("static/js/textual.js", "static/css/xterm.css", "static/fonts/RobotoMono-VariableFont_wght.ttf"):
        with urllib.request.urlopen(f"{server.base}{asset}?token={server.token}", timeout=10) as resp:
            assert resp.status == 200 and len(resp.read()) > 1000


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
async def test_browser_shows_the_lesson_list(tmp_path: Path) -> None:
    """A new learner's first page. The module's server is not used: a test that opened a lesson there made the
    next tab resume that lesson (and its two-tab cap may still be full)."""
    binary = chromium()
    assert binary is not None
    server = WebServer(tmp_path)
    web_server = server.url
    browser = Browser(binary)
    try:
        await browser.open()
        await browser.goto(web_server)
        await browser.wait_for_text("A first tensor")
        await browser.wait_for_text("Overall")
        shot = tmp_path / "lesson-list.png"
        await browser.screenshot(shot)
        assert shot.stat().st_size > 5000
        origin = web_server.split("?", 1)[0].rstrip("/").split("//", 1)[1]
        outside = [u for u in browser.requests if not (u.split("//", 1)[-1].startswith(origin) or u.startswith("data:"))]
        assert browser.requests and not outside, outside
    finally:
        await browser.close()
        server.stop()


def test_binding_wider_than_loopback_prints_a_warning(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*llm_tutor_cmd(), "serve", "web", "--host", "0.0.0.0", "--port", str(port), "--allow-root"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(0.1)
        deadline = time.monotonic() + 30
        line = b""
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        while b"warning" not in line and time.monotonic() < deadline:
            chunk = proc.stderr.read() or b""
            line += chunk
            time.sleep(0.1)
        assert b"warning: serving on 0.0.0.0" in line and b"Python kernel" in line
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def _status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def test_a_missing_or_wrong_token_is_refused_on_every_path(server: WebServer) -> None:
    wrong = server.token[:-1] + ("A" if server.token[-1] != "A" else "B")
    for path in ("", "static/js/textual.js", "ws", "download/x"):
        for query in ("", f"?token={wrong}", "?token=", "?token=%C3%A7"):
            status, body = _status(f"{server.base}{path}{query}")
            assert status == 403 and "token" in body, (path, query, status)
        status, _ = _status(f"{server.base}{path}", {"Cookie": f"llm_tutor_token_{server.port}={wrong}"})
        assert status == 403
    status, _ = _status(f"{server.base}static/js/textual.js", {"Cookie": f"llm_tutor_token_{server.port}={server.token}"})
    assert status == 200
    assert "no token" in server.log() and "wrong token" in server.log()


def _workspace_ids(pid: int) -> list[str]:
    from llm_tutor.engine.remote.users import descendants

    found = []
    for child, _ in descendants(pid):
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        found += [v.split(b"=", 1)[1].decode() for v in env if v.startswith(b"LLM_TUTOR_WORKSPACE_ID=")]
    return sorted(set(found))


async def _received(ws: object, needle: bytes, timeout: float = 60.0) -> bytes:
    import aiohttp

    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        msg = await ws.receive(timeout=max(deadline - time.monotonic(), 0.1))  # type: ignore[attr-defined]
        if msg.type == aiohttp.WSMsgType.BINARY:
            seen += msg.data
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            break
    assert needle in seen, seen[-500:]
    return seen


async def test_websockets_need_the_page_origin_and_tabs_are_capped_each_with_its_workspace(server: WebServer) -> None:
    import aiohttp

    def tabs_open() -> int:
        counts = re.findall(r"tab \d+ (?:opened|closed) .*?\((\d+)/2\)", server.log())
        return int(counts[-1]) if counts else 0

    deadline = time.monotonic() + 30
    while tabs_open() and time.monotonic() < deadline:  # an earlier test's tab may still be closing
        time.sleep(0.1)
    own = server.base.rstrip("/")
    ws_url = "ws" + own[4:] + "/ws?width=100&height=30"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(server.url) as resp:  # the first visit: the token becomes a cookie
            assert resp.status == 200
        assert any(c.key == f"llm_tutor_token_{server.port}" for c in session.cookie_jar)
        foreign = [{"Origin": "http://evil.example"}, {"Origin": "null"}, {},
                   {"Origin": f"http://127.0.0.1:{server.port + 1}"},
                   {"Origin": f"http://evil.example:{server.port}", "Host": f"evil.example:{server.port}"}]
        for headers in foreign:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(ws_url, headers=headers)
            assert refused.value.status == 403, headers
        tabs = [await session.ws_connect(ws_url, headers={"Origin": own}) for _ in range(2)]
        try:
            for tab in tabs:
                await _received(tab, b"A first tensor")
            third = await session.ws_connect(ws_url, headers={"Origin": own})
            assert b"2 tabs are open" in await _received(third, b"tabs are open", 10)
            assert (await third.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert third.close_code == 1013
            status, body = _status(server.url)
            assert status == 503 and "2 tabs are open" in body
            assert _workspace_ids(server.proc.pid) == ["tab-1", "tab-2"]
            for tab in tabs:  # each opens the lesson: its exercise file is written in the tab's own workspace
                await tab.send_json(["stdin", "\r"])
            files = [server.data / "workspace" / f"tab-{n}" / "example" / "ones.en.py" for n in (1, 2)]
            deadline = time.monotonic() + 30
            while not all(f.exists() for f in files) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert all(f.exists() for f in files), list((server.data / "workspace").rglob("*"))
            assert not (server.data / "workspace" / "example").exists()
        finally:
            for tab in tabs:
                await tab.close()
    server.wait_log(r"tab 2 closed \(0/2\)|tab 1 closed \(0/2\)")
    assert "refused websocket" in server.log()
