"""研判: the grids and streets where a 大类's cases this week exceed their own baseline beyond chance, and the
12345 topics (小类) surging city-wide — the daily job (`manage.py supervision hotspots`).

The test. For a unit (a grid and 大类, a street and 大类, or a 12345 小类 city-wide) let x be this week's
cases (the 7 local days before the run day) and y the cases of the `baseline_weeks` weeks before that.
Under "same weekly rate as its own baseline" both are Poisson with rates in the ratio 1 : B, so given
n = x + y, x is Binomial(n, 1/(B+1)) whatever the unknown rate is: the exact conditional test for two
Poisson counts (Przyborowski & Wilenski). Its one-sided p-value P(X ≥ x) is computed exactly from
log-binomial terms with math.lgamma — scipy is not a dependency of this project — and is valid (never
smaller than it should be) for the discrete count. Within each kind of unit the p-values of every unit
with any case in the nine weeks are adjusted by Benjamini–Hochberg; a unit is a hotspot when its
adjusted value q ≤ `fdr` (so among the hotspots one run reports, the expected share of chance findings
is at most `fdr`; with no real surge anywhere, the chance of reporting any is at most `fdr`) and it has
at least `min_count` cases this week (a filter after the adjustment, which only removes findings).

Counts come from the daily rollup (reported cases, merged duplicates counted once) for grids and
streets, and from the cases themselves for 12345 topics (the rollup has no 小类). Each finding keeps the
ids of the cases behind it. A run replaces that day's findings, so running it twice is harmless.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np
from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

import settings
from store.models import Event, EventDailyRollup, Hotspot, Region
from store.period import local_tz
from store.region_codes import ancestor_at

KINDS = {"grid": "网格", "street": "街道", "topic": "12345 诉求"}
HOTLINE_SOURCE = "12345"
WEEK = 7
MAX_CASE_IDS = 500


# -- statistics -------------------------------------------------------------------------------------------
def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed exactly in log space (math.lgamma)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    lognc = math.lgamma(n + 1)
    terms = [lognc - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def surge_p_value(observed: int, baseline: int, baseline_weeks: int) -> float:
    """One-sided p-value of `observed` cases this week against `baseline` cases in `baseline_weeks`
    weeks, under equal weekly rates (the conditional binomial test above)."""
    return binomial_upper_tail(int(observed), int(observed) + int(baseline), 1.0 / (baseline_weeks + 1))


def benjamini_hochberg(p_values) -> np.ndarray:  # noqa: ANN001 - a sequence of floats
    """BH-adjusted p-values (q-values), in the input order: reject H_i at level α ⇔ q_i ≤ α."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


@dataclass(frozen=True)
class Finding:
    unit: tuple  # the unit's key, e.g. (grid code, 大类)
    observed: int
    expected: float  # the baseline's weekly rate
    p_value: float
    q_value: float


def find_surges(units: list[tuple], observed, baseline, *, baseline_weeks: int, fdr: float,  # noqa: ANN001
                min_count: int) -> list[Finding]:
    """The units whose `observed` count beats their `baseline` (summed over `baseline_weeks`) at the
    stated false discovery rate, largest excess first. Units with no case at all are not tested."""
    obs = np.asarray(observed, dtype=int)
    base = np.asarray(baseline, dtype=int)
    tested = np.flatnonzero(obs + base > 0)
    if tested.size == 0:
        return []
    p = np.array([surge_p_value(obs[i], base[i], baseline_weeks) for i in tested])
    q = benjamini_hochberg(p)
    out = [Finding(units[i], int(obs[i]), base[i] / baseline_weeks, float(pv), float(qv))
           for i, pv, qv in zip(tested, p, q) if qv <= fdr and obs[i] >= min_count]
    return sorted(out, key=lambda f: (f.q_value, -(f.observed - f.expected)))


# -- the job ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    baseline_weeks: int = 8
    min_count: int = 3
    fdr: float = 0.05

    @classmethod
    def from_settings(cls, cfg: dict | None = None) -> "Config":
        section = (cfg or settings.get_settings()).get("supervision", {})
        out = cls(int(section.get("baseline_weeks", 8)), int(section.get("min_count", 3)),
                  float(section.get("fdr", 0.05)))
        if out.baseline_weeks < 1 or out.min_count < 1 or not 0 < out.fdr < 1:
            raise ValueError("[supervision] baseline_weeks、min_count 须为正整数，fdr 须在 0 与 1 之间")
        return out


@dataclass
class HotspotRun:
    run_day: date
    tested: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = "，".join(f"{KINDS[k]} {self.found.get(k, 0)} 处（检验 {self.tested.get(k, 0)} 个）" for k in KINDS)
        return f"{self.run_day:%Y-%m-%d} 研判：{parts}，用时 {self.seconds:.1f} 秒"


