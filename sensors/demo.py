"""Demo sensors and readings (演示数据 — generated, not measured).

Stations are placed around the demo city's street centroids (urban districts weighted up) and
located in the hierarchy with the geo locator. Hourly series are vectorised numpy, drawn block by block
of stations (BLOCK_VALUES values at a time: what all stations share — the synoptic weather, the district
factors, the haze episodes, the city's rain hours — is drawn once first), each block written and dropped
before the next, so the memory stays bounded at any scale:
- air: south-China seasonality (winter haze, clean wet summer), traffic peaks for NO2/CO at 08 and
  18–19 h, afternoon O3 peaking in autumn, a shared synoptic AR(1) weather factor plus district and
  station noise, haze episodes (one spanning 2026-03-01 when the range covers it, so both HJ 633
  editions matter) and one episode under way at the end in one district (opens alerts and cases);
- water (every 4 h): pH, DO, CODMn, NH3-N, TP, TN, water temperature; some stations miss their target;
- noise: hourly Leq by functional zone, a few stations chronically loud at night;
- hydrology: wet-season (Apr–Sep) afternoon showers and typhoon rain, water level responding to rain;
- IoT: manhole tilt/open state, street lights on at night with their power draw.

Storage decision (stated for the city scale: ~2k sensors × a year): sensor_hourly holds the whole
`reading_days` range for air, water, noise and hydrology (what indicators read); raw sensor_readings
hold only the last [sensors].demo_raw_days days, and IoT devices are generated for those days only
(their history has no indicator). sensor_daily / sensor_area_daily are computed from the same hourly
data with the same functions the ingester uses, so everything is consistent.
"""
from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

import settings
from geo.locate import Locator
from sensors.alerts import evaluate_sensors
from sensors.daily import air_day_rows_many, local_midnight, station_day_rows
from sensors.metrics import AIR_POLLUTANTS, is_decibel
from sensors.registry import DEFAULT_INTERVAL_S, SensorInfo, info_of, load_index
from standards import noise as noise_std
from store import bulkload, partitions
from store.models import Region
from store.models.sensors import Sensor, SensorAreaDaily, SensorDaily, SensorHourly, SensorLatest, SensorReading
from store.region_codes import KEYED_LEVELS

TZ_OFFSET_H = 8  # Asia/Shanghai has no DST
EDITION_SWITCH = datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=8)))
LEVEL_COLS = KEYED_LEVELS


def _ar1(rng: np.random.Generator, n: int, h: int, phi: float, sigma: float) -> np.ndarray:
    """n independent AR(1) series of length h with stationary variance sigma²."""
    eps = rng.normal(0.0, sigma * np.sqrt(1 - phi * phi), size=(n, h))
    out = np.empty((n, h))
    out[:, 0] = rng.normal(0.0, sigma, size=n)
    for t in range(1, h):
        out[:, t] = phi * out[:, t - 1] + eps[:, t]
    return out


def _bump(hours_utc: np.ndarray, start: datetime, dur_h: float, ramp_h: float = 12.0) -> np.ndarray:
    """Trapezoid 0..1 over [start, start+dur] with linear ramps."""
    t = (hours_utc - np.datetime64(start.astimezone(timezone.utc).replace(tzinfo=None), "h")).astype(float)
    up = np.clip(t / ramp_h, 0, 1)
    down = np.clip((dur_h - t) / ramp_h, 0, 1)
    return np.where((t >= 0) & (t <= dur_h), np.minimum(up, down), 0.0)


# -- placement -----------------------------------------------------------------------------------------

def _place(session: Session, rng: np.random.Generator, city_code: str, n: int, spread: float) -> list[dict]:
    if n <= 0:
        return []
    districts = {r.code: r for r in session.execute(
        select(Region).where(Region.city_code == city_code, Region.level == "district")).scalars()}
    streets = session.execute(
        select(Region.code, Region.parent_code, Region.centroid_lon, Region.centroid_lat)
        .where(Region.city_code == city_code, Region.level == "street", Region.centroid_lon.is_not(None))
        .order_by(Region.code)).all()
    if not streets:
        raise ValueError("演示传感器需要先生成行政区划（geo.demo_city）")
    weights = np.array([3.0 if districts.get(s.parent_code) and districts[s.parent_code].name.endswith("区") else 1.0
                        for s in streets])
    picks = rng.choice(len(streets), size=n, p=weights / weights.sum())
    lons = np.array([streets[i].centroid_lon for i in picks]) + rng.normal(0, spread, n)
    lats = np.array([streets[i].centroid_lat for i in picks]) + rng.normal(0, spread, n)
    locator = Locator.from_session(session, city_code)
    codes = locator.locate_many(lons, lats)
    for i, c in enumerate(codes):
        if c is None:  # jitter left the city: use the street centroid itself
            lons[i], lats[i] = streets[picks[i]].centroid_lon, streets[picks[i]].centroid_lat
            codes[i] = locator.locate(lons[i], lats[i]) or {"city": city_code, "district": streets[picks[i]].parent_code,
                                                           "street": streets[picks[i]].code}
    return [{"lon": float(lons[i]), "lat": float(lats[i]), "codes": codes[i]} for i in range(n)]


