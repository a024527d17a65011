"""With ``--auth``: nothing about the app before login, and a lock-out answered as one.

Gradio 6.31 checks the login on its API, config and file routes, but not everywhere (``gradio/routes.py``):
``GET /`` (``main``) renders the login page with ``window.gradio_api_info`` embedded — the whole API description,
every endpoint and the model list — whoever asks, and ``GET /gradio_api/heartbeat/{session}`` streams without a
login. ``LoginWall`` sits inside Gradio's app (``launch(app_kwargs={"middleware": …})``) and, for a request
without a valid login cookie, lets through only what the login form needs (the page shell, its static files,
``POST /login``), with the API description blanked out of the page; everything else is answered 401.

Gradio's login route turns a False from ``auth`` into "Incorrect credentials."; ``gradio_auth`` makes a lock-out
(``budgets.logins.LoginLocked``) an answer of its own: 400 with "locked, retry in N s". Gradio's login form shows
its own fixed text for any 400 (its ``Login`` component reads only the status), so the page says the rule above
the form instead (``AUTH_MESSAGE``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.middleware import Middleware

from visualizer.budgets.logins import FIRST_LOCK_S, FREE_TRIES, LoginLocked

AUTH_MESSAGE = (
    f"After {FREE_TRIES} wrong passwords this user name is locked for {FIRST_LOCK_S:g} s, doubling with every "
    "further try; while it is locked even the right password is refused (the form then still says "
    f"'Incorrect credentials'). · 비밀번호를 {FREE_TRIES}번 틀리면 이 사용자 이름은 {FIRST_LOCK_S:g}초 동안 잠기고, "
    "더 시도할 때마다 두 배로 길어집니다. 잠긴 동안에는 맞는 비밀번호도 거절됩니다."
)
# What the login form needs before anyone has logged in: the page shell, its scripts, styles and icons, the form's
# POST; and the one call ``launch`` makes to itself (``startup-events``: it answers True or False). Nothing here
# describes the app (the config Gradio sends before login is an empty page).
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
OPEN_PATHS = {
    "/",
    "/login",
    "/login/",
    "/theme.css",
    "/favicon.ico",
    "/robots.txt",
    "/manifest.json",
    "/gradio_api/theme.css",
    "/gradio_api/startup-events",
}
API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
NO_API_INFO = b'window.gradio_api_info = {"named_endpoints": {}, "unnamed_endpoints": {}};</script>'


def gradio_auth(auth: Any) -> Any:
    """``auth`` as Gradio's login route calls it: a lock-out becomes its own 400 answer."""
    if not callable(auth):
        return auth

    def check(user: str, password: str) -> bool:
        try:
            return bool(auth(user, password))
        except LoginLocked as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None

    return check


class LoginWall:
    """ASGI middleware inside Gradio's app: see the module's docstring."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or self._logged_in(scope):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == "/" and scope.get("method") == "GET":
            await self._page_without_api_info(scope, receive, send)
        elif path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
        else:
            await _refuse(send)

    @staticmethod
    def _logged_in(scope: dict) -> bool:
        app = scope.get("app")
        if app is None or getattr(app, "auth", None) is None:
            return True  # no --auth: nothing to guard
        cookies = _cookies(scope)
        cookie_id = getattr(app, "cookie_id", "")
        for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
            token = cookies.get(name)
            if token and token in app.tokens:
                return True
        return False

    async def _page_without_api_info(self, scope: dict, receive: Callable, send: Callable) -> None:
        start: dict = {}
        body: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    page = API_INFO.sub(NO_API_INFO, b"".join(body))
                    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(page)).encode()))
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, capture)


def _cookies(scope: dict) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, sep, val = part.strip().partition("=")
                if sep:
                    found[name] = val
    return found


async def _refuse(send: Callable) -> None:
    body = b'{"detail":"Not authenticated: log in first (POST /login, or the form at /)"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def middleware(auth: Any) -> list[Middleware]:
    """What ``launch`` hands Gradio's FastAPI app, outermost first: the wall, when there is a login to guard."""
    return [Middleware(LoginWall)] if auth is not None else []
