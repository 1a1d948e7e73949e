"""Demo statistics: plausible monthly (and yearly) figures per district and for the city, for every
external indicator of the library, so the economy, market and government-service tiles, their trends
and their 同比 have something to show. Generated, not real: every row's source says 演示数据.

Shape of the generated figures (茂名-sized city, ≈ 6.2 M residents):
- flows (社会消费品零售总额, 一般公共预算收入, 政务服务办件量, 新登记市场主体) per district ∝ population, with
  a seasonal profile and ≈ 5 % yearly growth; the city figure is the sum of its districts.
- stocks (市场主体数量) evolve month by month: previous + new registrations − exits.
- cumulative growth rates (GDP, 规上工业, 固定资产投资) drift around a district-specific level within
  the year; the city figure is the population-weighted mean. GDP is quarterly (quarter-end months only).
  社会消费品零售总额增速 is computed from the generated monthly sales (累计 vs the same months a year earlier).
- rates (抽检合格率, 按时办结率 …) stay inside realistic bands; CPI (city only) wanders around 100.5.
- yearly figures (居民人均可支配收入, 每千人口医师数) for the last three complete years.
The months run from 24 months before the anchor month to the anchor month, so 同比 works everywhere.
"""
from __future__ import annotations

from datetime import date, datetime

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

import settings
from indicators.library import load_library
from store.models import ExternalValue, Region
from store.period import local_tz

SOURCE = "演示数据（生成）"
MONTHS = 25
SEASON = np.array([1.12, 0.95, 0.93, 0.95, 0.98, 0.99, 0.97, 0.98, 1.0, 1.06, 1.02, 1.1])


def _months(anchor: date) -> list[date]:
    out = []
    y, m = anchor.year, anchor.month
    for _ in range(MONTHS + 24):  # earlier months feed the cumulative growth (累计同比) of the first months shown
        out.append(date(y, m, 1))
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out[::-1]


def _ytd_growth(values: np.ndarray, months: list[date]) -> np.ndarray:
    """Cumulative (1月至当月) year-on-year growth %, from monthly values [region, month]."""
    out = np.full(values.shape, np.nan)
    for j, d in enumerate(months):
        if j < 12:
            continue
        start = j - (d.month - 1)
        if start - 12 < 0:
            continue
        cur = values[:, start:j + 1].sum(axis=1)
        prev = values[:, start - 12:j - 12 + 1].sum(axis=1)
        out[:, j] = (cur / prev - 1) * 100
    return out


def _drift(rng: np.random.Generator, n: int, months: list[date], level: np.ndarray, step: float) -> np.ndarray:
    """A series per region that restarts near its level each January (cumulative rates) and wanders."""
    out = np.empty((n, len(months)))
    cur = level + rng.normal(0, step, n)
    for j, d in enumerate(months):
        if d.month == 1:
            cur = level + rng.normal(0, step * 2, n)
        else:
            cur = cur + rng.normal(0, step / 2, n)
        out[:, j] = cur
    return out


