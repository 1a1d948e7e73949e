"""Zone scope: who is looking, and the filter that keeps every read inside their zone.

Every read of a fact table starts from a domain read face (`ReadFace.scoped`, below), which applies
`apply_scope` with the viewer; a direct fetch of one object goes through `ensure_visible`. Hiding a page is convenience, this is protection.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import Select, and_, false, select

from store import region_codes
from store.region_codes import is_within
from store.db import session_scope



class PermissionDenied(Exception):
    """The viewer may not see or do this. The message is shown to the user (Chinese)."""


@dataclass(frozen=True)
class Viewer:
    username: str
    role: str  # duty_officer / leader / department / grid_officer / admin
    zone_code: str
    department_code: str | None = None
    display_name: str = ""


def in_region(model, code: str):  # noqa: ANN001 - a mapped class with RegionKeyed columns
    """SQL condition: row lies inside region `code` (see store.region_codes.inside)."""
    return region_codes.inside(model, code)


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
    def open(cls, engine, viewer: Viewer) -> Iterator:  # noqa: ANN001, ANN206 - an Engine; yields cls
        with session_scope(engine, readonly=True) as session:
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
