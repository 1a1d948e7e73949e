"""Air quality index (AQI) per HJ 633-2012 and HJ 633-2026.

Data measured before 2026-03-01 (China local date) is assessed under HJ 633-2012, from then on under
HJ 633-2026; `edition_for` picks one, and an override re-assesses history under either (同口径).
Breakpoints, report items and special rules are read from `editions/hj633-<edition>.yaml`.

Decisions taken from the standards' texts (see the YAML files for the clauses):
- 2026 rounds each concentration per GB/T 8170 (half to even; integers, CO one decimal) before
  assessing it; 2012 does not. Both editions round every IAQI up to an integer. Arithmetic is
  exact (Decimal/Fraction), so a value on a breakpoint never drifts to the next integer.
- Above a column's last breakpoint: 2026 counts SO2 1h > 800 as 200 and O3 8h > 800 as 300;
  2012 does not assess these (nor PM 1-hour values) and `iaqi` raises `NotAssessed`, naming the
  column to use instead, which `daily_aqi`/`hourly_aqi` then do. Every other column stops at
  IAQI 500: a higher concentration gets 500 (2026 §4.1.1: the AQI ranges up to 500; 2012 table 1
  gives no breakpoint above it) and the result lists it under `beyond_scale` (a UI may show "500+").
- Missing data: 2026 §5.3.1 publishes the AQI only if above 100 when an item is missing; otherwise
  `aqi`, `level`, `category`, `color` are None (NA) and `primary` is empty. 2012 has no such rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Iterable, Mapping

from standards import is_missing, load_edition, local_date, to_decimal

EDITIONS = ("2012", "2026")
# An 优良天 (good-air day) is a day whose AQI is of level 1 (优) or 2 (良): AQI ≤ 100. Both editions
# share the levels table (tests/test_standards_aqi.py checks this bound against each edition's table).
GOOD_DAY_MAX_AQI = 100
POLLUTANTS = ("SO2", "NO2", "CO", "O3", "PM10", "PM2.5")  # table order; also the order of lists
_AVERAGINGS = {
    "SO2": ("24h", "1h"), "NO2": ("24h", "1h"), "CO": ("24h", "1h"),
    "O3": ("8h", "1h"), "PM10": ("24h", "1h"), "PM2.5": ("24h", "1h"),
}


class NotAssessed(Exception):
    """HJ 633-2012 does not assess this value on its table; the IAQI comes from `instead`.

    Raised by `iaqi` for SO2 1h > 800 (use the SO2 24h IAQI), O3 8h > 800 (use the O3 1h IAQI) and
    PM10/PM2.5 1-hour values (use the 24-hour moving mean). Not a ValueError: the input is valid.
    """

    def __init__(self, pollutant: str, averaging: str, instead: tuple[str, str]):
        self.pollutant, self.averaging, self.instead = pollutant, averaging, instead
        super().__init__(
            f"HJ 633-2012 不对 {pollutant} {averaging} 该浓度计算分指数，应改用 {instead[0]} {instead[1]}"
            f" / not assessed under HJ 633-2012: use {instead[0]} {instead[1]}"
        )


@dataclass(frozen=True)
class AQIResult:
    """One daily or hourly AQI report.

    `iaqi` is keyed by report item (e.g. "PM2.5", or "O3_8h"/"PM10_24h" in the 2012 hourly report);
    `primary` and `exceeding` name pollutants (the part before "_"), in table order. `exceeding`
    (IAQI > 100) is HJ 633-2012's 超标污染物; HJ 633-2026 dropped that term, so for 2026 results it
    is information only. `missing` lists report items without a usable value.
    """

    aqi: int | None
    iaqi: dict[str, int]
    primary: list[str]
    exceeding: list[str]
    level: int | None
    category: str | None
    color: str | None
    edition: str
    missing: list[str] = field(default_factory=list)
    beyond_scale: list[str] = field(default_factory=list)


def _spec(edition: str) -> dict:
    if edition not in EDITIONS:
        raise ValueError(f"未知的标准版本 / unknown edition {edition!r}; expected one of {EDITIONS}")
    return load_edition(f"hj633-{edition}")


def edition_name(edition: str | None) -> str:
    """The standard's own name for an edition ("HJ 633-2026"); an unknown edition as given, None as "—"."""
    if edition in EDITIONS:
        return _spec(edition)["standard"]
    return edition or "—"


