"""The command-centre wall (大屏): full-screen dark layout sized in viewport units (vh/vw), and a map
drawn for the screen's pixel size, which the browser reports (static/wall_viewport.js → ?screen=WxH),
so the README's URL fills 1920×1080 and 3840×2160 alike without scrollbars; only the live parts rerun
(st.fragment)."""
from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st

import settings
from geo import layers as L
from situation.urgent import ticker
from store.db import session_scope
from store.period import Period, local_tz
from store.scope import Viewer
from ui import kpi_tiles, map_legend, plain
from ui.chrome import demo_loaded
from ui.data import app_engine
from ui.overview_parts import cached_tiles, map_spec

# theme → (functions whose figures surround the map, map layers)
THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "综合态势": (("经济调节", "市场监管", "社会管理", "公共服务", "生态环境保护", "应急管理"),
             ("regions", "events", "incidents")),
    "城市管理": (("社会管理", "公共服务"), ("regions", "events")),
    "生态环境": (("生态环境保护",), ("regions", "sensors")),
    "应急指挥": (("应急管理", "社会管理"), ("regions", "resources", "incidents")),
}

CSS = """
<style>
header[data-testid="stHeader"], [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stToolbar"], [data-testid="stDecoration"], footer { display: none !important; }
html, body, [data-testid="stAppViewContainer"], [data-testid="stMain"] { overflow: hidden !important;
  background: #050B18 !important; }
[data-testid="stMainBlockContainer"], .block-container { padding: 0.8vh 1vw !important; max-width: 100% !important; }
[data-testid="stVerticalBlock"] { gap: 0.8vh !important; }
[data-testid="stElementContainer"]:has(script[src*="wall_viewport"]) { display: none !important; }
.wall-top { display: flex; justify-content: space-between; align-items: baseline; color: #E6EDF7; height: 5.6vh;
  border-bottom: 0.12vw solid #1E3A66; padding-bottom: 0.3vh; box-sizing: border-box; overflow: hidden; }
.wall-title { font-size: 1.9vw; font-weight: 700; letter-spacing: 0.15vw; color: #7CC4FF; }
.wall-clock { font-size: 1.6vw; font-variant-numeric: tabular-nums; color: #E6EDF7; }
.wall-sub { font-size: 0.9vw; color: #9FB3D1; }
.wall-demo { font-size: 0.8vw; color: #F5B041; border: 0.08vw solid #F5B041; padding: 0 0.4vw; margin-left: 0.6vw; }
.wall-cards { display: flex; flex-direction: column; gap: 0.8vh; height: 91vh; }
.wall-cards .kpi { flex: 1 1 0; min-height: 0; overflow: hidden; background: #0B1730; border: 0.08vw solid #1E3A66;
  border-radius: 0.4vw; padding: 0.5vh 0.7vw; display: flex; flex-direction: column; justify-content: center; }
.wall-cards .kpi-d { font-size: 0.75vw; color: #7CC4FF; }
.wall-cards .kpi-n { font-size: 0.85vw; color: #B8C7DD; line-height: 1.3; overflow-wrap: anywhere; }
.wall-cards .kpi-v { font-size: 1.75vw; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.15;
  overflow-wrap: anywhere; }
.wall-cards .kpi-v.nodata { color: #6B7789 !important; font-size: 1.4vw; font-weight: 600; }
.wall-cards .kpi-u { font-size: 0.8vw; color: #9FB3D1; margin-left: 0.3vw; font-weight: 400; }
.wall-cards .kpi-s { font-size: 0.7vw; margin-left: 0.4vw; font-weight: 400; }
.wall-cards .kpi-c { font-size: 0.75vw; color: #9FB3D1; display: flex; flex-wrap: wrap; gap: 0 0.8vw; }
.wall-cards .kpi-c .a { margin: 0 0.15vw; }
.wall-cards .kpi-t { font-size: 0.7vw; color: #7F93B0; }
.wall-bottom { display: flex; gap: 0.8vw; height: 22.5vh; }
.wall-legend, .wall-ticker { background: #0B1730; border: 0.08vw solid #1E3A66; border-radius: 0.4vw;
  padding: 0.6vh 0.7vw; overflow: hidden; box-sizing: border-box; }
.wall-legend { flex: 0 0 38%; display: flex; flex-direction: column; gap: 0.5vh; font-size: 0.72vw;
  color: #C9D6EA; line-height: 1.45; }
.wall-legend .g { display: flex; flex-wrap: wrap; align-items: center; gap: 0 0.6vw; }
.wall-legend .t { color: #7CC4FF; font-weight: 600; margin-right: 0.2vw; }
.wall-legend .e { display: inline-flex; align-items: center; gap: 0.25vw; white-space: nowrap; }
.wall-legend .s { display: inline-block; width: 0.8vw; height: 0.55vw; border-radius: 0.1vw; }
.wall-legend .s.dot { width: 0.6vw; height: 0.6vw; border-radius: 50%; }
.wall-legend .s.ring { width: 0.55vw; height: 0.55vw; border-radius: 50%; background: transparent !important;
  border: 0.12vw solid currentColor; }
.wall-ticker { flex: 1 1 auto; font-size: 0.85vw; color: #D6E2F3; line-height: 1.6; }
.wall-ticker .k { display: inline-block; min-width: 3.6vw; margin-right: 0.4vw; font-weight: 700; }
.wall-ticker .k.new { color: #F5B041; } .wall-ticker .k.overdue { color: #FF5A4E; }
.wall-ticker .k.open { color: #7CC4FF; } .wall-ticker .k.done { color: #8FA3BF; }
.wall-ticker .k.alert { color: #FF9F43; }
.wall-ticker .tm { color: #9FB3D1; margin-right: 0.4vw; font-variant-numeric: tabular-nums; }
</style>
"""
# The map takes this share of the screen's height; the header, the legend-and-ticker row and the gaps
# take the rest (their CSS above is in vh, so the shares are the same on every screen).
MAP_SHARE = 0.655
# The width the wall's pixel sizes (map labels) were chosen for; larger screens scale them up.
REFERENCE_WIDTH = 1920
# Loaded by the wall page from static/ (same origin): measures the viewport and puts it in the URL as
# ?screen=WxH, so that the map is drawn for the screen it is shown on (see screen_size).
VIEWPORT_PROBE = '<script src="app/static/wall_viewport.js"></script>'