def generate(session: Session, rng: np.random.Generator, scale, now: datetime) -> dict:  # noqa: ANN001
    city_code = settings.get_settings()["city"]["code"]
    lib = load_library()
    wanted = {i.id for i in lib.values() if i.formula.kind == "external"}
    rows = session.execute(select(Region.code, Region.population).where(
        Region.city_code == city_code, Region.level == "district").order_by(Region.code)).all()
    if not rows:
        return {"rows": 0, "note": "没有区县，未生成统计数据"}
    codes = [r.code for r in rows]
    pop = np.array([float(r.population or 0) for r in rows])
    if pop.sum() <= 0:
        pop = np.ones(len(codes))
    w = pop / pop.sum()
    n = len(codes)
    anchor = now.astimezone(local_tz()).date()
    months = _months(anchor)
    keep = slice(len(months) - MONTHS, len(months))
    season = SEASON[[d.month - 1 for d in months]]
    years_from_start = np.arange(len(months)) / 12.0
    growth = (1.05 + rng.normal(0, 0.015, n))[:, None] ** years_from_start[None, :]

    def flow(total_per_month: float, noise: float) -> np.ndarray:
        base = total_per_month * w[:, None] * (1 + rng.normal(0, 0.08, n))[:, None]
        return base * season[None, :] * growth * (1 + rng.normal(0, noise, (n, len(months))))

    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> (district values, city values)
    retail = flow(108.0, 0.03)  # 亿元 per month, city ≈ 1300 亿/年
    series["ec_retail_sales"] = (retail, retail.sum(axis=0))
    rg = _ytd_growth(retail, months)
    series["ec_retail_growth"] = (rg, _ytd_growth(retail.sum(axis=0)[None, :], months)[0])
    budget = flow(8.5, 0.12)
    series["ec_budget_revenue"] = (budget, budget.sum(axis=0))
    cases = flow(186_000, 0.05)
    series["gs_cases"] = (np.round(cases), np.round(cases).sum(axis=0))

    stock0 = 600_000 * w * (1 + rng.normal(0, 0.05, n))
    new = np.round(flow(4_600, 0.08))
    exits = np.round(new * rng.uniform(0.45, 0.65, (n, len(months))))
    stock = np.round(stock0[:, None] + np.cumsum(new - exits, axis=1))
    series["mk_new_entities"] = (new, new.sum(axis=0))
    series["mk_entities"] = (stock, stock.sum(axis=0))

    def rate_series(level: float, spread: float, step: float, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        vals = np.clip(_drift(rng, n, months, level + rng.normal(0, spread, n), step), lo, hi)
        return vals, (vals * w[:, None]).sum(axis=0)

    series["ec_industry_growth"] = rate_series(5.5, 1.5, 0.6, -8, 18)
    series["ec_fai_growth"] = rate_series(3.0, 3.0, 1.2, -25, 30)
    gdp_d, gdp_c = rate_series(5.0, 0.9, 0.3, -3, 12)
    quarter = np.array([d.month in (3, 6, 9, 12) for d in months])
    gdp_d[:, ~quarter] = np.nan
    gdp_c = np.where(quarter, gdp_c, np.nan)
    series["ec_gdp_growth"] = (gdp_d, gdp_c)
    series["mk_food_pass_rate"] = rate_series(98.3, 0.5, 0.2, 94, 99.9)
    series["mk_complaint_ontime_rate"] = rate_series(98.0, 1.0, 0.4, 90, 100)
    series["mk_equipment_inspection_rate"] = rate_series(98.8, 0.6, 0.2, 95, 100)
    series["gs_ontime_rate"] = rate_series(99.4, 0.3, 0.1, 97.5, 100)
    series["gs_good_review_rate"] = rate_series(99.6, 0.2, 0.06, 98.5, 100)
    trend = 70 + 15 * np.arange(len(months)) / len(months)
    online = np.clip(trend[None, :] + rng.normal(0, 4, n)[:, None] + rng.normal(0, 0.8, (n, len(months))), 40, 99)
    series["gs_online_rate"] = (online, (online * w[:, None]).sum(axis=0))
    cpi = 100.5 + np.cumsum(rng.normal(0, 0.25, len(months))) * 0.5
    series["ec_cpi"] = (np.full((n, len(months)), np.nan), np.clip(cpi, 98, 104))  # published for the city only

    records: list[dict] = []
    keys = [f"{d:%Y-%m}" for d in months]

    def add(ind_id: str, region: str, period: str, value: float) -> None:
        if ind_id in wanted and np.isfinite(value):
            records.append({"indicator_id": ind_id, "region_code": region, "city_code": city_code,
                            "period": period, "value": round(float(value), 4), "source": SOURCE,
                            "imported_at": now})

    for ind_id, (dist, city) in series.items():
        for j in range(keep.start, keep.stop):
            add(ind_id, city_code, keys[j], city[j])
            for i, code in enumerate(codes):
                add(ind_id, code, keys[j], dist[i, j])

    # Yearly figures: the last three complete years.
    years = [anchor.year - k for k in (3, 2, 1)]
    income = 30_000 * (1 + rng.normal(0, 0.12, n))
    doctors = 2.9 * (1 + rng.normal(0, 0.12, n))
    for k, y in enumerate(years):
        inc = income * 1.055 ** k * (1 + rng.normal(0, 0.01, n))
        doc = doctors * 1.03 ** k * (1 + rng.normal(0, 0.02, n))
        add("ec_income_per_capita", city_code, str(y), float((inc * w).sum()))
        add("ps_doctors_per_1k", city_code, str(y), float((doc * w).sum()))
        for i, code in enumerate(codes):
            add("ec_income_per_capita", code, str(y), inc[i])
            add("ps_doctors_per_1k", code, str(y), doc[i])

    if records:
        session.execute(insert(ExternalValue), records)
    return {"rows": len(records), "indicators": len({r["indicator_id"] for r in records}),
            "months": f"{keys[keep.start]}..{keys[-1]}", "source": SOURCE}