def _sensor_rows(kind: str, prefix: str, places: list[dict], names: list[str], params: list[dict],
                 interval: int, first: int = 1) -> list[dict]:
    rows = []
    for i, (pl, name, par) in enumerate(zip(places, names, params), start=first):
        row = {"id": f"{prefix}-{i:04d}", "kind": kind, "name": name, "lon": round(pl["lon"], 6),
               "lat": round(pl["lat"], 6), "params": par, "expected_interval_s": interval, "active": True,
               "last_seen_at": None}
        row.update({f"{lv}_code": pl["codes"].get(lv) for lv in LEVEL_COLS})
        rows.append(row)
    return rows


# -- series --------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, end_hour: datetime, hours: int):
        self.n = hours
        self.utc = np.arange(np.datetime64(end_hour.replace(tzinfo=None), "h") - (hours - 1),
                             np.datetime64(end_hour.replace(tzinfo=None), "h") + 1, dtype="datetime64[h]")
        local = self.utc + np.timedelta64(TZ_OFFSET_H, "h")
        self.lh = (local.astype("datetime64[h]").astype(np.int64) % 24).astype(float)
        days = local.astype("datetime64[D]")
        self.doy = (days - days.astype("datetime64[Y]")).astype(float) + 1
        self.start = end_hour - timedelta(hours=hours - 1)
        self.end = end_hour

    def covers(self, when: datetime) -> bool:
        return self.start <= when.astimezone(timezone.utc) <= self.end


def _season(doy: np.ndarray, peak_doy: float) -> np.ndarray:
    return np.cos(2 * np.pi * (doy - peak_doy) / 365.25)


@dataclass
class AirPlan:
    """What every air station shares: the synoptic weather factor, each district's factor and the haze
    episodes (with the districts they cover). Drawn once; `air_block` then draws the stations."""

    dists: list[str]
    synoptic: np.ndarray        # 1 × hours
    district: np.ndarray        # districts × hours
    episodes: list[tuple[np.ndarray, float, list[str] | None]]  # (trapezoid over the hours, factor, districts)
    made: list[dict]


