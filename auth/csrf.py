"""CSRF tokens for the sign-in routes (double submit, bound to this browser).

Every HTML page the server sends sets a random `cityops_csrf` cookie (HttpOnly, SameSite=Strict;
auth/http_headers.py) when the browser has none. The script sees that cookie in the websocket
handshake and puts `form_token(purpose, cookie)` — an HMAC under the server secret — into the forms
it renders (login, logout). A route accepts a POST only when the form's token matches the HMAC of the
cookie the same request carries: another site can make a browser send the cookie but can neither read
it nor compute the HMAC, and a token copied from one browser is worthless in another.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from auth import cookies

COOKIE_NAME = "cityops_csrf"
FIELD = "csrf"
_MAX_LEN = 128


def new_browser_token() -> str:
    return secrets.token_urlsafe(32)


def valid_browser_token(value: str | None) -> bool:
    return bool(value) and 20 <= len(value) <= _MAX_LEN and value.replace("-", "").replace("_", "").isalnum()


def form_token(purpose: str, browser_token: str | None, key: str | None = None) -> str:
    """The value a form for `purpose` ("login", "logout") carries; "" without a browser token (the
    route will then refuse, and the page asks for a refresh, which sets the cookie)."""
    if not valid_browser_token(browser_token):
        return ""
    secret = (key or cookies.secret_key()).encode("utf-8")
    return hmac.new(secret, f"{purpose}|{browser_token}".encode(), hashlib.sha256).hexdigest()


def check(purpose: str, browser_token: str | None, supplied: str | None, key: str | None = None) -> bool:
    expected = form_token(purpose, browser_token, key)
    return bool(expected) and bool(supplied) and hmac.compare_digest(expected, str(supplied))
