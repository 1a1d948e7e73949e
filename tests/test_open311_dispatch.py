"""A case filed through the Open311 API by an address the base cannot match shows on the dispatch
console (指挥调度) marked 【待定位】, and the duty officer places it there by a corrected address."""
from __future__ import annotations

from sqlalchemy import select

from geo.geocode import clear_index_cache
from geo.locate import clear_locator_cache
from open311 import intake
from open311.parse import Params
from store.db import session_scope
from store.models import Event
from tests.test_events_pages import _app, _ok, app_db  # noqa: F401 - the app_db fixture
from tests.test_events_support import DUTY
from tests.test_open311_support import ADDRESS_GRID, add_addresses, new_key


def test_a_pending_api_case_is_marked_and_placed_on_the_console(app_db):
    clear_index_cache()
    clear_locator_cache()
    add_addresses(app_db)
    info, _ = new_key(app_db, "hotline")
    with session_scope(app_db) as s:
        prepared = intake.prepare(s, info, Params({"service_code": "E0102", "address_string": "茂南区某条小巷"}))
        case_id = intake.create(s, info, prepared)
    at = _app("dispatch.py", DUTY, case_id)
    _ok(at)
    table = at.dataframe[0].value
    assert table.loc[table["编号"] == case_id, "状态"].iloc[0] == "【待定位】待立案"
    search = next(t for t in at.text_input if t.label == "按地址查找（标准地址库）")
    search.input("茂南区油城五路12号").run()
    _ok(at)
    assert any("匹配：" in t.value and "油城五路12号" in t.value for t in at.text)
    next(b for b in at.button if b.label == "定位到此处").click().run()
    _ok(at)
    assert any("已定位" in s.value for s in at.success)
    with session_scope(app_db, readonly=True) as s:
        e = s.scalars(select(Event).where(Event.id == case_id)).one()
        assert not e.location_pending and e.grid_code == ADDRESS_GRID
    clear_index_cache()