def air_plan(rng: np.random.Generator, clock: Clock, district_of: list[str], last_episode_district: str | None
             ) -> AirPlan:
    h = clock.n
    dists = sorted(set(district_of))
    synoptic = _ar1(rng, 1, h, 0.985, 0.35)
    district = _ar1(rng, len(dists), h, 0.95, 0.12)
    made: list[dict] = []
    # Haze episodes in the cool season, including one across the 2026-03-01 edition switch.
    starts: list[tuple[datetime, float, float, list[str] | None]] = []
    if clock.covers(EDITION_SWITCH - timedelta(days=2)) and clock.covers(EDITION_SWITCH + timedelta(days=2)):
        starts.append((EDITION_SWITCH - timedelta(hours=40), 96.0, 3.4, None))
    n_random = max(1, clock.n // (24 * 45))
    for _ in range(n_random):
        t = clock.start + timedelta(hours=float(rng.uniform(0, max(clock.n - 120, 1))))
        local_month = (t + timedelta(hours=8)).month
        amp = float(rng.uniform(2.2, 3.6)) * (1.0 if local_month in (11, 12, 1, 2, 3) else 0.6)
        starts.append((t, float(rng.uniform(48, 110)), max(amp, 1.6), None))
    if last_episode_district is not None:
        # Under way at the end: one district turns orange then red (alerts and cases are opened).
        starts.append((clock.end - timedelta(hours=9), 9.0 + 12.0, 4.2, [last_episode_district]))
    episodes = []
    for start, dur, amp, only in starts:
        episodes.append((_bump(clock.utc, start, dur, ramp_h=6.0 if only else 12.0), amp, only))
        made.append({"start": start.isoformat(), "hours": dur, "factor": round(amp, 2),
                     "districts": only or "全市"})
    return AirPlan(dists, synoptic, district, episodes, made)


def air_block(rng: np.random.Generator, clock: Clock, plan: AirPlan, district_of: list[str]) -> dict[str, np.ndarray]:
    """Hourly series of the air stations in `district_of` (one block of them)."""
    n, h = len(district_of), clock.n
    d_index = np.array([plan.dists.index(d) for d in district_of])
    synoptic = plan.synoptic
    local = _ar1(rng, n, h, 0.85, 0.12)
    weather = synoptic + plan.district[d_index] + local
    lh, doy = clock.lh, clock.doy
    season = 1 + 0.55 * _season(doy, 15)
    night = 1 + 0.18 * np.cos(2 * np.pi * (lh - 22) / 24)
    traffic = 0.75 + 0.5 * np.exp(-((lh - 8) ** 2) / 4.5) + 0.6 * np.exp(-((lh - 18.5) ** 2) / 5)
    base = rng.lognormal(np.log(22), 0.2, size=(n, 1))
    episodes = np.ones((n, h))
    where = np.array(district_of)
    for bump, amp, only in plan.episodes:
        mask = np.ones(n, bool) if only is None else np.isin(where, only)
        if mask.any():
            episodes[mask] *= 1 + (amp - 1) * bump * rng.uniform(0.8, 1.15, size=(mask.sum(), 1))
    pm25 = base * season * night * np.exp(weather) * episodes
    pm10 = pm25 * rng.uniform(1.45, 1.75, size=(n, 1)) * np.exp(0.05 * local)
    no2 = rng.lognormal(np.log(24), 0.2, (n, 1)) * traffic * (1 + 0.25 * _season(doy, 15)) * np.exp(0.6 * weather) \
        * np.sqrt(episodes)
    co = rng.lognormal(np.log(0.55), 0.15, (n, 1)) * np.sqrt(traffic) * (1 + 0.2 * _season(doy, 15)) \
        * np.exp(0.4 * weather) * episodes ** 0.35
    so2 = rng.lognormal(np.log(7), 0.3, (n, 1)) * (1 + 0.2 * _season(doy, 15)) * np.exp(0.5 * weather)
    sun = np.clip(np.sin(np.pi * (lh - 7) / 12), 0, None) ** 1.5
    o3_season = 1 + 0.35 * _season(doy, 275)
    o3 = (22 + 115 * sun * o3_season * np.exp(0.5 * (synoptic - 0.5 * local))) * rng.uniform(0.85, 1.15, (n, 1))
    del weather, episodes, local
    series = {"PM2.5": pm25, "PM10": pm10, "NO2": no2, "CO": co, "SO2": so2, "O3": o3}
    for k, v in series.items():
        series[k] = np.round(np.clip(v, 0.1 if k == "CO" else 1, None), 2 if k == "CO" else 1)
    return series


def water_series(rng: np.random.Generator, clock: Clock, quality: np.ndarray, lake: np.ndarray) -> dict[str, np.ndarray]:
    n, h = len(quality), clock.n
    q = quality[:, None]
    temp = 23 + 6.5 * _season(clock.doy, 205) + 0.8 * np.sin(2 * np.pi * (clock.lh - 9) / 24)
    noise = lambda s: np.exp(_ar1(rng, n, h, 0.97, s))  # noqa: E731
    series = {
        "water_temp": np.round(temp + rng.normal(0, 0.3, (n, h)), 1),
        "pH": np.round(7.3 + 0.25 * np.sin(2 * np.pi * (clock.lh - 10) / 24) + _ar1(rng, n, h, 0.97, 0.15), 2),
        "DO": np.round(np.clip(9.6 - 0.12 * temp - 1.4 * (q - 1) + _ar1(rng, n, h, 0.95, 0.4), 0.5, None), 2),
        "CODMn": np.round(2.6 * q * noise(0.15), 2),
        "NH3-N": np.round(0.28 * q ** 1.6 * noise(0.25), 3),
        "TP": np.round(np.where(lake[:, None], 0.025, 0.09) * q * noise(0.2), 3),
        "TN": np.round(0.9 * q * noise(0.15), 2),
    }
    series["pH"] = np.clip(series["pH"], 6.0, 9.2)
    return series


def noise_series(rng: np.random.Generator, clock: Clock, zones: list[str], loud: np.ndarray) -> np.ndarray:
    n, h = len(zones), clock.n
    day_lim = np.array([noise_std.limit(z, "day") for z in zones], float)[:, None]
    night_lim = np.array([noise_std.limit(z, "night") for z in zones], float)[:, None]
    is_day = ((clock.lh >= 6) & (clock.lh < 22))[None, :]
    shape = 1.5 * np.exp(-((clock.lh - 8) ** 2) / 6) + 1.5 * np.exp(-((clock.lh - 18) ** 2) / 6)
    level = np.where(is_day, day_lim - 4 + shape, night_lim - 3 + 5.5 * loud[:, None])
    return np.round(level + _ar1(rng, n, h, 0.7, 1.8), 1)


@dataclass
class HydroPlan:
    """City-wide rain hours and typhoon windows, shared by every hydrology station."""

    cells: np.ndarray                    # 1 × hours: hours it rains somewhere in the city
    typhoons: list[np.ndarray]           # trapezoids over the hours
    events: list[dict]


def hydro_plan(rng: np.random.Generator, clock: Clock) -> HydroPlan:
    h = clock.n
    wet = np.clip(_season(clock.doy, 170), 0, None) + 0.15
    afternoon = 1 + 1.5 * np.exp(-((clock.lh - 16) ** 2) / 8)
    p = np.clip(0.015 + 0.07 * wet * afternoon, 0, 0.4)
    cells = rng.random((1, h)) < p  # city-wide rain hours, each station shares most of them
    events, bumps = [], []
    typhoons = [t for t in range(h) if 6 <= (clock.start + timedelta(hours=t) + timedelta(hours=8)).month <= 9
                and (clock.start + timedelta(hours=t) + timedelta(hours=8)).day == 20
                and (clock.start + timedelta(hours=t) + timedelta(hours=8)).hour == 0]
    for t0 in typhoons[::2]:
        start = clock.start + timedelta(hours=t0)
        bumps.append(_bump(clock.utc, start, 36, 8))
        events.append({"start": start.isoformat(), "hours": 36, "kind": "台风暴雨"})
    return HydroPlan(cells, bumps, events)


def hydro_block(rng: np.random.Generator, clock: Clock, plan: HydroPlan, base: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Rainfall and water level of the hydrology stations with base levels `base` (one block of them)."""
    n, h = len(base), clock.n
    amount = rng.gamma(0.9, 3.5, (n, h)) * (plan.cells & (rng.random((n, h)) < 0.8))
    for bump in plan.typhoons:
        amount += bump[None, :] * rng.gamma(3.0, 5.0, (n, h))
    rain = np.round(np.clip(amount, 0, 200), 1)
    del amount
    store = np.zeros((n, h))
    for t in range(1, h):
        store[:, t] = 0.985 * store[:, t - 1] + rain[:, t]
    level = base[:, None] + 0.6 * _season(clock.doy, 190)[None, :] + 0.012 * store + _ar1(rng, n, h, 0.9, 0.03)
    return rain, np.round(level, 2)


# -- writing -------------------------------------------------------------------------------------------

# Values (sensor × hour × metric) generated and written at a time: the series of a block of stations are
# drawn, written and dropped before the next block's, so memory stays bounded whatever the scale. Writing
# a block takes ≈250 B a value at its peak (the rows' columns, the frame the daily figures are computed
# from), so 500k values ≈ 125 MB; smaller blocks only add per-block overhead.
BLOCK_VALUES = 500_000


def _blocks(n: int, hours: int, metrics: int) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the stations generated together."""
    step = max(1, BLOCK_VALUES // max(1, hours * metrics))
    return [(a, min(n, a + step)) for a in range(0, n, step)]


def _gaps(rng: np.random.Generator, series: dict[str, np.ndarray], offline_tail: np.ndarray) -> None:
    """Random missing hours (0.5 %), and the last `offline_tail[i]` hours of sensor i missing (offline)."""
    any_arr = next(iter(series.values()))
    n, h = any_arr.shape
    miss = rng.random((n, h)) < 0.005
    tail = np.arange(h)[None, :] >= (h - offline_tail[:, None])
    for k in series:
        series[k] = np.where(miss | tail, np.nan, series[k].astype(float))


class _Writer:
    """Writes the generated series kind by kind and block by block of sensors (so no frame ever holds a
    whole city-year): sensor_hourly (all hours), sensor_readings (since raw_from), sensor_latest,
    sensor_daily, and keeps the air series' district sums for sensor_area_daily. Rows go out ordered
    by (sensor_id, hour, metric), the order of the unique keys, so the B-trees only ever append."""

    def __init__(self, session: Session, infos: dict[str, SensorInfo], raw_from: datetime) -> None:
        self.session = session
        self.infos = infos
        self.raw_from = np.datetime64(raw_from.astimezone(timezone.utc).replace(tzinfo=None), "h")
        self.counts = {"hourly": 0, "raw": 0, "daily": 0}
        self.last_seen: dict[str, datetime] = {}
        self.latest: list[tuple] = []

    def write(self, kind: str, ids: list[str], clock: Clock, series: dict[str, np.ndarray]) -> None:
        metrics = sorted(series)
        n, h, m = len(ids), clock.n, len(metrics)
        ids_arr = np.array(ids, dtype=object)
        codes = {lv: np.array([self.infos[s].codes.get(lv) for s in ids], dtype=object) for lv in LEVEL_COLS}
        metric_arr = np.array(metrics, dtype=object)
        decibel = np.array([is_decibel(x) for x in metrics])
        raw_start = int(np.searchsorted(clock.utc, self.raw_from))
        local_day = (clock.utc + np.timedelta64(TZ_OFFSET_H, "h")).astype("datetime64[D]")
        step = max(1, BLOCK_VALUES // (h * m))
        for a in range(0, n, step):
            b = min(n, a + step)
            cube = np.stack([series[x][a:b] for x in metrics], axis=-1)  # sensor × hour × metric
            flat = cube.reshape(-1)
            idx = np.flatnonzero(np.isfinite(flat))
            si, hi, mi = a + idx // (h * m), (idx // m) % h, idx % m
            vals = flat[idx]
            cols = {"sensor_id": ids_arr[si], "kind": kind, "hour": clock.utc[hi], "metric": metric_arr[mi], "n": 1,
                    "total": vals, "vmin": vals, "vmax": vals,
                    "etotal": np.where(decibel[mi], 10 ** (vals / 10), np.nan) if decibel.any() else None,
                    **{f"{lv}_code": codes[lv][si] for lv in LEVEL_COLS}}
            self.counts["hourly"] += bulkload.load(self.session, SensorHourly, cols, idx.size)
            del cols
            raw = hi >= raw_start
            self.counts["raw"] += bulkload.load(self.session, SensorReading, {
                "sensor_id": ids_arr[si[raw]], "ts": clock.utc[hi[raw]], "metric": metric_arr[mi[raw]],
                "value": vals[raw]}, int(raw.sum()))
            has = np.isfinite(cube)
            last = h - 1 - np.argmax(has[:, ::-1, :], axis=1)  # sensor × metric
            for i in range(b - a):
                sid = ids[a + i]
                for j, metric in enumerate(metrics):
                    if has[i, :, j].any():
                        t = last[i, j]
                        self.latest.append((sid, metric, clock.utc[t], float(cube[i, t, j])))
                any_hour = np.flatnonzero(has[i].any(axis=1))
                if any_hour.size:
                    self.last_seen[sid] = _utc(clock.utc[any_hour[-1]])
            frame = pd.DataFrame({"sensor_id": ids_arr[si], "hour": pd.DatetimeIndex(clock.utc[hi]).tz_localize("UTC"),
                                  "metric": metric_arr[mi], "value": vals})
            days = {ids[a + i]: set(pd.DatetimeIndex(np.unique(local_day[has[i].any(axis=1)])).date)
                    for i in range(b - a)}
            del cube, flat, has
            self._daily(kind, frame, {s: d for s, d in days.items() if d})

    def _daily(self, kind: str, frame: pd.DataFrame, days: dict[str, set]) -> None:
        """sensor_daily for the block, with the functions the ingester uses (sensors.daily)."""
        if kind == "iot" or not days:
            return
        if kind == "air":
            records = air_day_rows_many(frame, days)
        else:
            records = {}
            for sid, part in frame.groupby("sensor_id", sort=False):
                wanted = days.get(sid, set())
                if kind == "noise":  # a night runs into the next date
                    wanted = wanted | {d - timedelta(days=1) for d in wanted}
                records[sid] = station_day_rows(self.infos[sid], part[["hour", "metric", "value"]], wanted)
        out = [(sid, r) for sid, recs in records.items() for r in recs]
        if not out:
            return
        sids = [sid for sid, _ in out]
        cols = {"sensor_id": sids, "kind": kind, "day": [local_midnight(r["day"]) for _, r in out],
                "metric": [r["metric"] for _, r in out], "value": [r["value"] for _, r in out],
                "edition": [r["edition"] for _, r in out], "detail": [r["detail"] for _, r in out],
                "limit_value": [r.get("limit_value") for _, r in out],
                **{f"{lv}_code": [self.infos[s].codes.get(lv) for s in sids] for lv in LEVEL_COLS}}
        self.counts["daily"] += bulkload.load(self.session, SensorDaily, cols, len(out))

    def finish(self) -> None:
        """sensor_latest and each sensor's last_seen_at."""
        if self.latest:
            sid, metric, ts, value = zip(*self.latest)
            bulkload.load(self.session, SensorLatest, {"sensor_id": list(sid), "metric": list(metric),
                                                       "ts": np.array(ts), "value": np.array(value)}, len(sid))
        st = Sensor.__table__
        if self.last_seen:
            self.session.execute(update(st).where(st.c.id == bindparam("sid")).values(last_seen_at=bindparam("seen")),
                                 [{"sid": s, "seen": t} for s, t in self.last_seen.items()])


def _utc(hour: np.datetime64) -> datetime:
    return pd.Timestamp(hour).tz_localize("UTC").to_pydatetime()


class _AreaSums:
    """sensor_area_daily for the city and each district: per hour and pollutant the mean over the area's
    stations that reported it (as sensors.daily.area_frame averages sensor_hourly), then assessed like
    one station (HJ 663 城市点位平均). The sums and counts are added block by block of stations, so the
    whole city's series are never in memory at once."""

    def __init__(self, clock: Clock, district_of: list[str | None], city_code: str) -> None:
        self.clock = clock
        self.city_code = city_code
        self.groups = [("city", city_code)] + [("district", d) for d in sorted({d for d in district_of if d})]
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.stations = np.zeros(len(self.groups), dtype=np.int64)

    def add(self, series: dict[str, np.ndarray], district_of: list[str | None]) -> None:
        metrics = [m for m in sorted(series) if m in AIR_POLLUTANTS]
        if not metrics:
            return
        where = np.array([d or "" for d in district_of], dtype=object)
        members = [(0, np.ones(len(where), bool))] + [
            (k, where == code) for k, (_level, code) in enumerate(self.groups) if k and (where == code).any()]
        reported = np.zeros(len(where), bool)
        shape = (len(self.groups), self.clock.n)
        for metric in metrics:
            part = series[metric]
            ok = np.isfinite(part)
            reported |= ok.any(axis=1)
            values = np.where(ok, part, 0.0)
            sums = self.sums.setdefault(metric, np.zeros(shape))
            counts = self.counts.setdefault(metric, np.zeros(shape, dtype=np.int64))
            for k, mask in members:
                sums[k] += values[mask].sum(axis=0)
                counts[k] += ok[mask].sum(axis=0)
        for k, mask in members:
            self.stations[k] += int(reported[mask].sum())

    def write(self, session: Session) -> int:
        if not self.sums:
            return 0
        hours = pd.DatetimeIndex(self.clock.utc).tz_localize("UTC")
        local_day = (self.clock.utc + np.timedelta64(TZ_OFFSET_H, "h")).astype("datetime64[D]")
        areas, days, meta = [], {}, {}
        for k, (level, code) in enumerate(self.groups):
            for metric in sorted(self.sums):
                count = self.counts[metric][k]
                mean = self.sums[metric][k] / np.maximum(count, 1)
                have = count > 0
                if have.any():
                    areas.append(pd.DataFrame({"sensor_id": code, "hour": hours[have], "metric": metric,
                                               "value": mean[have]}))
                    days.setdefault(code, set()).update(pd.DatetimeIndex(np.unique(local_day[have])).date)
            meta[code] = (level, int(self.stations[k]))
        if not areas:
            return 0
        records = air_day_rows_many(pd.concat(areas, ignore_index=True), days)
        out = [(code, r) for code, recs in records.items() for r in recs]
        cols = {"region_code": [c for c, _ in out], "level": [meta[c][0] for c, _ in out],
                "city_code": self.city_code, "kind": "air", "day": [local_midnight(r["day"]) for _, r in out],
                "metric": [r["metric"] for _, r in out], "value": [r["value"] for _, r in out],
                "edition": [r["edition"] for _, r in out], "stations": [meta[c][1] for c, _ in out],
                "detail": [r["detail"] for _, r in out]}
        return bulkload.load(session, SensorAreaDaily, cols, len(out))


SENSOR_TABLES = (SensorHourly, SensorReading, SensorLatest, SensorDaily, SensorAreaDaily)


def generate(session: Session, rng: np.random.Generator, scale, now: datetime, progress=None) -> dict:  # noqa: ANN001
    """The generator protocol of demo.seed; `progress(done, total)` is told after every block of stations."""
    t_start = _time.perf_counter()
    cfg = settings.get_settings()
    city_code = str(cfg["city"]["code"])
    raw_days = int(cfg.get("sensors", {}).get("demo_raw_days", 7))
    # Readings end with the last complete hour before `now` (and never in the future of the wall clock).
    end = min(now, datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    clock = Clock(end, int(scale.reading_days) * 24)
    raw_from = end - timedelta(days=raw_days) + timedelta(hours=1)
    iot_clock = Clock(end, min(raw_days, int(scale.reading_days)) * 24)

    places = {k: _place(session, rng, city_code, getattr(scale, f"sensors_{k}"), 0.012)
              for k in ("air", "water", "noise", "hydro", "iot")}
    district_names = dict(session.execute(select(Region.code, Region.name).where(
        Region.city_code == city_code, Region.level == "district")).all())

    def names(kind: str, label: str) -> list[str]:
        counts: dict[str, int] = {}
        out = []
        for pl in places[kind]:
            d = district_names.get(pl["codes"].get("district"), "")
            counts[d] = counts.get(d, 0) + 1
            out.append(f"{d}{label}{counts[d]}号")
        return out

    n_air, n_water, n_noise, n_hydro, n_iot = (len(places[k]) for k in ("air", "water", "noise", "hydro", "iot"))
    water_lake = rng.random(n_water) < 0.3
    water_body = np.where(water_lake, np.where(rng.random(n_water) < 0.5, "lake", "reservoir"), "river")
    water_target = np.where(water_lake, "II", np.where(rng.random(n_water) < 0.4, "II", "III"))
    water_quality = rng.lognormal(0.0, 0.35, n_water) * np.where(rng.random(n_water) < 0.2, 2.2, 1.0)
    zones = list(rng.choice(["1", "2", "3", "4a"], size=n_noise, p=[0.2, 0.4, 0.15, 0.25]))
    loud = (rng.random(n_noise) < 0.2).astype(float)
    hydro_base = np.round(rng.uniform(4, 30, n_hydro), 1)
    devices = np.where(np.arange(n_iot) % 2 == 0, "manhole", "streetlight")

    # Numbered on from the stations already stored (the cities of a generated province share the table).
    stored = dict(session.execute(select(Sensor.kind, func.count()).group_by(Sensor.kind)).all())
    first = {k: int(stored.get(k, 0)) + 1 for k in ("air", "water", "noise", "hydro", "iot")}
    sensor_rows = (
        _sensor_rows("air", "AIR", places["air"], names("air", "空气监测站"), [{}] * n_air, DEFAULT_INTERVAL_S["air"],
                     first["air"])
        + _sensor_rows("water", "WAT", places["water"], names("water", "水质自动站"),
                       [{"water_body": str(b), "target_class": str(t), "assess_tn": bool(b != "river")}
                        for b, t in zip(water_body, water_target)], DEFAULT_INTERVAL_S["water"], first["water"])
        + _sensor_rows("noise", "NOI", places["noise"], names("noise", "声环境监测点"), [{"zone": z} for z in zones],
                       DEFAULT_INTERVAL_S["noise"], first["noise"])
        + _sensor_rows("hydro", "HYD", places["hydro"], names("hydro", "水文站"),
                       [{"warning_level": float(b + 2.5), "guarantee_level": float(b + 3.5)} for b in hydro_base],
                       DEFAULT_INTERVAL_S["hydro"], first["hydro"])
        + _sensor_rows("iot", "IOT", places["iot"],
                       [n.replace("物联设备", "井盖" if d == "manhole" else "路灯") for n, d in
                        zip(names("iot", "物联设备"), devices)],
                       [{"device": str(d)} for d in devices], DEFAULT_INTERVAL_S["iot"], first["iot"])
    )
    session.execute(insert(Sensor), sensor_rows)
    infos = {r["id"]: info_of(Sensor(**{k: v for k, v in r.items()})) for r in sensor_rows}
    ids = {k: [r["id"] for r in sensor_rows if r["kind"] == k] for k in ("air", "water", "noise", "hydro", "iot")}

    def offline_tail(n: int) -> np.ndarray:
        tail = np.zeros(n, int)
        k = max(1 if n >= 5 else 0, int(round(n * 0.04)))
        tail[rng.choice(n, size=k, replace=False)] = rng.integers(8, 48, size=k) if k else []
        return tail

    timing: dict[str, float] = {}
    writer = _Writer(session, infos, raw_from)
    deferred = bulkload.drop_indexes_if_empty(session, SENSOR_TABLES)
    partitions.ensure_for(session, clock.start, end)  # PostgreSQL: the months the series cover exist first

    air_district = [pl["codes"].get("district") for pl in places["air"]]
    episode_district = None
    if n_air:
        counts = pd.Series(air_district).value_counts()
        episode_district = str(counts.index[0])
    # Station-level draws first (offline tails, the shared weather and rain), then the hourly series block
    # by block of stations, each written and dropped before the next is drawn.
    tails = {"air": offline_tail(n_air) if n_air else None}
    if n_air and episode_district is not None:
        tails["air"][np.array(air_district) == episode_district] = 0  # keep the live episode visible
    for kind, n_kind in (("water", n_water), ("noise", n_noise), ("hydro", n_hydro)):
        tails[kind] = offline_tail(n_kind) if n_kind else None
    plan = air_plan(rng, clock, air_district, episode_district) if n_air else None
    hplan = hydro_plan(rng, clock) if n_hydro else None
    area_sums = _AreaSums(clock, air_district, city_code)
    every4 = (clock.lh % 4 == 0)

    def air(a: int, b: int) -> dict[str, np.ndarray]:
        series = air_block(rng, clock, plan, air_district[a:b])
        _gaps(rng, series, tails["air"][a:b])
        area_sums.add(series, air_district[a:b])
        return series

    def water(a: int, b: int) -> dict[str, np.ndarray]:
        ws = water_series(rng, clock, water_quality[a:b], water_lake[a:b])
        for k in ws:
            ws[k] = np.where(every4[None, :], ws[k], np.nan)
        _gaps(rng, ws, tails["water"][a:b])
        return ws

    def noise(a: int, b: int) -> dict[str, np.ndarray]:
        ns = {"Leq": noise_series(rng, clock, zones[a:b], loud[a:b])}
        _gaps(rng, ns, tails["noise"][a:b])
        return ns

    def hydro(a: int, b: int) -> dict[str, np.ndarray]:
        rain, level = hydro_block(rng, clock, hplan, hydro_base[a:b])
        hs = {"rainfall": rain, "water_level": level}
        _gaps(rng, hs, tails["hydro"][a:b])
        return hs

    work = [(kind, make, a, b) for kind, make, n_kind, m in (("air", air, n_air, 6), ("water", water, n_water, 7),
                                                              ("noise", noise, n_noise, 1), ("hydro", hydro, n_hydro, 2))
            for a, b in _blocks(n_kind, clock.n, m)]
    steps = len(work) + (1 if n_iot else 0)
    for k, (kind, make, a, b) in enumerate(work):
        t0 = _time.perf_counter()
        series = make(a, b)
        writer.write(kind, ids[kind][a:b], clock, series)
        del series
        timing[kind] = timing.get(kind, 0.0) + _time.perf_counter() - t0
        if progress is not None:
            progress(k + 1, steps)
    t0 = _time.perf_counter()
    area = area_sums.write(session)
    timing["area_daily"] = _time.perf_counter() - t0
    if n_iot:  # a week of IoT states: small at every scale, drawn at once
        t0 = _time.perf_counter()
        lh = iot_clock.lh[None, :]
        h = iot_clock.n
        man = devices == "manhole"
        tilt = np.abs(rng.normal(1.0, 0.8, (n_iot, h)))
        opened = np.zeros((n_iot, h))
        incidents = rng.choice(np.flatnonzero(man), size=min(2, int(man.sum())), replace=False) if man.any() else []
        for i in incidents:
            tilt[i, -3:] = rng.uniform(30, 60, 3)
            opened[i, -3:] = 1
        night = ((lh >= 19) | (lh < 6)).astype(float)
        lamp = np.repeat(night, n_iot, axis=0)
        faulty = (~man) & (rng.random(n_iot) < 0.05)
        lamp[faulty, -48:] = 0
        power = np.round(np.where(lamp > 0, rng.normal(125, 6, (n_iot, h)), 0.4), 1)
        iot = {"tilt": np.where(man[:, None], np.round(tilt, 1), np.nan),
               "cover_open": np.where(man[:, None], opened, np.nan),
               "lamp_on": np.where(~man[:, None], lamp, np.nan),
               "power": np.where(~man[:, None], power, np.nan)}
        _gaps(rng, iot, offline_tail(n_iot))
        writer.write("iot", ids["iot"], iot_clock, iot)
        del iot
        timing["iot"] = _time.perf_counter() - t0
        if progress is not None:
            progress(steps, steps)

    writer.finish()
    t0 = _time.perf_counter()
    bulkload.create_indexes(session, deferred)
    bulkload.analyze(session, SENSOR_TABLES)
    timing["indexes"] = _time.perf_counter() - t0
    alerts = _alerts(session, set(infos), end)
    return {
        "sensors": {k: len(v) for k, v in ids.items()}, "hourly_rows": writer.counts["hourly"],
        "raw_rows": writer.counts["raw"], "daily_rows": writer.counts["daily"], "area_daily_rows": area,
        "from": clock.start.isoformat(), "until": end.isoformat(), "raw_days": raw_days,
        "air_episodes": plan.made if plan else [], "hydro_events": hplan.events if hplan else [], "alerts": alerts,
        "seconds": {**{k: round(v, 1) for k, v in timing.items()}, "total": round(_time.perf_counter() - t_start, 1)},
    }


def _alerts(session: Session, sensor_ids: set[str], end: datetime) -> dict:
    """Evaluate the alert rules at the end of the generated range (opens alerts and their cases)."""
    session.flush()
    opened, closed = evaluate_sensors(session, sensor_ids, load_index(session), end + timedelta(minutes=59))
    return {"opened": opened, "closed": closed}
