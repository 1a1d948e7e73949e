"""Zone scope: who is looking, and the filter that keeps every read inside their zone.

Every read of a fact table starts from a domain read face (`ReadFace.scoped`, below), which applies
`apply_scope` with the viewer; a direct fetch of one object goes through `ensure_visible`. Hiding a page is convenience, this is protection.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import ColumnElement, Select, and_, false, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from store import region_codes
from store.region_codes import is_within
from store.db import read_session



class PermissionDenied(Exception):
    """The viewer may not see or do this. The message is shown to the user (Chinese)."""


@dataclass(frozen=True)
class Viewer:
    username: str
    role: str  # duty_officer / leader / department / grid_officer / admin
    zone_code: str
    department_code: str | None = None
    display_name: str = ""


class routing_key(ColumnElement):  # noqa: N801 - used like a SQL function
    """A column compared for routing, not for the plan: `city_code` (the distribution column on Citus,
    bench/CITUS.md) as written everywhere but on SQLite, where it is `+city_code`. SQLite's unary plus
    keeps the comparison but takes it out of index selection: without ANALYZE statistics (a young
    database) SQLite would otherwise read a grid's rows through the city_code index, i.e. the whole city.
    The comparison is on text with text, which the plus (it drops the column's affinity) leaves alone."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column) -> None:  # noqa: ANN001
        self.column = column
        self.type = column.type


@compiles(routing_key)
def _routing_key(element: routing_key, compiler, **kw) -> str:  # noqa: ANN001
    return compiler.process(element.column, **kw)


@compiles(routing_key, "sqlite")
def _routing_key_sqlite(element: routing_key, compiler, **kw) -> str:  # noqa: ANN001
    return "+" + compiler.process(element.column, **kw)


def in_region(model, code: str):  # noqa: ANN001 - a mapped class with RegionKeyed columns, or a Table's .c
    """SQL condition: row lies inside region `code` (see store.region_codes.inside). Below a city it also
    names the row's city, `city_code = <the region's city>`: on a Citus cluster distributed by city_code
    that one predicate makes every scoped read a router query on one city's shards (bench/CITUS.md,
    tests/test_citus_colocation.py). A province is already a predicate on city_code (its prefix)."""
    condition = region_codes.inside(model, code)
    city = region_codes.ancestor_at(code, "city")
    if city is None or city == code:
        return condition
    return and_(routing_key(model.city_code) == city, condition)


def apply_scope(stmt: Select, model, viewer: Viewer) -> Select:  # noqa: ANN001
    """Restrict a SELECT on a region-keyed model to the viewer's zone (and department, for
    department staff on tables that carry a department)."""
    conditions = [in_region(model, viewer.zone_code)]
    if viewer.role == "department":
        if hasattr(model, "department_code"):
            conditions.append(
                model.department_code == viewer.department_code if viewer.department_code else false()
            )
    return stmt.where(and_(*conditions))


def ensure_visible(viewer: Viewer, obj) -> None:  # noqa: ANN001
    """Raise PermissionDenied when a single fetched object lies outside the viewer's scope."""
    code = getattr(obj, "grid_code", None) or getattr(obj, "community_code", None) \
        or getattr(obj, "street_code", None) or getattr(obj, "district_code", None) \
        or getattr(obj, "city_code", None) or getattr(obj, "code", None)
    if code is None or not is_within(code, viewer.zone_code):
        raise PermissionDenied("无权查看该对象：不在您的管辖范围内")
    if viewer.role == "department" and hasattr(obj, "department_code"):
        # Same rule as apply_scope: a department user without a department sees no cases at all
        # (None == None must not open the undispatched ones).
        if viewer.department_code is None or obj.department_code != viewer.department_code:
            raise PermissionDenied("无权查看该对象：不是派给本部门的案件")


def ensure_region_visible(viewer: Viewer, region_code: str) -> None:
    if not is_within(region_code, viewer.zone_code):
        raise PermissionDenied(f"无权查看区域 {region_code}：不在您的管辖范围内")


class ReadFace:
    """Base of a domain's read face (events.views, sensors.views, …): built once with the session and
    the viewer, and every read starts from `self.scoped(Model)`, a SELECT already restricted to the
    viewer's zone (and department, for department staff). A read that forgets the scope cannot be
    written by accident: there is no unscoped select here to start from.

    Pages open one with `Face.open(engine, viewer)`; domain code that already holds a session builds
    it directly. Public methods are the screens' reads; tests/test_scope_readfaces.py finds each one
    and checks, over random viewers, that nothing outside scope comes back.
    """

    def __init__(self, session, viewer: Viewer) -> None:  # noqa: ANN001 - sqlalchemy Session
        self.session = session
        self.viewer = viewer

    @classmethod
    @contextmanager
    def open(cls, engine, viewer: Viewer, *, fresh: bool = False) -> Iterator:  # noqa: ANN001, ANN206 - an Engine; yields cls
        """A read-only session on `engine`, or on its read replica when one is configured and this is a
        browser session that has no write of its own pending there (store.db.read_session);
        `fresh=True` reads the primary always."""
        with read_session(engine, fresh=fresh) as session:
            yield cls(session, viewer)

    def scoped(self, model, *columns) -> Select:  # noqa: ANN001 - a RegionKeyed mapped class
        """SELECT `columns` (default: the model) FROM `model`, restricted to the viewer."""
        return apply_scope(select(*(columns or (model,))), model, self.viewer)

    def region(self, code: str | None) -> str:
        """The region a read narrows to: the viewer's zone when None, else `code` after checking it
        lies inside the zone (PermissionDenied otherwise)."""
        if code is None:
            return self.viewer.zone_code
        ensure_region_visible(self.viewer, code)
        return code

    def within(self, stmt: Select, model, code: str | None) -> Select:  # noqa: ANN001
        """Narrow a scoped statement further to region `code` (checked to be visible)."""
        return stmt.where(in_region(model, self.region(code)))
