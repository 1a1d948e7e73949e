"""Indicator figures for the situation screens: tiles by government function, the choropleth values
and legend, ranking, trend and the briefing workbook. Everything comes from the indicator engine;
this module only chooses and formats."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pandas as pd

import indicators
import settings
from indicators.schema import DOMAINS
from indicators.status import NO_DATA, STATUS_NAMED_COLORS, fmt_number, is_improvement, status_label
from situation import objects_map
from situation.briefing import Tile
from situation.workbook import indicator_workbook
from sensors.assessment import TZ
from sensors.freshness import reading_lateness
from sensors.registry import DEFAULT_INTERVAL_S
from sensors.views import SensorViews
from store.db import get_engine
from store.period import Period
from store.region_codes import child_level, level_of
from store.scope import Viewer


def library() -> dict:
    return indicators.load_library()


def _child_level(code: str) -> str | None:
    return child_level(level_of(code))


def map_indicators(code: str) -> dict[str, str]:
    """Indicators that can colour the children of `code` (valid at the child level), id → label.
    A grid has no children: its own-level indicators are offered instead."""
    level = _child_level(code) or "grid"
    out = {i.id: f"{i.domain} · {i.name}" for i in library().values() if level in i.levels}
    return dict(sorted(out.items(), key=lambda kv: (DOMAINS.index(library()[kv[0]].domain)
                                                    if library()[kv[0]].domain in DOMAINS else 99, kv[1])))


def default_map_indicator(code: str) -> str:
    """The indicator the map and ranking of `code` open with: the configured one where it applies, else
    the first offered."""
    options = map_indicators(code)
    preferred = settings.get_settings()["map"].get("default_indicator")
    return preferred if preferred in options else next(iter(options))


def fmt(value: float | None, decimals: int = 1) -> str:
    return fmt_number(value, decimals)


def status_icon(status: str | None) -> str:
    """A coloured dot for a status in Streamlit Markdown (a hollow grey one without data)."""
    return f":{STATUS_NAMED_COLORS[status]}[●]" if status in STATUS_NAMED_COLORS else ":gray[○]"


def legend_of(ind) -> dict:  # noqa: ANN001
    return {"id": ind.id, "name": ind.name, "unit": ind.unit, "polarity": ind.polarity,
            "target": ind.target, "decimals": ind.decimals, "bands": indicators.bands(ind)}


def legend_text(legend: dict) -> str:
    bands = "　".join(f"{status_icon(b['status'])} {b['label']} {b['range']}" for b in legend["bands"])
    return f"图例：{legend['name']}（{legend['unit']}）　{bands or '未设阈值'}　{status_icon(None)} {status_label(None)}"


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
    """Children best first by the indicator's polarity; regions without data follow, marked 无数据
    (a district that reported nothing must show, not silently drop out of the list)."""
    if values.empty or values["name"].isna().all():
        return pd.DataFrame()
    data = values.copy()
    has = data["value"].notna()
    ranked = data[has].sort_values(["value", "code"], ascending=[legend["polarity"] != "higher_better", True])
    missing = data[~has].sort_values("code")
    data = pd.concat([ranked, missing])
    data.insert(0, "名次", [str(i) for i in range(1, len(ranked) + 1)] + ["—"] * len(missing))
    data["value_text"] = data["value_text"].fillna(NO_DATA)
    data["状态"] = [status_label(x) for x in data["status"]]
    cols = {"名次": "名次", "name": "区域", "value_text": legend["name"], "状态": "状态"}
    return data[[c for c in cols if c in data]].rename(columns=cols)


@dataclass(frozen=True)
class Change:
    """One 环比/同比 figure of a tile: `direction` up/down/flat, `good` True/False (by the indicator's
    polarity) or None when the change is nil or the indicator has no better direction."""
    label: str
    text: str
    direction: str
    good: bool | None


def _delta_text(ind, result) -> str:  # noqa: ANN001
    """环比/同比 in words with arrows, for print (the briefing, the workbook)."""
    parts = []
    if result.mom_delta is not None:
        parts.append(f"环比 {indicators.fmt_delta(ind, result.mom_delta, result.mom_pct)}")
    if result.yoy_delta is not None:
        parts.append(f"同比 {indicators.fmt_delta(ind, result.yoy_delta, result.yoy_pct)}")
    return "　".join(parts)


def _changes(ind, result) -> tuple[Change, ...]:  # noqa: ANN001
    out = []
    for label, delta, pct in (("环比", result.mom_delta, result.mom_pct), ("同比", result.yoy_delta, result.yoy_pct)):
        if delta is None:
            continue
        text = indicators.fmt_delta(ind, delta, pct, signed=True).lstrip("+-±")
        direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
        good = is_improvement(ind, delta) if ind.polarity in ("higher_better", "lower_better") else None
        out.append(Change(label, text, direction, good))
    return tuple(out)


def tile_ids(code: str) -> list[str]:
    """The indicators of the tile grid at the scope's level, in the order the tiles show."""
    level = level_of(code)
    inds = [i for i in library().values() if level in i.levels]
    # Stable sort: within a function, the library's own order (its authors put the key figures first).
    inds.sort(key=lambda i: DOMAINS.index(i.domain) if i.domain in DOMAINS else 99)
    return [i.id for i in inds]


