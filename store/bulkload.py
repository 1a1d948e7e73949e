"""Bulk loading of generated volumes (demo data, benchmarks): column arrays in, rows stored exactly as
the ORM would store them, several times faster than `session.execute(insert(...), dicts)`.

`load(session, model, columns, n)` takes one array (or list, or one constant) per column and converts
each column once per chunk, vectorised where the type allows:
- timestamps (UTCDateTime): epoch seconds as floats (NaN = NULL) or numpy datetime64 (NaT = NULL)
  become UTC text the database parses itself — naive "YYYY-MM-DD HH:MM:SS.ffffff" as SQLAlchemy's
  SQLite DATETIME stores it, with "+00:00" for PostgreSQL's timestamptz; repeated instants (hourly
  series) are formatted once each. Python datetimes go through the column type's own bind processor.
- numbers: float NaN = NULL; JSON: the dialect's serializer (SQL NULL for None);
- anything else: the column type's bind processor, memoised per distinct value.

SQLite runs the INSERT SQLAlchemy compiles from the table through the driver's executemany;
PostgreSQL loads with COPY (psycopg 3, statement composed from identifiers by psycopg.sql), which is
several times faster than executemany. No SQL text is written by hand here.

`drop_indexes_if_empty` / `create_indexes` drop a still-empty table's secondary indexes before a big
load and build them afterwards (one sort beats millions of random B-tree inserts); `analyze` refreshes
the planner statistics; `vacuum_analyze` does so after a big import (PostgreSQL: VACUUM (ANALYZE));
`fix_sequence` moves a PostgreSQL serial past explicit ids. Partitioned tables (store.partitions) load
like any other: PostgreSQL routes each row of the COPY to its month.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Table, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from store import data_version

# Rows converted and sent at a time. Each chunk becomes Python lists (≈40 B a value) before the driver sees
# it, so this bounds the loader's own memory; a larger chunk saves nothing measurable per statement.
CHUNK = 25_000


def _table(model) -> Table:  # noqa: ANN001
    return model if isinstance(model, Table) else model.__table__


def _is_time(coltype) -> bool:  # noqa: ANN001
    impl = coltype.impl if isinstance(coltype, TypeDecorator) else coltype
    return isinstance(impl, DateTime)


def utc_text(values: np.ndarray, with_zone: bool) -> np.ndarray:
    """Epoch seconds (float, NaN = none) or datetime64 (NaT = none), taken as UTC → timestamp text as
    stored: "YYYY-MM-DD HH:MM:SS.ffffff" (SQLite, naive UTC) or with "+00:00" (PostgreSQL). Object array,
    None where missing. Each distinct instant is formatted once."""
    a = np.asarray(values)
    if a.dtype.kind == "M":
        us = a.astype("datetime64[us]").astype("int64")
        ok = ~np.isnat(a)
    else:
        a = a.astype(float)
        ok = ~np.isnan(a)
        us = np.zeros(a.shape, dtype="int64")
        us[ok] = np.round(a[ok] * 1e6).astype("int64")
    out = np.full(a.shape, None, dtype=object)
    if not ok.any():
        return out
    uniq, inverse = np.unique(us[ok], return_inverse=True)
    text = np.char.replace(np.datetime_as_string(uniq.astype("datetime64[us]"), unit="us"), "T", " ")
    if with_zone:
        text = np.char.add(text, "+00:00")
    out[ok] = text.astype(object)[inverse]
    return out


class _Converter:
    """Per column: turns a chunk of values into a list of what the driver receives."""

    def __init__(self, table: Table, key: str, dialect) -> None:  # noqa: ANN001
        self.coltype = table.c[key].type
        self.dialect = dialect
        self.time = _is_time(self.coltype)
        self.json = isinstance(self.coltype, JSON)
        self.dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        self.proc = self.coltype._cached_bind_processor(dialect)
        # Strings and numbers go to the driver as they are (both drivers take Python str/int/float/bool;
        # the types' processors, where there are any, only coerce those); the rest goes through the type.
        self.plain = self.proc is None or (not self.time and isinstance(self.coltype, (String, Integer, Float, Boolean)))
        self.memo: dict = {}

    def __call__(self, v) -> list:  # noqa: ANN001
        if isinstance(v, np.ndarray) and v.dtype.kind in "fM" and self.time:
            return utc_text(v, with_zone=self.dialect.name != "sqlite").tolist()
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            bad = np.isnan(v)
            if bad.any():
                out = v.astype(object)
                out[bad] = None
                return out.tolist()
            return v.tolist()
        if isinstance(v, np.ndarray) and v.dtype.kind in "iub":
            return v.tolist()
        values = v.tolist() if isinstance(v, np.ndarray) else list(v)
        if self.json:
            return [None if x is None else self.dumps(x) for x in values]
        if self.plain:
            return values
        return [self._process(x) for x in values]

    def _process(self, x):  # noqa: ANN001, ANN202
        if x is None:
            return None
        try:
            out = self.memo.get(x)
        except TypeError:  # unhashable
            return self.proc(x)
        if out is None:
            out = self.memo[x] = self.proc(x)
        return out


def load(session: Session, model, columns: Mapping[str, Any], n: int, chunk: int = CHUNK) -> int:  # noqa: ANN001
    """Insert `n` rows given column-wise (arrays or lists of length n, or one constant for every row) in
    the session's transaction. A column that is entirely None in a chunk is left out, so it takes its
    SQL default. Returns the number of rows written."""
    table = _table(model)
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"bulk load not implemented for {dialect.name}")
    data_version.note_write(session, table)  # written past the ORM, so the session cannot see it by itself
    converters = {k: _Converter(table, k, dialect) for k in columns}
    statements: dict[tuple, tuple] = {}
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        keys, cols = [], []
        for k, values in columns.items():
            if values is None:
                continue
            if isinstance(values, (str, int, float, bool, np.generic)):
                cols.append([values.item() if isinstance(values, np.generic) else values] * (stop - start))
            else:
                v = converters[k](values[start:stop])
                if all(x is None for x in v):
                    continue
                cols.append(v)
            keys.append(k)
        if dialect.name == "sqlite":
            if tuple(keys) not in statements:
                compiled = insert(table).compile(dialect=dialect, column_keys=keys)
                statements[tuple(keys)] = (compiled.string, [keys.index(name) for name in compiled.positiontup])
            sql, order = statements[tuple(keys)]
            conn.exec_driver_sql(sql, list(zip(*[cols[i] for i in order])))
        else:
            from psycopg import sql as psql

            statement = psql.SQL("COPY {} ({}) FROM STDIN").format(
                psql.Identifier(table.name), psql.SQL(", ").join(psql.Identifier(k) for k in keys))
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in zip(*cols):
                    copy.write_row(row)
    return n


# While a `held_indexes()` block is open (the seeding of several cities, one after the other): the tables
# whose indexes were dropped, with those indexes. Later loads into them add rows without indexes, and
# `create_indexes` leaves them to `create_held` at the end of the block.
_held: dict[str, list] | None = None


def drop_indexes_if_empty(session: Session, models: tuple) -> list:
    """Drop the secondary indexes of still-empty tables for the bulk load (sorting once afterwards beats
    millions of random B-tree inserts); `create_indexes` builds them again. Both run inside the caller's
    transaction, so a failed load leaves the schema as it was. Unique constraints stay (they are part of
    the table). Inside `held_indexes()`, tables dropped by an earlier load stay without indexes."""
    conn = session.connection()
    tables = [_table(m) for m in models]
    if _held is not None and all(t.name in _held for t in tables):
        return []
    if any(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables):
        return []
    indexes = [idx for t in tables for idx in t.indexes]
    for idx in indexes:
        idx.drop(conn)
    if _held is not None:
        for t in tables:
            _held[t.name] = list(t.indexes)
    return indexes


def create_indexes(session: Session, indexes: list) -> None:
    conn = session.connection()
    held = {id(i) for group in (_held or {}).values() for i in group}
    for idx in indexes:
        if id(idx) not in held:
            idx.create(conn)


@contextmanager
def held_indexes() -> Iterator[None]:
    """Keep the indexes a bulk load drops dropped until the block's end (`create_held` builds them, in the
    caller's last transaction): the second and later cities of a generated province then load as fast as
    the first. Not for the app's own imports: other sessions would see tables without their indexes."""
    global _held
    if _held is not None:
        raise RuntimeError("held_indexes() blocks do not nest")
    _held = {}
    try:
        yield
    finally:
        _held = None


