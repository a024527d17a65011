"""Shared fixtures: a real app server (``python app.py``) for the end-to-end and browser tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """Start the app as a user would, in a scratch working directory (runs/ and data/ land there)."""
    work = tmp_path_factory.mktemp("app")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), TORCH_HOME=str(work / "torch"), GRADIO_ANALYTICS_ENABLED="False",
               MPLBACKEND="Agg")
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port)], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
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
                    raise RuntimeError(f"app did not start:\n{(work / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