def edition_for(when: date | datetime, override: str | None = None) -> str:
    """The HJ 633 edition for a measurement date: "2012" before 2026-03-01 (local date), then "2026".

    `override` "2012"/"2026" forces an edition (re-assessing history 同口径); None/"auto" goes by date.
    """
    if override not in (None, "auto"):
        _spec(override)  # validates
        return override
    day = local_date(when)
    chosen = EDITIONS[0]  # dates before the oldest edition's start still map to it
    for ed in EDITIONS:
        if _spec(ed)["effective_from"] <= day:
            chosen = ed
    return chosen


def level_of(aqi: int, edition: str = "2026") -> tuple[int, str, str]:
    """(level 1-6, category, colour) for an AQI value. Both editions share the same levels."""
    if isinstance(aqi, bool) or not isinstance(aqi, int) or aqi < 0:
        raise ValueError(f"AQI 必须是非负整数 / AQI must be a non-negative integer, got {aqi!r}")
    for row in _spec(edition)["levels"]:
        if row["upto"] is None or aqi <= row["upto"]:
            return row["level"], row["category"], row["color"]
    raise AssertionError("levels table must end with an open row")


def is_good_day(aqi):  # noqa: ANN001, ANN201 - a number, a pandas/numpy array or a SQL column
    """The 优良 rule: AQI ≤ GOOD_DAY_MAX_AQI. Element-wise on a pandas Series or numpy array (NaN is
    not good), and a SQL condition on a SQLAlchemy column, so the screens' counts and the indicator
    engine's SQL apply one rule. None (AQI NA) is not a good day."""
    if aqi is None:
        return False
    return aqi <= GOOD_DAY_MAX_AQI


def _column(pollutant: str, averaging: str) -> str:
    if pollutant not in _AVERAGINGS:
        raise ValueError(f"未知污染物 / unknown pollutant {pollutant!r}; expected one of {POLLUTANTS}")
    if averaging not in _AVERAGINGS[pollutant]:
        raise ValueError(
            f"{pollutant} 无 {averaging} 分指数 / no IAQI for {pollutant} {averaging}; "
            f"expected one of {_AVERAGINGS[pollutant]}"
        )
    return f"{pollutant}_{averaging}"


def _split(column: str) -> tuple[str, str]:
    pollutant, averaging = column.rsplit("_", 1)
    return pollutant, averaging


def _round_concentration(spec: dict, pollutant: str, c: Decimal) -> Decimal:
    if not spec["round_concentration"]:
        return c
    places = spec["rounding_places"].get(pollutant, spec["rounding_places"]["default"])
    return c.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _column_iaqi(spec: dict, column: str, concentration: object) -> tuple[int, bool]:
    """(IAQI, beyond_scale) of one value on one table column. May raise NotAssessed."""
    pollutant, averaging = _split(column)
    c = to_decimal(concentration, f"{pollutant} 浓度 / concentration")
    if column in spec.get("not_assessed", {}):
        raise NotAssessed(pollutant, averaging, _split(spec["not_assessed"][column]["use"]))
    column = spec.get("column_aliases", {}).get(column, column)
    c = Fraction(_round_concentration(spec, pollutant, c))
    bps = [Fraction(str(b)) for b in spec["breakpoints"][column]]
    rows = spec["iaqi_rows"]
    if c > bps[-1]:
        rule = spec.get("above_top", {}).get(column)
        if rule is None:
            return spec["iaqi_cap"], True
        if "use" in rule:
            raise NotAssessed(pollutant, averaging, _split(rule["use"]))
        return rule["iaqi"], False
    for i in range(1, len(bps)):
        if c <= bps[i]:
            lo_bp, hi_bp, lo_i, hi_i = bps[i - 1], bps[i], rows[i - 1], rows[i]
            return math.ceil((hi_i - lo_i) / (hi_bp - lo_bp) * (c - lo_bp) + lo_i), False
    raise AssertionError("unreachable: c <= last breakpoint")


def iaqi(pollutant: str, concentration: float, averaging: str, edition: str = "2026") -> int:
    """IAQI of one concentration (µg/m³; CO mg/m³) under an edition. See the module docstring.

    Raises ValueError for unknown names and invalid values, NotAssessed for values HJ 633-2012
    does not assess on this column.
    """
    return _column_iaqi(_spec(edition), _column(pollutant, averaging), concentration)[0]


