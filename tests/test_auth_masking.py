"""Masking of personal data in page rows, map tooltips and Excel exports (the xlsx is opened and read
back), the export audit row, and formula injection in exported cells."""
from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pandas as pd
import pytest
from openpyxl import load_workbook

from auth import exports
from auth.masking import mask_frame, mask_id, mask_name, mask_phone, mask_record, mask_records
from auth.roles import CAPABILITIES, ROLE_NAMES
from store.db import session_scope
from store.scope import PermissionDenied, Viewer
from tests.test_auth_support import audit_rows, auth_test_settings  # noqa: F401

PERSON = {"id": 7, "title": "井盖缺失", "reporter_name": "张三", "reporter_phone": "13812341234",
          "reporter_id_no": "440902199001011234", "grid_code": "440902001001001"}
MASKED_ROLES = sorted(r for r in ROLE_NAMES if r not in CAPABILITIES["view_personal"])
CLEAR_ROLES = sorted(CAPABILITIES["view_personal"])


def _viewer(role: str, zone: str = "440900") -> Viewer:
    return Viewer(f"u_{role}", role, zone, "CGJ" if role == "department" else None, f"{ROLE_NAMES[role]}甲")


@pytest.mark.parametrize("value, expected", [
    ("13812341234", "138****1234"), ("0668-2281234", "066*****1234"), ("12345", "*****"), ("", ""), (None, None),
])
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("张三", "张*"), ("李小明", "李**"), ("欧阳娜娜", "欧阳**"), ("司马光", "司马*"), ("王", "*"),
    ("爱新觉罗溥仪", "爱新****"), (" 张三 ", "张*"), (None, None),
])
def test_mask_name(value, expected):
    assert mask_name(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("440902199001011234", "440902********1234"), ("44090219900101123X", "440902********123X"),
    ("440902900101123", "440*********123"), ("1234", "1**4"),
])
def test_mask_id(value, expected):
    assert mask_id(value) == expected


@pytest.mark.parametrize("role", MASKED_ROLES)
def test_page_rows_and_tooltips_are_masked_for_roles_without_the_right(role):
    row = mask_record(PERSON, _viewer(role))
    assert (row["reporter_name"], row["reporter_phone"], row["reporter_id_no"]) == \
        ("张*", "138****1234", "440902********1234")
    assert row["title"] == "井盖缺失" and row["id"] == 7  # other fields untouched
    assert PERSON["reporter_name"] == "张三"  # the input is not modified
    # A map tooltip is built from the same records (pydeck rows), so it carries the masked values.
    tooltip_rows = mask_records([PERSON, {**PERSON, "reporter_phone": None}], _viewer(role))
    assert [r["reporter_phone"] for r in tooltip_rows] == ["138****1234", None]
    assert "13812341234" not in str(tooltip_rows)


@pytest.mark.parametrize("role", CLEAR_ROLES)
def test_roles_with_the_right_see_personal_data(role):
    assert mask_record(PERSON, _viewer(role)) == PERSON


def test_no_viewer_means_masked():
    assert mask_record(PERSON, None)["reporter_phone"] == "138****1234"


def test_extra_field_names_and_frames():
    frame = pd.DataFrame({"报案人": ["欧阳娜娜", None], "电话": ["13900001111", "13900002222"],
                          "reporter_id_no": [440902199001011234, None]})
    masked = mask_frame(frame, _viewer("leader"), {"电话": "phone"})
    assert masked["报案人"].iloc[0] == "欧阳娜娜"  # not a known personal header: untouched
    masked = mask_frame(frame, _viewer("leader"), {"电话": "phone", "报案人": "name"})
    assert list(masked["报案人"])[0] == "欧阳**" and list(masked["电话"]) == ["139****1111", "139****2222"]
    # An ID number that a spreadsheet turned into a float is still masked as digits.
    assert masked["reporter_id_no"].iloc[0].startswith("440902********")
    ints = pd.DataFrame({"reporter_id_no": pd.Series([440902199001011234, None], dtype=object)})
    assert mask_frame(ints, _viewer("leader"))["reporter_id_no"].iloc[0] == "440902********1234"
    assert frame["电话"].iloc[0] == "13900001111"


# ------------------------------------------------------------------ Excel export

def _frame() -> pd.DataFrame:
    return pd.DataFrame([
        {"编号": 1, "标题": "井盖缺失", "reporter_name": "张三", "reporter_phone": "13812341234",
         "reporter_id_no": "440902199001011234", "上报时间": datetime(2026, 10, 5, 1, 30, tzinfo=timezone.utc),
         "备注": "=HYPERLINK(\"http://evil.example\",\"点我\")"},
        {"编号": 2, "标题": "+1 道路破损\x07", "reporter_name": "欧阳娜娜", "reporter_phone": None,
         "reporter_id_no": None, "上报时间": pd.NaT, "备注": "-2+3"},
    ])


