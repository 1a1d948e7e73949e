"""Region codes: the one place that knows how an administrative code is built.

Codes nest: GB/T 2260 gives the province (XX0000), the city (XXXX00) and the district/county
(XXXXXX, six digits, not ending in 00); the statistical division code (统计用区划代码) extends a
district to a street/town (9 digits) and a community/village (12); a grid extends its community by
three digits (15). So a code's level, its parent and every ancestor follow from the code alone, and
"inside region R" is one indexed column (or a prefix) on every fact row, which carries its
city … grid codes (store.models.RegionKeyed).

Every other module asks this one; none slices codes by hand.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func

LEVELS = ("province", "city", "district", "street", "community", "grid")
LEVEL_NAMES_ZH = {"province": "省", "city": "市", "district": "区县", "street": "街道/镇",
                  "community": "社区/村", "grid": "网格"}
CODE_LENGTH = {"province": 6, "city": 6, "district": 6, "street": 9, "community": 12, "grid": 15}
# Levels stored as a column on every region-keyed fact row (the province is a prefix of city_code).
KEYED_LEVELS = ("city", "district", "street", "community", "grid")


class BadRegionCode(ValueError):
    """Not a region code. The message is Chinese: screens and the command line show it as it is."""


def level_or_none(code: Any) -> str | None:
    """The level a code's shape implies, or None when it is not a region code."""
    if not isinstance(code, str) or not code.isdigit() or not code.isascii():
        return None
    n = len(code)
    if n == 6:
        if code.endswith("0000"):
            return "province" if code != "000000" else None
        return "city" if code.endswith("00") else "district"
    return {9: "street", 12: "community", 15: "grid"}.get(n)


def level_of(code: Any) -> str:
    """The level of a region code; BadRegionCode when the code has no valid shape."""
    level = level_or_none(code)
    if level is None:
        raise BadRegionCode(f"无法识别的区划代码：{code!r}")
    return level


def is_region_code(code: Any) -> bool:
    return level_or_none(code) is not None


def parent_of(code: str) -> str | None:
    """The code of the region directly above, or None for a province."""
    level = level_of(code)
    if level == "province":
        return None
    if level == "city":
        return code[:2] + "0000"
    if level == "district":
        return code[:4] + "00"
    return code[: CODE_LENGTH[level] - 3]


def ancestors(code: str) -> list[str]:
    """Codes above `code`, the province first (the database says which of them exist)."""
    chain: list[str] = []
    parent = parent_of(code)
    while parent is not None:
        chain.append(parent)
        parent = parent_of(parent)
    return chain[::-1]


def lineage(code: str) -> list[str]:
    """Ancestors and the code itself, the province first."""
    return [*ancestors(code), code]


def ancestor_at(code: str, level: str) -> str | None:
    """The code of `code`'s region at `level` (itself when it is at that level), or None when that
    level is below it or the chain skips it (a street directly under a city that has no districts).

    The same as the `lineage` entry at that level, read off the code at once: the coverage tiles ask it of
    every grid of a city (~30k calls per figure grid, 0.2 s the long way)."""
    own = level_of(code)
    if depth(level) > depth(own):
        return None
    if level == own:
        return code
    candidate = {"province": code[:2] + "0000", "city": code[:4] + "00"}.get(level) or code[:CODE_LENGTH[level]]
    return candidate if level_or_none(candidate) == level else None


def child_level(level: str) -> str | None:
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def depth(level: str) -> int:
    return LEVELS.index(level)


def subtree_prefix(code: str) -> str:
    """The prefix every code inside region `code` starts with (province XX, city XXXX, else the code)."""
    level = level_of(code)
    if level == "province":
        return code[:2]
    if level == "city":
        return code[:4]
    return code


def is_within(child_code: str, zone_code: str) -> bool:
    """True when region `child_code` lies inside (or is) region `zone_code`."""
    if level_or_none(child_code) is None:
        return False
    return child_code.startswith(subtree_prefix(zone_code))


def keyed_column_name(code: str) -> str:
    """The region-keyed column that equals `code` on rows inside it (city_code for a province,
    read by prefix)."""
    level = level_of(code)
    return "city_code" if level == "province" else f"{level}_code"


def inside(columns: Any, code: str) -> ColumnElement[bool]:
    """SQL condition: a row whose city … grid code columns are `columns` (a mapped class, or a
    Table's `.c`) lies inside region `code`. An equality on one indexed column; a province is the
    prefix of city_code."""
    column = getattr(columns, keyed_column_name(code))
    if level_of(code) == "province":
        return column.startswith(code[:2])
    return column == code


def code_inside(column: Any, code: str) -> ColumnElement[bool]:
    """SQL condition for a column that holds region codes of any level (regions.code, a statistic's
    region_code, a user's zone): the code lies inside region `code`."""
    return column.startswith(subtree_prefix(code), autoescape=True)


def regions_inside(regions: Any, code: str) -> ColumnElement[bool]:
    """SQL condition on the regions table itself (anything with `.code` and `.city_code`): the region
    lies inside (or is) region `code`. A city is the indexed city_code; deeper levels a code prefix."""
    if level_of(code) == "city":
        return regions.city_code == code
    return regions.code.startswith(subtree_prefix(code))


def sql_ancestor(regions: Any, level: str) -> ColumnElement[str]:
    """SQL expression on the regions table: a region's ancestor code at `level` (district and below
    are prefixes of the code; the city is its city_code column)."""
    if level == "city":
        return regions.city_code
    if level == "province":
        return func.substr(regions.city_code, 1, 2) + "0000"
    return func.substr(regions.code, 1, CODE_LENGTH[level])
