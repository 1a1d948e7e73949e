"""Demo accounts: one per role, all with the documented demo password (README lists them).
Roles whose [security].second_factor is "required" (the three administrators and the duty officer)
set up their authenticator app at their first sign-in, like any real account.

Zones are read from the regions the geo generator made, so the accounts follow the city in config:
the city itself, 茂南区 (440902, or the first district if the city has none with that code) and the
first grid of that district (lowest code, so the choice is deterministic).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import settings
from auth.service import create_user
from store import region_codes
from store.models import Department, Region

DEMO_PASSWORD = "Demo@2026!"
DEMO_DISTRICT = "440902"          # 茂南区
DEMO_BUREAU = "CGJ"               # 城市管理和综合执法局 (abbreviation used by events.departments)
ACTOR = "demo-seed"


def _district(session: Session, city: str) -> str:
    if session.get(Region, DEMO_DISTRICT) is not None:
        return DEMO_DISTRICT
    code = session.execute(
        select(Region.code).where(Region.level == "district", Region.city_code == city).order_by(Region.code).limit(1)
    ).scalar_one_or_none()
    if code is None:
        raise RuntimeError("演示账号需要行政区划：请先运行 geo.demo_city 生成器")
    return code


def _first_grid(session: Session, district: str) -> str:
    code = session.execute(
        select(Region.code).where(Region.level == "grid", region_codes.code_inside(Region.code, district))
        .order_by(Region.code).limit(1)
    ).scalar_one_or_none()
    if code is None:
        raise RuntimeError(f"区县 {district} 下没有网格，无法创建网格员演示账号")
    return code


def _city_bureau(session: Session, city: str) -> str | None:
    """Code of the city-level 城管局 registered by events.departments (None before it has run)."""
    codes = session.execute(
        select(Department.code).where(Department.region_code == city).order_by(Department.code)
    ).scalars().all()
    return next((c for c in codes if c == DEMO_BUREAU or c.endswith(f"-{DEMO_BUREAU}")), None)


def demo_users(session: Session) -> list[dict]:
    """The demo accounts for the regions in this database (username, name, role, zone, department)."""
    city = settings.get_settings()["city"]["code"]
    district = _district(session, city)
    grid = _first_grid(session, district)
    return [
        {"username": "zhiban", "display_name": "值班员·陈晓", "role": "duty_officer", "zone_code": city},
        {"username": "lingdao", "display_name": "市领导·王建国", "role": "leader", "zone_code": city},
        {"username": "maonan_lingdao", "display_name": "区领导·李卫东", "role": "leader", "zone_code": district},
        {"username": "chengguan", "display_name": "城管局·张志强", "role": "department", "zone_code": city,
         "department_code": _city_bureau(session, city) or f"{city}-{DEMO_BUREAU}"},
        {"username": "wangge", "display_name": "网格员·刘芳", "role": "grid_officer", "zone_code": grid},
        {"username": "daping", "display_name": "指挥中心大屏", "role": "wall_display", "zone_code": city},
        # 三权分立: one account per administrator role, none holding two.
        {"username": "xitong", "display_name": "系统管理员·周敏", "role": "sys_admin", "zone_code": city},
        {"username": "anquan", "display_name": "安全管理员·吴刚", "role": "sec_admin", "zone_code": city},
        {"username": "shenji", "display_name": "审计管理员·郑洁", "role": "audit_admin", "zone_code": city},
    ]


def generate(session: Session, rng, scale, now: datetime) -> dict:  # noqa: ANN001 - seed.py protocol
    """Create the demo accounts. `rng`/`scale` are unused: the accounts are fixed, whatever the scale."""
    # The department user's department must exist: demo/seed.py builds the departments (the events
    # package owns the list) in this same transaction, just before.
    made = []
    for spec in demo_users(session):
        create_user(session, spec["username"], spec["display_name"], spec["role"], spec["zone_code"],
                    spec.get("department_code"), password=DEMO_PASSWORD, actor=ACTOR)
        made.append(f"{spec['username']}@{spec['zone_code']}")
    return {"users": len(made), "accounts": made, "password": DEMO_PASSWORD}