def inject_css() -> None:
    st.html(CSS)


def viewport_probe() -> None:
    """The wall's screen measurement (static/wall_viewport.js): a script file of this origin, which the
    CSP's script-src 'self' allows; the only script the app adds to a page."""
    st.html(VIEWPORT_PROBE, unsafe_allow_javascript=True)


def current_theme() -> str:
    """?theme=… fixes the theme; otherwise rotate on [app].wall_rotate_seconds (0 = no rotation)."""
    names = list(THEMES)
    wanted = st.query_params.get("theme")
    if wanted in THEMES:
        return wanted
    cfg = settings.get_settings()["app"]
    rotate = int(cfg.get("wall_rotate_seconds", 0))
    order = [t for t in cfg.get("wall_themes", names) if t in THEMES] or names
    if rotate <= 0:
        return order[0]
    return order[int(datetime.now(timezone.utc).timestamp() // rotate) % len(order)]


def header(theme: str, scope_name: str) -> None:
    now = datetime.now(local_tz())
    demo = '<span class="wall-demo">演示数据</span>' if demo_loaded() else ""
    title = plain.html(settings.get_settings()["app"]["title"])
    st.html(f"""<div class="wall-top"><div><span class="wall-title">{title}</span>
    <span class="wall-sub">　{plain.html(scope_name)} · {plain.html(theme)}</span>{demo}</div>
    <div><span class="wall-sub">值班时间　</span><span class="wall-clock">{now:%Y-%m-%d %H:%M:%S}</span></div></div>""")


def cards(tiles: list) -> None:
    """A column of KPI tiles (ui.kpi_tiles), filling the column's height evenly."""
    st.html(kpi_tiles.grid_html(tiles, "wall-cards", show_domain=True))


def ticker_html(items: list) -> str:
    """Ticker lines: the item's state (新事件 only while new, then 待处置 / 已超期 …), its time, its text."""
    lines = "".join(
        f'<div><span class="k {plain.html(i.tone)}">{plain.html(i.kind)}</span>'
        f'<span class="tm">{plain.html(i.when)}</span>{plain.html(i.text)}</div>' for i in items)
    return f'<div class="wall-ticker" data-testid="wall-ticker">{lines or "暂无新事件"}</div>'


def wall_tiles(viewer: Viewer, code: str, period_key: str, domains: tuple[str, ...], per_domain: int) -> list:
    """The theme's figures, picked from the scope's cached tile set (shared with the overview), so
    rotating themes never recomputes the library."""
    tiles = cached_tiles(viewer, code, period_key)
    picked = []
    for d in domains:
        picked += [t for t in tiles if t.domain == d][:per_domain]
    return picked


def screen_size() -> tuple[int, int]:
    """The wall's resolution: ?screen=WxH, which static/wall_viewport.js sets from the browser's
    viewport (a script run cannot see the browser's size), else [app].wall_screen until it has."""
    text = st.query_params.get("screen") or settings.get_settings()["app"].get("wall_screen", "1920x1080")
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if 640 <= w <= 15360 and 360 <= h <= 8640:
            return w, h
    except ValueError:
        pass
    return 1920, 1080


def map_size(width: int, height: int) -> tuple[int, int]:
    """The map's pixel size on a width × height screen: the centre column (3.2 of 5.2 parts of the width
    left after the padding and the column gaps) by MAP_SHARE of the height."""
    return int((width * 0.98 - 2 * width * 0.008) * 3.2 / 5.2), int(height * MAP_SHARE)


def wall_map(viewer: Viewer, code: str, period: Period, layers: tuple[str, ...], indicator_id: str) -> list:
    """The theme's map drawn for the screen; returns its legend groups (ui.map_legend)."""
    width, height = screen_size()
    map_w, map_h = map_size(width, height)
    label_px = max(13, round(16 * width / REFERENCE_WIDTH))
    spec, legend = map_spec(viewer, code, period.key, indicator_id, tuple(layers), (map_w, map_h), margin=0.03,
                            label_px=label_px)
    st.pydeck_chart(L.SerializedDeck(spec), key=f"wall-map-{code}-{width}x{height}", height=map_h)
    return legend


def bottom_row(viewer: Viewer, code: str, legend: list) -> None:
    """The map's legend and the ticker, side by side under the map."""
    with session_scope(app_engine(), readonly=True) as s:
        items = ticker(s, viewer, code, limit=8, now=datetime.now(timezone.utc))
    st.html(f'<div class="wall-bottom">{map_legend.legend_html(legend, "wall-legend")}{ticker_html(items)}</div>')
