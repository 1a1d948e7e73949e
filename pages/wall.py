"""大屏: the command-centre wall. Opened with ?wall=1 (optionally &theme=综合态势|城市管理|生态环境|应急指挥);
refreshes its live parts on [app].refresh_seconds without reloading the page."""
from __future__ import annotations

import streamlit as st

import settings
from situation import kpis
from ui import wall_parts as W
from ui.chrome import resolve_scope
from ui.context import current_period
from ui import login
from ui.session import require_viewer

viewer = require_viewer()
W.inject_css()
code, crumbs, _ = resolve_scope(viewer)
period = current_period()
refresh = int(settings.get_settings()["app"]["refresh_seconds"])


@st.fragment(run_every=refresh)
def live() -> None:
    # Fragment reruns skip app.py's sign-in check: re-check here, so a wall whose session was ended
    # (logout elsewhere, deactivation, expiry) goes back to the login screen instead of refreshing on.
    if login.resolve_viewer() is None:
        st.rerun()
    theme = W.current_theme()
    domains, layers = W.THEMES[theme]
    W.header(theme, crumbs[-1]["name"])
    per_side = 6
    tiles = W.wall_tiles(viewer, code, period.key, domains, max(2, 12 // len(domains)))
    left, centre, right = st.columns([1, 3.2, 1], gap="small")
    with left:
        W.cards(tiles[:per_side])
    with right:
        W.cards(tiles[per_side:per_side * 2])
    with centre:
        options = kpis.map_indicators(code)
        theme_ids = [i for i in options if kpis.library()[i].domain in domains]
        preferred = settings.get_settings()["map"].get("default_indicator")
        W.wall_map(viewer, code, period, layers, preferred if preferred in theme_ids else (theme_ids or list(options))[0])
        W.wall_ticker(viewer, code)


live()