def _allowed_keys(kind: str) -> set[str]:
    keys: set[str] = set()
    for ed in EDITIONS:
        report = _spec(ed)["reports"][kind]
        keys |= set(report["items"]) | set(report.get("unindexed", ())) | set(report.get("auxiliary", {}))
    return keys


def _item_iaqi(spec: dict, column: str, value: object, concentrations: Mapping[str, object],
               key_of_column: Mapping[str, str]) -> tuple[int, bool] | None:
    """IAQI of one report item, following 2012's substitutions; None when the data is missing."""
    if is_missing(value):
        return None
    try:
        return _column_iaqi(spec, column, value)
    except NotAssessed as na:
        instead = "_".join(na.instead)
        sub_key = key_of_column.get(instead)
        sub_value = concentrations.get(sub_key) if sub_key else None
        return None if is_missing(sub_value) else _column_iaqi(spec, instead, sub_value)


def _report(kind: str, concentrations: Mapping[str, object], edition: str,
            not_monitored: Iterable[str]) -> AQIResult:
    spec = _spec(edition)
    report = spec["reports"][kind]
    unknown = set(concentrations) - _allowed_keys(kind)
    if unknown:
        raise ValueError(f"未知的报告项目 / unknown {kind} items: {sorted(unknown)}")
    not_monitored = set(not_monitored)
    # Where a substitute column's value comes from in this report (2012 special rules).
    key_of_column = {col: key for key, col in {**report["items"], **report.get("auxiliary", {})}.items()}

    values: dict[str, int] = {}
    missing: list[str] = []
    beyond: list[str] = []
    for key, column in report["items"].items():
        found = _item_iaqi(spec, column, concentrations.get(key), concentrations, key_of_column)
        if found is None:
            if key not in not_monitored:
                missing.append(key)
            continue
        values[key] = found[0]
        if found[1]:
            beyond.append(key)

    aqi = max(values.values()) if values else None
    na_limit = spec["missing_na_at_or_below"]
    if aqi is not None and missing and na_limit is not None and aqi <= na_limit:
        aqi = None  # HJ 633-2026 §5.3.1: publish the sub-indices only, AQI shown as NA

    def pollutants(keys: Iterable[str]) -> list[str]:
        found = {k.split("_")[0] for k in keys}
        return [p for p in POLLUTANTS if p in found]

    primary = pollutants(k for k, v in values.items() if v == aqi) if aqi is not None and aqi > 50 else []
    level, category, color = level_of(aqi, edition) if aqi is not None else (None, None, None)
    return AQIResult(
        aqi=aqi, iaqi=values, primary=primary,
        exceeding=pollutants(k for k, v in values.items() if v > 100),
        level=level, category=category, color=color, edition=edition,
        missing=missing, beyond_scale=beyond,
    )


def daily_aqi(concentrations: Mapping[str, object], edition: str = "2026",
              not_monitored: Iterable[str] = ()) -> AQIResult:
    """Daily report (日报). Keys: SO2, NO2, CO, PM10, PM2.5 daily means; O3 = daily max 8-hour mean;
    for 2012 also O3_1h = daily max 1-hour mean (ignored under 2026). Missing/None/NaN are skipped.

    `not_monitored`: items the monitoring plan does not cover and that, per HJ 633-2026 §5.3.2,
    have not been primary in a light-or-worse pollution day within three years; their absence does
    not trigger the NA rule. The caller vouches for that history.
    """
    return _report("daily", concentrations, edition, not_monitored)


def hourly_aqi(concentrations: Mapping[str, object], edition: str = "2026",
               not_monitored: Iterable[str] = ()) -> AQIResult:
    """Hourly report (实时报). Keys: SO2, NO2, CO, O3, PM10, PM2.5 1-hour means.

    2026 assesses the PM 1-hour means on the daily columns. 2012 has nine items: also O3_8h (8-hour
    moving mean), PM10_24h and PM2.5_24h (24-hour moving means), and gives the PM 1-hour means no
    IAQI (table 4); SO2_24h may be passed for its SO2 1h > 800 rule. Keys that one edition does not
    use are ignored, so one dict can be assessed under both.
    """
    return _report("hourly", concentrations, edition, not_monitored)