def _windows(run_day: date, weeks: int) -> tuple[date, date, date]:
    """(baseline start, this week's start, end exclusive) as local days."""
    cur = run_day - timedelta(days=WEEK)
    return cur - timedelta(days=WEEK * weeks), cur, run_day


def _utc(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), local_tz()).astimezone(timezone.utc)


def _rollup_counts(session: Session, level_col, start: date, cur: date, end: date) -> list:  # noqa: ANN001
    r = EventDailyRollup
    this_week = func.sum(case((r.day >= cur, r.reported), else_=0))
    before = func.sum(case((r.day < cur, r.reported), else_=0))
    return session.execute(select(level_col, r.category, this_week, before)
                           .where(r.day >= start, r.day < end, level_col.is_not(None))
                           .group_by(level_col, r.category)).all()


def _topic_counts(session: Session, start: date, cur: date, end: date) -> list:
    e = Event
    this_week = func.sum(case((e.reported_at >= _utc(cur), 1), else_=0))
    before = func.sum(case((e.reported_at < _utc(cur), 1), else_=0))
    return session.execute(select(e.city_code, e.subcategory, this_week, before)
                           .where(e.source == HOTLINE_SOURCE, e.reported_at >= _utc(start), e.reported_at < _utc(end),
                                  e.duplicate_of.is_(None))
                           .group_by(e.city_code, e.subcategory)).all()


def _case_ids(session: Session, kind: str, unit: tuple, cur: date, end: date) -> list[int]:
    code, topic = unit
    cond = [Event.reported_at >= _utc(cur), Event.reported_at < _utc(end), Event.duplicate_of.is_(None)]
    if kind == "grid":
        cond += [Event.grid_code == code, Event.category == topic]
    elif kind == "street":
        cond += [Event.street_code == code, Event.category == topic]
    else:
        cond += [Event.city_code == code, Event.subcategory == topic, Event.source == HOTLINE_SOURCE]
    return [int(i) for i in session.scalars(select(Event.id).where(*cond).order_by(Event.id).limit(MAX_CASE_IDS))]


def run(session: Session, *, today: date | None = None, config: dict | None = None) -> HotspotRun:
    """Test every grid, street and 12345 topic, and store the day's findings (replacing any earlier run
    of the same day), in the caller's transaction."""
    t0 = datetime.now(timezone.utc)
    cfg = Config.from_settings(config)
    run_day = today or t0.astimezone(local_tz()).date()
    start, cur, end = _windows(run_day, cfg.baseline_weeks)
    result = HotspotRun(run_day)
    session.execute(delete(Hotspot).where(Hotspot.run_day == run_day))
    counts = {"grid": _rollup_counts(session, EventDailyRollup.grid_code, start, cur, end),
              "street": _rollup_counts(session, EventDailyRollup.street_code, start, cur, end),
              "topic": _topic_counts(session, start, cur, end)}
    for kind, rows in counts.items():
        units = [(r[0], r[1]) for r in rows]
        findings = find_surges(units, [int(r[2] or 0) for r in rows], [int(r[3] or 0) for r in rows],
                               baseline_weeks=cfg.baseline_weeks, fdr=cfg.fdr, min_count=cfg.min_count)
        result.tested[kind] = sum(1 for r in rows if (r[2] or 0) + (r[3] or 0) > 0)
        result.found[kind] = len(findings)
        centres = _centres(session, [f.unit[0] for f in findings])
        for f in findings:
            code, topic = f.unit
            lon, lat = centres.get(code, (None, None))
            session.add(Hotspot(run_day=run_day, kind=kind, region_code=code, topic=topic, observed=f.observed,
                                expected=round(f.expected, 3), p_value=f.p_value, q_value=f.q_value,
                                case_ids=_case_ids(session, kind, f.unit, cur, end), lon=lon, lat=lat,
                                created_at=t0, **_codes(code)))
    session.flush()
    result.seconds = (datetime.now(timezone.utc) - t0).total_seconds()
    return result


def _codes(code: str) -> dict:
    """The region columns of a finding about region `code` (nothing below it)."""
    return {f"{level}_code": ancestor_at(code, level) for level in ("city", "district", "street", "community",
                                                                     "grid")}


def _centres(session: Session, codes: list[str]) -> dict[str, tuple[float, float]]:
    if not codes:
        return {}
    rows = session.execute(select(Region.code, Region.centroid_lon, Region.centroid_lat)
                           .where(Region.code.in_(sorted(set(codes))))).all()
    return {r.code: (r.centroid_lon, r.centroid_lat) for r in rows}
