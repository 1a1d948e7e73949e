"""Cities of this deployment and what varies per city, and the offline basemap built from the cities'
own base layers (roads, water, buildings, place names).

A deployment holds one city or several (a province's cities under their province region). What used
to be one `[city]` section in config.toml is a row here per city; config.toml names only the default
city (the one screens and commands use when none is named) and the values its demo row is seeded with.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime, utcnow


class City(Base):
    __tablename__ = "cities"

    code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)  # XXXX00
    name: Mapped[str] = mapped_column(String(100))
    province_code: Mapped[str] = mapped_column(String(6), index=True)  # XX0000
    center_lon: Mapped[float] = mapped_column(Float)
    center_lat: Mapped[float] = mapped_column(Float)
    # Resident population (None: the sum of the regions' own figures, where they have them).
    population: Mapped[int | None] = mapped_column(Integer)
    # Dispatch routing rules file (events/routing.py format); None = [events].routing_file.
    routing_file: Mapped[str | None] = mapped_column(String(300))
    # Working calendar for ordinary-case deadlines, JSON {"holidays": [...], "workdays": [...]} of ISO
    # dates; None = [workday] in config.toml.
    calendar: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BasemapFeature(Base):
    """One feature of a city's base layers, as loaded from its GIS office's files (WGS-84)."""

    __tablename__ = "basemap_features"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # roads / water / buildings / places
    name: Mapped[str | None] = mapped_column(String(100))
    klass: Mapped[str | None] = mapped_column(String(40))  # the file's own class (e.g. road grade), if mapped
    geometry: Mapped[str] = mapped_column(Text)  # GeoJSON geometry text, WGS-84
    source: Mapped[str | None] = mapped_column(String(100))


class BasemapTile(Base):
    """The deployment's vector tiles (Mapbox Vector Tile, gzip), built from every city's base layers:
    served at /tiles/{z}/{x}/{y}.pbf (XYZ numbering) to the local MapLibre style."""

    __tablename__ = "basemap_tiles"

    z: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    x: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    y: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
