"""The writes the 数据导入 screen triggers on sensors, one transaction each on the engine: the sensor
registry and batches of readings. Each checks the actor's capability, then checks the whole file
(`check_only`: in a read-only transaction, nothing written) or imports it — every row or none
(TabularError lists every bad row)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine

from auth.roles import can
from sensors.alerts import evaluate_sensors
from sensors.ingest import ingest
from sensors.readings_import import WHAT, ReadingsImportResult, parse_file
from sensors.registry import SensorImportResult, import_sensors, load_index
from sensors.writer import WriteResult
from store.db import session_scope
from store.scope import PermissionDenied, Viewer
from tabular import CellError, TabularError, stages

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReadingFileOutcome:
    imported: ReadingsImportResult
    alerts_opened: int = 0
    alerts_closed: int = 0


def import_sensor_file(engine: Engine, actor: Viewer, src, *, name: str, crs: str = "wgs84",  # noqa: ANN001
                       check_only: bool = False, progress: Progress | None = None) -> SensorImportResult:
    if not can(actor.role, "import_sensors"):
        raise PermissionDenied("您的角色无权导入传感器登记表")
    with session_scope(engine, readonly=check_only) as session:
        return import_sensors(session, engine, src, crs=crs, name=name, check_only=check_only, progress=progress)


def import_reading_file(engine: Engine, actor: Viewer, src, *, name: str,  # noqa: ANN001
                        assume_tz: str | None = None, check_only: bool = False,
                        progress: Progress | None = None) -> ReadingFileOutcome:
    """`assume_tz` (e.g. Asia/Shanghai) is the zone of times written without one. After an import the
    alert rules are evaluated over the hours it touched, in a second transaction (as import-readings
    does): the readings stay stored even if an evaluation fails."""
    if not can(actor.role, "import_readings"):
        raise PermissionDenied("您的角色无权导入监测读数")
    # Read and check with no write transaction open (SQLite has one writer: a big file must not hold
    # the write lock while it is parsed); the write then holds it only to store the checked readings.
    with session_scope(engine, readonly=True) as session:
        index = load_index(session)
    parsing, writing = stages(progress, 2, 0 if check_only else 1)
    layout, rows, readings, read_as = parse_file(src, index, assume_tz=assume_tz, name=name, progress=parsing)
    result = WriteResult()
    if not check_only:
        with session_scope(engine) as session:
            current = load_index(session)
            # What the check relied on may have changed meanwhile (a sensor retired, its ranges edited):
            # then the file is refused whole, as a bad row would have been.
            changed = sorted(sid for sid in {r.sensor_id for r in readings} if current.get(sid) != index.get(sid))
            if changed:
                raise TabularError([CellError(0, f"传感器 {'、'.join(changed[:10])} 的登记信息在检查之后已变更，"
                                                 "整个文件未导入，请重新导入")], WHAT, read_as)
            result = ingest(session, readings, current)
        if writing is not None:
            writing(1, 1)
    res = ReadingsImportResult(layout, rows, result, read_as, len(readings))
    if check_only or not res.result.stored:
        return ReadingFileOutcome(res)
    with session_scope(engine) as session:
        opened, closed = evaluate_sensors(session, set(res.result.touched_hours), load_index(session),
                                          datetime.now(timezone.utc))
    return ReadingFileOutcome(res, opened, closed)
