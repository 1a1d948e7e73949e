"""Issue 19, finding 7 (the parts outside the file importers): a NUL byte in a case title was stored on
SQLite and crashed PostgreSQL with a traceback; `?case=99999999999999999999` showed an OverflowError
box. Now both get a Chinese message and write nothing, the same on both backends."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import settings
from events import intake
from store.db import dispose_engines, session_scope
from store.models import Event
from tests.test_events_support import DUTY, new_case, prepare
from ui.params import MAX_ID, parse_id

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("field, value", [
    ("title", "井盖缺失\x00"), ("title", "井盖\x07缺失"), ("title", "井盖\n缺失"),
    ("description", "路口\x00东侧"), ("reporter_name", "张\x00三"), ("address", "人民路\x001号"),
    ("source_id", "12345-\x00"),
])
def test_control_characters_are_refused_before_anything_is_written(city_engine, field, value):
    prepare(city_engine)
    with pytest.raises(intake.IntakeError, match="控制字符"):
        with session_scope(city_engine) as s:
            new_case(s, **({field: value} if field != "title" else {"title": value}))
    with session_scope(city_engine, readonly=True) as s:
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == 0


def test_a_description_may_span_lines(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        event = new_case(s, description="第一行\n第二行\t（补充）")
        assert event.description == "第一行\n第二行\t（补充）"


@pytest.mark.parametrize("text, expected", [
    ("17", (17, None)), (" #17 ", (17, None)), ("１７", (17, None)), ("", (None, None)), (None, (None, None)),
    (str(MAX_ID), (MAX_ID, None)),
])
def test_parse_id_accepts(text, expected):
    assert parse_id(text, "案件编号") == expected


@pytest.mark.parametrize("text, message", [
    ("99999999999999999999", "超出范围"), (str(MAX_ID + 1), "超出范围"), ("0", "超出范围"),
    ("-1", "应为数字"), ("1e3", "应为数字"), ("Ⅻ", "应为数字"), ("17 18", "应为数字"), ("١٧", "应为数字"),
])
def test_parse_id_refuses_with_a_chinese_message(text, message):
    value, problem = parse_id(text, "案件编号")
    assert value is None and problem.startswith("案件编号") and message in problem


@pytest.fixture
def page_db(sqlite_city_engine, monkeypatch):
    prepare(sqlite_city_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sqlite_city_engine
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


@pytest.mark.parametrize("case", ["99999999999999999999", "2147483648", "Ⅻ", "-5"])
def test_dispatch_deep_link_with_a_bad_case_number(page_db, case):
    with session_scope(page_db) as s:
        new_case(s)
    at = AppTest.from_file(str(ROOT / "pages" / "dispatch.py"), default_timeout=90)
    at.session_state["viewer"] = DUTY
    at.query_params["case"] = case
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert "案件编号" in warnings and ("超出范围" in warnings or "应为数字" in warnings)
