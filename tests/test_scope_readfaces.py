"""Every read a screen can make stays inside the viewer's scope.

The read faces (`<domain>/views.py`, subclasses of store.scope.ReadFace) are found automatically, and
so is each of their public methods: a new read is covered the day it is written, without editing this
test. Each method is called on the demo city as random viewers of every role, at zones of every level
(and departments, for department staff), with arguments generated from the parameter's NAME — inside
and outside the zone. Whatever comes back (frames, dicts, lists, dataclasses, ORM rows) is walked and
every region code or case id in it must lie in the viewer's scope; asking for a region outside it must
be refused (PermissionDenied), never answered.

A parameter name this test does not know fails the test with a message: name it like the others, or
add a generator below.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import select

from auth.roles import ROLE_NAMES
from store.db import get_engine, session_scope
from store.models import Department, Event, Incident, Region, Resource, Sensor
from store.period import Period
from store.region_codes import is_within, level_or_none
from store.scope import PermissionDenied, ReadFace, Viewer

ROOT = Path(__file__).resolve().parents[1]
BASE_METHODS = set(dir(ReadFace))
# Keys whose value names the region a row belongs to (the deepest one present is checked). city_code
# and parent_code name regions above the row and are legitimately outside a district officer's zone.
REGION_KEYS = ("grid_code", "community_code", "street_code", "district_code", "region_code", "zone_code", "code")
UNTIL = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def read_faces() -> list[type[ReadFace]]:
    """Every ReadFace subclass in the code below the screens (domain views.py files, and read models
    such as situation.escalation that compose several domains)."""
    for package in ("store", "geo", "auth", "events", "sensors", "emergency", "indicators", "situation", "open311",
                    "supervision", "exchange"):
        if not (ROOT / package).is_dir():
            continue
        for module in sorted((ROOT / package).glob("*.py")):
            if "class " in module.read_text(encoding="utf-8") and "ReadFace" in module.read_text(encoding="utf-8"):
                importlib.import_module(f"{package}.{module.stem}")
    found, todo = [], list(ReadFace.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__module__ + c.__name__)


def public_reads(face: type[ReadFace]) -> list[str]:
    return sorted(name for name, member in inspect.getmembers(face, inspect.isfunction)
                  if not name.startswith("_") and name not in BASE_METHODS)


FACES = read_faces()
READS = [(face, name) for face in FACES for name in public_reads(face)]


def test_every_domain_has_a_read_face():
    modules = {face.__module__ for face in FACES}
    for domain in ("events", "sensors", "emergency", "geo", "auth"):
        assert f"{domain}.views" in modules, f"{domain}/views.py has no ReadFace subclass"
    assert len(READS) >= 20, READS


@pytest.fixture(scope="module")
def demo(demo_db_url):
    """The demo city, and the facts the oracle needs: every region, case, sensor, resource, incident."""
    engine = get_engine(demo_db_url)
    with session_scope(engine, readonly=True) as s:
        regions = sorted(s.scalars(select(Region.code)))
        events = {i: (g, d) for i, g, d in s.execute(select(Event.id, Event.grid_code, Event.department_code))}
        sensors = dict(s.execute(select(Sensor.id, Sensor.grid_code)).all())
        resources = dict(s.execute(select(Resource.id, Resource.grid_code)).all())
        incidents = dict(s.execute(select(Incident.id, Incident.grid_code)).all())
        departments = sorted(s.scalars(select(Department.code)))
    return {"engine": engine, "regions": regions, "events": events, "sensors": sensors,
            "resources": resources, "incidents": incidents, "departments": departments}


def _zones(regions: list[str]) -> st.SearchStrategy[str]:
    by_level: dict[str, list[str]] = {}
    for code in regions:
        by_level.setdefault(level_or_none(code) or "?", []).append(code)
    return st.one_of(*(st.sampled_from(codes) for level, codes in sorted(by_level.items()) if level != "?"))


def _viewer(draw, demo) -> Viewer:  # noqa: ANN001
    role = draw(st.sampled_from(sorted(ROLE_NAMES)))
    zone = draw(_zones(demo["regions"]))
    dept = draw(st.sampled_from([*demo["departments"], None])) if role == "department" else None
    return Viewer("prop", role, zone, dept)


def _pick_id(draw, ids, viewer: Viewer, inside_of):  # noqa: ANN001
    """An id of an object inside the zone half the time (when there is one), else any."""
    inside = [i for i in ids if inside_of(i)]
    pool = inside if inside and draw(st.booleans()) else list(ids)
    return draw(st.sampled_from(sorted(pool)[:500] if len(pool) > 500 else sorted(pool))) if pool else 1


def _argument(draw, name: str, param: inspect.Parameter, viewer: Viewer, demo):  # noqa: ANN001, ANN202
    zone = viewer.zone_code
    if name == "region":
        return draw(st.one_of(st.none(), _zones(demo["regions"])))
    if name in ("case_id", "event_id"):
        return _pick_id(draw, demo["events"], viewer, lambda i: is_within(demo["events"][i][0] or "", zone))
    if name == "incident_id":
        return _pick_id(draw, demo["incidents"], viewer, lambda i: is_within(demo["incidents"][i] or "", zone))
    if name == "sensor_id":
        return _pick_id(draw, demo["sensors"], viewer, lambda i: is_within(demo["sensors"][i] or "", zone))
    if name == "resource_id":
        return _pick_id(draw, demo["resources"], viewer, lambda i: is_within(demo["resources"][i] or "", zone))
    if name == "period":
        return draw(st.sampled_from([Period.parse("2026-11"), Period.parse("2026-10"), Period.parse("2026")]))
    if name == "metric":
        return draw(st.sampled_from(["PM2.5", "O3", "noise_leq"]))
    if name == "now":
        return NOW
    if name == "today":
        return UNTIL
    if name in ("start", "since"):
        return (NOW - timedelta(days=3)) if "datetime" in str(param.annotation) else UNTIL - timedelta(days=30)
    if name in ("end", "until"):
        return NOW if "datetime" in str(param.annotation) else UNTIL
    if name in ("limit", "page_size", "max_polygons", "max_points"):
        return draw(st.integers(1, 50))
    if name == "page":
        return draw(st.integers(1, 3))
    if param.default is not inspect.Parameter.empty:
        return param.default
    pytest.fail(f"read-face parameter {name!r} has no default and no generator in tests/test_scope_readfaces.py: "
                "name it like the others (region, case_id, period, …) or add a generator")


def _rows(value, depth: int = 0):  # noqa: ANN001, ANN202
    """Every mapping-like row inside a result."""
    if depth > 6 or value is None:
        return
    if isinstance(value, pd.DataFrame):
        yield from value.to_dict("records")
        return
    if isinstance(value, pd.Series):
        yield value.to_dict()
        return
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _rows(v, depth + 1)
        return
    if isinstance(value, (list, tuple, set)):
        for v in value:
            yield from _rows(v, depth + 1)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield from _rows({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth)
        return
    table = getattr(value, "__table__", None)
    if table is not None:  # an ORM row
        yield {c.key: getattr(value, c.key, None) for c in table.columns}


def _deepest_region(row: dict) -> str | None:
    codes = [v for k in REGION_KEYS if isinstance(v := row.get(k), str) and level_or_none(v)]
    return max(codes, key=len) if codes else None


def _owned_ids(face: type[ReadFace], row: dict) -> list[tuple[str, object]]:
    """(kind, id) of the objects a row names: explicit *_id keys, and `id` read by the face it came from."""
    out = [(kind, row[key]) for key, kind in (("case_id", "events"), ("event_id", "events"), ("sensor_id", "sensors"),
                                             ("resource_id", "resources"), ("incident_id", "incidents"))
           if row.get(key) is not None]
    if row.get("id") is not None:
        kind = {"events.views": "events", "sensors.views": "sensors"}.get(face.__module__)
        if face.__module__ == "emergency.views":
            kind = "resources" if isinstance(row["id"], str) else "incidents"
        if kind:
            out.append((kind, row["id"]))
    return out


def _check(face: type[ReadFace], result, viewer: Viewer, demo) -> None:  # noqa: ANN001
    for row in _rows(result):
        code = _deepest_region(row)
        if code is not None:
            assert is_within(code, viewer.zone_code), f"{face.__name__}: row in {code} outside zone {viewer}: {row}"
        for kind, oid in _owned_ids(face, row):
            known = demo[kind]
            if oid not in known:
                continue
            grid = known[oid][0] if kind == "events" else known[oid]
            assert grid is None or is_within(grid, viewer.zone_code), \
                f"{face.__name__}: {kind} {oid} in {grid} outside zone {viewer.zone_code}"
            if kind == "events" and viewer.role == "department":
                dept = known[oid][1]
                assert viewer.department_code is not None and dept == viewer.department_code, \
                    f"{face.__name__}: case {oid} of {dept} shown to department {viewer.department_code}"


@pytest.mark.parametrize(("face", "method"), READS, ids=[f"{f.__name__}.{m}" for f, m in READS])
def test_read_face_never_leaks(demo, face, method):
    @hsettings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(data=st.data())
    def run(data):  # noqa: ANN001
        viewer = _viewer(data.draw, demo)
        signature = inspect.signature(getattr(face, method))
        kwargs = {name: _argument(data.draw, name, param, viewer, demo)
                  for name, param in list(signature.parameters.items())[1:]
                  if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)}
        region = kwargs.get("region")
        with session_scope(demo["engine"], readonly=True) as s:
            try:
                result = getattr(face(s, viewer), method)(**kwargs)
            except PermissionDenied:
                return  # refused: never a leak
            except LookupError:
                return  # an id that does not exist (or is not visible) — said as "not found"
        assert region is None or is_within(region, viewer.zone_code), \
            f"{face.__name__}.{method} answered for region {region} outside zone {viewer.zone_code}"
        _check(face, result, viewer, demo)

    run()
