"""``--auth`` on a real server (``python app.py --auth``, a free port, plain HTTP with httpx): nothing about the
app before login, lock-outs counted and answered as such (``visualizer/ui/login_wall.py``, ``budgets/logins.py``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow  # a server of its own


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    work = tmp_path_factory.mktemp("auth")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), GRADIO_ANALYTICS_ENABLED="False", MPLBACKEND="Agg")
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "--port", str(port), "--auth", "teacher:s3cret"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(base + "/theme.css", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "server.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def api_info(page: str) -> dict:
    return json.loads(re.search(r"window\.gradio_api_info = (.*?);</script>", page, re.DOTALL).group(1))


def test_before_login_the_page_describes_nothing_and_the_api_answers_401(url):
    with httpx.Client(base_url=url, timeout=10) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and "auth_required" in page.text  # the login form's page
        assert api_info(page.text) == {"named_endpoints": {}, "unnamed_endpoints": {}}
        for word in ("analyze", "train_status", "feature_maps", "vgg16", "resnet50"):
            assert word not in page.text, word
        picture = "/gradio_api/file=/tmp/gradio/cnnviz-images/" + "0" * 40 + ".png"  # ui.cached_pictures' files
        for path in (
            "/config",
            "/gradio_api/info",
            "/gradio_api/heartbeat/abc",
            "/gradio_api/app_id",
            "/openapi.json",
            picture,
        ):
            answer = anonymous.get(path)
            assert answer.status_code == 401, (path, answer.status_code, answer.text[:200])
            assert "log in first" in answer.text or "Not authenticated" in answer.text
        assert anonymous.post("/gradio_api/queue/join", json={}).status_code == 401


def test_lockouts_are_counted_and_answered_as_lockouts(url):
    with httpx.Client(base_url=url, timeout=10) as c:
        for guess in ("a", "b", "c"):  # the free tries
            answer = c.post("/login", data={"username": "teacher", "password": guess})
            assert answer.status_code == 400 and answer.json()["detail"] == "Incorrect credentials."
        # Locked (2 s): the right password reads as a lock, and the try is counted — the wait doubles to 4 s.
        answer = c.post("/login", data={"username": "teacher", "password": "s3cret"})
        assert answer.status_code == 400
        assert re.match(r"locked, retry in 4 s", answer.json()["detail"]), answer.json()
        # A wrong one during the lock is counted as well: 8 s.
        answer = c.post("/login", data={"username": "teacher", "password": "d"})
        assert re.match(r"locked, retry in 8 s", answer.json()["detail"]), answer.json()
        time.sleep(8.2)
        assert c.post("/login", data={"username": "teacher", "password": "s3cret"}).json() == {"success": True}
        # Logged in: the page and the API are there, the heartbeat streams.
        page = c.get("/")
        assert "/analyze" in api_info(page.text)["named_endpoints"]
        assert c.get("/gradio_api/info").status_code == 200
        with c.stream("GET", "/gradio_api/heartbeat/abc") as beat:
            assert beat.status_code == 200
            assert next(beat.iter_text()).startswith("data: ALIVE")
        # Another user name's tries never touched this one's.
        assert c.post("/login", data={"username": "student", "password": "s3cret"}).status_code == 400
