"""Who is looking. The signed-in Viewer lives in st.session_state["viewer"] for the current run;
auth (cookie check, idle expiry — ui.login.resolve_viewer) decides whether it is set.

`live_fragment` is the only way a page refreshes itself: a `st.fragment(run_every=…)` rerun skips
app.py (and so its sign-in check), so each run of a live fragment re-checks the session first — a
deactivated account, an idle or revoked session stops showing data at the next tick.
"""
from __future__ import annotations

import functools
from typing import Callable

import streamlit as st

from auth import clients
from auth.roles import can
from store.scope import Viewer

_ENDED_KEY = "live_session_ended"


def current_viewer() -> Viewer | None:
    viewer = st.session_state.get("viewer")
    return viewer if isinstance(viewer, Viewer) else None


def require_viewer(capability: str | None = None) -> Viewer:
    """The signed-in Viewer, or stop the page. With `capability`, also stop (with a Chinese
    message) when the role lacks it — a second line behind app.py registering only allowed pages."""
    viewer = current_viewer()
    if viewer is None:
        st.error("请先登录")
        st.stop()
    if capability is not None and not can(viewer.role, capability):
        # Imported here: ui.audit_trail imports this module (client_address).
        from ui.audit_trail import refuse

        refuse(viewer, "您的角色无权使用此功能", what=f"功能 {capability}", object_type="capability",
               object_id=capability)
    return viewer


def client_address() -> str | None:
    """This browser's address for audit rows: the peer, or X-Forwarded-For when the peer is one of
    `[security].trusted_proxies` (auth/clients.py; the same rule as the sign-in routes)."""
    try:
        peer = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # noqa: BLE001 - no browser context (bare script run, AppTest)
        return None
    # AppTest's stand-in context hands back mocks, not strings.
    return clients.client_address(peer, forwarded) if isinstance(peer, str) and peer else None


def require_live_viewer() -> Viewer:
    """Re-check the session now (cookie, server-side session, account still active). When it has
    ended, rerun the whole app once — app.py then shows the sign-in form with the reason — and stop
    this run, so nothing more of the fragment is drawn."""
    # Imported here: ui.login imports this module (current_viewer).
    from ui.login import resolve_viewer

    viewer = resolve_viewer(touch=False)  # a self-refresh is not activity: idle timeouts still apply
    if viewer is not None:
        st.session_state.pop(_ENDED_KEY, None)
        return viewer
    if not st.session_state.get(_ENDED_KEY):
        st.session_state[_ENDED_KEY] = True
        st.rerun(scope="app")
    st.warning("登录已失效，请重新登录")
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


def live_fragment(run_every: float | int | str | None) -> Callable:
    """`@live_fragment(run_every=refresh)` in place of `@st.fragment(run_every=refresh)`: the same
    fragment, whose every run starts with `require_live_viewer()`."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def checked(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            require_live_viewer()
            return fn(*args, **kwargs)

        return st.fragment(checked, run_every=run_every)

    return wrap
