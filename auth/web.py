"""HTTP routes for sign-in and sign-out, served beside the Streamlit app by server.py (st.App).

A cookie can only be set by an HTTP response — Streamlit reruns travel over a websocket — so the
login form posts here. The cookie holds a signed random token (auth.cookies) for a server-side
session row (auth.sessions); it is HttpOnly (no script can read it), SameSite=Strict (no other site
can make the browser send it) and expires after `[auth].session_max_hours`.
Errors go back to the login page as a code in the URL, never as free text.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

import settings
from auth import cookies, service
from store.db import get_engine

LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
MAX_FORM_BYTES = 16 * 1024
ERROR_PARAM = "auth_error"
WAIT_PARAM = "auth_wait"
NOTICE_PARAM = "auth_notice"
AUTH_PARAMS = (ERROR_PARAM, WAIT_PARAM, NOTICE_PARAM)


def _auth_cfg() -> dict:
    return settings.get_settings()["auth"]


def client_address(request: Request) -> str:
    """The client's address for per-client lockout. X-Forwarded-For is believed only when the
    direct peer is a configured trusted proxy (otherwise anyone could pick their own address)."""
    peer = request.client.host if request.client else "unknown"
    trusted = {str(a) for a in _auth_cfg().get("trusted_proxies", [])}
    if peer in trusted:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    break
    return peer[:64]


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


def _same_origin(request: Request) -> bool:
    """Login CSRF guard: a POST whose Origin (or, failing that, Referer) names another host is
    refused. Browsers send Origin on every POST; a missing header (non-browser client) is allowed."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    return source != "null" and urlsplit(source).netloc == request.headers.get("host", "")


def _cookie_secure(request: Request) -> bool:
    setting = _auth_cfg().get("cookie_secure", "auto")
    if isinstance(setting, bool):
        return setting
    proto = request.headers.get("x-forwarded-proto", "") if request.client and request.client.host in {
        str(a) for a in _auth_cfg().get("trusted_proxies", [])} else ""
    return request.url.scheme == "https" or proto == "https"


def _redirect(target: str) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _with_params(target: str, **params: str) -> str:
    return target + ("&" if "?" in target else "?") + urlencode(params)


async def login(request: Request) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return PlainTextResponse("请求过大", status_code=413)
    try:
        form = await request.form(max_files=0, max_fields=10)
    except Exception:  # noqa: BLE001 - malformed body of any kind
        return PlainTextResponse("请求格式错误", status_code=400)
    target = safe_next(str(form.get("next") or "/"))
    if not _same_origin(request):
        return _redirect(_with_params(target, **{ERROR_PARAM: "origin"}))
    username = str(form.get("username") or "")[:100]
    password = str(form.get("password") or "")[:1000]
    try:
        _viewer, token = await run_in_threadpool(
            service.sign_in, get_engine(), username, password, client_address(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except service.LoginFailed as exc:
        params = {ERROR_PARAM: exc.code}
        if exc.wait_minutes:
            params[WAIT_PARAM] = str(exc.wait_minutes)
        return _redirect(_with_params(target, **params))
    response = _redirect(target)
    response.set_cookie(
        cookies.cookie_name(), cookies.sign_token(token), max_age=cookies.max_age_seconds(), path="/",
        httponly=True, samesite="strict", secure=_cookie_secure(request),
    )
    return response


async def logout(request: Request) -> Response:
    raw = request.cookies.get(cookies.cookie_name())
    token = cookies.unsign_token(raw) if raw else None
    if token:
        await run_in_threadpool(service.sign_out, get_engine(), token, client_address(request))
    response = _redirect(_with_params("/", **{NOTICE_PARAM: "logged_out"}))
    response.delete_cookie(cookies.cookie_name(), path="/", httponly=True, samesite="strict",
                           secure=_cookie_secure(request))
    return response


def routes() -> list[Route]:
    return [
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(LOGOUT_PATH, logout, methods=["GET", "POST"]),
    ]
