"""Sensors, their readings, hourly rollup, latest state, quarantine and alerts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from store import partitions
from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow


class Sensor(RegionKeyed, Base):
    __tablename__ = "sensors"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # air / water / noise / hydro / iot
    name: Mapped[str] = mapped_column(String(100))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    # Kind-specific settings: water target class and body type, noise zone, warning levels, iot metric...
    params: Mapped[dict | None] = mapped_column(JSON)
    expected_interval_s: Mapped[int] = mapped_column(Integer, default=3600)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(default=True)


class SensorReading(Base):
    """Raw readings as received. Partitioned by month of `ts` on PostgreSQL (store.partitions), which is why
    the natural key (sensor_id, ts, metric) is the primary key: PostgreSQL wants the partition column in
    every unique key of a partitioned table, and nothing refers to a reading by a surrogate id."""

    __tablename__ = "sensor_readings"
    __table_args__ = (partitions.monthly("ts"),)

    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True, index=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class SensorHourly(RegionKeyed, Base):
    """Hourly means per sensor and metric, kept current on ingest (the indicator engine reads this).

    The biggest table (a city-year is ≈24 M rows), so it has only the two indexes its reads use:
    the unique key (sensor_id, hour, metric) for per-station reads (station detail, alerts, daily
    figures, the ingest upsert) and (metric, hour) for area reads (a district's or the city's hourly
    pollutant means, indicators over a metric). The region columns are not indexed here: every area
    read also names the metric and an hour range, and a single-column region index (≈ a fifth of a
    year's rows for a district, all of them for the city) would only tempt the planner.

    Partitioned by month of `hour` on PostgreSQL (store.partitions); the key (sensor_id, hour, metric) is
    the primary key because PostgreSQL wants the partition column in every unique key of such a table."""

    __tablename__ = "sensor_hourly"
    __table_args__ = (
        Index("ix_sensor_hourly_metric_hour", "metric", "hour"),
        partitions.monthly("hour"),
    )

    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    vmin: Mapped[float | None] = mapped_column(Float)
    vmax: Mapped[float | None] = mapped_column(Float)
    # Decibel metrics only (noise Leq): sum of 10^(L/10), so the hourly Leq is the energy mean
    # 10·log10(etotal / n); an arithmetic mean of decibels would understate loud periods.
    etotal: Mapped[float | None] = mapped_column(Float)
    # RegionKeyed's columns, without its per-column indexes (see above).
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    street_code: Mapped[str | None] = mapped_column(String(9))
    community_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15))


class SensorDaily(RegionKeyed, Base):
    """Daily assessed figures per sensor (e.g. daily AQI with its edition), computed from hourly data."""

    __tablename__ = "sensor_daily"
    __table_args__ = (
        UniqueConstraint("sensor_id", "day", "metric", name="uq_sensor_daily_key"),
        # Indicators read one metric (AQI, PM2.5, Leq_day …) over a month: a day index alone walked every
        # metric of every station on those days. With district and value in it, a month of a metric by
        # district is read from the index alone (city scale: 8.3 → 0.8 ms, DuckDB over Parquet 2.1 ms).
        # On PostgreSQL the scope's other columns ride along (INCLUDE), so a city's month of a metric (the air
        # tiles' 90th percentile) is read from the index alone too.
        Index("ix_sensor_daily_metric_day", "metric", "day", "district_code", "value",
              postgresql_include=["kind", "city_code", "limit_value", "sensor_id"]),
        # A district's month of a metric (its air, water and noise tiles): through the index above a district
        # read the whole city's entries of those metrics (city scale: 37 → 27 ms for a district's air tiles).
        Index("ix_sensor_daily_district_metric_day", "district_code", "metric", "day",
              postgresql_include=["kind", "city_code", "value", "limit_value", "sensor_id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # local midnight, stored in UTC
    metric: Mapped[str] = mapped_column(String(20))  # e.g. AQI, PM2.5, water_class_rank, noise_day
    value: Mapped[float | None] = mapped_column(Float)
    edition: Mapped[str | None] = mapped_column(String(20))
    # The limit the day's value was assessed against, where its standard sets one (noise: the station's
    # functional zone's Leq limit for day or night, GB 3096). A column, not only in `detail`: the 达标率
    # indicators compare it row by row, and JSON is read from the table (on PostgreSQL not from the index).
    limit_value: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict | None] = mapped_column(JSON)


class SensorLatest(Base):
    __tablename__ = "sensor_latest"

    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float] = mapped_column(Float)


class QuarantinedReading(Base):
    """Input the ingester could not accept, kept with the reason (never dropped silently)."""

    __tablename__ = "quarantined_readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(20))  # mqtt / csv
    topic: Mapped[str | None] = mapped_column(String(200))
    sensor_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)


class Alert(RegionKeyed, Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_rule_sensor_status", "rule_id", "sensor_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(60))
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), index=True)
    severity: Mapped[str] = mapped_column(String(10))  # 一般 / 较重 / 严重
    status: Mapped[str] = mapped_column(String(10), index=True)  # open / closed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    incident_id: Mapped[int | None] = mapped_column(Integer)
    # "<rule_id>|<sensor_id>" while open, NULL once closed: a UNIQUE column that makes "one open alert
    # per sensor and rule" hold even with two ingesters racing (NULLs never collide on either backend).
    open_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    rule_name: Mapped[str | None] = mapped_column(String(100))
    last_breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_message: Mapped[str | None] = mapped_column(Text)
    # Severe alerts propose an emergency incident; the emergency module reads these and decides.
    # proposal = {"incident_type": "大气污染", "level": "IV", "title": ..., "lon": .., "lat": ..,
    #             "reason": ..., "rule_id": ..., "sensor_id": ...}; proposal_status = proposed / accepted /
    # dismissed (the emergency module sets accepted + incident_id, or dismissed).
    proposal: Mapped[dict | None] = mapped_column(JSON)
    proposal_status: Mapped[str | None] = mapped_column(String(12), index=True)


class SensorAreaDaily(Base):
    """Daily assessed figures per district and city: the area's hourly concentrations are the mean of
    its stations' hourly means, then assessed like one station (HJ 663 城市点位平均). Kept current on ingest."""

    __tablename__ = "sensor_area_daily"
    __table_args__ = (
        UniqueConstraint("region_code", "day", "metric", name="uq_sensor_area_daily_key"),
        Index("ix_sensor_area_daily_metric_day", "metric", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(15), index=True)
    level: Mapped[str] = mapped_column(String(10))  # city / district
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # local midnight, stored in UTC
    metric: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float)
    edition: Mapped[str | None] = mapped_column(String(20))
    stations: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict | None] = mapped_column(JSON)


class IngestStatus(Base):
    """Counters of a running ingester (one row per client id), updated with every batch, for the status display."""

    __tablename__ = "ingest_status"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    connected: Mapped[bool] = mapped_column(default=False)
    counters: Mapped[dict | None] = mapped_column(JSON)


# create_all on PostgreSQL (tests, tools) gets the partitions the migration makes (store.partitions).
event.listen(Base.metadata, "after_create", partitions.after_create)
