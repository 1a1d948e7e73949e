"""Audit retention: `manage.py audit archive` moves audit rows older than `[audit].retention_days`
(at least 180: the Cybersecurity Law asks for six months) into a compressed JSON-lines file, then
deletes them — all or nothing.

1. Export (read-only transaction, no write lock): every row before the cutoff, by id, to
   `<archive_dir>/audit-<cutoff>-<first id>-<last id>.jsonl.gz`, written to a temporary name and
   renamed when complete; its SHA-256 is computed from the file on disk.
2. One write transaction: an audit_archives row (cutoff, row count, id range, file, SHA-256), the
   deletion — which the database guard (auth/audit_guard.py) allows only below that recorded cutoff
   and never for rows younger than 180 days — and an `audit_archive` audit row saying what was done.
   If the deletion does not remove exactly the rows exported, the transaction rolls back.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, select

import settings
from auth import audit, throttle
from auth.audit_guard import MIN_RETENTION_DAYS
from store.db import session_scope
from store.models import AuditEntry, utcnow
from store.models.security import AuditArchive

BATCH = 5000


class ArchiveError(ValueError):
    """The archive cannot be made (Chinese message); nothing was deleted."""


@dataclass(frozen=True)
class ArchiveResult:
    rows: int
    cutoff: datetime
    file: Path | None
    sha256: str | None


def _cfg() -> dict:
    return settings.get_settings().get("audit", {})


def retention_days(value: int | None = None) -> int:
    days = int(value if value is not None else _cfg().get("retention_days", MIN_RETENTION_DAYS))
    if days < MIN_RETENTION_DAYS:
        raise ArchiveError(f"审计日志保存期不能少于 {MIN_RETENTION_DAYS} 天（《网络安全法》要求至少六个月），当前设置为 {days} 天")
    return days


def archive_dir(value: str | Path | None = None) -> Path:
    path = Path(value or _cfg().get("archive_dir", "data/audit-archive"))
    return path if path.is_absolute() else settings.ROOT / path


def row_dict(row: AuditEntry) -> dict:
    return {"id": row.id, "at": row.at.isoformat(), "actor": row.actor, "actor_role": row.actor_role,
            "action": row.action, "object_type": row.object_type, "object_id": row.object_id,
            "scope": row.scope, "client": row.client, "detail": row.detail}


def _export(engine: Engine, cutoff: datetime,
            folder: Path) -> tuple[int, int | None, int | None, Path | None, str | None]:
    with session_scope(engine, readonly=True) as s:
        count, first, last = s.execute(
            select(func.count(), func.min(AuditEntry.id), func.max(AuditEntry.id)).where(AuditEntry.at < cutoff)
        ).one()
    if not count:
        return 0, None, None, None, None
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"audit-{cutoff:%Y%m%dT%H%M%SZ}-{first}-{last}.jsonl.gz"
    if target.exists():
        raise ArchiveError(f"归档文件 {target} 已存在，请核对后再试")
    partial = target.with_name(target.name + ".part")
    written = 0
    after = first - 1
    with gzip.open(partial, "wt", encoding="utf-8") as fh:
        while True:
            with session_scope(engine, readonly=True) as s:
                rows = s.execute(select(AuditEntry).where(AuditEntry.at < cutoff, AuditEntry.id > after,
                                                          AuditEntry.id <= last)
                                 .order_by(AuditEntry.id).limit(BATCH)).scalars().all()
                lines = [json.dumps(row_dict(r), ensure_ascii=False, sort_keys=True) for r in rows]
            if not rows:
                break
            fh.write("\n".join(lines) + "\n")
            written += len(rows)
            after = rows[-1].id
        fh.flush()
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
        digest = hashlib.sha256(fh.read()).hexdigest()
    os.replace(partial, target)
    return written, first, last, target, digest


def archive(engine: Engine, *, actor: str, now: datetime | None = None, days: int | None = None,
            directory: str | Path | None = None) -> ArchiveResult:
    """Archive and delete the audit rows older than the retention period. Raises ArchiveError."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days(days))
    # Closed windows of refused sign-ins become audit rows first, so nothing is left uncounted.
    with session_scope(engine) as s:
        throttle.flush_blocked(s, now)
    rows, first, last, path, digest = _export(engine, cutoff, archive_dir(directory))
    if not rows:
        return ArchiveResult(0, cutoff, None, None)
    try:
        with session_scope(engine) as s:
            s.add(AuditArchive(at=now, actor=actor[:50], archived_before=cutoff, rows=rows, first_id=first,
                               last_id=last, file=str(path)[:500], sha256=digest))
            s.flush()
            deleted = s.execute(delete(AuditEntry).where(AuditEntry.at < cutoff, AuditEntry.id >= first,
                                                         AuditEntry.id <= last)
                                .execution_options(synchronize_session=False)).rowcount
            if deleted != rows:
                raise ArchiveError(f"删除的审计记录数（{deleted}）与已归档数（{rows}）不一致，已全部撤销")
            audit.record(s, actor, "audit_archive", object_type="audit_log", object_id=f"{first}-{last}",
                         detail={"rows": rows, "archived_before": cutoff.isoformat(), "file": str(path),
                                 "sha256": digest, "retention_days": (now - cutoff).days})
    except Exception:
        path.unlink(missing_ok=True)  # nothing deleted: the file must not pass for an archive
        raise
    return ArchiveResult(rows, cutoff, path, digest)


def read_archive(path: str | Path) -> list[dict]:
    """The rows of an archive file (for checks and for restoring into an analysis database)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
