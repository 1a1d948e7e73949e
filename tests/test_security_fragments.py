"""Issue 19, finding 2: a disabled account's open tabs kept refreshing, because the
`st.fragment(run_every=…)` blocks skip app.py's sign-in check. Every live fragment now re-checks the
session on each run (ui.session.live_fragment): deactivate the user, end or idle out the session,
and the next run of the fragment shows no data.

AppTest cannot fire a timer, so each test runs the page again *without* app.py in front of it — just
what a fragment rerun does — with the browser's session cookie, and checks that the fragment's data is
gone."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import settings
from auth import cookies, service, sessions
from store.db import dispose_engines, session_scope
from store.scope import Viewer
from tests.test_auth_support import PW, auth_test_settings, make_user  # noqa: F401
from tests.test_events_support import new_case, prepare

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_db(sqlite_city_engine, monkeypatch):
    prepare(sqlite_city_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sqlite_city_engine
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def _signed_in(engine, monkeypatch, name: str, role: str, now=None) -> Viewer:  # noqa: ANN001
    make_user(engine, name, role, "440900", display_name=name)
    with session_scope(engine) as s:
        token = sessions.open_session(s, name, client="127.0.0.1", now=now)
    value = cookies.sign_token(token)
    monkeypatch.setattr("ui.login._cookie_value", lambda name=None: None if name else value)
    return Viewer(name, role, "440900", display_name=name)


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "metric")
                     for e in getattr(at, kind))


def _end(engine, how: str, name: str) -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        if how == "deactivated":
            service.deactivate(s, name, actor="cli:root")
        else:
            service.end_sessions(s, name, actor="cli:root")


@pytest.mark.parametrize("how", ["deactivated", "revoked"])
def test_dispatch_queue_stops_refreshing_for_an_ended_session(app_db, monkeypatch, how):
    viewer = _signed_in(app_db, monkeypatch, "zhiban", "duty_officer")
    with session_scope(app_db) as s:
        new_case(s, title="井盖缺失-LIVE-MARKER")
    at = AppTest.from_file(str(ROOT / "pages" / "dispatch.py"), default_timeout=90)
    at.session_state["viewer"] = viewer
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [df.value for df in at.dataframe]
    assert any("井盖缺失-LIVE-MARKER" in df.to_string() for df in shown)  # the live queue shows the case
    _end(app_db, how, "zhiban")
    at.run()  # the next tick of the fragment, with no app.py in front of it
    assert not at.exception, [e.value for e in at.exception]
    assert not any("井盖缺失-LIVE-MARKER" in df.value.to_string() for df in at.dataframe)
    assert re.search("请先登录|登录已失效", _texts(at))
    assert "viewer" not in at.session_state


def _live_script() -> None:
    import streamlit as st

    from ui.session import live_fragment

    @live_fragment(run_every=30)
    def live() -> None:
        st.markdown("SECRET-FIGURES 42")

    live()


@pytest.mark.parametrize("how", ["deactivated", "revoked", "idle"])
def test_live_fragment_rechecks_the_session_every_run(app_db, monkeypatch, how):
    start = sessions.utcnow() - timedelta(minutes=30) if how == "idle" else None
    _signed_in(app_db, monkeypatch, "lingdao", "leader", now=start)
    at = AppTest.from_function(_live_script, default_timeout=30)
    if how != "idle":
        at.run()
        assert "SECRET-FIGURES" in _texts(at)
        _end(app_db, how, "lingdao")
    else:  # leave the tab open past the role's idle limit
        monkeypatch.setenv("CITYOPS_AUTH_SESSION_IDLE_MINUTES", "20")
        monkeypatch.setattr(settings, "get_settings", _with_idle(settings.get_settings(), 20))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "SECRET-FIGURES" not in _texts(at)
    assert "登录已失效" in _texts(at)


def _with_idle(cfg: dict, minutes: int):  # noqa: ANN202
    """Settings whose idle limit is `minutes` for every role."""
    import copy

    patched = copy.deepcopy(cfg)
    patched["auth"]["session_idle_minutes"] = minutes
    patched.setdefault("security", {})["idle_minutes"] = {"default": minutes}
    return lambda: patched


def test_every_self_refreshing_block_checks_the_session():
    """No page or ui module may refresh itself past the session check: `run_every` appears only
    through ui.session.live_fragment."""
    offenders = []
    for path in [*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "run_every" in line and "live_fragment(" not in line and path.name != "session.py":
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders
    uses = sum(path.read_text(encoding="utf-8").count("@live_fragment(") for path in (ROOT / "pages").glob("*.py"))
    assert uses >= 4  # dispatch, department, wall, emergency
