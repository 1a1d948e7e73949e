"""Who is looking. The signed-in Viewer lives in st.session_state["viewer"] for the current run;
auth (cookie check, idle expiry — ui.login.resolve_viewer) decides whether it is set."""
from __future__ import annotations

import streamlit as st

from auth.roles import can
from store.scope import Viewer


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
        st.error("您的角色无权使用此功能")
        st.stop()
    return viewer
