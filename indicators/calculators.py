"""Named standard calculators: indicators whose rule comes from a national standard, not a plain
aggregate. Each declares its source, the levels it can be computed at, its parameters, and a plan.

- aqi_daily_mean   日均 AQI: mean over the period's days of the area's daily AQI (HJ 633; the area's
                   daily AQI is assessed from the mean of its stations' concentrations, HJ 663 城市点位平均,
                   kept by the sensors module in sensor_area_daily). Days whose AQI is NA are left out.
- good_days_ratio  优良天数比例 = days with AQI ≤ 100 / days with a valid AQI × 100 (HJ 633).
- polluted_days    days with AQI above `above` (200 = 重度及以上污染天数).
- water_quality    GB 3838-2002 over the period: each station is classed on its period mean of each
                   item (地表水环境质量评价办法: 时段均值评价), worst item decides; `measure`:
                   target = share of stations meeting their target class (水质达标率),
                   good = share at I–III (优良水体比例), bad = share worse than V (劣V类比例).
- noise_compliance GB 3096-2008: station-days whose day (or night) Leq is within the zone's limit /
                   station-days measured × 100 (点次达标率).
- coverage         share of residents whose grid centre lies within the service radius of a facility
                   (emergency.coverage; radii in config [emergency]); facility fire / medical / shelter / all.

Air edition: `Options.edition` "auto" reads the AQI of the edition in force on each day; "2026" reads
the same days re-assessed under HJ 633-2026 (同口径), which the sensors module stores beside it.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, func, select

from indicators import sources as S
from indicators import sqlbuild as Q
from indicators.calculator_specs import FACILITY_COLUMNS
from indicators.plan import Options, Plan, SqlMeasure, ratio
from standards import aqi as aqi_std
from standards import water as water_std
from store import region_codes
from emergency.coverage import grid_coverage
from store.frames import rows_frame

AIR_EDITIONS = ("auto", "2026")




# -- air -------------------------------------------------------------------------------------------------

def _aqi_metric(opts: Options) -> str:
    if opts.edition not in AIR_EDITIONS:
        raise ValueError(f"空气质量评价口径只能为 auto（按监测日期适用的版本）或 2026（同口径），实际为 {opts.edition!r}")
    return "AQI_2026" if opts.edition == "2026" else "AQI"


def _edition_measures(prefix: str, metric: str) -> list[SqlMeasure]:
    t = S.table("sensor_area_daily")
    where = and_(t.c.metric == metric, t.c.value.is_not(None))
    return [SqlMeasure(f"{prefix}:ed_min", "sensor_area_daily", "day", "min", value=t.c.edition, where=where),
            SqlMeasure(f"{prefix}:ed_max", "sensor_area_daily", "day", "max", value=t.c.edition, where=where)]


def _edition_note(prefix: str, opts: Options):  # noqa: ANN202
    def note(get) -> str | None:  # noqa: ANN001
        lo, hi = get(f"{prefix}:ed_min"), get(f"{prefix}:ed_max")
        if lo is None:
            return None
        if opts.edition == "2026":
            return "同口径：全部按 HJ 633-2026 评价"
        if lo == hi:
            return f"按 HJ 633-{lo} 评价"
        return f"2026-03-01 前按 HJ 633-{lo}、其后按 HJ 633-{hi} 评价（可选同口径）"
    return note


def _plan_aqi_mean(ind, opts: Options) -> Plan:  # noqa: ANN001
    t = S.table("sensor_area_daily")
    metric = _aqi_metric(opts)
    m = SqlMeasure(f"{ind.id}:v", "sensor_area_daily", "day", "avg", value=t.c.value,
                   where=and_(t.c.metric == metric, t.c.value.is_not(None)))
    return Plan([m, *_edition_measures(ind.id, metric)], lambda get: get(m.name), note=_edition_note(ind.id, opts))


def _plan_good_days(ind, opts: Options) -> Plan:  # noqa: ANN001
    t = S.table("sensor_area_daily")
    metric = _aqi_metric(opts)
    valid = and_(t.c.metric == metric, t.c.value.is_not(None))
    num = SqlMeasure(f"{ind.id}:num", "sensor_area_daily", "day", "count",
                     where=and_(valid, aqi_std.is_good_day(t.c.value)), zero_if_covered=True)
    den = SqlMeasure(f"{ind.id}:den", "sensor_area_daily", "day", "count", where=valid, zero_if_covered=True)
    return Plan([num, den, *_edition_measures(ind.id, metric)], lambda get: ratio(get(num.name), get(den.name), 100.0),
                note=_edition_note(ind.id, opts))


def _plan_polluted_days(ind, opts: Options) -> Plan:  # noqa: ANN001
    t = S.table("sensor_area_daily")
    metric = _aqi_metric(opts)
    above = float(ind.formula.params.get("above", 200))
    valid = and_(t.c.metric == metric, t.c.value.is_not(None))
    num = SqlMeasure(f"{ind.id}:num", "sensor_area_daily", "day", "count", where=and_(valid, t.c.value > above),
                     zero_if_covered=True)
    den = SqlMeasure(f"{ind.id}:den", "sensor_area_daily", "day", "count", where=valid, zero_if_covered=True)

    def combine(get):  # noqa: ANN001, ANN202
        return None if not get(den.name) else get(num.name)  # no valid day: no data, not zero days
    return Plan([num, den, *_edition_measures(ind.id, metric)], combine, note=_edition_note(ind.id, opts))


# -- noise -----------------------------------------------------------------------------------------------

def _plan_noise(ind, opts: Options) -> Plan:  # noqa: ANN001
    part = ind.formula.params["period"]
    t = S.table("sensor_daily")
    limit = t.c.limit_value  # the zone's limit, set when the day was assessed (sensors.daily)
    measured = and_(t.c.kind == "noise", t.c.metric == f"Leq_{part}", t.c.value.is_not(None), limit.is_not(None))
    narrow = (("kind", frozenset({"noise"})), ("metric", frozenset({f"Leq_{part}"})))  # lets a batch use its index
    num = SqlMeasure(f"{ind.id}:num", "sensor_daily", "day", "count", where=and_(measured, t.c.value <= limit),
                     zero_if_covered=True, narrow=narrow)
    den = SqlMeasure(f"{ind.id}:den", "sensor_daily", "day", "count", where=measured, zero_if_covered=True,
                     narrow=narrow)
    return Plan([num, den], lambda get: ratio(get(num.name), get(den.name), 100.0))


# -- water -----------------------------------------------------------------------------------------------

def _station_passes(measure: str, overall: str, target: str | None) -> bool | None:
    rank = water_std.class_rank(overall)
    if measure == "good":
        return rank <= 3
    if measure == "bad":
        return rank == 6
    if not target:
        return None  # a station without a target class is not assessed for 达标
    return water_std.meets_target(overall, target)


def _memo(session, key: tuple, make):  # noqa: ANN001, ANN202
    """Per-session memo: several indicators of one request share one classification or coverage pass."""
    memo = session.info.setdefault("indicators_memo", {})
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _water_frame(session, req, ind, opts: Options) -> pd.DataFrame:  # noqa: ANN001
    measure = ind.formula.params["measure"]
    classes = _memo(session, ("water", req), lambda: _water_classes(session, req))
    if classes.empty:
        return pd.DataFrame(columns=["k", "b", "value"])
    ok = [_station_passes(measure, overall, target) for overall, target in zip(classes["overall"], classes["target"])]
    per = classes[["k", "b"]].assign(ok=ok).dropna(subset=["ok"])
    if per.empty:
        return pd.DataFrame(columns=["k", "b", "value"])
    per["ok"] = per["ok"].astype(bool)
    out = per.groupby(["k", "b"])["ok"].agg(["sum", "count"]).reset_index()
    out["value"] = out["sum"].astype(float) * 100.0 / out["count"]
    return out[["k", "b", "value"]]


def _water_classes(session, req) -> pd.DataFrame:  # noqa: ANN001
    """One statement: each station's period mean per item with its settings; then its GB 3838 class.
    Returns [k, b, sid, overall, target]."""
    spec = S.SOURCES["sensor_daily"]
    sd, sensors = S.table("sensor_daily"), S.table("sensors")
    extra = and_(sd.c.kind == "water", sd.c.metric.in_(water_std.ITEMS), sd.c.value.is_not(None))
    inner = Q._inner(spec, req, "day", [sd.c.sensor_id.label("sid"), sd.c.metric.label("item"),
                                        sd.c.value.label("v")], extra)
    cols = ["k", "b", "sid", "item", "mean", "params"]
    if inner is None:
        return pd.DataFrame(columns=["k", "b", "sid", "overall", "target"])
    parts = Q._parts(inner, req, True)
    means = select(*parts, inner.c.sid, inner.c.item, func.avg(inner.c.v).label("mean")).group_by(
        *parts, inner.c.sid, inner.c.item).subquery()
    k = means.c.k if req.child_level is not None else Q._text(req.scope).label("k")
    rows = session.execute(select(k, means.c.b, means.c.sid, means.c.item, means.c.mean, sensors.c.params)
                           .join_from(means, sensors, sensors.c.id == means.c.sid)).all()
    frame = rows_frame(rows, columns=cols)
    results = []
    # One classification per station and period (a handful of rows), by the standard's own calculator.
    for (key, bucket, sid), part in frame.groupby(["k", "b", "sid"], sort=True):
        params = part["params"].iloc[0] or {}
        meas = dict(zip(part["item"], part["mean"]))
        res = water_std.classify(meas, params.get("water_body", "river"), params.get("assess_tn"))
        if res.overall is not None:
            results.append((key, bucket, sid, res.overall, params.get("target_class")))
    return pd.DataFrame(results, columns=["k", "b", "sid", "overall", "target"])


def _plan_water(ind, opts: Options) -> Plan:  # noqa: ANN001
    return Plan([], lambda get: get("value"), custom=lambda session, req: _water_frame(session, req, ind, opts))


# -- emergency coverage ------------------------------------------------------------------------------------

def _coverage_frame(session, req, ind) -> pd.DataFrame:  # noqa: ANN001
    sums = _memo(session, ("coverage_sums", req), lambda: _coverage_sums(session, req))
    if sums.empty:
        return pd.DataFrame(columns=["k", "b", "value"])
    covered = sums[FACILITY_COLUMNS[ind.formula.params["facility"]]]
    return pd.DataFrame({"k": sums.index, "b": None, "value": covered * 100.0 / sums["population"]}).reset_index(drop=True)


def _coverage_sums(session, req) -> pd.DataFrame:  # noqa: ANN001
    """Per key region of the request: its grids' population and the population each kind of facility
    covers (one column per FACILITY_COLUMNS entry). Shared by the coverage indicators of one request: the
    city's grids are filtered and keyed once, not once per facility."""
    resources = S.table("resources")
    frames = []
    for city in Q.cities_of(session, req):  # one city, or each city of a province scope
        if not session.execute(select(resources.c.id).where(resources.c.city_code == city).limit(1)).first():
            continue  # no resource registry yet: no data for this city, not 0 %
        frames.append(_memo(session, ("coverage", city), lambda city=city: grid_coverage(session, city)))
    grids = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if grids.empty:
        return pd.DataFrame()
    codes = grids["grid_code"].astype(str)
    zone, scope = req.viewer.zone_code, req.scope
    inside = (codes.str.startswith(region_codes.subtree_prefix(scope))
              & codes.str.startswith(region_codes.subtree_prefix(zone)))
    g = grids[inside]
    if g.empty:
        return pd.DataFrame()
    pop = g["population"].astype(float)
    key = (codes[inside].map(lambda c: region_codes.ancestor_at(c, req.child_level)) if req.child_level
           else pd.Series(scope, index=g.index))
    columns = {"population": pop} | {col: pop * g[col].astype(bool) for col in dict.fromkeys(FACILITY_COLUMNS.values())}
    sums = pd.DataFrame(columns).groupby(key).sum()
    return sums[sums["population"] > 0]


def _plan_coverage(ind, opts: Options) -> Plan:  # noqa: ANN001
    return Plan([], lambda get: get("value"), custom=lambda session, req: _coverage_frame(session, req, ind),
                snapshot=True)


# The plan of each named calculator (its declaration — source, levels, parameters — is in
# indicators.calculator_specs, which the schema reads without loading the planners).
PLANNERS = {
    "aqi_daily_mean": _plan_aqi_mean,
    "good_days_ratio": _plan_good_days,
    "polluted_days": _plan_polluted_days,
    "water_quality": _plan_water,
    "noise_compliance": _plan_noise,
    "coverage": _plan_coverage,
}


def plan(ind, opts: Options) -> Plan:  # noqa: ANN001 - an Indicator with a standard formula
    return PLANNERS[ind.formula.calculator](ind, opts)
