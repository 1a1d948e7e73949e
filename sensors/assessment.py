"""Assessment of sensor data against the standards, as pure functions over pandas frames.

Input everywhere is an hourly frame for ONE station or ONE area: columns `hour` (tz-aware, any zone),
`metric`, `value` (the hourly mean; for noise the energy-mean Leq; for rainfall the hourly sum).
Calculations use China local time (days, day/night) and the calculators in `standards`.

Rules taken from the standards (GB 3095-2026 §3.7–3.10 and table 4; HJ 633-2012/2026):
- Daily mean (SO2, NO2, CO, PM10, PM2.5): mean of the natural day's hourly means, valid with at
  least 20 hourly values (table 4); otherwise the item is missing for that day.
- 8-hour mean: mean of 8 consecutive hourly means, valid with at least 6 (table 4). The O3 daily
  maximum 8-hour mean is the largest valid 8-hour mean lying within the natural day (§3.9), i.e. the
  windows 00–08 … 16–24. O3 daily maximum 1-hour (2012 daily report only) needs 20 hours, like the means.
- Hourly report (实时报): 2026 — the six 1-hour means. 2012 — also the O3 8-hour moving mean and
  the PM10/PM2.5 24-hour moving means (and SO2's, used for SO2 1h > 800); a 24-hour moving mean
  needs 20 of its 24 hours, like a daily mean.
- Edition: the HJ 633 edition in force on the measurement's local date (`edition_for`), unless an
  override ("2026" for 同口径) is given.
- Area (district/city) AQI: for every hour, the mean of the area's stations' hourly means per
  pollutant (each station counts once); that area series is then assessed exactly like a station.

Our own rules (the standards leave them to the operator), stated here so the page can say them:
- Noise day Leq (06–22) and night Leq (22–06, assigned to the date the night begins) are energy means
  of hourly Leq; valid with at least 12 of 16 day hours / 6 of 8 night hours.
- Water: an item's daily value is the mean of its readings that day; the class is GB 3838 over those.
"""
from __future__ import annotations

import warnings
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from standards import aqi as aqi_std
from standards import noise as noise_std
from standards import water as water_std
from sensors.metrics import AIR_POLLUTANTS, WATER_ITEMS

TZ = ZoneInfo("Asia/Shanghai")
MIN_HOURS_DAILY = 20
MIN_HOURS_8H = 6
NOISE_MIN_DAY_HOURS = 12
NOISE_MIN_NIGHT_HOURS = 6
WATER_CLASS_COLORS = {"I": "#00B0F0", "II": "#0070C0", "III": "#00B050", "IV": "#FFC000", "V": "#FF7E00",
                      "劣V": "#FF0000"}


