"""A period's snapshot for platforms that take batches of files (共享交换平台 挂接): `manage.py exchange
snapshot --period 2026-11` (monthly from cron or a systemd timer).

Into `<[exchange].snapshot_dir>/<period>/` it writes
- cases.jsonl: the cases reported in the period, one JSON object per line, named as upward
  (exchange.upper: 案件编号、问题来源、大类/小类、区划代码、坐标、各环节时间、处置部门、结果), no personal data;
- regions.jsonl: the region hierarchy (code, parent, name, level, population, area; no boundaries);
- indicators.jsonl: every library indicator for the city and each district, value and status;
- manifest.json: period, time made, and per file its rows, bytes and SHA-256 — written last.
JSON Lines rather than CSV: a value can never be taken for a spreadsheet formula. Every file is written
to a temporary file in the same directory, flushed to disk and moved into place with os.replace, so a
reader sees the old file or the new one, never half of one; a manifest present means a whole snapshot.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, select

import settings
from exchange import upper
from indicators import compute_children_many, compute_many, load_library
from store.db import session_scope
from store.models import Department, Event, Region
from store.outbox import snapshot as row_snapshot
from store.period import Period
from store.scope import Viewer

SNAPSHOT_ACTOR = "system:exchange-snapshot"


@dataclass
class SnapshotReport:
    directory: Path
    files: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        parts = "、".join(f"{name} {info['rows']} 行" for name, info in self.files.items())
        return f"已写出 {self.directory}：{parts}"


def write_atomically(path: Path, lines) -> dict:  # noqa: ANN001 - an iterable of JSON-ready objects
    """Write JSON Lines to `path` through a temporary file and os.replace; rows, bytes and SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, rows, size = hashlib.sha256(), 0, 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for obj in lines:
                data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
                fh.write(data)
                digest.update(data)
                rows += 1
                size += len(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"rows": rows, "bytes": size, "sha256": digest.hexdigest()}


def _cases(engine: Engine, period: Period, system_id: str):  # noqa: ANN202
    start, end = period.utc_bounds()
    with session_scope(engine, readonly=True) as s:
        departments = dict(s.execute(select(Department.code, Department.name)).all())
        stmt = select(Event).where(Event.reported_at >= start, Event.reported_at < end).order_by(Event.id)
        for event in s.scalars(stmt.execution_options(yield_per=2000)):
            body = upper.case_body(row_snapshot(event), departments, [])
            body.pop("step", None)
            yield {"sourceSystem": system_id, **body}


def _regions(engine: Engine, city: str):  # noqa: ANN202
    with session_scope(engine, readonly=True) as s:
        rows = s.execute(select(Region.code, Region.parent_code, Region.name, Region.level, Region.population,
                                Region.area_km2).where(Region.city_code == city).order_by(Region.code)).all()
    for r in rows:
        yield {"regionCode": r.code, "parentCode": r.parent_code, "name": r.name, "level": r.level,
               "population": r.population, "areaKm2": r.area_km2}


def _indicators(engine: Engine, period: Period, city: str):  # noqa: ANN202
    library = load_library()
    viewer = Viewer(SNAPSHOT_ACTOR, "leader", city)
    ids = list(library)
    for ind_id, res in compute_many(ids, city, period, viewer, engine=engine).items():
        ind = library[ind_id]
        yield {"indicatorId": ind_id, "name": ind.name, "unit": ind.unit, "regionCode": city, "level": "city",
               "period": period.key, "value": res.value, "status": res.status}
    children = compute_children_many(ids, city, period, viewer, engine=engine)
    for row in children.itertuples(index=False):
        ind = library[row.indicator_id]
        yield {"indicatorId": row.indicator_id, "name": ind.name, "unit": ind.unit, "regionCode": row.region_code,
               "regionName": row.region_name, "level": "district", "period": period.key,
               "value": None if row.value is None else float(row.value), "status": row.status}


def export(engine: Engine, period: Period, out_dir: Path, *, system_id: str | None = None,
           now: datetime | None = None) -> SnapshotReport:
    city = str(settings.get_settings()["city"]["code"])
    system_id = system_id or city
    directory = out_dir / period.key
    report = SnapshotReport(directory)
    # The manifest marks a whole snapshot: gone while the files are being replaced, written back last.
    (directory / "manifest.json").unlink(missing_ok=True)
    report.files["cases.jsonl"] = write_atomically(directory / "cases.jsonl", _cases(engine, period, system_id))
    report.files["regions.jsonl"] = write_atomically(directory / "regions.jsonl", _regions(engine, city))
    report.files["indicators.jsonl"] = write_atomically(directory / "indicators.jsonl",
                                                        _indicators(engine, period, city))
    manifest = {"sourceSystem": system_id, "period": period.key, "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "generatedAt": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
                "files": report.files}
    text = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    fd, tmp = tempfile.mkstemp(prefix=".manifest.json.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "wb") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / "manifest.json")
    return report
