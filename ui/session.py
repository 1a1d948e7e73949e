"""Who is looking. The signed-in Viewer lives in st.session_state["viewer"] for the current run;
auth (cookie check, idle expiry) decides whether it is set."""
from __future__ import annotations

import streamlit as st

from store.scope import Viewer


def current_viewer() -> Viewer | None:
    viewer = st.session_state.get("viewer")
    return viewer if isinstance(viewer, Viewer) else None


def require_viewer() -> Viewer:
    viewer = current_viewer()
    if viewer is None:
        st.error("请先登录")
        st.stop()
    return viewer
