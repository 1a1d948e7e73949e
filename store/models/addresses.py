"""The standard address base (标准地址库): one row per door plate or building, located to its grid.

Rows come from `manage.py import-addresses` (geo/addresses.py) or, on the demo database, from the
generator (geo/demo_addresses.py, source "演示数据"). The geocoder (geo/geocode.py) matches free-text
addresses against them in memory; `geo.addresses.address_version` tells cached indexes to rebuild.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow


class StandardAddress(RegionKeyed, Base):
    __tablename__ = "standard_addresses"
    __table_args__ = (
        Index("ix_standard_addresses_city_road", "city_code", "road"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The administrative names as the source wrote them (the codes above come from the location).
    district_name: Mapped[str | None] = mapped_column(String(50))
    street_name: Mapped[str | None] = mapped_column(String(50))      # 街道 / 镇
    community_name: Mapped[str | None] = mapped_column(String(50))   # 社区 / 村
    road: Mapped[str | None] = mapped_column(String(60))             # 道路 / 街巷
    house_number: Mapped[str | None] = mapped_column(String(20))     # 门牌号, without 号 ("12", "12-1")
    compound: Mapped[str | None] = mapped_column(String(60))         # 小区 / 大院
    building: Mapped[str | None] = mapped_column(String(20))         # 楼栋, without 栋 ("3")
    full_text: Mapped[str] = mapped_column(String(200))              # the standard address as one text
    lon: Mapped[float] = mapped_column(Float)  # WGS-84
    lat: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(100))                 # file name, or 演示数据
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