def _sheet_rows(data: bytes, sheet: str | None = None) -> list[tuple]:
    wb = load_workbook(BytesIO(data))
    ws = wb[sheet] if sheet else wb.worksheets[0]
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


# Roles that may export and may not see personal data (account administrators and the wall export nothing).
MASKED_EXPORTERS = [r for r in MASKED_ROLES if r in CAPABILITIES["export"]]


@pytest.mark.parametrize("role", MASKED_EXPORTERS)
def test_export_masks_personal_columns_and_audits(city_engine, role):
    viewer = _viewer(role)
    with session_scope(city_engine) as s:
        data = exports.audited_export(s, viewer, "事件列表", "440900", _frame(), client="10.0.0.3")
    rows = _sheet_rows(data)
    header = rows[0]
    assert header == ("编号", "标题", "reporter_name", "reporter_phone", "reporter_id_no", "上报时间", "备注")
    first = dict(zip(header, rows[1]))
    assert (first["reporter_name"], first["reporter_phone"], first["reporter_id_no"]) == \
        ("张*", "138****1234", "440902********1234")
    assert dict(zip(header, rows[2]))["reporter_name"] == "欧阳**"
    flat = str(rows)
    assert "13812341234" not in flat and "张三" not in flat and "199001011234" not in flat
    assert first["上报时间"] == datetime(2026, 10, 5, 9, 30)  # shown in Asia/Shanghai
    info = dict(r[:2] for r in _sheet_rows(data, "导出信息"))
    assert info["导出内容"] == "事件列表" and info["数据范围"] == "440900" and info["个人信息"] == "已脱敏"
    assert viewer.username in info["导出人"]
    [row] = audit_rows(city_engine, "export")
    assert (row.actor, row.actor_role, row.object_type, row.scope, row.client) == \
        (viewer.username, role, "事件列表", "440900", "10.0.0.3")
    assert row.detail["rows"] == 2 and row.detail["masked"] is True
    assert row.detail["personal_columns"] == ["reporter_name", "reporter_phone", "reporter_id_no"]


@pytest.mark.parametrize("role", sorted(set(ROLE_NAMES) - CAPABILITIES["export"]))
def test_roles_without_export_are_refused_and_nothing_is_written(city_engine, role):
    with session_scope(city_engine) as s, pytest.raises(PermissionDenied):
        exports.audited_export(s, _viewer(role), "事件列表", "440900", _frame(), client="10.0.0.3")
    assert audit_rows(city_engine, "export") == []


def test_export_keeps_personal_data_for_roles_with_the_right(city_engine):
    with session_scope(city_engine) as s:
        data = exports.audited_export(s, _viewer("duty_officer"), "事件列表", "440902", _frame())
    rows = _sheet_rows(data)
    assert rows[1][2:5] == ("张三", "13812341234", "440902199001011234")
    assert dict(r[:2] for r in _sheet_rows(data, "导出信息"))["个人信息"] == "未脱敏（角色有权查看）"
    assert audit_rows(city_engine, "export")[0].detail["masked"] is False


def test_exported_text_never_becomes_a_formula(city_engine):
    with session_scope(city_engine) as s:
        data = exports.audited_export(s, _viewer("leader"), "事件列表", "440900", _frame())
    wb = load_workbook(BytesIO(data))
    ws = wb.worksheets[0]
    cells = {c.coordinate: c for row in ws.iter_rows() for c in row}
    assert cells["G2"].data_type == "s" and cells["G2"].value.startswith("=HYPERLINK")
    assert cells["G3"].data_type == "s" and cells["G3"].value == "-2+3"
    assert cells["B3"].value == "+1 道路破损"  # control character dropped, text kept
    assert all(c.data_type != "f" for c in cells.values())


def test_export_refused_outside_zone_and_nothing_audited(city_engine):
    with pytest.raises(PermissionDenied):
        with session_scope(city_engine) as s:
            exports.audited_export(s, _viewer("leader", "440902"), "事件列表", "440904", _frame())
    assert audit_rows(city_engine, "export") == []


def test_deferred_export_audits_only_when_called(city_engine):
    build = exports.deferred_export(city_engine, _viewer("grid_officer", "440902001001001"), "我的网格事件",
                                    "440902001001001", _frame)
    assert audit_rows(city_engine, "export") == []  # rendering the button writes nothing
    data = build()
    assert _sheet_rows(data)[1][3] == "138****1234"
    assert len(audit_rows(city_engine, "export")) == 1
    name = exports.export_file_name("我的网格事件", "440902001001001",
                                    now=datetime(2026, 10, 5, 1, 30, tzinfo=timezone.utc))
    assert name == "我的网格事件_440902001001001_20261005-0930.xlsx"
