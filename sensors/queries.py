"""Scoped reads for pages (生态环境, overview sensor layer, wall). Every function takes the Viewer and a
region code; rows outside the viewer's zone are never read (store.scope.apply_scope / in_region).

Area (district/city) AQI: per hour, the mean of the area's stations' hourly means per pollutant, then
assessed like one station (HJ 663 城市点位平均); daily area figures come from sensor_area_daily.
Scopes below district level use the figures of their district (the page says so).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indicators.standards import aqi as aqi_std
from indicators.standards import air_limits
from indicators.standards import noise as noise_std
from sensors import assessment as A
from sensors.daily import hourly_frame, local_midnight
from sensors.freshness import is_offline, offline_factor
from sensors.metrics import AIR_POLLUTANTS, IOT_DEVICE_NAMES, KIND_NAMES, metric_label
from sensors.registry import WATER_BODY_NAMES
from store.models import Event, Region
from store.models.sensors import Alert, IngestStatus, Sensor, SensorAreaDaily, SensorDaily, SensorHourly, SensorLatest
from store.period import Period
from store.scope import Viewer, apply_scope, ensure_region_visible, ensure_visible, in_region, level_of
from store.frames import rows_frame

EDITION_NAMES = {"2012": "HJ 633-2012", "2026": "HJ 633-2026"}
HYDRO_COLORS = {"正常": "#3BA3FF", "超警戒": "#FF7E00", "超保证": "#FF0000"}


def edition_label(edition: str | None) -> str:
    return EDITION_NAMES.get(edition or "", edition or "—")


def area_code_for(code: str) -> str:
    """sensor_area_daily holds city and district rows: deeper scopes use their district."""
    return code if level_of(code) in ("city", "district") else code[:6]


def _scoped_sensors(session: Session, viewer: Viewer, code: str, kinds: tuple[str, ...] | None = None) -> list[Sensor]:
    ensure_region_visible(viewer, code)
    stmt = apply_scope(select(Sensor), Sensor, viewer).where(in_region(Sensor, code), Sensor.active.is_(True))
    if kinds:
        stmt = stmt.where(Sensor.kind.in_(kinds))
    return list(session.execute(stmt.order_by(Sensor.id)).scalars())


# -- current state / map ---------------------------------------------------------------------------

def _current_air(session: Session, sensors: list[Sensor], now: datetime, edition: str | None) -> dict[str, dict]:
    """Latest hourly AQI per air station (its newest hour with data within the last 24 h), computed for
    all stations at once on an hour grid (the 2012 report's moving means need the 24 h before)."""
    ids = [s.id for s in sensors if s.kind == "air"]
    if not ids:
        return {}
    top = now.replace(minute=0, second=0, microsecond=0)
    n_hours = 48
    start = pd.Timestamp(top - timedelta(hours=n_hours - 1)).tz_convert(A.TZ)
    frame = hourly_frame(session, ids, start.to_pydatetime(), top + timedelta(hours=1), AIR_POLLUTANTS)
    grid = A.hour_grid(frame, ids, start, n_hours, AIR_POLLUTANTS)
    inputs = A.hourly_inputs_grid(grid)
    has = ~np.isnan(grid).all(axis=2)
    out: dict[str, dict] = {}
    for i, sid in enumerate(ids):
        hours = np.flatnonzero(has[i, 24:]) + 24  # the newest hour within the last 24
        if not len(hours):
            continue
        k = int(hours[-1])
        hour = start + pd.Timedelta(hours=k)
        conc = {key: float(arr[i, k]) for key, arr in inputs.items() if not np.isnan(arr[i, k])}
        ed = aqi_std.edition_for(hour.to_pydatetime(), edition)
        res = aqi_std.hourly_aqi(conc, ed)
        out[sid] = {"hour": hour, "aqi": res.aqi, "category": res.category, "color": res.color,
                    "primary": res.primary, "edition": ed, "values": {p: conc.get(p) for p in AIR_POLLUTANTS}}
    return out


def _latest(session: Session, ids: list[str]) -> dict[str, dict[str, tuple]]:
    out: dict[str, dict[str, tuple]] = {}
    if not ids:
        return out
    for sid, metric, ts, value in session.execute(
            select(SensorLatest.sensor_id, SensorLatest.metric, SensorLatest.ts, SensorLatest.value)
            .where(SensorLatest.sensor_id.in_(ids))):
        out.setdefault(sid, {})[metric] = (ts, value)
    return out


def station_map(session: Session, viewer: Viewer, code: str, now: datetime, edition: str | None = None,
                kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per station in scope: id, kind, name, lon, lat, color (hex), offline, level (text),
    value, edition, tip — the columns geo.layers.sensor_layer expects."""
    sensors = _scoped_sensors(session, viewer, code, kinds)
    air = _current_air(session, sensors, now, edition)
    latest = _latest(session, [s.id for s in sensors if s.kind != "air"])
    factor = offline_factor()
    rows = []
    for s in sensors:
        offline = is_offline(s.last_seen_at, s.expected_interval_s, now, factor)
        p = s.params or {}
        color, level, value, ed = A.NO_DATA_COLOR, "无数据", None, None
        vals = latest.get(s.id, {})
        if s.kind == "air" and s.id in air:
            a = air[s.id]
            ed = a["edition"]
            value = a["aqi"]
            if a["aqi"] is not None:
                color, level = a["color"], f"AQI {a['aqi']} {a['category']}"
            else:
                level = "AQI NA（缺测）"
        elif s.kind == "water" and vals:
            c = A.classify_latest({k: v[1] for k, v in vals.items()}, p.get("water_body", "river"),
                                  p.get("target_class"), p.get("assess_tn"))
            if c:
                color, value = c["color"], c["rank"]
                level = f"{c['overall']}类（目标 {p.get('target_class', '—')}类{'，达标' if c['meets_target'] else '，未达标'}）"
        elif s.kind == "noise" and "Leq" in vals:
            ts, leq = vals["Leq"]
            period = noise_std.period_of(ts)
            lim, excess, ok = noise_std.assess(p.get("zone", "2"), period, leq)
            color, value = ("#00E400" if ok else "#FF0000"), leq
            level = f"{'昼间' if period == 'day' else '夜间'} {leq:.1f} dB(A)（限值 {lim}）"
        elif s.kind == "hydro" and "water_level" in vals:
            lvl = vals["water_level"][1]
            state = A.water_level_state(lvl, p)
            color, value, level = HYDRO_COLORS.get(state, A.NO_DATA_COLOR), lvl, f"水位 {lvl:.2f} m {state}"
        elif s.kind == "iot" and vals:
            if p.get("device") == "manhole":
                bad = (vals.get("tilt", (None, 0))[1] or 0) > 15 or (vals.get("cover_open", (None, 0))[1] or 0) >= 1
                color, level = ("#FF0000", "井盖异常") if bad else ("#00E400", "井盖正常")
            else:
                on = (vals.get("lamp_on", (None, 0))[1] or 0) >= 1
                color, level = ("#FFD700", f"亮灯 {vals.get('power', (None, 0))[1] or 0:.0f} W") if on else ("#4A6FA5", "熄灯")
        if offline:
            color = A.OFFLINE_COLOR
        seen = s.last_seen_at.astimezone(A.TZ).strftime("%m-%d %H:%M") if s.last_seen_at else "从未"
        kind_name = IOT_DEVICE_NAMES.get(p.get("device"), KIND_NAMES[s.kind]) if s.kind == "iot" else KIND_NAMES[s.kind]
        tip = f"{s.name}（{kind_name}）\n{level}" + (f"\n标准：{edition_label(ed)}" if ed else "") + \
              f"\n{'离线' if offline else '在线'}，最近数据 {seen}"
        rows.append({"id": s.id, "kind": s.kind, "name": s.name, "lon": s.lon, "lat": s.lat, "color": color,
                     "offline": offline, "level": level, "value": value, "edition": ed, "tip": tip,
                     "district_code": s.district_code, "last_seen_at": s.last_seen_at})
    return pd.DataFrame(rows, columns=["id", "kind", "name", "lon", "lat", "color", "offline", "level", "value",
                                       "edition", "tip", "district_code", "last_seen_at"])


def sensor_counts(session: Session, viewer: Viewer, code: str, now: datetime) -> dict[str, dict]:
    factor = offline_factor()
    out: dict[str, dict] = {}
    for s in _scoped_sensors(session, viewer, code):
        c = out.setdefault(s.kind, {"total": 0, "online": 0, "offline": 0})
        c["total"] += 1
        c["offline" if is_offline(s.last_seen_at, s.expected_interval_s, now, factor) else "online"] += 1
    return out


def sensor_counts_system(session: Session, now: datetime) -> dict[str, dict]:
    """For the operator's CLI (not scoped: the command line has no viewer)."""
    factor = offline_factor()
    out: dict[str, dict] = {}
    for kind, seen, interval in session.execute(
            select(Sensor.kind, Sensor.last_seen_at, Sensor.expected_interval_s).where(Sensor.active.is_(True))):
        c = out.setdefault(kind, {"total": 0, "online": 0, "offline": 0})
        c["total"] += 1
        c["offline" if is_offline(seen, interval, now, factor) else "online"] += 1
    return out


def ingest_status_rows(session: Session) -> list[dict]:
    return [{"name": r.name, "connected": r.connected, "updated_at": r.updated_at, "started_at": r.started_at,
             "counters": dict(r.counters or {})}
            for r in session.execute(select(IngestStatus).order_by(IngestStatus.name)).scalars()]


# -- area AQI --------------------------------------------------------------------------------------

def area_hourly_aqi(session: Session, viewer: Viewer, code: str, start: datetime, end: datetime,
                    edition: str | None = None) -> pd.DataFrame:
    """Hourly AQI of an area (mean of its stations' hourly concentrations per pollutant)."""
    ensure_region_visible(viewer, code)
    h = SensorHourly
    stmt = apply_scope(select(h.hour, h.metric, func.avg(h.total / h.n)), h, viewer).where(
        in_region(h, code), h.kind == "air", h.metric.in_(AIR_POLLUTANTS),
        h.hour >= start - timedelta(hours=24), h.hour < end).group_by(h.hour, h.metric)
    frame = rows_frame(session.execute(stmt).all(), columns=["hour", "metric", "value"])
    if frame.empty:
        return A.hourly_aqi(frame)
    return A.hourly_aqi(frame, edition, since=start)


def area_daily(session: Session, viewer: Viewer, code: str, start: date, end: date,
               same_basis: bool = False) -> pd.DataFrame:
    """Daily AQI of the area (city/district; deeper scopes: their district) with PM2.5 daily mean.
    Columns: day, aqi, edition, category, color, primary, pm25."""
    ensure_region_visible(viewer, code)
    area = area_code_for(code)
    metric = "AQI_2026" if same_basis else "AQI"
    d = SensorAreaDaily
    rows = session.execute(select(d.day, d.metric, d.value, d.edition, d.detail).where(
        d.region_code == area, d.metric.in_((metric, "PM2.5")), d.day >= local_midnight(start),
        d.day <= local_midnight(end)).order_by(d.day)).all()
    recs: dict = {}
    for day, m, value, ed, detail in rows:
        key = day.astimezone(A.TZ).date()
        rec = recs.setdefault(key, {"day": key, "aqi": None, "edition": None, "category": None, "color": None,
                                    "primary": [], "pm25": None})
        if m == "PM2.5":
            rec["pm25"] = value
        else:
            rec.update(aqi=None if value is None else int(value), edition=ed,
                       category=(detail or {}).get("category"), color=(detail or {}).get("color"),
                       primary=(detail or {}).get("primary") or [])
    return pd.DataFrame(list(recs.values()), columns=["day", "aqi", "edition", "category", "color", "primary", "pm25"])


def good_days(frame: pd.DataFrame) -> tuple[int, int, float | None]:
    """(days with AQI ≤ 100, days with a valid AQI, ratio)."""
    valid = frame["aqi"].dropna() if not frame.empty else pd.Series(dtype=float)
    good = int((valid <= 100).sum())
    return good, int(len(valid)), (good / len(valid) if len(valid) else None)


def air_summary(session: Session, viewer: Viewer, code: str, period: Period, today: date,
                same_basis: bool = False) -> dict:
    """优良天数比例 and PM2.5 mean over the period up to today, against the GB 3095 annual limit in force."""
    p = period.clipped_to(today)
    frame = area_daily(session, viewer, code, p.start, p.end, same_basis)
    good, valid, ratio = good_days(frame)
    pm = frame["pm25"].dropna() if not frame.empty else pd.Series(dtype=float)
    pm_mean = float(pm.mean()) if len(pm) else None
    target = air_limits.limit("PM2.5", "annual", p.end)
    editions = sorted({e for e in frame["edition"].dropna()}) if not frame.empty else []
    return {"period": p, "good": good, "valid": valid, "ratio": ratio, "pm25_mean": pm_mean, "pm25_target": target,
            "pm25_stage": air_limits.stage_of(p.end).get("standard"), "editions": editions,
            "area_code": area_code_for(code)}


def district_ranking(session: Session, viewer: Viewer, code: str, period: Period, today: date,
                     same_basis: bool = False) -> pd.DataFrame:
    """Districts of the scope's city (those the viewer may see) by mean AQI, good-day ratio, PM2.5."""
    p = period.clipped_to(today)
    city = code[:4] + "00"
    metric = "AQI_2026" if same_basis else "AQI"
    d = SensorAreaDaily
    rows = session.execute(select(d.region_code, d.metric, d.value, d.edition).where(
        d.city_code == city, d.level == "district", d.metric.in_((metric, "PM2.5")),
        d.day >= local_midnight(p.start), d.day <= local_midnight(p.end))).all()
    names = dict(session.execute(select(Region.code, Region.name).where(Region.level == "district",
                                                                        Region.city_code == city)).all())
    frame = rows_frame(rows, columns=["code", "metric", "value", "edition"])
    out = []
    from store.scope import is_within

    for rc, part in frame.groupby("code"):
        if not (is_within(rc, viewer.zone_code) or is_within(viewer.zone_code, rc)):
            continue
        aqi = part[part["metric"] == metric]["value"].dropna()
        pm = part[part["metric"] == "PM2.5"]["value"].dropna()
        out.append({"code": rc, "name": names.get(rc, rc), "aqi_mean": float(aqi.mean()) if len(aqi) else None,
                    "good_ratio": float((aqi <= 100).mean()) if len(aqi) else None, "days": int(len(aqi)),
                    "pm25_mean": float(pm.mean()) if len(pm) else None,
                    "editions": "、".join(sorted(edition_label(e) for e in part["edition"].dropna().unique()))})
    res = pd.DataFrame(out, columns=["code", "name", "aqi_mean", "good_ratio", "days", "pm25_mean", "editions"])
    return res.sort_values(["aqi_mean", "code"], na_position="last").reset_index(drop=True)


# -- water / noise --------------------------------------------------------------------------------

def water_stations(session: Session, viewer: Viewer, code: str, period: Period, today: date) -> pd.DataFrame:
    """Each water station's latest daily class in the period against its target class."""
    sensors = {s.id: s for s in _scoped_sensors(session, viewer, code, ("water",))}
    if not sensors:
        return pd.DataFrame(columns=["id", "name", "water_body", "target", "class", "meets", "worst", "day"])
    p = period.clipped_to(today)
    d = SensorDaily
    rows = session.execute(select(d.sensor_id, d.day, d.value, d.detail).where(
        d.sensor_id.in_(list(sensors)), d.metric == "water_class", d.day >= local_midnight(p.start),
        d.day <= local_midnight(p.end)).order_by(d.sensor_id, d.day)).all()
    latest: dict[str, tuple] = {}
    for sid, day, value, detail in rows:
        latest[sid] = (day, value, detail or {})
    out = []
    for sid, s in sensors.items():
        p_ = s.params or {}
        day, _, detail = latest.get(sid, (None, None, {}))
        out.append({"id": sid, "name": s.name, "water_body": WATER_BODY_NAMES.get(p_.get("water_body"), "—"),
                    "target": p_.get("target_class"), "class": detail.get("overall"),
                    "meets": detail.get("meets_target"), "worst": "、".join(detail.get("worst_items") or []),
                    "day": day.astimezone(A.TZ).date() if day else None})
    return pd.DataFrame(out)


def noise_compliance(session: Session, viewer: Viewer, code: str, period: Period, today: date) -> pd.DataFrame:
    """Per noise station: zone, energy-mean day/night Leq, days assessed and compliance rates."""
    sensors = {s.id: s for s in _scoped_sensors(session, viewer, code, ("noise",))}
    cols = ["id", "name", "zone", "limit_day", "limit_night", "leq_day", "leq_night", "day_rate", "night_rate", "days"]
    if not sensors:
        return pd.DataFrame(columns=cols)
    p = period.clipped_to(today)
    d = SensorDaily
    rows = session.execute(select(d.sensor_id, d.metric, d.value, d.detail).where(
        d.sensor_id.in_(list(sensors)), d.metric.in_(("Leq_day", "Leq_night")),
        d.day >= local_midnight(p.start), d.day <= local_midnight(p.end))).all()
    frame = rows_frame(rows, columns=["sid", "metric", "value", "detail"])
    out = []
    for sid, s in sensors.items():
        zone = (s.params or {}).get("zone", "2")
        rec = {"id": sid, "name": s.name, "zone": zone, "limit_day": noise_std.limit(zone, "day"),
               "limit_night": noise_std.limit(zone, "night")}
        part = frame[frame["sid"] == sid]
        for which in ("day", "night"):
            sub = part[part["metric"] == f"Leq_{which}"]
            rec[f"leq_{which}"] = round(A.energy_mean(sub["value"]), 1) if len(sub) else None
            rec[f"{which}_rate"] = float(np.mean([bool((x or {}).get("ok")) for x in sub["detail"]])) if len(sub) else None
        rec["days"] = int((part["metric"] == "Leq_day").sum())
        out.append(rec)
    return pd.DataFrame(out, columns=cols)


# -- alerts ----------------------------------------------------------------------------------------

def open_alerts(session: Session, viewer: Viewer, code: str, limit: int = 200) -> pd.DataFrame:
    ensure_region_visible(viewer, code)
    stmt = (apply_scope(select(Alert, Sensor.name, Event.status, Event.title), Alert, viewer)
            .join(Sensor, Sensor.id == Alert.sensor_id).outerjoin(Event, Event.id == Alert.event_id)
            .where(in_region(Alert, code), Alert.status == "open").order_by(Alert.opened_at.desc()).limit(limit))
    out = []
    try:
        from events.workflow import STATUS_NAMES
    except ImportError:  # the events module is optional for reading alerts
        STATUS_NAMES = {}
    for alert, sname, estatus, etitle in session.execute(stmt).all():
        out.append({"id": alert.id, "opened_at": alert.opened_at.astimezone(A.TZ), "severity": alert.severity,
                    "rule": alert.rule_name or alert.rule_id, "sensor": sname, "sensor_id": alert.sensor_id,
                    "message": alert.message, "event_id": alert.event_id,
                    "case_status": STATUS_NAMES.get(estatus, estatus) if estatus else None,
                    "proposal": (f"{alert.proposal['incident_type']}（{alert.proposal['level']}级）"
                                 if alert.proposal else None), "proposal_status": alert.proposal_status})
    return pd.DataFrame(out, columns=["id", "opened_at", "severity", "rule", "sensor", "sensor_id", "message",
                                      "event_id", "case_status", "proposal", "proposal_status"])


# -- one station -----------------------------------------------------------------------------------

def station_detail(session: Session, viewer: Viewer, sensor_id: str, start: datetime, end: datetime,
                   edition: str | None = None) -> dict:
    """A station's hourly series (and, for air, hourly AQI) over [start, end) and its exceedance periods."""
    sensor = session.get(Sensor, sensor_id)
    if sensor is None:
        raise LookupError(f"站点 {sensor_id} 不存在")
    ensure_visible(viewer, sensor)
    p = sensor.params or {}
    pad = timedelta(hours=24) if sensor.kind == "air" else timedelta(0)
    frame = hourly_frame(session, [sensor_id], start - pad, end)
    series = frame[frame["hour"] >= pd.Timestamp(start)].copy()
    series["hour"] = pd.to_datetime(series["hour"], utc=True).dt.tz_convert(A.TZ)
    series["label"] = series["metric"].map(metric_label)
    out = {"sensor": sensor, "series": series, "aqi": None, "exceed": pd.DataFrame(), "editions": []}
    if sensor.kind == "air":
        aqi = A.hourly_aqi(frame, edition, since=start)
        out["aqi"] = aqi
        out["editions"] = sorted(aqi["edition"].dropna().unique()) if not aqi.empty else []
        if not aqi.empty:
            flags = aqi["aqi"].fillna(0) > 100
            out["exceed"] = _runs(aqi["hour"], flags, aqi["aqi"], "AQI>100（超标）", timedelta(hours=1))
    elif sensor.kind == "noise" and not series.empty:
        zone = p.get("zone", "2")
        leq = series[series["metric"] == "Leq"]
        lim = [noise_std.limit(zone, noise_std.period_of(h.to_pydatetime())) for h in leq["hour"]]
        out["exceed"] = _runs(leq["hour"], leq["value"].to_numpy() > np.array(lim), leq["value"],
                              "超过功能区限值", timedelta(hours=1))
    elif sensor.kind == "hydro" and p.get("warning_level") is not None and not series.empty:
        lvl = series[series["metric"] == "water_level"]
        out["exceed"] = _runs(lvl["hour"], lvl["value"] > p["warning_level"], lvl["value"], "超警戒水位",
                              timedelta(hours=1))
    elif sensor.kind == "water":
        d = SensorDaily
        rows = session.execute(select(d.day, d.value, d.detail).where(
            d.sensor_id == sensor_id, d.metric == "water_class", d.day >= start, d.day < end).order_by(d.day)).all()
        if rows and p.get("target_class"):
            from indicators.standards import water as water_std

            days = pd.Series([pd.Timestamp(r[0]).tz_convert(A.TZ) for r in rows])
            vals = pd.Series([r[1] for r in rows], dtype=float)
            out["exceed"] = _runs(days, vals > water_std.class_rank(p["target_class"]), vals, "劣于目标类别",
                                  timedelta(days=1))
    return out


def _runs(times, flags, values, label: str, step: timedelta) -> pd.DataFrame:  # noqa: ANN001
    """Contiguous runs where `flags` holds: start, end (exclusive), periods, peak."""
    times = list(pd.Series(times).reset_index(drop=True))
    flags = list(pd.Series(flags).reset_index(drop=True))
    values = list(pd.Series(values).reset_index(drop=True))
    runs, cur = [], None
    for t, f, v in zip(times, flags, values):
        if f and cur is not None and t - cur["_last"] == step:
            cur["_last"], cur["periods"] = t, cur["periods"] + 1
            cur["peak"] = max(cur["peak"], float(v))
        elif f:
            cur = {"start": t, "_last": t, "periods": 1, "peak": float(v), "what": label}
            runs.append(cur)
        else:
            cur = None
    for r in runs:
        r["end"] = r.pop("_last") + step
    return pd.DataFrame(runs, columns=["start", "end", "periods", "peak", "what"])


def scope_outlines(session: Session, viewer: Viewer, code: str) -> list[dict]:
    """GeoJSON geometries of the scope's child regions (or the scope itself), for map context."""
    import json

    from geo import hierarchy

    regions = hierarchy.children(session, code, viewer) or [hierarchy.get_region(session, code, viewer)]
    return [json.loads(r.geometry) for r in regions if r.geometry]


def station_options(session: Session, viewer: Viewer, code: str) -> list[tuple[str, str]]:
    return [(s.id, f"{s.name}（{KIND_NAMES[s.kind]}）") for s in _scoped_sensors(session, viewer, code)]
