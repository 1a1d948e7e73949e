"""The sign-in HTTP routes that server.py serves beside the app (auth/web.py), driven end to end through
ASGI: form post → credentials checked → signed HttpOnly cookie → session usable; failures redirect
with a code; lockout; open-redirect and cross-site posts refused; logout revokes and clears."""
from __future__ import annotations

import asyncio
import ast
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from starlette.applications import Starlette

import settings
from auth import cookies, csrf, sessions, web
from store.db import dispose_engines
from tests.test_auth_support import PW, audit_rows, auth_test_settings, make_user  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


class Response:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes):
        self.status = status
        self.headers = [(k.decode().lower(), v.decode("latin-1")) for k, v in headers]
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k == "set-cookie"]

    @property
    def location_query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.header("location")).query).items()}


BROWSER = csrf.new_browser_token()


def call(method: str, path: str, form: dict | None = None, headers: dict | None = None,
         client: str = "10.0.0.7", cookie: str | None = None, raw_body: bytes | None = None,
         with_csrf: bool = True) -> Response:
    """One request through the ASGI app (no HTTP client library needed). By default the request
    comes from a browser that loaded our page: it has the csrf cookie and the form carries the token."""
    app = Starlette(routes=web.routes())
    if with_csrf and raw_body is None:
        form = {**(form or {}), csrf.FIELD: csrf.form_token(path.rsplit("/", 1)[-1], BROWSER)}
        cookie = "; ".join(c for c in (cookie, f"{csrf.COOKIE_NAME}={BROWSER}") if c)
    body = raw_body if raw_body is not None else (urlencode(form).encode() if form is not None else b"")
    hdrs = {"host": "dash.local:8501", "content-type": "application/x-www-form-urlencoded",
            "content-length": str(len(body)), "user-agent": "pytest", **(headers or {})}
    if cookie:
        hdrs["cookie"] = cookie
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()], "client": (client, 50000),
             "server": ("dash.local", 8501)}
    sent: list[dict] = []
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return Response(start["status"], start.get("headers", []),
                    b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


@pytest.fixture
def app_db(city_engine, monkeypatch):
    """Point the app's engine (settings.database_url) at the test database."""
    monkeypatch.setenv("DATABASE_URL", city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    make_user(city_engine, "maonan", "leader", "440902", display_name="区领导")
    yield city_engine
    settings.reload_settings()


def _session_cookie(resp: Response) -> SimpleCookie:
    [header] = [h for h in resp.set_cookies() if h.startswith(cookies.cookie_name() + "=")]
    jar = SimpleCookie()
    jar.load(header)
    return jar


def test_login_sets_signed_httponly_strict_expiring_cookie(app_db):
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW, "next": "/events?region=440902"},
                headers={"origin": "http://dash.local:8501"})
    assert resp.status == 303 and resp.header("location") == "/events?region=440902"
    assert resp.header("cache-control") == "no-store"
    raw_header = resp.set_cookies()[0].lower()
    assert "httponly" in raw_header and "samesite=strict" in raw_header and "path=/" in raw_header
    morsel = _session_cookie(resp)[cookies.cookie_name()]
    assert int(morsel["max-age"]) == 12 * 3600
    assert "secure" not in raw_header  # plain http intranet: "auto" leaves Secure off
    token = cookies.unsign_token(morsel.value)
    assert token is not None
    viewer = sessions.resolve_token(app_db, token)
    assert (viewer.username, viewer.zone_code) == ("maonan", "440902")
    [row] = audit_rows(app_db, "login")
    assert row.client == "10.0.0.7"


def test_secure_flag_over_https(app_db, monkeypatch):
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW},
                headers={"x-forwarded-proto": "https"})
    assert "secure" not in resp.set_cookies()[0].lower()  # header from an untrusted peer is ignored
    monkeypatch.setenv("CITYOPS_SECURITY_TRUSTED_PROXIES", '["10.0.0.0/24"]')
    settings.reload_settings()
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW},
                headers={"x-forwarded-proto": "https"})
    assert "; secure" in resp.set_cookies()[0].lower()  # TLS ends at the trusted proxy
    monkeypatch.setenv("CITYOPS_SECURITY_TRUSTED_PROXIES", "[]")
    monkeypatch.setenv("CITYOPS_AUTH_COOKIE_SECURE", "true")
    settings.reload_settings()
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW})
    assert "; secure" in resp.set_cookies()[0].lower()


def test_failed_login_redirects_with_code_and_no_cookie(app_db):
    resp = call("POST", "/auth/login", {"username": "maonan", "password": "Wrong@2026!!", "next": "/?period=2026-10"})
    assert resp.status == 303 and not resp.set_cookies()
    assert resp.location_query == {"period": "2026-10", "auth_error": "invalid"}
    [row] = audit_rows(app_db, "login_failed")
    assert row.detail["reason"] == "bad_password" and row.client == "10.0.0.7"


