"""HTTP routes for sign-in and sign-out, served beside the Streamlit app by server.py (st.App).

A cookie can only be set by an HTTP response — Streamlit reruns travel over a websocket — so the
login form posts here. The cookie holds a signed random token (auth.cookies) for a server-side
session row (auth.sessions); it is HttpOnly (no script can read it), SameSite=Strict (no other site
can make the browser send it) and expires after `[auth].session_max_hours`.

Every route here changes state, so every route:
- answers POST only (a link or an image — `![ ](/auth/logout)` in a case title — can only GET);
- refuses a request whose Origin (or, failing that, Referer) names another site;
- requires the form's CSRF token, bound to this browser's `cityops_csrf` cookie (auth/csrf.py).
Errors go back to the login page as a code in the URL, never as free text.

Streamlit serves its own GET /auth/logout (st.logout, for OIDC sign-in): `LogoutLinkGuard` lets
only a same-origin top-level navigation (what st.logout does) reach it, so an image or a link from
another site cannot end an OIDC session either.
"""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from auth import clients, cookies, csrf, service, sessions
from store.db import get_engine

LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
MAX_FORM_BYTES = 16 * 1024
ERROR_PARAM = "auth_error"
WAIT_PARAM = "auth_wait"  # seconds
NOTICE_PARAM = "auth_notice"
AUTH_PARAMS = (ERROR_PARAM, WAIT_PARAM, NOTICE_PARAM)


def client_address(request: Request) -> str:
    """The client's address (X-Forwarded-For believed only from `[security].trusted_proxies`)."""
    peer = request.client.host if request.client else None
    return clients.client_address(peer, request.headers.get("x-forwarded-for"))


def came_over_https(request: Request) -> bool:
    peer = request.client.host if request.client else None
    return clients.came_over_https(peer, request.url.scheme, request.headers.get("x-forwarded-proto"))


def safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //evil.example), with our own auth
    parameters removed; anything else becomes "/"."""
    if not value or len(value) > 2000:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//") \
            or "\\" in value or any(ord(ch) < 32 for ch in value):
        return "/"
    query = "&".join(p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in AUTH_PARAMS)
    return parts.path + (f"?{query}" if query else "")


def same_origin(request: Request) -> bool:
    """False when the Origin (or, failing that, the Referer) names another site or is "null" (a
    sandboxed frame, a data: URL). Browsers send Origin on every POST; a request with neither header
    (a non-browser client) passes here and must still carry the CSRF token."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    return source != "null" and urlsplit(source).netloc == public_host(request)


def public_host(request: Request) -> str:
    """The host the browser addressed: Host, or — from a trusted proxy, which may rewrite Host for its
    upstream — the first X-Forwarded-Host."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded and clients.is_trusted(peer):
        return forwarded.split(",")[0].strip()
    return request.headers.get("host", "")


def public_origin(request: Request) -> str:
    """scheme://host as the browser addressed this site (behind a trusted proxy: the forwarded ones),
    for URLs that must be absolute (the basemap style's tile URLs, fetched from a map worker)."""
    return f"{'https' if came_over_https(request) else 'http'}://{public_host(request)}"


def csrf_ok(request: Request, form: FormData, purpose: str) -> bool:
    return csrf.check(purpose, request.cookies.get(csrf.COOKIE_NAME), str(form.get(csrf.FIELD) or ""))


async def read_form(request: Request) -> FormData | Response:
    """The posted form, or the error response for an oversized or malformed body."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return PlainTextResponse("请求过大", status_code=413)
    try:
        return await request.form(max_files=0, max_fields=10)
    except Exception:  # noqa: BLE001 - malformed body of any kind
        return PlainTextResponse("请求格式错误", status_code=400)


def _redirect(target: str) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _with_params(target: str, **params: str) -> str:
    return target + ("&" if "?" in target else "?") + urlencode(params)


async def login(request: Request) -> Response:
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    target = safe_next(str(form.get("next") or "/"))
    if not same_origin(request):
        return _redirect(_with_params(target, **{ERROR_PARAM: "origin"}))
    if not csrf_ok(request, form, "login"):
        return _redirect(_with_params(target, **{ERROR_PARAM: "csrf"}))
    username = str(form.get("username") or "")[:100]
    password = str(form.get("password") or "")[:1000]
    try:
        _viewer, token = await run_in_threadpool(
            service.sign_in, get_engine(), username, password, client_address(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except service.LoginFailed as exc:
        params = {ERROR_PARAM: exc.code}
        if exc.wait_seconds:
            params[WAIT_PARAM] = str(exc.wait_seconds)
        return _redirect(_with_params(target, **params))
    response = _redirect(target)
    response.set_cookie(
        cookies.cookie_name(), cookies.sign_token(token), max_age=cookies.max_age_seconds(), path="/",
        httponly=True, samesite="strict", secure=cookies.secure_flag(came_over_https(request)),
    )
    return response


async def logout(request: Request) -> Response:
    """Revoke the server-side session and delete the cookie. A cross-site or token-less request
    changes nothing (403): signing someone out is a state change like any other."""
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    if not same_origin(request) or not csrf_ok(request, form, "logout"):
        return PlainTextResponse("请求来源无效，未退出登录。请在系统内点击“退出登录”。", status_code=403)
    raw = request.cookies.get(cookies.cookie_name())
    token = cookies.unsign_token(raw) if raw else None
    if token:
        await run_in_threadpool(service.sign_out, get_engine(), token, client_address(request))
    response = _redirect(_with_params("/", **{NOTICE_PARAM: "logged_out"}))
    response.delete_cookie(cookies.cookie_name(), path="/", httponly=True, samesite="strict",
                           secure=cookies.secure_flag(came_over_https(request)))
    return response


async def signed_in(request: Request) -> bool:
    """Does this request carry a live, fully signed-in session cookie? The guard of read-only routes
    beside the app that serve signed-in pages only (the basemap tiles, geo.tile_routes)."""
    raw = request.cookies.get(cookies.cookie_name())
    token = cookies.unsign_token(raw) if raw else None
    if not token:
        return False
    try:
        # Not activity: a map fetching tiles is not a person at the keyboard.
        await run_in_threadpool(lambda: sessions.resolve_token(get_engine(), token, touch=False))
    except sessions.SessionInvalid:
        return False
    return True


def routes() -> list[Route]:
    return [
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(LOGOUT_PATH, logout, methods=["POST"]),
    ]


class LogoutLinkGuard:
    """ASGI middleware: a GET of …/auth/logout passes only as a same-origin top-level navigation
    (Sec-Fetch-Site: same-origin, Sec-Fetch-Dest: document — what st.logout's redirect is). An
    `<img src=/auth/logout>`, a cross-site link or a client without fetch metadata gets 403."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") \
                and scope["path"].rstrip("/").endswith(LOGOUT_PATH):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if not (headers.get("sec-fetch-site") == "same-origin" and headers.get("sec-fetch-dest") == "document"):
                refused = PlainTextResponse("退出登录须在系统内点击“退出登录”按钮。", status_code=403)
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
