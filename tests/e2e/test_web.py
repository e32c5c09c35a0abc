"""End to end: `llm-tutor serve web` in a real headless Chromium shows the lesson list, with no other host."""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, llm_tutor_cmd
from tests.e2e.browser import Browser, chromium, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(tmp_path / "data"))
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([*llm_tutor_cmd(), "serve", "web", "--port", str(port), "--lessons", str(FIXTURES / "good"),
                             "--device", "cpu"], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()
        time.sleep(0.2)
    try:
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def test_page_needs_no_external_host(web_server: str) -> None:
    with urllib.request.urlopen(web_server, timeout=10) as resp:
        page = resp.read().decode()
    links = re.findall(r'(?:href|src)="([^"]+)"|url\("?([^")]+)', page)
    urls = [a or b for a, b in links]
    assert urls and all(u.startswith(web_server) for u in urls), urls
    assert "fonts.googleapis.com" not in page
    assert "/static/fonts/RobotoMono-VariableFont_wght.ttf" in page
    for asset in ("static/js/textual.js", "static/css/xterm.css", "static/fonts/RobotoMono-VariableFont_wght.ttf"):
        with urllib.request.urlopen(web_server + asset, timeout=10) as resp:
            assert resp.status == 200 and len(resp.read()) > 1000


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
async def test_browser_shows_the_lesson_list(web_server: str, tmp_path: Path) -> None:
    binary = chromium()
    assert binary is not None
    browser = Browser(binary)
    try:
        await browser.open()
        await browser.goto(web_server)
        await browser.wait_for_text("A first tensor")
        await browser.wait_for_text("Overall")
        shot = tmp_path / "lesson-list.png"
        await browser.screenshot(shot)
        assert shot.stat().st_size > 5000
        origin = web_server.rstrip("/").split("//", 1)[1]
        outside = [u for u in browser.requests if not (u.split("//", 1)[-1].startswith(origin) or u.startswith("data:"))]
        assert browser.requests and not outside, outside
    finally:
        await browser.close()


def test_binding_wider_than_loopback_prints_a_warning(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*llm_tutor_cmd(), "serve", "web", "--host", "0.0.0.0", "--port", str(port)],
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
