"""Facts about the database itself, kept in the meta table (what built it, when)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Meta


def is_demo(session: Session) -> bool:
    """True on a database built by the demo seeder: screens then mark every figure 演示数据."""
    return session.execute(select(Meta.value).where(Meta.key == "demo")).scalar_one_or_none() == "1"
