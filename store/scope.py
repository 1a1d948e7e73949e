"""Zone scope: who is looking, and the filter that keeps every read inside their zone.

Every read of a fact table goes through `apply_scope` (or `in_region`) with the viewer; a direct
fetch of one object goes through `ensure_visible`. Hiding a page is convenience, this is protection.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, false


class PermissionDenied(Exception):
    """The viewer may not see or do this. The message is shown to the user (Chinese)."""


@dataclass(frozen=True)
class Viewer:
    username: str
    role: str  # duty_officer / leader / department / grid_officer / admin
    zone_code: str
    department_code: str | None = None
    display_name: str = ""


def level_of(code: str) -> str:
    """Administrative level from a region code (GB/T 2260 + statistical division code + grid)."""
    n = len(code)
    if n == 6:
        return "city" if code.endswith("00") else "district"
    return {9: "street", 12: "community", 15: "grid"}.get(n) or _bad_code(code)


def _bad_code(code: str) -> str:
    raise ValueError(f"无法识别的区划代码：{code!r}")


def region_column(model, code: str):  # noqa: ANN001 - a mapped class with RegionKeyed columns
    """The indexed column of `model` that equals `code` for rows inside region `code`."""
    return getattr(model, f"{level_of(code)}_code")


def in_region(model, code: str):  # noqa: ANN001
    """SQL condition: row lies inside region `code`. Province-wide codes (XX0000) match by prefix."""
    if len(code) == 6 and code.endswith("0000"):
        return model.city_code.startswith(code[:2])
    return region_column(model, code) == code


def is_within(child_code: str, zone_code: str) -> bool:
    """True when region `child_code` lies inside (or is) region `zone_code`."""
    if zone_code.endswith("0000") and len(zone_code) == 6:
        return child_code[:2] == zone_code[:2]
    if level_of(zone_code) == "city":
        return child_code[:4] == zone_code[:4]
    return child_code.startswith(zone_code)


def apply_scope(stmt: Select, model, viewer: Viewer) -> Select:  # noqa: ANN001
    """Restrict a SELECT on a region-keyed model to the viewer's zone (and department, for
    department staff on tables that carry a department)."""
    conditions = [in_region(model, viewer.zone_code)]
    if viewer.role == "department":
        if hasattr(model, "department_code"):
            conditions.append(
                model.department_code == viewer.department_code if viewer.department_code else false()
            )
    return stmt.where(and_(*conditions))


def ensure_visible(viewer: Viewer, obj) -> None:  # noqa: ANN001
    """Raise PermissionDenied when a single fetched object lies outside the viewer's scope."""
    code = getattr(obj, "grid_code", None) or getattr(obj, "community_code", None) \
        or getattr(obj, "street_code", None) or getattr(obj, "district_code", None) \
        or getattr(obj, "city_code", None) or getattr(obj, "code", None)
    if code is None or not is_within(code, viewer.zone_code):
        raise PermissionDenied("无权查看该对象：不在您的管辖范围内")
    if viewer.role == "department" and hasattr(obj, "department_code"):
        # Same rule as apply_scope: a department user without a department sees no cases at all
        # (None == None must not open the undispatched ones).
        if viewer.department_code is None or obj.department_code != viewer.department_code:
            raise PermissionDenied("无权查看该对象：不是派给本部门的案件")


def ensure_region_visible(viewer: Viewer, region_code: str) -> None:
    if not is_within(region_code, viewer.zone_code):
        raise PermissionDenied(f"无权查看区域 {region_code}：不在您的管辖范围内")
