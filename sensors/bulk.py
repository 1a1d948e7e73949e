"""Fast bulk INSERT for generated volumes (demo data, benchmarks).

The statement is compiled by SQLAlchemy from `insert(table)` for the session's dialect (no SQL is
written by hand); values go through each column type's own bind processor (so UTC timestamps are
stored exactly as the ORM stores them) and then straight to the driver's executemany. That skips the
per-row dict handling of `session.execute(insert(...), dicts)`, which dominates at millions of rows.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

CHUNK = 50_000


def bulk_insert(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert tuples (ordered as `columns`) in the session's transaction. Returns rows inserted."""
    conn = session.connection()
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    procs = [table.c[c].type._cached_bind_processor(dialect) for c in columns]
    sql = str(compiled)
    positional = compiled.positional
    order = [list(columns).index(k) for k in compiled.positiontup] if positional else None
    total = 0
    batch: list = []

    def flush() -> None:
        nonlocal batch
        if batch:
            conn.exec_driver_sql(sql, batch)
            batch = []

    # Memoised per column: generated data repeats the same few thousand timestamps millions of times.
    memo: list[dict] = [{} for _ in columns]

    def convert(j: int, v):  # noqa: ANN001, ANN202
        if v is None or procs[j] is None:
            return v
        if isinstance(v, (dict, list)):  # JSON values: not hashable, rarely repeated
            return procs[j](v)
        cache = memo[j]
        out = cache.get(v)
        if out is None:
            out = cache[v] = procs[j](v)
        return out

    idx = range(len(columns))
    for row in rows:
        vals = [convert(j, row[j]) for j in idx]
        batch.append(tuple(vals[i] for i in order) if positional else dict(zip(columns, vals)))
        total += 1
        if len(batch) >= CHUNK:
            flush()
    flush()
    return total
