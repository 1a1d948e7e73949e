"""Emergency resources, inventories, incidents and dispatches."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint, CheckConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow


class Resource(RegionKeyed, Base):
    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # 综合救援队 / 消防站 / 排涝抢险队 / 医疗救护 / 物资储备库 / 应急避难场所 / 危化品处置队 / 车辆 ...
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(100))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    # available / dispatched / en_route / on_site / returning / out_of_service
    status: Mapped[str] = mapped_column(String(20), index=True, default="available")
    headcount: Mapped[int | None] = mapped_column(Integer)
    capacity: Mapped[int | None] = mapped_column(Integer)  # shelters: persons
    occupancy: Mapped[int | None] = mapped_column(Integer)
    equipment: Mapped[dict | None] = mapped_column(JSON)
    # Shelters: usable area; capacity = area / [emergency].shelter_m2_per_person when not given.
    area_m2: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class InventoryItem(Base):
    __tablename__ = "inventory"
    __table_args__ = (
        UniqueConstraint("resource_id", "item", name="uq_inventory_resource_item"),
        CheckConstraint("quantity >= 0", name="quantity_nonneg"),
        CheckConstraint("reserved >= 0 AND reserved <= quantity", name="reserved_bounds"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(40))  # 沙袋 / 帐篷 / 救生衣 / 饮用水 ...
    unit: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class Incident(RegionKeyed, Base):
    __tablename__ = "incidents"
    # One alert / one grid event opens at most one incident, even when two commanders click at once
    # (NULLs do not collide on either backend).
    __table_args__ = (
        UniqueConstraint("source_event_id", name="uq_incidents_source_event_id"),
        UniqueConstraint("source_alert_id", name="uq_incidents_source_alert_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(20), index=True)  # 内涝 / 火灾 / 危化品泄漏 / 地质灾害 / 台风 / 公共卫生
    level: Mapped[str] = mapped_column(String(4))  # I / II / III / IV
    title: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), index=True, default="open")  # open / responding / closed
    commander: Mapped[str | None] = mapped_column(String(50))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    source_alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)


class Dispatch(Base):
    """One resource or one stock reservation sent to an incident."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"), index=True)
    # Stock reservations point at the exact inventory row; units leave these three empty.
    inventory_id: Mapped[int | None] = mapped_column(ForeignKey("inventory.id"), index=True)
    item: Mapped[str | None] = mapped_column(String(40))  # stock item, None for a unit
    unit: Mapped[str | None] = mapped_column(String(10))
    quantity: Mapped[int | None] = mapped_column(Integer)
    used: Mapped[int | None] = mapped_column(Integer)  # stock consumed, set on release
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)  # active / released
    distance_km: Mapped[float | None] = mapped_column(Float)
    eta_minutes: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncidentLog(Base):
    __tablename__ = "incident_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20), default="note")  # note / open / level / dispatch / status / release / close
    message: Mapped[str] = mapped_column(Text)