def tiles(viewer: Viewer, code: str, period: Period, ids: list[str] | tuple[str, ...] | None = None) -> list[Tile]:
    """Every library indicator valid at the scope's level, as tiles grouped by function; with `ids`, only
    those (in tile order): screens cache the tiles in groups by the data each group reads (ui/versions.py)."""
    wanted = None if ids is None else set(ids)
    inds = [library()[i] for i in tile_ids(code) if wanted is None or i in wanted]
    results = indicators.compute_many([i.id for i in inds], code, period, viewer)
    out = [Tile(i.domain, i.name, fmt(results[i.id].value, i.decimals), i.unit, results[i.id].status,
                _delta_text(i, results[i.id]), _changes(i, results[i.id])) for i in inds]
    return with_reading_times(out, inds, viewer, code)


def _station_metric(ind) -> tuple[str, str | None] | None:  # noqa: ANN001
    """(metric, station kind) of a 最新值 indicator read from the stations' newest readings, else None."""
    f = ind.formula
    if f.kind != "latest" or f.source != "sensor_latest":
        return None
    eq = {flt.column: flt.value for flt in f.filters if flt.op == "=" and not flt.any_of}
    return (eq["metric"], eq.get("sensors.kind")) if "metric" in eq else None


def with_reading_times(tiles_: list[Tile], inds: list, viewer: Viewer, code: str,
                       now: datetime | None = None) -> list[Tile]:
    """Tiles of 最新值 station figures carry their newest reading's time, and 延迟/过期 once it is late."""
    wanted = {n: m for n, i in enumerate(inds) if (m := _station_metric(i))}
    if not wanted:
        return tiles_
    now = now or datetime.now(timezone.utc)
    out = list(tiles_)
    with SensorViews.open(get_engine(), viewer) as v:
        for n, (metric, kind) in wanted.items():
            ts = v.latest_reading_time(metric, code, kind)
            if ts is None:
                continue
            interval = DEFAULT_INTERVAL_S.get(kind or "air", 3600)
            # A station's reading is stamped at the start of the interval it covers (the hour, for air).
            late = reading_lateness(ts + timedelta(seconds=interval), now, interval)
            out[n] = replace(out[n], reading_time=f"{ts.astimezone(TZ):%m-%d %H:%M}", lateness=late)
    return out


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
    return indicator_workbook(viewer, code, period, scope_tiles or tiles(viewer, code, period), library())


def extra_layer(kind: str, viewer: Viewer, code: str):  # noqa: ANN201
    """Sensors, resources and incidents layers, from their domains' read models."""
    return objects_map.layer(kind, viewer, code)
