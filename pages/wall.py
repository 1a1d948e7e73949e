"""大屏: the command-centre wall. Opened with ?wall=1 (optionally &theme=综合态势|城市管理|生态环境|应急指挥);
fills the screen it is shown on (the browser reports its size, ui.wall_parts.screen_size) and refreshes
its live parts on [app].refresh_seconds without reloading the page."""
from __future__ import annotations

import streamlit as st

import settings
from situation import kpis
from ui import wall_parts as W
from ui.chrome import resolve_scope
from ui.context import current_period
from ui.session import live_fragment, require_viewer

viewer = require_viewer()
W.inject_css()
W.viewport_probe()  # first, so a screen of another size reloads before the map is drawn
code, crumbs, _ = resolve_scope(viewer)
period = current_period()
refresh = int(settings.get_settings()["app"]["refresh_seconds"])


@live_fragment(run_every=refresh)
def live() -> None:
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
        legend = W.wall_map(viewer, code, period, layers,
                            preferred if preferred in theme_ids else (theme_ids or list(options))[0])
        W.bottom_row(viewer, code, legend)


live()
