"""Indicator figures for the situation screens: tiles by government function, the choropleth values
and legend, ranking, trend and the briefing workbook. Everything comes from the indicator engine;
this module only chooses and formats."""
from __future__ import annotations

from datetime import date

import pandas as pd

import indicators
import indicators.status
from situation.briefing import Tile
from store.period import Period
from store.scope import Viewer, level_of

DOMAINS = ("经济调节", "市场监管", "社会管理", "公共服务", "生态环境保护", "应急管理")
STATUS_ZH = {"green": "正常", "yellow": "关注", "red": "预警", None: "无数据"}


def library() -> dict:
    return indicators.load_library()


def _child_level(code: str) -> str | None:
    order = ("city", "district", "street", "community", "grid")
    lv = level_of(code)
    return order[order.index(lv) + 1] if lv != "grid" else None


def map_indicators(code: str) -> dict[str, str]:
    """Indicators that can colour the children of `code` (valid at the child level), id → label.
    A grid has no children: its own-level indicators are offered instead."""
    level = _child_level(code) or "grid"
    out = {i.id: f"{i.domain} · {i.name}" for i in library().values() if level in i.levels}
    return dict(sorted(out.items(), key=lambda kv: (DOMAINS.index(library()[kv[0]].domain)
                                                    if library()[kv[0]].domain in DOMAINS else 99, kv[1])))


def fmt(value: float | None, decimals: int = 1) -> str:
    return indicators.status.fmt_number(value, decimals) if value is not None else "无数据"


def legend_of(ind) -> dict:  # noqa: ANN001
    return {"id": ind.id, "name": ind.name, "unit": ind.unit, "polarity": ind.polarity,
            "target": ind.target, "decimals": ind.decimals, "bands": indicators.bands(ind)}


def legend_text(legend: dict) -> str:
    icon = {"green": ":green[●]", "yellow": ":orange[●]", "red": ":red[●]"}
    bands = "　".join(f"{icon[b['status']]} {b['label']} {b['range']}" for b in legend["bands"])
    return f"图例：{legend['name']}（{legend['unit']}）　{bands or '未设阈值'}　:gray[○] 无数据"


def children_values(viewer: Viewer, code: str, period: Period, indicator_id: str) -> tuple[pd.DataFrame, dict]:
    """[code, value, status, value_text] for the children of `code` (the scope itself for a grid)."""
    ind = library()[indicator_id]
    if _child_level(code) is None:
        r = indicators.compute(indicator_id, code, period, viewer)
        frame = pd.DataFrame([{"code": code, "name": None, "value": r.value, "status": r.status}])
    else:
        frame = indicators.compute_children(indicator_id, code, period, viewer).rename(
            columns={"region_code": "code", "region_name": "name"})[["code", "name", "value", "status"]]
    frame["value_text"] = [f"{fmt(v, ind.decimals)} {ind.unit}" if v is not None and v == v else None
                           for v in frame["value"]]
    return frame, legend_of(ind)


def rank(values: pd.DataFrame, legend: dict) -> pd.DataFrame:
    """Children best first by the indicator's polarity; regions without data are left out."""
    data = values.dropna(subset=["value"]).copy()
    if data.empty or data["name"].isna().all():
        return pd.DataFrame()
    data = data.sort_values("value", ascending=legend["polarity"] != "higher_better")
    data.insert(0, "名次", range(1, len(data) + 1))
    data["状态"] = data["status"].map(STATUS_ZH)
    cols = {"名次": "名次", "name": "区域", "value_text": legend["name"], "状态": "状态"}
    return data[[c for c in cols if c in data]].rename(columns=cols)


def _delta_text(ind, result) -> str:  # noqa: ANN001
    parts = []
    if result.mom_delta is not None:
        parts.append(f"环比 {indicators.fmt_delta(ind, result.mom_delta, result.mom_pct)}")
    if result.yoy_delta is not None:
        parts.append(f"同比 {indicators.fmt_delta(ind, result.yoy_delta, result.yoy_pct)}")
    return "　".join(parts)


def tiles(viewer: Viewer, code: str, period: Period) -> list[Tile]:
    """Every library indicator valid at the scope's level, as tiles grouped by function."""
    level = level_of(code)
    inds = [i for i in library().values() if level in i.levels]
    # Stable sort: within a function, the library's own order (its authors put the key figures first).
    inds.sort(key=lambda i: DOMAINS.index(i.domain) if i.domain in DOMAINS else 99)
    results = indicators.compute_many([i.id for i in inds], code, period, viewer)
    return [Tile(i.domain, i.name, fmt(results[i.id].value, i.decimals), i.unit, results[i.id].status,
                 _delta_text(i, results[i.id])) for i in inds]


def trend(viewer: Viewer, code: str, period: Period, indicator_id: str, months: int = 12) -> tuple[pd.DataFrame, dict]:
    ind = library()[indicator_id]
    end = period.end
    start_month = Period.month(end.year, end.month)
    for _ in range(months - 1):
        start_month = start_month.previous()
    frame = indicators.series(indicator_id, code, start_month.start, end, "month", viewer)
    return frame, legend_of(ind)


def workbook(viewer: Viewer, code: str, period: Period, scope_tiles: list[Tile] | None = None) -> bytes:
    """The scope's indicators as an Excel workbook, one sheet per function, with definitions; audited.
    `scope_tiles`: the tiles already computed for this view, if the caller has them."""
    from situation.workbook import indicator_workbook

    return indicator_workbook(viewer, code, period, scope_tiles or tiles(viewer, code, period), library())


def extra_layer(kind: str, viewer: Viewer, code: str):  # noqa: ANN201
    """Sensors, resources and incidents layers, from their domains' read models."""
    from situation import objects_map

    return objects_map.layer(kind, viewer, code)