def test_throttle_code_and_seconds_travel_in_the_redirect(app_db):
    for _ in range(settings.get_settings()["auth"]["max_failed_logins"]):
        resp = call("POST", "/auth/login", {"username": "maonan", "password": "Wrong@2026!!"})
    assert resp.location_query == {"auth_error": "invalid"}
    # The next attempt from the same address waits (even with the right password) …
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW})
    assert resp.location_query["auth_error"] == "locked" and not resp.set_cookies()
    assert 1 <= int(resp.location_query["auth_wait"]) <= 2
    # … the real user at another desk is not held back by someone else's failures.
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW}, client="10.0.0.8")
    assert resp.set_cookies() and "auth_error" not in resp.header("location")


def test_per_client_block_uses_the_peer_address_not_forwarded_headers(app_db, monkeypatch):
    monkeypatch.setenv("CITYOPS_AUTH_MAX_FAILED_PER_CLIENT", "3")
    settings.reload_settings()
    for i in range(3):
        call("POST", "/auth/login", {"username": f"ghost{i}", "password": "x"}, client="10.6.6.6",
             headers={"x-forwarded-for": f"1.2.3.{i}"})
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW}, client="10.6.6.6",
                headers={"x-forwarded-for": "9.9.9.9"})
    assert resp.location_query["auth_error"] == "client_locked"


def test_trusted_proxy_forwarded_address(app_db, monkeypatch):
    monkeypatch.setenv("CITYOPS_SECURITY_TRUSTED_PROXIES", '["10.0.0.1"]')
    settings.reload_settings()
    call("POST", "/auth/login", {"username": "maonan", "password": PW}, client="10.0.0.1",
         headers={"x-forwarded-for": "6.6.6.6, 172.16.0.9"})
    assert audit_rows(app_db, "login")[0].client == "172.16.0.9"


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                                  "evil.example", "/ok\r\nSet-Cookie: x=1"])
def test_next_cannot_redirect_off_site(app_db, evil):
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW, "next": evil})
    assert resp.header("location") == "/"


def test_cross_site_post_is_refused(app_db):
    resp = call("POST", "/auth/login", {"username": "maonan", "password": PW}, headers={"origin": "http://evil.example"})
    assert resp.location_query == {"auth_error": "origin"} and not resp.set_cookies()
    assert audit_rows(app_db, "login") == []


def test_oversized_or_malformed_body(app_db):
    assert call("POST", "/auth/login", raw_body=b"a=" + b"x" * 20000).status == 413
    assert call("GET", "/auth/login").status == 405


@pytest.mark.parametrize("username", ["' OR 1=1 --", "%", "_", "\\", "maonan' --", "管理员"])
def test_injection_in_login_form_is_harmless(app_db, username):
    resp = call("POST", "/auth/login", {"username": username, "password": "' OR '1'='1"})
    assert resp.location_query["auth_error"] == "invalid" and not resp.set_cookies()


def test_logout_revokes_session_clears_cookie_and_audits(app_db):
    login = call("POST", "/auth/login", {"username": "maonan", "password": PW})
    value = _session_cookie(login)[cookies.cookie_name()].value
    token = cookies.unsign_token(value)
    resp = call("POST", "/auth/logout", cookie=f"{cookies.cookie_name()}={value}")
    assert resp.status == 303 and resp.location_query == {"auth_notice": "logged_out"}
    cleared = resp.set_cookies()[0].lower()
    assert cleared.startswith(cookies.cookie_name() + '=""') or "max-age=0" in cleared
    with pytest.raises(sessions.SessionInvalid):
        sessions.resolve_token(app_db, token)
    [row] = audit_rows(app_db, "logout")
    assert row.actor == "maonan"
    # A logout with a forged cookie is harmless; GET is not a route at all (tests/test_security_web.py).
    assert call("POST", "/auth/logout", cookie=f"{cookies.cookie_name()}=forged.value").status == 303
    assert call("GET", "/auth/logout", with_csrf=False).status == 405
    assert len(audit_rows(app_db, "logout")) == 1


def test_session_idle_expiry_after_route_login(app_db):
    login = call("POST", "/auth/login", {"username": "maonan", "password": PW})
    token = cookies.unsign_token(_session_cookie(login)[cookies.cookie_name()].value)
    later = sessions.utcnow() + timedelta(minutes=121)
    with pytest.raises(sessions.SessionInvalid) as exc:
        sessions.resolve_token(app_db, token, now=later)
    assert exc.value.reason == "idle"


def test_server_py_wraps_app_py_with_these_routes():
    """server.py is what `streamlit run` serves: an st.App over app.py with the auth routes (checked
    by parsing, as Streamlit's own app discovery does, so the test process is not turned into a
    server)."""
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "server.py")
    assert found.is_asgi_app and found.app_name == "app"
    tree = ast.parse((ROOT / "server.py").read_text())
    call_node = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "App")
    assert call_node.args[0].value == "app.py"
    assert any(k.arg == "routes" for k in call_node.keywords)
    paths = {r.path: set(r.methods) for r in web.routes()}
    assert paths == {"/auth/login": {"POST"}, "/auth/logout": {"POST"}}
    assert any(k.arg == "middleware" for k in call_node.keywords)  # security headers
    dispose_engines()
