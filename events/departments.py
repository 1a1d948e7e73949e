"""Departments that handle dispatched cases (委办局, 街道, 专业公司) and the demo set of them.

Code convention (routing relies on it): city-wide bureaus and companies are their abbreviation alone
(CGJ 市城管局, SWJT 市水务集团 — one city per deployment, and the auth demo's department account uses
"CGJ"); district bureaus and street offices are "<region code>-<abbreviation>", e.g. 440902-CGJ
(茂南区城管局), 440902001-JD (a street office). A real city loads its own rows into the `departments`
table with the same convention; the demo builds them from the region tree.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Department, Region
from store.region_codes import depth, is_within, level_of


@dataclass(frozen=True)
class Bureau:
    abbr: str
    name: str      # name after the region's name, e.g. "城市管理和综合执法局"
    kind: str      # 委办局 / 专业公司


CITY_BUREAUS: tuple[Bureau, ...] = (
    Bureau("CGJ", "城市管理和综合执法局", "委办局"),
    Bureau("ZJJ", "住房和城乡建设局", "委办局"),
    Bureau("STHJ", "生态环境局", "委办局"),
    Bureau("JTJ", "交通运输局", "委办局"),
    Bureau("SWJ", "水务局", "委办局"),
    Bureau("SCJG", "市场监督管理局", "委办局"),
    Bureau("ZRZY", "自然资源局", "委办局"),
    Bureau("YJGL", "应急管理局", "委办局"),
    Bureau("GAJJ", "公安局交通警察支队", "委办局"),
    Bureau("SWJT", "水务集团有限公司", "专业公司"),
    Bureau("RQ", "燃气有限公司", "专业公司"),
    Bureau("GD", "供电局", "专业公司"),
    Bureau("TX", "通信管线联合维护中心", "专业公司"),
)
DISTRICT_BUREAUS: tuple[Bureau, ...] = (
    Bureau("CGJ", "城市管理和综合执法局", "委办局"),
    Bureau("ZJJ", "住房和城乡建设局", "委办局"),
    Bureau("STHJ", "生态环境分局", "委办局"),
    Bureau("SCJG", "市场监督管理局", "委办局"),
    Bureau("GAJJ", "公安交警大队", "委办局"),
)
STREET_ABBR = "JD"


def code_for(region_code: str, abbr: str) -> str:
    return abbr if level_of(region_code) == "city" else f"{region_code}-{abbr}"


def street_office_name(street_name: str) -> str:
    if street_name.endswith("镇") or street_name.endswith("乡"):
        return f"{street_name}人民政府"
    return f"{street_name}办事处"


def demo_department_rows(regions: list[tuple[str, str, str]]) -> list[dict]:
    """Department rows for a region tree given as (code, name, level) tuples: every bureau of the city
    and of each district, and one office per street/town."""
    rows: list[dict] = []
    for code, name, level in sorted(regions):
        if level == "city":
            rows += [dict(code=code_for(code, b.abbr), name=f"{name}{b.name}", kind=b.kind, region_code=code)
                     for b in CITY_BUREAUS]
        elif level == "district":
            rows += [dict(code=code_for(code, b.abbr), name=f"{name}{b.name}", kind=b.kind, region_code=code)
                     for b in DISTRICT_BUREAUS]
        elif level == "street":
            rows.append(dict(code=code_for(code, STREET_ABBR), name=street_office_name(name), kind="街道",
                             region_code=code))
    return rows


def ensure_demo_departments(session: Session) -> int:
    """Create the demo departments missing for the regions in the store; returns how many were added.
    Idempotent, so the auth demo (department users) and the events demo can both call it."""
    regions = session.execute(
        select(Region.code, Region.name, Region.level).where(Region.level.in_(("city", "district", "street")))
    ).all()
    existing = set(session.execute(select(Department.code)).scalars())
    rows = [r for r in demo_department_rows([tuple(r) for r in regions]) if r["code"] not in existing]
    if rows:
        session.add_all(Department(**r) for r in rows)
        session.flush()
    return len(rows)


def list_departments(session: Session, region_prefix: str | None = None) -> list[dict]:
    """All departments (code, name, kind, region_code), city bureaus first, then by code.
    `region_prefix` keeps the departments serving inside that region plus the city-wide ones."""
    rows = session.execute(select(Department).order_by(Department.code)).scalars().all()
    out = []
    for d in rows:
        if region_prefix and d.region_code and not (
            is_within(d.region_code, region_prefix) or is_within(region_prefix, d.region_code)
        ):
            continue
        out.append({"code": d.code, "name": d.name, "kind": d.kind, "region_code": d.region_code})
    return sorted(out, key=lambda d: (_depth(d["region_code"]), d["code"]))


def _depth(region_code: str | None) -> int:
    """How far down the region tree a department serves (-1: no region, i.e. everywhere)."""
    return depth(level_of(region_code)) if region_code else -1


def department_names(session: Session, codes) -> dict[str, str]:  # noqa: ANN001
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    return dict(session.execute(select(Department.code, Department.name).where(Department.code.in_(codes))).all())