def wide_local(frame: pd.DataFrame, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Hourly frame → one row per local hour (complete, gaps as NaN), one column per metric."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=list(metrics or ()), index=pd.DatetimeIndex([], tz=TZ, name="hour"))
    f = frame[["hour", "metric", "value"]].copy()
    f["hour"] = pd.to_datetime(f["hour"], utc=True).dt.tz_convert(TZ)
    wide = f.pivot_table(index="hour", columns="metric", values="value", aggfunc="mean")
    full = pd.date_range(wide.index.min(), wide.index.max(), freq="h", tz=TZ, name="hour")
    wide = wide.reindex(full)
    if metrics:
        wide = wide.reindex(columns=list(metrics))
    wide.columns.name = None
    return wide.astype(float)


def _day_index(index: pd.DatetimeIndex) -> pd.Index:
    return pd.Index([ts.date() for ts in index], name="day")


# -- air ---------------------------------------------------------------------------------------

def _moving(wide: pd.DataFrame, col: str, window: int, min_periods: int) -> pd.Series:
    if col not in wide:
        return pd.Series(np.nan, index=wide.index)
    return wide[col].rolling(window, min_periods=min_periods).mean()


def air_daily_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per local day: SO2, NO2, CO, PM10, PM2.5 daily means, O3 (daily max 8-hour mean), O3_1h
    (daily max 1-hour) and `hours` (hours with any value); NaN where invalid. (One station or area;
    the same numpy code as the many-station path in `air_daily_grid`.)"""
    cols = [*AIR_POLLUTANTS, "O3_1h", "hours"]
    if frame is None or frame.empty:
        return pd.DataFrame(columns=cols)
    local = pd.to_datetime(frame["hour"], utc=True).dt.tz_convert(TZ)
    first, last = local.min().date(), local.max().date()
    n_days = (last - first).days + 1
    start = pd.Timestamp(first).tz_localize(TZ)
    grid = hour_grid(frame.assign(sensor_id="_"), ["_"], start, n_days * 24, AIR_POLLUTANTS)
    stats = air_daily_grid(grid)
    days = [first + pd.Timedelta(days=i).to_pytimedelta() for i in range(n_days)]
    out = pd.DataFrame({k: stats[k][0] for k in cols}, index=pd.Index(days, name="day"))
    return out[out["hours"] > 0]


def _clean(value) -> float | None:  # noqa: ANN001
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def _result_row(result, edition: str) -> dict:  # noqa: ANN001
    return {
        "aqi": result.aqi, "level": result.level, "category": result.category,
        "color": result.color, "primary": list(result.primary), "exceeding": list(result.exceeding),
        "iaqi": dict(result.iaqi), "missing": list(result.missing), "edition": edition,
    }


def daily_aqi(frame: pd.DataFrame, edition: str | None = None) -> pd.DataFrame:
    """Daily AQI (日报) per local day. `edition` None/"auto" = edition in force on each day.
    Columns: day, aqi (None = NA or no data), level, category, color, primary, exceeding, iaqi,
    missing, edition, plus the concentrations assessed."""
    stats = air_daily_stats(frame)
    rows = []
    for day, row in stats.iterrows():
        conc = {k: _clean(row.get(k)) for k in (*AIR_POLLUTANTS, "O3_1h")}
        if all(v is None for v in conc.values()):
            continue
        ed = aqi_std.edition_for(day, edition)
        result = aqi_std.daily_aqi({k: v for k, v in conc.items() if v is not None}, ed)
        rec = {"day": day, **_result_row(result, ed), **conc, "hours": int(row["hours"])}
        rows.append(rec)
    return pd.DataFrame(rows, columns=_DAILY_COLUMNS)


_DAILY_COLUMNS = ["day", "aqi", "level", "category", "color", "primary", "exceeding", "iaqi", "missing",
                  "edition", *AIR_POLLUTANTS, "O3_1h", "hours"]


def hourly_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Per local hour: the six 1-hour means plus the 2012 hourly report's moving means."""
    wide = wide_local(frame, AIR_POLLUTANTS)
    out = wide.copy()
    out["O3_8h"] = _moving(wide, "O3", 8, MIN_HOURS_8H)
    for p in ("PM10", "PM2.5", "SO2"):
        out[f"{p}_24h"] = _moving(wide, p, 24, MIN_HOURS_DAILY)
    return out


def hourly_aqi(frame: pd.DataFrame, edition: str | None = None, since=None) -> pd.DataFrame:  # noqa: ANN001
    """Hourly AQI (实时报) per local hour with data. Give the frame 23 hours of history before `since`
    so the 2012 moving means are complete; rows before `since` are not returned."""
    inputs = hourly_inputs(frame)
    if since is not None:
        inputs = inputs[inputs.index >= pd.Timestamp(since).tz_convert(TZ)]
    rows = []
    for hour, row in inputs.iterrows():
        if row[list(AIR_POLLUTANTS)].isna().all():
            continue
        conc = {k: _clean(v) for k, v in row.items()}
        ed = aqi_std.edition_for(hour.to_pydatetime(), edition)
        result = aqi_std.hourly_aqi({k: v for k, v in conc.items() if v is not None}, ed)
        rows.append({"hour": hour, **_result_row(result, ed), **{p: conc[p] for p in AIR_POLLUTANTS}})
    cols = ["hour", "aqi", "level", "category", "color", "primary", "exceeding", "iaqi", "missing", "edition",
            *AIR_POLLUTANTS]
    return pd.DataFrame(rows, columns=cols)


def area_hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """Stations' hourly frame (columns sensor_id, hour, metric, value) → the area's hourly frame:
    per hour and pollutant, the mean over the stations that reported it."""
    if frame.empty:
        return frame[["hour", "metric", "value"]].copy()
    return frame.groupby(["hour", "metric"], as_index=False)["value"].mean()


# -- water -------------------------------------------------------------------------------------

def water_daily(frame: pd.DataFrame, water_body: str, target_class: str | None,
                assess_tn: bool | None = None) -> pd.DataFrame:
    """Per local day: item means, class per GB 3838-2002, rank (I=1 … 劣V=6), worst items, target met."""
    wide = wide_local(frame)
    if wide.empty:
        return pd.DataFrame(columns=["day", "overall", "rank", "items", "worst_items", "meets_target"])
    means = wide.groupby(_day_index(wide.index).values).mean()
    rows = []
    for day, row in means.iterrows():
        meas = {k: float(row[k]) for k in WATER_ITEMS if k in row and not np.isnan(row[k])}
        if not meas:
            continue
        result = water_std.classify(meas, water_body, assess_tn)
        if result.overall is None:
            continue
        rows.append({
            "day": day, "overall": result.overall, "rank": water_std.class_rank(result.overall),
            "items": dict(result.items), "worst_items": list(result.worst_items),
            "meets_target": water_std.meets_target(result, target_class) if target_class else None,
            **meas,
        })
    return pd.DataFrame(rows)


def classify_latest(values: dict[str, float], water_body: str, target_class: str | None,
                    assess_tn: bool | None = None) -> dict | None:
    meas = {k: v for k, v in values.items() if k in WATER_ITEMS and v is not None}
    if not meas:
        return None
    result = water_std.classify(meas, water_body, assess_tn)
    if result.overall is None:
        return None
    return {"overall": result.overall, "rank": water_std.class_rank(result.overall),
            "worst_items": list(result.worst_items), "color": WATER_CLASS_COLORS[result.overall],
            "meets_target": water_std.meets_target(result, target_class) if target_class else None}


# -- noise -------------------------------------------------------------------------------------

def energy_mean(levels) -> float:  # noqa: ANN001
    arr = np.asarray(levels, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(10 * np.log10(np.mean(10 ** (arr / 10)))) if arr.size else float("nan")


def noise_daily(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Per local date: Leq_day (06–22 that date), Leq_night (22 that date – 06 next), limits, compliance."""
    wide = wide_local(frame, ("Leq",))
    if wide.empty:
        return pd.DataFrame(columns=["day", "Leq_day", "Leq_night", "limit_day", "limit_night",
                                     "day_ok", "night_ok"])
    leq = wide["Leq"]
    hours = wide.index.hour
    # The night beginning at 22:00 on date D ends 06:00 on D+1: shift early hours back one day.
    night_day = [(ts - pd.Timedelta(hours=6)).date() for ts in wide.index]
    day_day = _day_index(wide.index).values
    is_day = (hours >= 6) & (hours < 22)
    day_part = leq[is_day].groupby(np.asarray(day_day)[is_day])
    night_part = leq[~is_day].groupby(np.asarray(night_day, dtype=object)[~is_day])
    day_vals = day_part.agg(lambda s: energy_mean(s) if s.notna().sum() >= NOISE_MIN_DAY_HOURS else np.nan)
    night_vals = night_part.agg(lambda s: energy_mean(s) if s.notna().sum() >= NOISE_MIN_NIGHT_HOURS else np.nan)
    out = pd.DataFrame({"Leq_day": day_vals, "Leq_night": night_vals})
    out = out.dropna(how="all")
    lim_d, lim_n = noise_std.limit(zone, "day"), noise_std.limit(zone, "night")
    out["limit_day"], out["limit_night"] = lim_d, lim_n
    out["day_ok"] = [None if np.isnan(v) else noise_std.assess(zone, "day", v)[2] for v in out["Leq_day"]]
    out["night_ok"] = [None if np.isnan(v) else noise_std.assess(zone, "night", v)[2] for v in out["Leq_night"]]
    out.index.name = "day"
    return out.reset_index()


# -- hydrology ---------------------------------------------------------------------------------

LEVEL_STATES = ("正常", "超警戒", "超保证")


def water_level_state(level: float | None, params: dict) -> str | None:
    """正常 / 超警戒 (above the warning level) / 超保证 (above the guarantee level)."""
    if level is None:
        return None
    guarantee, warning = params.get("guarantee_level"), params.get("warning_level")
    if guarantee is not None and level > guarantee:
        return "超保证"
    if warning is not None and level > warning:
        return "超警戒"
    return "正常"


def hydro_daily(frame: pd.DataFrame) -> pd.DataFrame:
    wide = wide_local(frame, ("water_level", "rainfall"))
    if wide.empty:
        return pd.DataFrame(columns=["day", "water_level_max", "rainfall_sum"])
    g = wide.groupby(_day_index(wide.index).values)
    out = pd.DataFrame({"water_level_max": g["water_level"].max(),
                        "rainfall_sum": g["rainfall"].sum(min_count=1)})
    out.index.name = "day"
    return out.dropna(how="all").reset_index()


def aqi_level(aqi: int | None) -> tuple[int | None, str | None, str | None]:
    if aqi is None:
        return None, None, None
    return aqi_std.level_of(int(aqi))


def day_of(ts) -> date:  # noqa: ANN001
    return pd.Timestamp(ts).tz_convert(TZ).date()


# -- vectorised over many stations (ingest batches, demo volumes) ------------------------------------

def hour_grid(frame: pd.DataFrame, ids: list[str], start_local: pd.Timestamp, hours: int,
              metrics: tuple[str, ...]) -> np.ndarray:
    """Frame (sensor_id, hour, metric, value) → array [station, hour, metric] over `hours` hours from
    `start_local` (NaN where missing)."""
    out = np.full((len(ids), hours, len(metrics)), np.nan)
    if frame.empty:
        return out
    pos = {s: i for i, s in enumerate(ids)}
    mpos = {m: i for i, m in enumerate(metrics)}
    f = frame[frame["metric"].isin(metrics) & frame["sensor_id"].isin(pos)]
    if f.empty:
        return out
    t = pd.to_datetime(f["hour"], utc=True)
    h = ((t - start_local.tz_convert("UTC")) // pd.Timedelta(hours=1)).to_numpy()
    ok = (h >= 0) & (h < hours)
    si = f["sensor_id"].map(pos).to_numpy()[ok]
    mi = f["metric"].map(mpos).to_numpy()[ok]
    out[si, h[ok], mi] = f["value"].to_numpy(float)[ok]
    return out


def window_mean(arr: np.ndarray, window: int, min_valid: int) -> np.ndarray:
    """Mean of the `window` hours ending at each hour along the last axis, NaN with fewer than
    `min_valid` values (or before the window is complete)."""
    valid = ~np.isnan(arr)
    zero = np.zeros(arr.shape[:-1] + (1,))
    csum = np.concatenate([zero, np.cumsum(np.where(valid, arr, 0.0), axis=-1)], axis=-1)
    ccnt = np.concatenate([zero, np.cumsum(valid, axis=-1)], axis=-1)
    out = np.full(arr.shape, np.nan)
    if arr.shape[-1] >= window:
        s = csum[..., window:] - csum[..., :-window]
        c = ccnt[..., window:] - ccnt[..., :-window]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[..., window - 1:] = np.where(c >= min_valid, s / np.maximum(c, 1), np.nan)
    return out


def air_daily_grid(grid: np.ndarray) -> dict[str, np.ndarray]:
    """[station, days*24 (from local midnight), pollutant in AIR_POLLUTANTS order] → per (station, day):
    the daily means (≥ 20 hours), O3 daily max 8-hour within the day, O3 daily max 1-hour."""
    s, h, _ = grid.shape
    days = h // 24
    g = grid[:, :days * 24].reshape(s, days, 24, len(AIR_POLLUTANTS))
    counts = (~np.isnan(g)).sum(axis=2)
    with np.errstate(invalid="ignore"):
        sums = np.nansum(g, axis=2)
        means = np.where(counts >= MIN_HOURS_DAILY, sums / np.maximum(counts, 1), np.nan)
    out = {p: means[..., i] for i, p in enumerate(AIR_POLLUTANTS)}
    o3i = AIR_POLLUTANTS.index("O3")
    w8 = window_mean(grid[:, :days * 24, o3i], 8, MIN_HOURS_8H).reshape(s, days, 24)[:, :, 7:]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days stay NaN
        out["O3"] = np.nanmax(w8, axis=2)
        o3max = np.nanmax(g[..., o3i], axis=2)
    out["O3_1h"] = np.where(counts[..., o3i] >= MIN_HOURS_DAILY, o3max, np.nan)
    out["hours"] = (~np.isnan(g)).any(axis=3).sum(axis=2)
    return out


def hourly_inputs_grid(grid: np.ndarray) -> dict[str, np.ndarray]:
    """[station, hour, pollutant] → per (station, hour) the hourly report inputs of both editions."""
    out = {p: grid[..., i] for i, p in enumerate(AIR_POLLUTANTS)}
    out["O3_8h"] = window_mean(grid[..., AIR_POLLUTANTS.index("O3")], 8, MIN_HOURS_8H)
    for p in ("PM10", "PM2.5", "SO2"):
        out[f"{p}_24h"] = window_mean(grid[..., AIR_POLLUTANTS.index(p)], 24, MIN_HOURS_DAILY)
    return out


def assess_daily_grid(stats: dict[str, np.ndarray], station: int, day_index: int, day: date,
                      edition: str | None):  # noqa: ANN201
    """AQIResult for one (station, day) of `air_daily_grid` output, or None without data."""
    conc = {k: float(stats[k][station, day_index]) for k in (*AIR_POLLUTANTS, "O3_1h")
            if not np.isnan(stats[k][station, day_index])}
    if not conc:
        return None, conc
    return aqi_std.daily_aqi(conc, aqi_std.edition_for(day, edition)), conc
