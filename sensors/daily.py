"""Daily figures per station (sensor_daily) and per district/city (sensor_area_daily), recomputed from
sensor_hourly whenever a day's data changes. These are the tables the indicator engine reads.

sensor_daily metrics (day = local midnight, stored UTC):
- air:   "AQI" (edition in force that day; `edition` column says which; value NULL = NA per
         HJ 633-2026 §5.3.1), "AQI_2026" (the same day re-assessed under HJ 633-2026: 同口径),
         daily means "SO2" "NO2" "CO" "PM10" "PM2.5", "O3_8h_max", "O3_1h_max"; AQI detail holds level,
         category, color, primary, exceeding, iaqi, missing.
- water: "water_class" (rank I=1 … 劣V=6; detail: overall, items, worst_items, target_class,
         meets_target) and the item means ("pH", "DO", "CODMn", "NH3-N", "TP", "TN" …).
- noise: "Leq_day", "Leq_night" (dB(A); detail: zone, limit, ok). Night = 22:00 that date – 06:00 next.
- hydro: "water_level_max" (detail: state, warning/guarantee levels), "rainfall_sum".
sensor_area_daily: the same air metrics for every district and the city (region_code, level).
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from sensors import assessment as A
from sensors.metrics import AIR_POLLUTANTS, WATER_ITEMS, is_decibel, is_summed
from sensors.registry import SensorIndex, SensorInfo
from sensors.writer import _chunks, dialect_insert
from store.models.sensors import SensorAreaDaily, SensorDaily, SensorHourly
from store.frames import rows_frame
from store.region_codes import KEYED_LEVELS

CURRENT_EDITION = "2026"


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=A.TZ)


def hourly_frame(session: Session, sensor_ids: list[str], start: datetime, end: datetime,
                 metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """sensor_hourly rows in [start, end) as (sensor_id, hour, metric, value) with each metric's
    proper hourly figure: mean, energy-mean Leq for decibels, sum for rainfall."""
    h = SensorHourly
    stmt = select(h.sensor_id, h.hour, h.metric, h.n, h.total, h.etotal).where(
        h.sensor_id.in_(sensor_ids), h.hour >= start, h.hour < end)
    if metrics:
        stmt = stmt.where(h.metric.in_(metrics))
    rows = session.execute(stmt).all()
    frame = rows_frame(rows, columns=["sensor_id", "hour", "metric", "n", "total", "etotal"])
    if frame.empty:
        return pd.DataFrame(columns=["sensor_id", "hour", "metric", "value"])
    value = frame["total"] / frame["n"]
    dec = frame["metric"].map(is_decibel).astype(bool)
    if dec.any():
        value[dec] = 10 * np.log10(frame.loc[dec, "etotal"].astype(float) / frame.loc[dec, "n"])
    summed = frame["metric"].map(is_summed).astype(bool)
    value[summed] = frame.loc[summed, "total"]
    frame["value"] = value.astype(float)
    return frame[["sensor_id", "hour", "metric", "value"]]


def _f(v) -> float | None:  # noqa: ANN001
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _jsonable(value):  # noqa: ANN001
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return _f(value)
    return value


def _aqi_detail_of(result) -> dict:  # noqa: ANN001 - standards.aqi.AQIResult
    return {"level": result.level, "category": result.category, "color": result.color,
            "primary": list(result.primary), "exceeding": list(result.exceeding), "iaqi": dict(result.iaqi),
            "missing": list(result.missing)}


def air_day_rows_many(frame: pd.DataFrame, days_by_id: dict[str, set[date]]) -> dict[str, list[dict]]:
    """Daily AQI records for many stations (or areas) at once: frame (sensor_id, hour, metric, value),
    days_by_id = the local days wanted per id. One numpy grid for all, then one AQI call per day."""
    ids = sorted(days_by_id)
    out: dict[str, list[dict]] = {sid: [] for sid in ids}
    wanted = set().union(*days_by_id.values()) if ids else set()
    if not wanted:
        return out
    first, last = min(wanted), max(wanted)
    n_days = (last - first).days + 1
    grid = A.hour_grid(frame, ids, pd.Timestamp(local_midnight(first)), n_days * 24, AIR_POLLUTANTS)
    stats = A.air_daily_grid(grid)
    for i, sid in enumerate(ids):
        for day in sorted(days_by_id[sid]):
            di = (day - first).days
            result, conc = A.assess_daily_grid(stats, i, di, day, None)
            if result is None:
                continue
            rows = out[sid]
            rows.append({"day": day, "metric": "AQI", "value": _f(result.aqi), "edition": result.edition,
                         "detail": _aqi_detail_of(result)})
            same = result if result.edition == CURRENT_EDITION else A.aqi_std.daily_aqi(conc, CURRENT_EDITION)
            rows.append({"day": day, "metric": "AQI_2026", "value": _f(same.aqi), "edition": CURRENT_EDITION,
                         "detail": _aqi_detail_of(same)})
            for p in AIR_POLLUTANTS:
                if p != "O3" and p in conc:
                    rows.append({"day": day, "metric": p, "value": conc[p], "edition": None, "detail": None})
            if "O3" in conc:
                rows.append({"day": day, "metric": "O3_8h_max", "value": conc["O3"], "edition": None, "detail": None})
            if "O3_1h" in conc:
                rows.append({"day": day, "metric": "O3_1h_max", "value": conc["O3_1h"], "edition": None,
                             "detail": None})
    return out


def air_day_rows(frame: pd.DataFrame, days: set[date]) -> list[dict]:
    """(day, metric, value, edition, detail) records for the given days of one station or area."""
    f = frame[["hour", "metric", "value"]].assign(sensor_id="_")
    return air_day_rows_many(f, {"_": set(days)})["_"]


def station_day_rows(info: SensorInfo, frame: pd.DataFrame, days: set[date]) -> list[dict]:
    if info.kind == "air":
        return air_day_rows(frame, days)
    out: list[dict] = []
    if info.kind == "water":
        wd = A.water_daily(frame, info.params.get("water_body", "river"), info.params.get("target_class"),
                           info.params.get("assess_tn"))
        for row in wd.to_dict("records"):
            if row["day"] not in days:
                continue
            detail = _jsonable({"overall": row["overall"], "items": row["items"], "worst_items": row["worst_items"],
                                "target_class": info.params.get("target_class"), "meets_target": row["meets_target"]})
            out.append({"day": row["day"], "metric": "water_class", "value": float(row["rank"]), "edition": "GB3838-2002",
                        "detail": detail})
            for item in WATER_ITEMS:
                if _f(row.get(item)) is not None:
                    out.append({"day": row["day"], "metric": item, "value": _f(row[item]), "edition": None, "detail": None})
    elif info.kind == "noise":
        zone = info.params.get("zone", "2")
        nd = A.noise_daily(frame, zone)
        for row in nd.to_dict("records"):
            if row["day"] not in days:
                continue
            for part in ("day", "night"):
                v = _f(row[f"Leq_{part}"])
                if v is not None:
                    out.append({"day": row["day"], "metric": f"Leq_{part}", "value": v,
                                "edition": "GB3096-2008", "limit_value": float(row[f"limit_{part}"]),
                                "detail": {"zone": zone, "limit": int(row[f"limit_{part}"]), "ok": bool(row[f"{part}_ok"])}})
    elif info.kind == "hydro":
        hd = A.hydro_daily(frame)
        for row in hd.to_dict("records"):
            if row["day"] not in days:
                continue
            level = _f(row["water_level_max"])
            if level is not None:
                out.append({"day": row["day"], "metric": "water_level_max", "value": level, "edition": None,
                            "detail": {"state": A.water_level_state(level, info.params),
                                       "warning_level": info.params.get("warning_level"),
                                       "guarantee_level": info.params.get("guarantee_level")}})
            rain = _f(row["rainfall_sum"])
            if rain is not None:
                out.append({"day": row["day"], "metric": "rainfall_sum", "value": rain, "edition": None, "detail": None})
    return out


def _upsert(session: Session, model, key: list[str], rows: list[dict]) -> None:  # noqa: ANN001
    if not rows:
        return
    table = model.__table__
    ins = dialect_insert(session, table)
    cols = {c: getattr(ins.excluded, c) for c in ("value", "edition", "detail")}
    if "stations" in table.c:
        cols["stations"] = ins.excluded.stations
    stmt = ins.on_conflict_do_update(index_elements=key, set_=cols)
    for chunk in _chunks(rows, 500):
        session.execute(stmt, chunk)


def _span(days: set[date], noise: bool) -> tuple[datetime, datetime]:
    """[start, end) of hourly data needed to assess `days` (8-hour windows stay within the day)."""
    start = local_midnight(min(days))
    end = local_midnight(max(days) + timedelta(days=1))
    if noise:
        end += timedelta(hours=6)
    return start.astimezone(A.TZ), end.astimezone(A.TZ)


def refresh_daily(session: Session, touched_days: dict[str, set[date]], index: SensorIndex) -> int:
    """Recompute sensor_daily for the given (sensor, local days). Returns rows written."""
    by_span: dict[tuple, list[str]] = defaultdict(list)
    for sid, days in touched_days.items():
        info = index.get(sid)
        if info is None or info.kind == "iot" or not days:
            continue
        by_span[(_span(days, info.kind == "noise"))].append(sid)
    written = 0
    for (start, end), sids in by_span.items():
        frame = hourly_frame(session, sids, start, end)
        rows: list[dict] = []
        air = [sid for sid in sids if index.get(sid).kind == "air"]
        records = air_day_rows_many(frame[frame["sensor_id"].isin(air)], {sid: touched_days[sid] for sid in air})
        for sid, part in frame[~frame["sensor_id"].isin(air)].groupby("sensor_id"):
            records[sid] = station_day_rows(index.get(sid), part, touched_days[sid])
        for sid, recs in records.items():
            info = index.get(sid)
            for rec in recs:
                rows.append({**rec, "day": local_midnight(rec["day"]), "sensor_id": sid, "kind": info.kind,
                             "limit_value": rec.get("limit_value"),
                             **{f"{lvl}_code": info.codes[lvl] for lvl in KEYED_LEVELS}})
        _upsert(session, SensorDaily, ["sensor_id", "day", "metric"], rows)
        written += len(rows)
    return written


def area_frame(session: Session, column, code: str, start: datetime, end: datetime) -> tuple[pd.DataFrame, int]:  # noqa: ANN001
    """An area's hourly pollutant series (mean over its stations) and the number of stations."""
    h = SensorHourly
    cond = (h.kind == "air", column == code, h.hour >= start, h.hour < end, h.metric.in_(AIR_POLLUTANTS))
    rows = session.execute(
        select(h.hour, h.metric, func.avg(h.total / h.n)).where(*cond).group_by(h.hour, h.metric)
    ).all()
    stations = session.execute(select(func.count(distinct(h.sensor_id))).where(*cond)).scalar_one()
    return rows_frame(rows, columns=["hour", "metric", "value"]), int(stations)


def refresh_area_daily(session: Session, touched_days: dict[str, set[date]], index: SensorIndex) -> int:
    """Recompute sensor_area_daily for every district and city whose air stations changed on a day."""
    wanted: dict[tuple[str, str, str], set[date]] = defaultdict(set)
    for sid, days in touched_days.items():
        info = index.get(sid)
        if info is None or info.kind != "air":
            continue
        if info.codes.get("district"):
            wanted[("district", info.codes["district"], info.codes["city"])] |= days
        wanted[("city", info.codes["city"], info.codes["city"])] |= days
    written = 0
    for (level, code, city), days in wanted.items():
        column = SensorHourly.district_code if level == "district" else SensorHourly.city_code
        start, end = _span(days, False)
        frame, stations = area_frame(session, column, code, start, end)
        rows = [{**rec, "day": local_midnight(rec["day"]), "region_code": code, "level": level, "city_code": city,
                 "kind": "air", "stations": stations}
                for rec in air_day_rows(frame, days)]
        _upsert(session, SensorAreaDaily, ["region_code", "day", "metric"], rows)
        written += len(rows)
    return written
