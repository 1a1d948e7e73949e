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

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from sensors.ingest import ingest
from sensors.readings import Reading, Rejected, check_value, parse_timestamp
from sensors.registry import SensorIndex, load_index
from sensors.tabular import ImportFailed, RowError, read_rows
from sensors.writer import WriteResult

ALIASES = {"传感器编号": "sensor_id", "编号": "sensor_id", "站点编号": "sensor_id", "时间": "ts", "监测时间": "ts",
           "指标": "metric", "监测项目": "metric", "数值": "value", "浓度": "value", "sensor": "sensor_id",
           "timestamp": "ts", "time": "ts"}


@dataclass
class ReadingsImportResult:
    layout: str
    rows: int
    result: WriteResult


def _ts(text: str, assume: ZoneInfo | None, now: datetime, tolerance: float) -> datetime:
    text = (text or "").strip().replace("/", "-")
    if assume is not None:
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            raise Rejected("bad_timestamp", text[:40]) from None
        if naive.tzinfo is None:
            text = naive.replace(tzinfo=assume).isoformat()
    return parse_timestamp(text, now, tolerance)


def parse_file(path: str | Path, index: SensorIndex, *, assume_tz: str | None = None,
               now: datetime | None = None, future_tolerance_s: float = 300) -> tuple[str, int, list[Reading]]:
    """(layout, data rows, readings), or ImportFailed listing every bad row."""
    now = now or datetime.now(timezone.utc)
    try:
        assume = ZoneInfo(assume_tz) if assume_tz else None
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportFailed([RowError(0, f"未知时区 {assume_tz!r}，例如 Asia/Shanghai")], what="读数导入") from None
    header, rows = read_rows(path, ALIASES)
    errors: list[RowError] = []
    missing = [c for c in ("sensor_id", "ts") if c not in header]
    if missing:
        raise ImportFailed([RowError(1, f"缺少列：{'、'.join(missing)}（需要 sensor_id、ts）")], what="读数导入")
    long = "metric" in header and "value" in header
    metric_cols = [h for h in header if h and h not in ("sensor_id", "ts", "metric", "value")]
    if not long and not metric_cols:
        raise ImportFailed([RowError(1, "表头应为 sensor_id,ts,metric,value（长表）或 sensor_id,ts,<指标>…（宽表）")],
                           what="读数导入")
    readings: list[Reading] = []
    seen: dict[tuple, int] = {}
    for line, raw in rows:
        sid = (raw.get("sensor_id") or "").strip()
        try:
            ts = _ts(raw.get("ts", ""), assume, now, future_tolerance_s)
        except Rejected as rej:
            errors.append(RowError(line, rej.message + ("（可用 --assume-tz 指定时区）" if rej.code == "naive_timestamp" else "")))
            continue
        pairs = [(raw.get("metric", "").strip(), raw.get("value", "").strip())] if long else \
            [(m, raw.get(m, "").strip()) for m in metric_cols if raw.get(m, "").strip() != ""]
        if not pairs:
            errors.append(RowError(line, "该行没有任何数值"))
            continue
        for metric, text in pairs:
            try:
                reading = check_value(index, sid, metric, text, ts)
            except Rejected as rej:
                errors.append(RowError(line, rej.message))
                if rej.code in ("unknown_sensor", "inactive_sensor"):
                    break
                continue
            key = (reading.sensor_id, reading.ts, reading.metric)
            if key in seen:
                errors.append(RowError(line, f"与第 {seen[key]} 行重复（同一传感器、时间、指标）"))
                continue
            seen[key] = line
            readings.append(reading)
    if not rows:
        errors.append(RowError(0, "文件中没有数据行"))
    if errors:
        raise ImportFailed(errors, what="读数导入")
    return ("long" if long else "wide"), len(rows), readings


def import_readings(session: Session, path: str | Path, *, assume_tz: str | None = None,
                    index: SensorIndex | None = None, now: datetime | None = None,
                    future_tolerance_s: float = 300) -> ReadingsImportResult:
    """Validate the whole file, then store it in the caller's transaction (rollups kept current)."""
    index = index or load_index(session)
    layout, n, readings = parse_file(path, index, assume_tz=assume_tz, now=now, future_tolerance_s=future_tolerance_s)
    return ReadingsImportResult(layout, n, ingest(session, readings, index))
