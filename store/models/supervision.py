"""Supervision (督办), automatic escalation and 研判 results (supervision/).

The case's current supervision facts (level, deadline, escalation level) are columns of the case
itself (store.models.events.Event); these tables keep the records behind them: who placed a case under
supervision with what note and notified department, each escalation a rule made, and each day's
hotspots with the cases behind them. Every row carries the region codes of what it is about, so reads
are restricted like any fact table (store.scope).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow


class Supervision(RegionKeyed, Base):
    """One 督办 of one case: a leader's or the command centre's order, with its own deadline."""

    __tablename__ = "supervisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    # A department's overdue list placed under supervision at once shares one batch id.
    batch_id: Mapped[str | None] = mapped_column(String(40), index=True)
    level: Mapped[str] = mapped_column(String(10))  # district (区级) / city (市级)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    notified_department: Mapped[str | None] = mapped_column(String(40))
    # The case's department when it was placed (department staff see their own case's record).
    department_code: Mapped[str | None] = mapped_column(String(40), index=True)
    created_by: Mapped[str] = mapped_column(String(50))
    created_role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Escalation(RegionKeyed, Base):
    """A rule raised an overdue case to a level. (event, level) is unique: a second run of the job finds
    the row and does nothing, so escalation is idempotent even when two runs overlap."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("event_id", "level", name="uq_escalations_event_level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(10))  # street / district / city
    overdue_hours: Mapped[float] = mapped_column(Float)  # in the rule's unit, when it fired
    unit: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str | None] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Hotspot(RegionKeyed, Base):
    """One finding of a day's 研判 run: a grid or street whose cases of a 大类 this week exceed its own
    baseline beyond chance, or a 12345 topic (小类) surging city-wide. For a street finding the grid
    code is empty; for a city-wide topic everything below the city is."""

    __tablename__ = "hotspots"
    __table_args__ = (
        UniqueConstraint("run_day", "kind", "region_code", "topic", name="uq_hotspots_key"),
        Index("ix_hotspots_run_day_kind", "run_day", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_day: Mapped[date] = mapped_column(Date)  # local day the run looked back from (exclusive end)
    kind: Mapped[str] = mapped_column(String(10))  # grid / street / topic
    region_code: Mapped[str] = mapped_column(String(15))  # the grid, street or city the finding is about
    topic: Mapped[str] = mapped_column(String(40))  # 大类 (grid, street) or 12345 小类 (topic)
    observed: Mapped[int] = mapped_column(Integer)  # cases in the week
    expected: Mapped[float] = mapped_column(Float)  # baseline weekly rate
    p_value: Mapped[float] = mapped_column(Float)
    q_value: Mapped[float] = mapped_column(Float)  # Benjamini–Hochberg adjusted
    case_ids: Mapped[list] = mapped_column(JSON)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
