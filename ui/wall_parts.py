"""The command-centre wall (大屏): full-screen dark layout sized in viewport units so the same page fills
1920×1080 and 3840×2160 without scrollbars; only the live parts rerun (st.fragment)."""
from __future__ import annotations

import html
from datetime import datetime, timezone

import streamlit as st

import settings
from geo import layers as L
from situation import kpis
from situation.events_map import event_map
from situation.urgent import ticker
from store.db import session_scope
from store.period import Period, local_tz
from store.scope import Viewer
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
STATUS_HEX = {"green": "#2ECC71", "yellow": "#F1C40F", "red": "#FF5A4E", None: "#7F8C9D"}

CSS = """
<style>
header[data-testid="stHeader"], [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stToolbar"], [data-testid="stDecoration"], footer { display: none !important; }
html, body, [data-testid="stAppViewContainer"], [data-testid="stMain"] { overflow: hidden !important;
  background: #050B18 !important; }
[data-testid="stMainBlockContainer"], .block-container { padding: 0.6vw 1vw !important; max-width: 100% !important; }
[data-testid="stVerticalBlock"] { gap: 0.5vw !important; }
.wall-top { display: flex; justify-content: space-between; align-items: baseline; color: #E6EDF7;
  border-bottom: 0.12vw solid #1E3A66; padding-bottom: 0.3vw; }
.wall-title { font-size: 1.9vw; font-weight: 700; letter-spacing: 0.15vw; color: #7CC4FF; }
.wall-clock { font-size: 1.6vw; font-variant-numeric: tabular-nums; color: #E6EDF7; }
.wall-sub { font-size: 0.9vw; color: #9FB3D1; }
.wall-demo { font-size: 0.8vw; color: #F5B041; border: 0.08vw solid #F5B041; padding: 0 0.4vw; margin-left: 0.6vw; }
.wall-card { background: #0B1730; border: 0.08vw solid #1E3A66; border-radius: 0.4vw; padding: 0.35vw 0.7vw;
  margin-bottom: 0.4vw; }
.wall-card .d { font-size: 0.8vw; color: #7CC4FF; }
.wall-card .n { font-size: 0.85vw; color: #B8C7DD; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.wall-card .v { font-size: 1.75vw; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.15; }
.wall-card .u { font-size: 0.8vw; color: #9FB3D1; margin-left: 0.3vw; }
.wall-card .c { font-size: 0.75vw; color: #9FB3D1; }
.wall-ticker { background: #0B1730; border: 0.08vw solid #1E3A66; border-radius: 0.4vw; padding: 0.4vw 0.7vw;
  height: 14.5vh; overflow: hidden; font-size: 0.85vw; color: #D6E2F3; line-height: 1.55; }
.wall-ticker b { color: #F5B041; margin-right: 0.4vw; }
</style>
"""


def inject_css() -> None:
    st.html(CSS)


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
    st.html(f"""<div class="wall-top"><div><span class="wall-title">{html.escape(settings.get_settings()['app']['title'])}</span>
    <span class="wall-sub">　{html.escape(scope_name)} · {html.escape(theme)}</span>{demo}</div>
    <div><span class="wall-sub">值班时间　</span><span class="wall-clock">{now:%Y-%m-%d %H:%M:%S}</span></div></div>""")


def cards(tiles: list) -> None:
    out = []
    for t in tiles:
        color = STATUS_HEX.get(t.status, STATUS_HEX[None])
        out.append(f'<div class="wall-card"><div class="d">{html.escape(t.domain)}</div>'
                   f'<div class="n">{html.escape(t.name)}</div>'
                   f'<div class="v" style="color:{color}">{html.escape(t.value_text)}<span class="u">{html.escape(t.unit)}</span></div>'
                   f'<div class="c">{html.escape(t.delta_text) or "&nbsp;"}</div></div>')
    st.html("".join(out))


def ticker_box(items: list) -> None:
    lines = "".join(f"<div><b>{html.escape(i.kind)}</b>{i.at.astimezone(local_tz()):%H:%M} {html.escape(i.text)}</div>"
                    for i in items)
    st.html(f'<div class="wall-ticker">{lines or "暂无新事件"}</div>')


def wall_tiles(viewer: Viewer, code: str, period_key: str, domains: tuple[str, ...], per_domain: int) -> list:
    """The theme's figures, picked from the scope's cached tile set (shared with the overview), so
    rotating themes never recomputes the library."""
    tiles = cached_tiles(viewer, code, period_key)
    picked = []
    for d in domains:
        picked += [t for t in tiles if t.domain == d][:per_domain]
    return picked


def screen_size() -> tuple[int, int]:
    """The wall's resolution: ?screen=3840x2160, else [app].wall_screen. A command centre's wall has a
    fixed resolution, and the map's pixel height and zoom are computed for it (the server cannot
    see the browser's size)."""
    text = st.query_params.get("screen") or settings.get_settings()["app"].get("wall_screen", "1920x1080")
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if 640 <= w <= 15360 and 360 <= h <= 8640:
            return w, h
    except ValueError:
        pass
    return 1920, 1080


def wall_map(viewer: Viewer, code: str, period: Period, layers: tuple[str, ...], indicator_id: str) -> None:
    width, height = screen_size()
    map_h = int(height * 0.70)
    spec, _ = map_spec(viewer, code, period.key, indicator_id, tuple(layers), (int(width * 0.6), map_h), margin=0.04)
    st.pydeck_chart(L.SerializedDeck(spec), key=f"wall-map-{code}-{width}", height=map_h)


def wall_ticker(viewer: Viewer, code: str) -> None:
    with session_scope(app_engine(), readonly=True) as s:
        ticker_box(ticker(s, viewer, code, limit=8))
