"""Issue 19, findings 1, 6 and 8 — the HTTP face, driven as an attacker would through the real st.App
of server.py (its routes, Streamlit's own routes and the middleware):

1. `![ ](/auth/logout)` in a case title makes the browser GET /auth/logout: nobody is signed out; a
   cross-site or token-less POST changes nothing either; the app's own form post (same origin, CSRF
   token bound to the browser's csrf cookie) revokes the server-side session and deletes the cookie.
6. X-Forwarded-For / X-Forwarded-Proto count only from `[security].trusted_proxies`.
8. Every response carries the CSP (frame-ancestors, connect-src/img-src 'self'), nosniff, referrer
   policy and X-Frame-Options; HTML pages hand out the csrf cookie.
"""
from __future__ import annotations

import pytest
import streamlit as st
from starlette.applications import Starlette
from starlette.middleware import Middleware

import settings
from auth import clients, cookies, csrf, sessions
from auth.http_headers import SecurityHeadersMiddleware, content_security_policy, streamlit_inline_script_hashes
from auth.web import LogoutLinkGuard, routes
from store.db import dispose_engines
from tests.support.asgi import AsgiClient
from tests.test_auth_support import PW, audit_rows, auth_test_settings, make_user  # noqa: F401

ORIGIN = {"origin": "http://dash.local:8501"}
IMAGE_FETCH = {"sec-fetch-site": "same-origin", "sec-fetch-dest": "image", "sec-fetch-mode": "no-cors",
               "referer": "http://dash.local:8501/dispatch?case=17"}


