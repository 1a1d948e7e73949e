"""Shared helpers for the Open311 tests (no tests here): the tiny city with a small standard address
base, API keys, a TestClient on the open311 routes, and row counts for "bad input writes nothing"."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from events.departments import ensure_demo_departments
from geo.geocode import bump_address_version, clear_index_cache
from geo.locate import Locator, clear_locator_cache
from open311 import keys
from open311.routes import routes
from store.db import session_scope
from store.models import (ApiCallWindow, AuditEntry, Event, EventDailyRollup, EventTransition, Open311Token,
                          StandardAddress)

# Tiny city (tests/support/tiny_city.py): 茂南区 440902 is lon 110–111, 电白区 440904 lon 111–112.
# Door plates 1–40 of 油城五路 run east along lat 21.9 in grid 440902001001001 (lon 110.0–110.5);
# 人民路 (east–west, lat 21.8) and 中山路 (north–south, lon 110.3) cross in the same grid.
PLATES = [("油城五路", str(n), 110.1 + 0.0003 * n, 21.9 + (0.0001 if n % 2 else -0.0001)) for n in range(1, 41)]
PLATES += [("人民路", str(n), 110.28 + 0.0004 * n, 21.8) for n in range(1, 101)]
PLATES += [("中山路", str(n), 110.3, 21.78 + 0.0004 * n) for n in range(1, 101)]
PLATES += [("人民路", str(n), 111.2 + 0.0004 * n, 21.3) for n in range(1, 21)]   # 电白区's own 人民路
ADDRESS_POINT = (110.1 + 0.0003 * 12, 21.9 - 0.0001)   # 油城五路12号
ADDRESS_GRID = "440902001001001"
POINT = (110.1, 21.9)
POINT_GRID = "440902001001001"
EAST_POINT = (111.9, 21.1)   # 电白区 440904002002002
OUTSIDE = (120.0, 30.0)
PERSON = {"first_name": "小明", "last_name": "欧阳", "phone": "13912345678", "email": "xm@example.com"}


def add_addresses(engine) -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        loc = Locator.from_session(s, "440900")
        cols = loc.locate_columns(np.array([p[2] for p in PLATES]), np.array([p[3] for p in PLATES]))
        names = {"440902": "茂南区", "440904": "电白区"}
        rows = []
        for k, (road, number, lon, lat) in enumerate(PLATES):
            codes = {lv: cols[lv][k] for lv in cols}
            rows.append(StandardAddress(
                city_code="440900", district_code=codes["district"], street_code=codes["street"],
                community_code=codes["community"], grid_code=codes["grid"],
                district_name=names[codes["district"]], road=road, house_number=number, lon=lon, lat=lat,
                full_text=f"{names[codes['district']]}{road}{number}号", source="test"))
        s.add_all(rows)
        bump_address_version(s)


def new_key(engine, name: str = "hotline", zone: str = "440900", **kw) -> tuple[keys.ClientKey, str]:  # noqa: ANN001
    with session_scope(engine) as s:
        return keys.create_key(s, name, zone, **kw)


@dataclass
class Api:
    engine: object
    client: TestClient
    key: str
    key_info: keys.ClientKey

    def post(self, fmt: str = "json", key: str | None = "", **data):  # noqa: ANN201
        body = {"api_key": self.key if key == "" else key, **data}
        return self.client.post(f"/open311/v2/requests.{fmt}", data={k: v for k, v in body.items() if v is not None})

    def get(self, path: str, key: str | None = "", **params):  # noqa: ANN201
        query = {"api_key": self.key if key == "" else key, **params}
        return self.client.get(f"/open311/v2/{path}", params={k: v for k, v in query.items() if v is not None})


@pytest.fixture
def api(city_engine, use_database):  # noqa: ANN001
    """The open311 routes on the tiny city (both backends), with addresses and one city-wide key."""
    use_database(city_engine.url.render_as_string(hide_password=False))
    clear_index_cache()
    clear_locator_cache()
    with session_scope(city_engine) as s:
        ensure_demo_departments(s)
    add_addresses(city_engine)
    info, text = new_key(city_engine)
    client = TestClient(Starlette(routes=routes()))
    yield Api(city_engine, client, text, info)
    clear_index_cache()
    clear_locator_cache()


COUNTED = (Event, EventTransition, EventDailyRollup, Open311Token)


def counts(engine) -> dict[str, int]:  # noqa: ANN001
    """Rows of every table a request could write (the audit log and the call counters apart)."""
    with session_scope(engine, readonly=True) as s:
        return {m.__tablename__: int(s.scalar(select(func.count()).select_from(m))) for m in COUNTED}


def audit_calls(engine, action: str = "open311_call") -> list[AuditEntry]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def windows(engine) -> list[ApiCallWindow]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return list(s.scalars(select(ApiCallWindow)))
