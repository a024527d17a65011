"""Shared fixtures: a real app server (``python app.py``) for the end-to-end and browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """Start the app as a user would, in a scratch working directory (runs/ and data/ land there)."""
    work = tmp_path_factory.mktemp("app")
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        TORCH_HOME=str(work / "torch"),
        GRADIO_ANALYTICS_ENABLED="False",
        MPLBACKEND="Agg",
    )
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "--port", str(port)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    started = time.monotonic()
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - started > 90:
                    log.flush()
                    raise RuntimeError(f"app did not start:\n{(work / 'server.log').read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for a browser-test module (Playwright's sync API runs one event loop at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser, server_url):
    """A Chromium page (Debian's browser, driven by Playwright) on the real server, English locale."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server_url)
    page.get_by_role("tab", name="Architecture").click()  # the page opens on the Lesson; these tests start here
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where screenshots go: the test's temp dir, or docs/ with CNNVIZ_SCREENSHOTS=docs (the README's images)."""
    folder = REPO / "docs" if os.environ.get("CNNVIZ_SCREENSHOTS") == "docs" else tmp_path_factory.mktemp("shots")
    folder.mkdir(exist_ok=True)
    return folder
