"""The meeting briefing: a printable one-page HTML (inline SVG map, KPI tiles, top issues).

Self-contained: no script, no external font or image, so it prints the same on an intranet PC.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

from indicators.status import NO_DATA, status_color, status_label


@dataclass(frozen=True)
class Tile:
    domain: str
    name: str
    value_text: str
    unit: str
    status: str | None
    delta_text: str
    # 环比/同比 as situation.kpis.Change rows (label, text, direction, good), for on-screen tiles that
    # draw one arrow coloured by the indicator's polarity; delta_text stays the printable summary.
    changes: tuple = ()
    # For a 最新值 figure (实时PM2.5): when its newest reading was taken, and "延迟"/"过期" once late
    # (sensors.freshness.reading_lateness), so a wall never shows an old reading as if it were current.
    reading_time: str = ""
    lateness: str | None = None

    @property
    def has_data(self) -> bool:
        """False for "无数据": the unit is then not shown ("无数据 元" reads as a value)."""
        return self.value_text != NO_DATA


def _rings(geometry: dict) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


def svg_map(shapes: pd.DataFrame, width: int = 520, height: int = 380) -> str:
    """Regions (columns name, geometry dict, status) as an SVG, equirectangular with cos(lat) scaling."""
    rings_all = [(row, _rings(row["geometry"])) for row in shapes.to_dict("records") if row.get("geometry")]
    pts = [p for _, rings in rings_all for ring in rings for p in ring]
    if not pts:
        return f'<svg width="{width}" height="{height}"></svg>'
    minx, maxx = min(p[0] for p in pts), max(p[0] for p in pts)
    miny, maxy = min(p[1] for p in pts), max(p[1] for p in pts)
    kx = math.cos(math.radians((miny + maxy) / 2))
    scale = min((width - 20) / max((maxx - minx) * kx, 1e-9), (height - 20) / max(maxy - miny, 1e-9))

    def xy(p: list[float]) -> str:
        return f"{10 + (p[0] - minx) * kx * scale:.1f},{10 + (maxy - p[1]) * scale:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for row, rings in rings_all:
        d = " ".join("M" + " L".join(xy(p) for p in ring) + " Z" for ring in rings)
        fill = status_color(row.get("status"))
        parts.append(f'<path d="{d}" fill="{fill}" fill-opacity="0.75" stroke="#34495E" stroke-width="0.8" '
                     f'fill-rule="evenodd"><title>{html.escape(str(row["name"]))}</title></path>')
    parts.append("</svg>")
    return "".join(parts)


def briefing_html(*, title: str, scope_name: str, period_label: str, indicator_name: str, svg: str,
                  tiles: list[Tile], issues: list[str], generated_at: str, demo: bool) -> str:
    esc = html.escape
    by_domain: dict[str, list[Tile]] = {}
    for t in tiles:
        by_domain.setdefault(t.domain, []).append(t)
    tile_html = []
    for domain, items in by_domain.items():
        cells = "".join(
            f'<div class="tile"><div class="n">{esc(t.name)}</div>'
            f'<div class="v" style="color:{status_color(t.status)}">{esc(t.value_text)}'
            f'<span class="u">{esc(t.unit) if t.has_data else ""}</span></div>'
            f'<div class="d">{esc(status_label(t.status))} {esc(t.delta_text)}</div></div>' for t in items)
        tile_html.append(f'<h3>{esc(domain)}</h3><div class="tiles">{cells}</div>')
    issue_html = "".join(f"<li>{esc(i)}</li>" for i in issues) or "<li>当前无超期案件、预警或突发事件。</li>"
    demo_html = '<div class="demo">演示数据 · 系统生成，非真实数据</div>' if demo else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
@page {{ size: A4 portrait; margin: 12mm; }}
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #1B2631;
       margin: 0; font-size: 11pt; }}
h1 {{ font-size: 17pt; margin: 0 0 2mm; }} h3 {{ font-size: 11pt; margin: 3mm 0 1mm; color: #1F4E79; }}
.meta {{ color: #566573; margin-bottom: 3mm; }} .demo {{ color: #B9770E; font-weight: bold; }}
.grid {{ display: flex; gap: 5mm; }} .map {{ flex: 0 0 auto; }} .side {{ flex: 1; }}
.tiles {{ display: flex; flex-wrap: wrap; gap: 2mm; }}
.tile {{ border: 1px solid #D5D8DC; border-radius: 2mm; padding: 1.5mm 2.5mm; width: 40mm; }}
.tile .n {{ font-size: 8.5pt; color: #566573; }} .tile .v {{ font-size: 14pt; font-weight: bold; }}
.tile .u {{ font-size: 8pt; margin-left: 1mm; color: #566573; }} .tile .d {{ font-size: 8pt; }}
ul {{ margin: 1mm 0; padding-left: 5mm; }} li {{ margin: 0.5mm 0; }}
.foot {{ margin-top: 4mm; font-size: 8pt; color: #808B96; }}
</style></head><body>
<h1>{esc(title)}</h1>
<div class="meta">范围：{esc(scope_name)} ｜ 统计期：{esc(period_label)} ｜ 生成时间：{esc(generated_at)}</div>
{demo_html}
<div class="grid"><div class="map"><h3>地图：{esc(indicator_name)}</h3>{svg}</div>
<div class="side"><h3>重点事项</h3><ul>{issue_html}</ul></div></div>
{''.join(tile_html)}
<div class="foot">本简报由一网统管城市运行指挥平台生成；指标口径见指标库。</div>
</body></html>"""
