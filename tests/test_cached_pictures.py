"""``ui.cached_pictures``: a content-addressed picture's answer says it never changes; nothing else is touched."""

from __future__ import annotations

import hashlib

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from visualizer.budgets import outputs
from visualizer.ui.cached_pictures import CACHE_CONTROL, CachedPictures, is_picture

NAME = hashlib.sha1(b"some png bytes").hexdigest() + ".png"
PICTURE = f"/gradio_api/file=/tmp/gradio/{outputs.FOLDER}/{NAME}"


def file_route(request):
    # as Gradio's file route answers: the file, or 403 for what it does not serve; a cache header of its own on one
    if request.query_params.get("refuse"):
        return PlainTextResponse("File not allowed", status_code=403)
    headers = {"Cache-Control": "no-store"} if request.query_params.get("own") else {}
    return Response(b"\x89PNG...", media_type="image/png", headers=headers)


def client() -> TestClient:
    app = Starlette(
        routes=[Route("/gradio_api/{rest:path}", file_route, methods=["GET", "HEAD", "POST"])],
        middleware=[Middleware(CachedPictures)],
    )
    return TestClient(app)


def test_which_paths_are_pictures():
    assert is_picture(PICTURE)
    assert is_picture("/course/gradio_api/file=/srv/cache/cnnviz-images/" + NAME)  # under a root path
    for path in (
        f"/gradio_api/file=/tmp/gradio/{outputs.FOLDER}/{NAME[:-4]}.jpg",  # not a PNG
        f"/gradio_api/file=/tmp/gradio/{outputs.FOLDER}/notahash.png",  # not a content hash
        f"/gradio_api/file=/tmp/gradio/uploads/{NAME}",  # another folder: uploads, downloads
        f"/gradio_api/file=/tmp/gradio/{outputs.FOLDER}/{NAME}/x.png",  # below it
        f"/gradio_api/upload/{outputs.FOLDER}/{NAME}",  # another route
        "/gradio_api/file=/tmp/gradio/cnnviz-exports/model.csv",
    ):
        assert not is_picture(path), path


def test_a_pictures_answer_is_marked_immutable_and_private():
    with client() as c:
        for method in ("GET", "HEAD"):
            answer = c.request(method, PICTURE)
            assert answer.status_code == 200
            assert answer.headers["cache-control"] == CACHE_CONTROL.decode()
            assert "immutable" in answer.headers["cache-control"] and "private" in answer.headers["cache-control"]
        # a cache header of the route's own is replaced, not doubled
        answer = c.get(PICTURE, params={"own": 1})
        assert answer.headers.get_list("cache-control") == [CACHE_CONTROL.decode()]


def test_everything_else_passes_untouched():
    with client() as c:
        refused = c.get(PICTURE, params={"refuse": 1})  # a refusal may not be kept for a year
        assert refused.status_code == 403 and "cache-control" not in refused.headers
        assert "cache-control" not in c.post(PICTURE).headers
        other = c.get(f"/gradio_api/file=/tmp/gradio/uploads/{NAME}")
        assert other.status_code == 200 and "cache-control" not in other.headers
        assert c.get(PICTURE, params={"own": 1}).content == b"\x89PNG..."  # the body as the route wrote it