@pytest.fixture
def app_db(city_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    dispose_engines()
    # A leader: the second factor is optional for the role (B: TOTP), so the password alone signs in.
    make_user(city_engine, "zhiban", "leader", "440900", display_name="领导")
    yield city_engine
    settings.reload_settings()


@pytest.fixture(scope="module")
def real_app():
    """The application exactly as server.py builds it (st.App over app.py, our routes, middleware)."""
    app = st.App("app.py", routes=routes(),
                 middleware=[Middleware(SecurityHeadersMiddleware), Middleware(LogoutLinkGuard)])
    with AsgiClient(app) as client:
        yield client


def _browser(client: AsgiClient) -> str:
    """Load the page as a browser does: the HTML response hands out the csrf cookie."""
    page = client.request("GET", "/")
    assert page.status == 200 and page.header("content-type").startswith("text/html")
    token = page.cookie_value(csrf.COOKIE_NAME)
    assert csrf.valid_browser_token(token)
    assert "httponly" in page.set_cookies()[csrf.COOKIE_NAME].lower()
    assert "samesite=strict" in page.set_cookies()[csrf.COOKIE_NAME].lower()
    return token


def _sign_in(client: AsgiClient, browser: str, name: str = "zhiban", **kw) -> str:  # noqa: ANN003
    reply = client.request("POST", "/auth/login", headers=ORIGIN, cookies={csrf.COOKIE_NAME: browser},
                           form={"username": name, "password": PW, csrf.FIELD: csrf.form_token("login", browser)},
                           **kw)
    assert reply.status == 303 and "auth_error" not in reply.header("location"), reply.header("location")
    return reply.cookie_value(cookies.cookie_name())


def _alive(engine, cookie_value: str) -> bool:  # noqa: ANN001
    try:
        sessions.resolve_token(engine, cookies.unsign_token(cookie_value))
        return True
    except sessions.SessionInvalid:
        return False


def test_image_or_link_to_logout_signs_nobody_out(app_db, real_app):
    browser = _browser(real_app)
    session = _sign_in(real_app, browser)
    jar = {csrf.COOKIE_NAME: browser, cookies.cookie_name(): session}
    # The <img> a Markdown title would produce, a cross-site link, a bare client without fetch metadata.
    for headers in (IMAGE_FETCH,
                    {"sec-fetch-site": "cross-site", "sec-fetch-dest": "document", "sec-fetch-mode": "navigate"},
                    {}):
        for method in ("GET", "HEAD"):
            reply = real_app.request(method, "/auth/logout", headers=headers, cookies=jar)
            assert reply.status in (403, 405), (method, headers, reply.status)
            assert not reply.set_cookies()  # no cookie of any kind cleared (ours, Streamlit's OIDC one)
    assert _alive(app_db, session)
    assert audit_rows(app_db, "logout") == []


@pytest.mark.parametrize("attack", ["cross_site", "no_token", "token_of_another_browser", "referer_elsewhere"])
def test_forged_logout_posts_change_nothing(app_db, real_app, attack):
    browser = _browser(real_app)
    session = _sign_in(real_app, browser)
    form = {csrf.FIELD: csrf.form_token("logout", browser)}
    headers = dict(ORIGIN)
    if attack == "cross_site":
        headers = {"origin": "http://evil.example"}
    elif attack == "no_token":
        form = {}
    elif attack == "token_of_another_browser":
        form = {csrf.FIELD: csrf.form_token("logout", csrf.new_browser_token())}
    else:
        headers = {"referer": "https://evil.example/page"}
    reply = real_app.request("POST", "/auth/logout", headers=headers, form=form,
                             cookies={csrf.COOKIE_NAME: browser, cookies.cookie_name(): session})
    assert reply.status == 403 and "未退出登录" in reply.body.decode()
    assert cookies.cookie_name() not in reply.set_cookies()
    assert _alive(app_db, session)


def test_own_logout_form_revokes_the_server_session_and_the_cookie(app_db, real_app):
    browser = _browser(real_app)
    session = _sign_in(real_app, browser)
    reply = real_app.request("POST", "/auth/logout", headers=ORIGIN,
                             form={csrf.FIELD: csrf.form_token("logout", browser)},
                             cookies={csrf.COOKIE_NAME: browser, cookies.cookie_name(): session})
    assert reply.status == 303 and reply.location_query == {"auth_notice": "logged_out"}
    cleared = reply.set_cookies()[cookies.cookie_name()].lower()
    assert "max-age=0" in cleared or 'expires=thu, 01 jan 1970' in cleared
    assert not _alive(app_db, session)  # the old cookie opens nothing any more
    [row] = audit_rows(app_db, "logout")
    assert row.actor == "zhiban"


def test_a_stolen_logout_token_is_useless_without_the_matching_browser_cookie(app_db, real_app):
    victim, attacker = _browser(real_app), _browser(real_app)
    assert victim != attacker
    session = _sign_in(real_app, victim)
    reply = real_app.request("POST", "/auth/logout", headers=ORIGIN,
                             form={csrf.FIELD: csrf.form_token("logout", victim)},
                             cookies={csrf.COOKIE_NAME: attacker, cookies.cookie_name(): session})
    assert reply.status == 403 and _alive(app_db, session)


def test_login_needs_the_csrf_token_of_this_browser(app_db, real_app):
    browser = _browser(real_app)
    for form_token in ("", csrf.form_token("login", csrf.new_browser_token()), csrf.form_token("logout", browser)):
        reply = real_app.request("POST", "/auth/login", headers=ORIGIN, cookies={csrf.COOKIE_NAME: browser},
                                 form={"username": "zhiban", "password": PW, csrf.FIELD: form_token})
        assert reply.location_query == {"auth_error": "csrf"} and not reply.set_cookies()
    assert audit_rows(app_db, "login") == [] and audit_rows(app_db, "login_failed") == []


def test_security_headers_on_every_kind_of_response(app_db, real_app):
    browser = _browser(real_app)
    replies = {
        "page": real_app.request("GET", "/dispatch?case=1"),
        "health": real_app.request("GET", "/_stcore/health"),
        "login redirect": real_app.request("POST", "/auth/login", headers=ORIGIN, cookies={csrf.COOKIE_NAME: browser},
                                           form={"username": "x", "password": "y"}),
        "refused logout": real_app.request("GET", "/auth/logout", headers=IMAGE_FETCH),
        "static": real_app.request("GET", "/app/static/basemap-dark.json"),
        "missing": real_app.request("GET", "/_stcore/no-such-thing"),
    }
    for name, reply in replies.items():
        csp = reply.header("content-security-policy") or ""
        assert "frame-ancestors 'none'" in csp, name
        assert "connect-src 'self' data: blob:;" in csp and "img-src 'self' data: blob:;" in csp, name
        assert "default-src 'self'" in csp and "object-src 'none'" in csp and "form-action 'self'" in csp, name
        assert "'unsafe-eval'" not in csp and "script-src 'self' 'sha256-" in csp, name
        assert reply.header("x-content-type-options") == "nosniff", name
        assert reply.header("x-frame-options") == "DENY", name
        assert reply.header("referrer-policy") == "same-origin", name


def test_csp_hashes_match_streamlits_inline_script():
    import base64
    import hashlib
    import re
    from pathlib import Path

    index = (Path(st.__file__).parent / "static" / "index.html").read_bytes()
    inline = re.findall(rb"<script>(.*?)</script>", index, re.S)
    assert inline, "Streamlit's index.html has no inline script any more: drop the hash"
    expected = {"'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'" for s in inline}
    assert set(streamlit_inline_script_hashes()) == expected
    assert all(h in content_security_policy() for h in expected)


def test_csp_extra_sources_and_framing_are_configurable(monkeypatch):
    monkeypatch.setenv("CITYOPS_SECURITY_CSP_EXTRA_SOURCES", '["https://tiles.intranet.example"]')
    monkeypatch.setenv("CITYOPS_SECURITY_FRAME_ANCESTORS", '"self"')
    settings.reload_settings()
    try:
        csp = content_security_policy()
        assert "img-src 'self' data: blob: https://tiles.intranet.example;" in csp
        assert "frame-ancestors 'self'" in csp
    finally:
        monkeypatch.undo()
        settings.reload_settings()


# ------------------------------------------------------------------ finding 6: trusted proxies

NETS = clients._networks(("10.0.0.1", "172.16.0.0/16"))  # noqa: SLF001


@pytest.mark.parametrize("peer, xff, expected", [
    ("203.0.113.9", "1.2.3.4", "203.0.113.9"),             # not a proxy: its header is ignored
    ("10.0.0.1", "1.2.3.4", "1.2.3.4"),                     # our proxy says who the client is
    ("10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),            # the client prepended a lie: rightmost untrusted hop
    ("10.0.0.1", "6.6.6.6, 1.2.3.4, 172.16.5.5", "1.2.3.4"),  # two proxies of ours
    ("10.0.0.1", "bogus, 1.2.3.4", "1.2.3.4"),
    ("10.0.0.1", "1.2.3.4, bogus", "10.0.0.1"),            # garbage written after our proxy: trust nothing
    ("10.0.0.1", "", "10.0.0.1"),
    ("10.0.0.2", "1.2.3.4", "10.0.0.2"),
])
def test_client_address_follows_forwarded_for_only_from_trusted_proxies(peer, xff, expected):
    assert clients.client_address(peer, xff, networks=NETS) == expected


def test_https_only_believed_from_a_trusted_proxy():
    assert clients.came_over_https("203.0.113.9", "https")
    assert not clients.came_over_https("203.0.113.9", "http", "https", networks=NETS)
    assert clients.came_over_https("172.16.3.3", "http", "https", networks=NETS)
    assert clients.came_over_https("10.0.0.1", "http", "https, http", networks=NETS)
    assert not clients.came_over_https("10.0.0.1", "http", "http", networks=NETS)


def test_behind_a_trusted_proxy_clients_are_throttled_apart_and_cookies_are_secure(app_db, monkeypatch):
    """With the proxy configured, one user's failures do not throttle another user behind the same
    proxy, and the TLS the proxy terminated gives both cookies the Secure flag."""
    monkeypatch.setenv("CITYOPS_SECURITY_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.setenv("CITYOPS_AUTH_MAX_FAILED_PER_CLIENT", "3")
    settings.reload_settings()
    with AsgiClient(Starlette(routes=routes(), middleware=[Middleware(SecurityHeadersMiddleware)])) as app:
        page = app.request("GET", "/", headers={"x-forwarded-proto": "https", "x-forwarded-for": "1.1.1.1"},
                           client="10.0.0.5")
        assert page.status == 404  # no page in this bare app; what matters is the proxy handling below
        browser = csrf.new_browser_token()
        jar = {csrf.COOKIE_NAME: browser}
        login = {"password": "Wrong@2026!!", csrf.FIELD: csrf.form_token("login", browser)}
        for i in range(4):
            app.request("POST", "/auth/login", form={**login, "username": f"ghost{i}"}, cookies=jar,
                        headers={"x-forwarded-for": "1.1.1.1", "x-forwarded-proto": "https"}, client="10.0.0.5")
        good = {**login, "username": "zhiban", "password": PW}
        blocked = app.request("POST", "/auth/login", form=good, cookies=jar, client="10.0.0.5",
                              headers={"x-forwarded-for": "1.1.1.1", "x-forwarded-proto": "https"})
        assert blocked.location_query["auth_error"] == "client_locked"
        other = app.request("POST", "/auth/login", form=good, cookies=jar, client="10.0.0.5",
                            headers={"x-forwarded-for": "2.2.2.2", "x-forwarded-proto": "https"})
        assert "auth_error" not in other.header("location")
        assert "; secure" in other.set_cookies()[cookies.cookie_name()].lower()
    assert {r.client for r in audit_rows(app_db, "login_failed")} == {"1.1.1.1"}
    assert audit_rows(app_db, "login")[0].client == "2.2.2.2"


def test_origin_check_uses_the_forwarded_host_only_from_a_trusted_proxy(app_db, monkeypatch):
    """A proxy that rewrites Host for its upstream (nginx's default) must not break sign-in, and a
    client cannot pick the host it is compared with."""
    monkeypatch.setenv("CITYOPS_SECURITY_TRUSTED_PROXIES", '["10.0.0.5"]')
    settings.reload_settings()
    browser = csrf.new_browser_token()
    form = {"username": "zhiban", "password": PW, csrf.FIELD: csrf.form_token("login", browser)}
    headers = {"host": "backend:8501", "origin": "https://dash.gov.example", "x-forwarded-host": "dash.gov.example"}
    with AsgiClient(Starlette(routes=routes())) as app:
        via_proxy = app.request("POST", "/auth/login", form=form, headers=headers, cookies={csrf.COOKIE_NAME: browser},
                                client="10.0.0.5")
        direct = app.request("POST", "/auth/login", form=form, headers=headers, cookies={csrf.COOKIE_NAME: browser},
                             client="10.9.9.9")
    assert "auth_error" not in via_proxy.header("location")
    assert direct.location_query == {"auth_error": "origin"}


def test_csrf_cookie_secure_behind_tls_proxy_only(monkeypatch):
    monkeypatch.setenv("CITYOPS_SECURITY_TRUSTED_PROXIES", '["10.0.0.5"]')
    settings.reload_settings()
    try:
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        async def page(_request):  # noqa: ANN001, ANN202
            return HTMLResponse("<p>x</p>")

        with AsgiClient(Starlette(routes=[Route("/", page)],
                                  middleware=[Middleware(SecurityHeadersMiddleware)])) as app:
            via_proxy = app.request("GET", "/", headers={"x-forwarded-proto": "https"}, client="10.0.0.5")
            spoofed = app.request("GET", "/", headers={"x-forwarded-proto": "https"}, client="10.9.9.9")
            again = app.request("GET", "/", cookies={csrf.COOKIE_NAME: csrf.new_browser_token()})
        assert "; secure" in via_proxy.set_cookies()[csrf.COOKIE_NAME].lower()
        assert "secure" not in spoofed.set_cookies()[csrf.COOKIE_NAME].lower()
        assert csrf.COOKIE_NAME not in again.set_cookies()  # a browser keeps its token
    finally:
        monkeypatch.undo()
        settings.reload_settings()
