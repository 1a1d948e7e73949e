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
from sensors.readings_import import ReadingsImportResult, import_readings
from sensors.registry import SensorImportResult, import_sensors, load_index
from store.db import session_scope
from store.scope import PermissionDenied, Viewer

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
    with session_scope(engine, readonly=check_only) as session:
        res = import_readings(session, src, assume_tz=assume_tz, name=name, check_only=check_only,
                              progress=progress)
    if check_only or not res.result.stored:
        return ReadingFileOutcome(res)
    with session_scope(engine) as session:
        opened, closed = evaluate_sensors(session, set(res.result.touched_hours), load_index(session),
                                          datetime.now(timezone.utc))
    return ReadingFileOutcome(res, opened, closed)
