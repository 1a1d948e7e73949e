"""Entry point: sign-in gate, then the pages the signed-in role may use, plus shared chrome.

Only the pages a role may use are registered with st.navigation, so a page that is not in the
menu cannot be opened by URL either.
"""
from __future__ import annotations

import streamlit as st

import indicators
import settings
from auth.roles import pages_for
from ui import audit_trail, chrome, login, warmup

st.set_page_config(page_title=settings.get_settings()["app"]["title"],
                   page_icon=str(settings.ROOT / "static" / "favicon.png"), layout="wide")

# Every number on every screen comes from the indicator library: refuse to start on an invalid one.
try:
    indicators.load_library()
except indicators.LibraryError as exc:
    st.error(f"指标库定义有误，系统无法启动。请修正后重启：\n\n{exc}")
    st.stop()

# Resolved on every rerun (not cached in session_state): idle expiry, logout and deactivation
# must take effect on the next interaction.
viewer = login.resolve_viewer()
if viewer is None:
    st.navigation(login.signed_out_pages(), position="hidden").run()
    warmup.visited()
    st.stop()

specs = pages_for(viewer.role)
# A page of the product this role may not open (bookmark, edited URL): say so once, and audit it.
audit_trail.note_refused_page(viewer, {p.url_path for p in specs})
# ?wall=1 turns any URL into the wall (大屏) for roles that may use it: no menu, no sidebar.
wall_mode = st.query_params.get("wall") == "1" and any(p.url_path == "wall" for p in specs)
if wall_mode:
    specs = [p for p in specs if p.url_path == "wall"]
pages = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path,
                 default=wall_mode or viewer.role in p.default_for) for p in specs]
nav = st.navigation(pages, position="hidden" if wall_mode else "sidebar")
if not wall_mode:
    chrome.sidebar(viewer)
nav.run()
warmup.visited()  # the start-up warm-up waits for a first page to be drawn (ui/warmup.py)
