"""Planner hints that travel inside portable SQLAlchemy expressions."""
from __future__ import annotations

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class rare(FunctionElement):  # noqa: N801 - SQL function style
    """A condition true for few rows (open cases among a city's whole history). SQLite has no value
    histograms and assumes status values are evenly spread, so it would read a district's every case
    (or the whole table in group order) instead of the few open ones; likelihood() tells it the truth.
    PostgreSQL keeps real statistics: there it is the plain condition."""

    # No Boolean type on purpose: SQLite would then render "likelihood(…) = 1", which hides the
    # condition from the planner.
    name = "rare"
    inherit_cache = True


@compiles(rare)
def _rare_default(element, compiler, **kw):  # noqa: ANN001, ANN202
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(rare, "sqlite")
def _rare_sqlite(element, compiler, **kw):  # noqa: ANN001, ANN202
    return f"likelihood({compiler.process(list(element.clauses)[0], **kw)}, 0.01)"
