"""Surface water class per GB 3838-2002 (basic items), limits read from `editions/gb3838-2002.yaml`.

An item's class is the best class whose limit it meets (DO at least the limit, pH within 6-9, the
rest at most the limit), so COD 15 is class I. A station's class is its worst assessed item's;
worse than V is 劣V. Rivers use the river TP limits and leave TN out of the class by default;
lakes and reservoirs use the lake TP limits and TN. Comparisons are exact (Decimal), so 0.1 meets
a 0.1 limit however it was typed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from standards import is_missing, load_edition, to_decimal

ITEMS = ("pH", "DO", "CODMn", "COD", "BOD5", "NH3-N", "TP", "TN")
WATER_BODIES = ("river", "lake", "reservoir")
CLASSES = ("I", "II", "III", "IV", "V", "劣V")

# Chinese spellings people type: full-width Roman numerals, a trailing 类.
_NUMERALS = {"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V"}


@dataclass(frozen=True)
class WaterResult:
    """`items`: class of every measured item; `overall`/`worst_items` use only the assessed ones
    (`excluded` lists items measured but left out, e.g. TN in a river). `overall` is None when
    nothing was assessed."""

    overall: str | None
    items: dict[str, str]
    worst_items: list[str]
    water_body: str
    excluded: list[str] = field(default_factory=list)


def _spec() -> dict:
    return load_edition("gb3838-2002")


def class_rank(cls: str) -> int:
    """I=1 … V=5, 劣V=6. Accepts "Ⅲ", "III类", "劣Ⅴ类" too."""
    name = str(cls).strip().removesuffix("类")
    for full, ascii_ in _NUMERALS.items():
        name = name.replace(full, ascii_)
    if name not in CLASSES:
        raise ValueError(f"未知水质类别 / unknown water class {cls!r}; expected one of {CLASSES}")
    return CLASSES.index(name) + 1


def _item_class(item: str, value: Decimal, water_body: str) -> str:
    spec = _spec()
    rule = spec["items"][item]
    if rule["rule"] == "range":
        low, high = (Decimal(str(x)) for x in rule["range"])
        return CLASSES[0] if low <= value <= high else spec["below_v"]
    limits = rule["limits"]
    if isinstance(limits, dict):  # TP: separate limits per water-body type
        limits = limits[spec["water_bodies"][water_body]["tp_limits"]]
    for cls, limit in zip(spec["classes"], limits):
        limit = Decimal(str(limit))
        if (value >= limit) if rule["rule"] == "min" else (value <= limit):
            return cls
    return spec["below_v"]


def classify(measurements: Mapping[str, object], water_body: str = "river",
             use_tn: bool | None = None) -> WaterResult:
    """Classify one sample or period mean. Units mg/L (pH unitless); missing/None/NaN are skipped.

    `use_tn` None means the water body's default (rivers no, lakes/reservoirs yes).
    """
    if water_body not in WATER_BODIES:
        raise ValueError(f"未知水体类型 / unknown water body {water_body!r}; expected one of {WATER_BODIES}")
    unknown = set(measurements) - set(ITEMS)
    if unknown:
        raise ValueError(f"未知监测项目 / unknown water items: {sorted(unknown)}")
    if use_tn is None:
        use_tn = _spec()["water_bodies"][water_body]["use_tn"]

    items: dict[str, str] = {}
    for item in ITEMS:
        raw = measurements.get(item)
        if is_missing(raw):
            continue
        value = to_decimal(raw, item)
        if item == "pH" and value > 14:
            raise ValueError(f"pH 超出 0-14 / pH out of range, got {raw!r}")
        items[item] = _item_class(item, value, water_body)

    excluded = [] if use_tn or "TN" not in items else ["TN"]
    assessed = {k: v for k, v in items.items() if k not in excluded}
    if not assessed:
        return WaterResult(None, items, [], water_body, excluded)
    worst = max(class_rank(c) for c in assessed.values())
    overall = CLASSES[worst - 1]
    return WaterResult(overall, items, [k for k, v in assessed.items() if v == overall], water_body, excluded)


def meets_target(result_or_class: WaterResult | str, target_class: str) -> bool:
    """True when the class is the target class or better (I-III meets a III target)."""
    actual = result_or_class.overall if isinstance(result_or_class, WaterResult) else result_or_class
    if actual is None:
        raise ValueError("无评价结果（没有有效监测项目）/ nothing was assessed")
    return class_rank(actual) <= class_rank(target_class)
