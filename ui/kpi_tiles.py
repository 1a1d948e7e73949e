"""The one KPI tile renderer of the overview and the wall: the value with its unit ("无数据" alone, never
"无数据 元"), the name in full (wrapping, never cut off), and 环比/同比 each with ONE arrow coloured by
the indicator's polarity — green when the change is an improvement (up for higher-is-better, down for
lower-is-better), red when it is a deterioration, grey when nil.

st.metric is not used: it draws its own arrow from the delta's sign beside ours and truncates long
values. The tile is HTML (st.html) with every text escaped; the page's CSS sizes it (px on desk pages,
vw on the wall)."""
from __future__ import annotations

import streamlit as st

from indicators.status import status_color, status_label
from situation.briefing import Tile
from ui import plain

ARROWS = {"up": "▲", "down": "▼", "flat": "▶"}
GOOD, BAD, NEUTRAL = "#2BB673", "#E5484D", "#9FB3D1"
PLAIN_VALUE = "#E6EDF7"
LATE = "#F5A623"

DESK_CSS = """<style>
.kpi-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }
.kpi-grid .kpi { background: #111B2E; border: 1px solid #22324F; border-radius: 8px; padding: 8px 12px; }
.kpi .kpi-d { font-size: 12px; color: #7CC4FF; }
.kpi .kpi-n { font-size: 14px; color: #B8C7DD; overflow-wrap: anywhere; line-height: 1.35; }
.kpi .kpi-v { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2;
  overflow-wrap: anywhere; }
.kpi .kpi-v.nodata { color: #6B7789 !important; font-weight: 600; }
.kpi .kpi-u { font-size: 13px; color: #9FB3D1; margin-left: 4px; font-weight: 400; }
.kpi .kpi-s { font-size: 12px; margin-left: 6px; font-weight: 400; }
.kpi .kpi-c { font-size: 12px; color: #9FB3D1; display: flex; flex-wrap: wrap; gap: 0 12px; min-height: 1.3em; }
.kpi .kpi-c .a { margin: 0 2px; }
.kpi .kpi-t { font-size: 12px; color: #7F93B0; }
</style>"""


def change_color(good: bool | None) -> str:
    return GOOD if good is True else BAD if good is False else NEUTRAL


def changes_html(tile: Tile) -> str:
    parts = []
    for c in tile.changes:
        colour = change_color(c.good)
        arrow = "持平" if c.direction == "flat" else ARROWS[c.direction]
        text = "" if c.direction == "flat" else plain.html(c.text)
        parts.append(f'<span>{plain.html(c.label)}<span class="a" style="color:{colour}">{arrow}</span>'
                     f'<span style="color:{colour}">{text}</span></span>')
    return "".join(parts) or "&nbsp;"


def tile_html(tile: Tile, *, show_domain: bool = False) -> str:
    head = f'<div class="kpi-d">{plain.html(tile.domain)}</div>' if show_domain else ""
    if tile.has_data:
        # A value without a status is an indicator without thresholds: plain colour, no status word.
        colour = status_color(tile.status) if tile.status else PLAIN_VALUE
        word = (f'<span class="kpi-s" style="color:{colour}">{plain.html(status_label(tile.status))}</span>'
                if tile.status else "")
        value = (f'<div class="kpi-v" style="color:{colour}">{plain.html(tile.value_text)}'
                 f'<span class="kpi-u">{plain.html(tile.unit)}</span>{word}</div>')
    else:
        value = f'<div class="kpi-v nodata">{plain.html(tile.value_text)}</div>'
    return (f'<div class="kpi" data-testid="kpi-tile">{head}<div class="kpi-n">{plain.html(tile.name)}</div>'
            f'{value}<div class="kpi-c">{changes_html(tile)}</div>{reading_html(tile)}</div>')


def reading_html(tile: Tile) -> str:
    """The reading time of a 最新值 figure; amber with 延迟/过期 once the next reading is overdue."""
    if not tile.reading_time:
        return ""
    if tile.lateness:
        return (f'<div class="kpi-t late" style="color:{LATE}">读数时间 {plain.html(tile.reading_time)}'
                f'（已{plain.html(tile.lateness)}）</div>')
    return f'<div class="kpi-t">读数时间 {plain.html(tile.reading_time)}</div>'



def grid_html(tiles: list[Tile], css_class: str = "kpi-grid", *, show_domain: bool = False) -> str:
    return f'<div class="{css_class}">{"".join(tile_html(t, show_domain=show_domain) for t in tiles)}</div>'


def show_grid(tiles: list[Tile]) -> None:
    """Tiles in a responsive grid on a desk page."""
    st.html(DESK_CSS + grid_html(tiles))
