"""Batch import of readings from CSV/Excel (`python manage.py import-readings FILE`).

Two layouts, recognised from the header:
- long: sensor_id, ts, metric, value            (传感器编号, 时间, 指标, 数值) — one reading per row
- wide: sensor_id, ts, <metric>, <metric>, …     e.g. sensor_id,ts,PM2.5,PM10,NO2 — one row per sensor
        and time; an empty cell means "not measured"
`ts` is ISO 8601 with a zone ("2026-11-25T10:00:00+08:00"). Files whose times carry no zone (Excel
exports usually) need `--assume-tz Asia/Shanghai`; without it such rows are refused, never guessed.

All-or-nothing: every bad row is reported (line and reason, in Chinese) and nothing is written.
Rows already stored (same sensor, time and metric) are counted as duplicates, not errors, so a file can
be imported twice safely.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from sensors.ingest import ingest
from sensors.readings import Reading, Rejected, check_value, parse_timestamp
from sensors.registry import SensorIndex, load_index
from sensors.writer import WriteResult
from tabular import CellError, Column, Contract, DateTime, TabularError, Text, read_table, stages

WHAT = "读数导入"


def contract(assume: ZoneInfo | None) -> Contract:
    """Other columns are kept: in the wide layout they are the metrics. Values stay text here and are
    checked by the same rule as MQTT readings (check_value)."""
    return Contract(WHAT, (
        Column("sensor_id", "传感器编号", Text(), required=True, aliases=("编号", "站点编号", "sensor")),
        Column("ts", "时间", DateTime(assume, hint="可用 --assume-tz 指定时区"), required=True,
               aliases=("监测时间", "timestamp", "time")),
        Column("metric", "指标", aliases=("监测项目",)),
        Column("value", "数值", aliases=("浓度",)),
    ), keep_extra=True)


@dataclass
class ReadingsImportResult:
    layout: str
    rows: int
    result: WriteResult
    file: str = ""  # how the file was read, e.g. "CSV，编码 UTF-8"
    readings: int = 0  # valid readings in the file (a check stores none; an import stores those not already stored)


def parse_file(path: str | Path, index: SensorIndex, *, assume_tz: str | None = None,
               now: datetime | None = None, future_tolerance_s: float = 300,
               name: str | None = None, progress: Callable[[int, int], None] | None = None
               ) -> tuple[str, int, list[Reading], str]:
    """(layout, data rows, readings, how the file was read), or TabularError listing every bad row.
    `progress(done, total)` follows the reading, then the rows checked."""
    now = now or datetime.now(timezone.utc)
    try:
        assume = ZoneInfo(assume_tz) if assume_tz else None
    except (ZoneInfoNotFoundError, ValueError):
        raise TabularError([CellError(0, f"未知时区 {assume_tz!r}，例如 Asia/Shanghai")], WHAT) from None
    on_read, on_check = stages(progress, 1, 1)
    table = read_table(path, contract(assume), name=name, progress=on_read)
    long = "metric" in table.columns and "value" in table.columns
    metric_cols = table.extra_columns
    if not long and not metric_cols:
        table.raise_if_any([CellError(table.header_line, "表头应为 sensor_id,ts,metric,value（长表）"
                                                         "或 sensor_id,ts,<指标>…（宽表）")])
    errors: list[CellError] = []
    readings: list[Reading] = []
    seen: dict[tuple, int] = {}
    for done, row in enumerate(table.rows, start=1):
        if on_check is not None:
            on_check(done, len(table.rows))
        line, sid = row.line, row.get("sensor_id")
        if "sensor_id" in row.bad or "ts" in row.bad:
            continue
        try:
            # The same future rule as MQTT readings (the zone was settled by the column type).
            ts = parse_timestamp(row.values["ts"].isoformat(), now, future_tolerance_s)
        except Rejected as rej:
            errors.append(CellError(line, rej.message, table.contract.label("ts")))
            continue
        pairs = [(row.get("metric", ""), row.get("value", ""))] if long else \
            [(m, row.extra[m]) for m in metric_cols if row.extra.get(m, "") != ""]
        if not pairs:
            errors.append(CellError(line, "该行没有任何数值"))
            continue
        for metric, text in pairs:
            try:
                reading = check_value(index, sid, metric, text, ts)
            except Rejected as rej:
                errors.append(CellError(line, rej.message))
                if rej.code in ("unknown_sensor", "inactive_sensor"):
                    break
                continue
            key = (reading.sensor_id, reading.ts, reading.metric)
            if key in seen:
                errors.append(CellError(line, f"与第 {seen[key]} 行重复（同一传感器、时间、指标）"))
                continue
            seen[key] = line
            readings.append(reading)
    table.raise_if_any(errors)
    return ("long" if long else "wide"), len(table.rows), readings, table.describe()


def import_readings(session: Session, path: str | Path, *, assume_tz: str | None = None,
                    index: SensorIndex | None = None, now: datetime | None = None,
                    future_tolerance_s: float = 300, name: str | None = None, check_only: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> ReadingsImportResult:
    """Validate the whole file, then store it in the caller's transaction (rollups kept current).
    `check_only`: validate only, nothing stored. `progress(done, total)` follows the reading and the rows
    checked, then (importing) steps once when every reading is stored."""
    index = index or load_index(session)
    parsing, writing = stages(progress, 2, 0 if check_only else 1)
    layout, n, readings, read_as = parse_file(path, index, assume_tz=assume_tz, now=now,
                                              future_tolerance_s=future_tolerance_s, name=name, progress=parsing)
    result = WriteResult() if check_only else ingest(session, readings, index)
    if writing is not None:
        writing(1, 1)
    return ReadingsImportResult(layout, n, result, read_as, len(readings))
