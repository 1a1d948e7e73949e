"""External indicator values reported by statistics offices (imported, never computed here)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime, utcnow


class ExternalValue(Base):
    __tablename__ = "external_values"
    __table_args__ = (UniqueConstraint("indicator_id", "region_code", "period", name="uq_external_values_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(60), index=True)
    region_code: Mapped[str] = mapped_column(String(15), index=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    period: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM or YYYY
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Meta(Base):
    """Key/value facts about the database: demo flag, seed parameters, data version counter."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))
