"""Calculators for the national standards the dashboard reports against.

- `aqi`: air quality index, HJ 633-2012 and HJ 633-2026, edition chosen by measurement date.
- `air_limits`: ambient air limits, GB 3095 (2012 limits, then the 2026 transition and final stages).
- `water`: surface water class, GB 3838-2002.
- `noise`: environmental noise limits, GB 3096-2008.

The numbers live in `editions/*.yaml` (one file per standard edition, with its source noted);
the modules only hold the rules for reading them. Plain Python: no Streamlit, no database.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

EDITIONS_DIR = Path(__file__).resolve().parent / "editions"

# The standards speak of Chinese local dates and hours, whatever the server's timezone.
CHINA_TZ = ZoneInfo("Asia/Shanghai")


@lru_cache(maxsize=None)
def load_edition(name: str) -> dict:
    """The parsed YAML of `editions/<name>.yaml` (cached; treat it as read-only)."""
    with open(EDITIONS_DIR / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def local_date(value: date | datetime) -> date:
    """The China local date of a date or datetime.

    Aware datetimes are converted to Asia/Shanghai first (the store keeps UTC); naive datetimes
    are taken to be local time already.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(CHINA_TZ)
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError(f"需要日期或时间 / expected a date or datetime, got {value!r}")


def to_decimal(value: object, what: str = "value") -> Decimal:
    """A finite, non-negative number as an exact Decimal.

    Floats go through their shortest repr ("35.4", not 35.39999…), so rounding rules such as
    GB/T 8170's apply to the number as written, not to its binary approximation.
    """
    if isinstance(value, bool) or not isinstance(value, (Real, Decimal)):
        raise ValueError(f"{what} 必须是数值 / must be a number, got {value!r}")
    if isinstance(value, (int, Decimal)):
        result = Decimal(value)
    elif isinstance(value, float):  # also numpy.float64
        result = Decimal(repr(float(value)))
    elif isinstance(value, Integral):  # numpy integers
        result = Decimal(int(value))
    else:  # numpy.float32 prints as written ("35.4"); Fraction and others via float
        try:
            result = Decimal(str(value))
        except ArithmeticError:
            result = Decimal(repr(float(value)))
    if not result.is_finite():
        raise ValueError(f"{what} 不是有限数值 / must be finite, got {value!r}")
    if result < 0:
        raise ValueError(f"{what} 不能为负 / must not be negative, got {value!r}")
    return result


def is_missing(value: object) -> bool:
    """None, NaN, pandas.NA and NaT count as missing data."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, (Real, Decimal)) and not isinstance(value, bool):
        return bool(value != value)  # NaN is the only value unequal to itself
    return False
