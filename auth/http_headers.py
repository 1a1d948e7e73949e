"""Security headers on every HTTP response, as ASGI middleware for st.App (server.py).

- Content-Security-Policy: everything from this origin only. connect-src and img-src are 'self' plus
  data:/blob: (and any intranet tile server named in `[security].csp_extra_sources`), so no page can
  make the browser talk to another host. Streamlit itself needs 'unsafe-inline' styles (its CSS-in-JS)
  and blob: workers (deck.gl / MapLibre); the one inline script of its index.html is allowed by hash.
  frame-ancestors (and X-Frame-Options) stop other sites framing the app (clickjacking).
- X-Content-Type-Options: nosniff; Referrer-Policy: same-origin (no URL with a scope or case id leaks
  to another site); Permissions-Policy: no camera, microphone, geolocation, payment or USB.
- On HTML pages, the per-browser CSRF cookie (auth/csrf.py) when the browser has none yet, so the
  forms the script renders can carry a token bound to it.

Websocket traffic passes untouched (headers there are the handshake's, and Streamlit owns them).
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from functools import lru_cache
from http.cookies import SimpleCookie
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import settings
from auth import clients, cookies, csrf

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


@lru_cache(maxsize=1)
def streamlit_inline_script_hashes() -> tuple[str, ...]:
    """CSP hashes of the inline scripts in Streamlit's index.html (read from the installed package, so a
    Streamlit upgrade cannot silently break the page)."""
    spec = importlib.util.find_spec("streamlit")  # locates the package without importing it
    if spec is None or spec.origin is None:
        return ()
    index = Path(spec.origin).parent / "static" / "index.html"
    try:
        body = index.read_bytes()
    except OSError:
        return ()
    return tuple("'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
                 for m in _INLINE_SCRIPT.findall(body))


def _cfg() -> dict:
    return settings.get_settings().get("security", {})


def frame_ancestors() -> str:
    value = str(_cfg().get("frame_ancestors", "none")).strip().strip("'")
    return "'self'" if value == "self" else "'none'"


def content_security_policy() -> str:
    extra = " ".join(str(s) for s in _cfg().get("csp_extra_sources", []) if str(s).strip())
    extra = f" {extra}" if extra else ""
    scripts = " ".join(streamlit_inline_script_hashes())
    directives = [
        "default-src 'self'",
        f"script-src 'self' {scripts}".rstrip(),
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{extra}",
        "font-src 'self' data:",
        f"connect-src 'self' data: blob:{extra}",
        "worker-src 'self' blob:",
        "child-src 'self' blob:",
        "frame-src 'self'",
        "media-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors()}",
    ]
    return "; ".join(directives)


def security_headers() -> list[tuple[str, str]]:
    return [
        ("content-security-policy", content_security_policy()),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "SAMEORIGIN" if frame_ancestors() == "'self'" else "DENY"),
        ("referrer-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        ("cross-origin-opener-policy", "same-origin"),
    ]


def _request_cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed Cookie header means no usable cookie
                continue
            if name in jar:
                return jar[name].value
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), None)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = security_headers()
        needs_csrf = not csrf.valid_browser_token(_request_cookie(scope, csrf.COOKIE_NAME))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in headers:
                    if name not in out:
                        out[name] = value
                if needs_csrf and out.get("content-type", "").startswith("text/html"):
                    out.append("set-cookie", self._csrf_cookie(scope))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _csrf_cookie(scope: Scope) -> str:
        peer = (scope.get("client") or ("unknown", 0))[0]
        https = clients.came_over_https(peer, scope.get("scheme", "http"), _header(scope, b"x-forwarded-proto"))
        jar = SimpleCookie()
        jar[csrf.COOKIE_NAME] = csrf.new_browser_token()
        morsel = jar[csrf.COOKIE_NAME]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Strict"
        if cookies.secure_flag(https):
            morsel["secure"] = True
        return morsel.OutputString()