def create_held(session: Session) -> int:
    """Build every index held since `held_indexes()` began; returns how many."""
    conn = session.connection()
    made = 0
    for name in list(_held or {}):
        for idx in _held.pop(name):
            idx.create(conn)
            made += 1
    return made


def analyze(session: Session, models: tuple) -> None:
    """Refresh the planner's statistics after a bulk load (without them SQLite cannot tell a one-value
    column like city_code from a selective one)."""
    conn = session.connection()
    quote = conn.dialect.identifier_preparer.quote
    for m in models:
        conn.exec_driver_sql(f"ANALYZE {quote(_table(m).name)}")  # table names from our own metadata


def vacuum_analyze(engine, models: tuple) -> None:  # noqa: ANN001 - an Engine
    """After a big import, in its own connection outside any transaction. PostgreSQL: `VACUUM (ANALYZE)` of
    the tables (fresh planner statistics at once, and the visibility map that index-only scans need, instead
    of whenever autovacuum gets round to it; a partitioned table is done partition by partition). SQLite:
    `PRAGMA optimize`, which analyses the tables whose statistics the writes made stale."""
    names = [_table(m).name for m in models]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            quote = conn.dialect.identifier_preparer.quote
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(quote(n) for n in names)}")  # our own table names
    elif engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA optimize")


def fix_sequence(session: Session, model) -> None:  # noqa: ANN001
    """PostgreSQL: explicit ids do not advance the serial sequence; move it past the largest id."""
    if session.get_bind().dialect.name != "postgresql":
        return
    table = _table(model)
    session.execute(select(func.setval(func.pg_get_serial_sequence(table.name, "id"),
                                       select(func.coalesce(func.max(table.c.id), 1)).scalar_subquery())))
