"""``ui.cached_pictures``: a picture ``budgets.outputs`` wrote is answered once per browser, marked as never changing;
every other request goes on to Gradio untouched."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from visualizer.budgets import outputs
from visualizer.ui.cached_pictures import CACHE_CONTROL, CachedPictures, picture_file


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # Gradio's cache dir, where budgets.outputs writes
    return tmp_path


@pytest.fixture
def picture(cache_dir) -> str:
    return outputs.image_file(Image.new("RGB", (8, 6), (200, 30, 90)))


def client() -> tuple[TestClient, list[str]]:
    """The middleware in front of a stand-in for Gradio's routes, which records what reached it."""
    reached: list[str] = []

    def gradio(request):
        reached.append(f"{request.method} {request.url.path}")
        return Response(b"gradio's answer", status_code=403)

    app = Starlette(
        routes=[Route("/{rest:path}", gradio, methods=["GET", "HEAD", "POST"])],
        middleware=[Middleware(CachedPictures)],
    )
    return TestClient(app), reached


def test_which_paths_name_a_picture(picture, cache_dir):
    folder, name = os.path.split(picture)
    assert name == hashlib.sha1(open(picture, "rb").read()).hexdigest() + ".png"  # named by its bytes
    assert picture_file(f"/gradio_api/file={picture}") == picture
    assert picture_file(f"/course/gradio_api/file={picture}") == picture  # under a root path
    for path in (
        f"/gradio_api/file={folder}/{name[:-4]}.jpg",  # not a PNG
        f"/gradio_api/file={folder}/notahash.png",
        f"/gradio_api/file={folder}/../{outputs.FOLDER}/{name}",  # the same file, by a way round
        f"/gradio_api/file={folder}/sub/{name}",
        f"/gradio_api/file={cache_dir}/uploads/{name}",  # another folder of Gradio's
        f"/gradio_api/file=/tmp/elsewhere/{outputs.FOLDER}/{name}",  # a folder of that name elsewhere
        f"/gradio_api/upload/{outputs.FOLDER}/{name}",  # another route
    ):
        assert picture_file(path) is None, path


def test_a_picture_is_answered_here_marked_immutable(picture):
    c, reached = client()
    with c:
        answer = c.get(f"/gradio_api/file={picture}")
        assert answer.status_code == 200 and answer.content == open(picture, "rb").read()
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["cache-control"] == CACHE_CONTROL.decode()
        assert "immutable" in answer.headers["cache-control"] and "private" in answer.headers["cache-control"]
        Image.open(io.BytesIO(answer.content)).verify()
        head = c.head(f"/gradio_api/file={picture}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(os.path.getsize(picture))
    assert reached == []  # neither reached Gradio


def test_everything_else_goes_on_to_gradio(picture, cache_dir):
    folder, name = os.path.split(picture)
    gone = os.path.join(folder, "0" * 40 + ".png")  # a valid name no longer on disk (pruned)
    c, reached = client()
    with c:
        for method, path in (
            ("POST", f"/gradio_api/file={picture}"),
            ("GET", f"/gradio_api/file={gone}"),
            ("GET", f"/gradio_api/file={cache_dir}/{name}"),
            ("GET", "/config"),
        ):
            answer = c.request(method, path)
            assert answer.content == b"gradio's answer" and "cache-control" not in answer.headers, path
    assert len(reached) == 4
