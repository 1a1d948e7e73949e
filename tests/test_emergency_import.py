"""Resource and inventory import: every bad row reported by line and reason, nothing written on error."""
from __future__ import annotations

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

import manage
import settings
from emergency.dispatch import Selection, confirm
from emergency.importer import import_inventory, import_resources, parse_equipment
from emergency.incidents import open_incident
from geo.crs import from_wgs84
from store.db import dispose_engines, session_scope
from store.models import AuditEntry, InventoryItem, Resource
from tabular import TabularError
from tests.support.tiny_city import codes_for_point
from tests.test_emergency_support import COMMANDER, LEADER

HEADER = "编号,类型,名称,经度,纬度,人数,容量,面积,装备,联系人,电话,状态\n"
GOOD = (
    "FS-01,消防站,茂南消防站,110.30,21.70,30,,,水罐车:2;登高车:1,张三,0668-1234567,\n"
    "RT-01,排涝抢险队,排涝一队,110.55,21.40,12,,,冲锋舟×2、排涝泵×4,,,待命\n"
    "SH-01,应急避难场所,文化广场,111.20,21.80,,,3000,,,,\n"
    "WH-01,物资储备库,市储备库,111.60,21.30,,,,,,,\n"
)


def _write(tmp_path, text: str, name: str = "res.csv"):  # noqa: ANN001
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _count(engine, model=Resource) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_good_file_imports_located_with_derived_capacity(city_engine, tmp_path):
    with session_scope(city_engine) as s:
        summary = import_resources(s, _write(tmp_path, HEADER + GOOD), actor="测试员")
    assert (summary.inserted, summary.updated) == (4, 0)
    with session_scope(city_engine, readonly=True) as s:
        fs = s.get(Resource, "FS-01")
        assert (fs.grid_code, fs.district_code) == (codes_for_point(110.30, 21.70)["grid"], "440902")
        assert fs.equipment == {"水罐车": 2, "登高车": 1} and fs.headcount == 30 and fs.status == "available"
        assert s.get(Resource, "RT-01").equipment == {"冲锋舟": 2, "排涝泵": 4}
        assert s.get(Resource, "SH-01").capacity == 1500  # 3000 m² at 2 m² per person
        assert s.scalar(select(AuditEntry.detail).where(AuditEntry.action == "emergency_import")) == \
            {"inserted": 4, "updated": 0, "crs": "wgs84"}


def test_every_bad_row_is_reported_and_nothing_written(city_engine, tmp_path):
    bad = HEADER + GOOD + (
        "RT-01,排涝抢险队,重复编号,110.5,21.5,,,,,,,\n"             # line 6
        "XX-01,地震救援队,未知类型,110.5,21.5,,,,,,,\n"              # line 7
        "XX-02,消防站,坐标坏,abc,21.5,,,,,,,\n"                     # line 8
        "XX-03,消防站,城外,113.5,23.1,,,,,,,\n"                    # line 9
        "XX-04,应急避难场所,无容量,110.5,21.5,,,,,,,\n"              # line 10
        "XX-05,应急避难场所,有容量,110.5,21.5,,100,,,,,\n"           # line 11 is valid
        "XX-06,综合救援队,人数坏,110.5,21.5,-3,,,冲锋舟:两艘,,电话?,出动\n"  # line 12
        ",消防站,,110.5,21.5,,,,,,,\n"                             # line 13
    )
    with pytest.raises(TabularError) as err:
        with session_scope(city_engine) as s:
            import_resources(s, _write(tmp_path, bad))
    by_line: dict[int, list[str]] = {}
    for e in err.value.errors:
        by_line.setdefault(e.line, []).append(str(e))
    assert set(by_line) == {6, 7, 8, 9, 10, 12, 13}
    assert "与第 3 行重复" in by_line[6][0]
    assert "未知的资源类型“地震救援队”" in by_line[7][0]
    assert "「经度」：「abc」不是数字" in by_line[8][0]
    assert "不在本市范围内" in by_line[9][0]
    assert "须填写容量" in by_line[10][0]
    assert len(by_line[12]) == 4  # headcount, equipment, phone, status — all four reported at once
    assert "第 13 行「编号」：不能为空" in by_line[13] and "第 13 行「名称」：不能为空" in by_line[13]
    assert "第 6 行" in str(err.value) and "未写入任何数据" in str(err.value)
    assert _count(city_engine) == 0


def test_gcj02_file_is_stored_in_wgs84(city_engine, tmp_path):
    glon, glat = from_wgs84(110.6, 21.6, "gcj02")
    text = HEADER + f"RT-09,排涝抢险队,火星坐标队,{glon:.9f},{glat:.9f},5,,,,,,\n"
    with session_scope(city_engine) as s:
        import_resources(s, _write(tmp_path, text), crs="gcj02")
    with session_scope(city_engine, readonly=True) as s:
        r = s.get(Resource, "RT-09")
        assert r.lon == pytest.approx(110.6, abs=1e-6) and r.lat == pytest.approx(21.6, abs=1e-6)


def test_excel_and_reimport_updates_but_keeps_live_status(city_engine, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "类型", "名称", "经度", "纬度", "人数"])
    ws.append(["RT-01", "排涝抢险队", "排涝一队", 110.55, 21.40, 12])
    ws.append(["RT-02", "排涝抢险队", "排涝二队", 110.65, 21.40, 8])
    path = tmp_path / "res.xlsx"
    wb.save(path)
    with session_scope(city_engine) as s:
        assert import_resources(s, path).inserted == 2
        iid = open_incident(s, incident_type="内涝", level="IV", lon=110.5, lat=21.4, actor=COMMANDER).id
    with session_scope(city_engine) as s:
        confirm(s, iid, Selection(units=(("RT-01", 1),)), COMMANDER)
    ws.cell(row=2, column=6, value=15)
    ws.cell(row=3, column=3, value="排涝二队（改名）")
    wb.save(path)
    with session_scope(city_engine) as s:
        assert import_resources(s, path).updated == 2
    with session_scope(city_engine, readonly=True) as s:
        one = s.get(Resource, "RT-01")
        assert (one.headcount, one.status, one.incident_id) == (15, "dispatched", iid)
        assert s.get(Resource, "RT-02").name == "排涝二队（改名）"
    # Taking a unit on a task out of service by import is refused.
    text = "编号,类型,名称,经度,纬度,状态\nRT-01,排涝抢险队,排涝一队,110.55,21.40,停用\n"
    with pytest.raises(TabularError, match="正在执行任务"):
        with session_scope(city_engine) as s:
            import_resources(s, _write(tmp_path, text))


def test_inventory_import_validates_against_reservations(city_engine, tmp_path):
    with session_scope(city_engine) as s:
        import_resources(s, _write(tmp_path, HEADER + GOOD))
    good = "仓库编号,物资,单位,数量\nWH-01,沙袋,袋,800\nWH-01,帐篷,,40\n"
    with session_scope(city_engine) as s:
        assert import_inventory(s, _write(tmp_path, good, "inv.csv")).inserted == 2
    with session_scope(city_engine, readonly=True) as s:
        tent = s.scalars(select(InventoryItem).where(InventoryItem.item == "帐篷")).one()
        bags = s.scalars(select(InventoryItem).where(InventoryItem.item == "沙袋")).one()
        assert tent.unit == "顶"  # the usual unit filled in
    with session_scope(city_engine) as s:
        iid = open_incident(s, incident_type="内涝", level="IV", lon=111.5, lat=21.3, actor=COMMANDER).id
        confirm(s, iid, Selection(stock=((bags.id, 600),)), COMMANDER)
    bad = ("仓库编号,物资,单位,数量\n"
           "WH-01,沙袋,袋,500\n"        # below the 600 reserved
           "WH-01,帐篷,个,40\n"         # unit differs from stored 顶
           "FS-01,沙袋,袋,10\n"         # not a warehouse
           "WH-99,沙袋,袋,10\n"         # unknown
           "WH-01,救生衣,件,-1\n"       # negative
           "WH-01,救生衣,件,5\n")       # same warehouse and item as line 6
    with pytest.raises(TabularError) as err:
        with session_scope(city_engine) as s:
            import_inventory(s, _write(tmp_path, bad, "inv2.csv"))
    lines = sorted({e.line for e in err.value.errors})
    assert lines == [2, 3, 4, 5, 6, 7]
    text = str(err.value)
    assert "600袋 被调派预留" in text and "单位应为“顶”" in text and "不是物资储备库" in text
    assert "不存在" in text and "不小于 0" in text and "与第 6 行重复" in text
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(InventoryItem, bags.id).quantity == 800


def test_leader_may_not_import(city_engine, tmp_path):
    from store.scope import PermissionDenied

    with pytest.raises(PermissionDenied):
        with session_scope(city_engine) as s:
            import_resources(s, _write(tmp_path, HEADER + GOOD), actor=LEADER)


def test_equipment_text():
    assert parse_equipment("冲锋舟:2；救生圈、排涝泵×3") == ({"冲锋舟": 2, "救生圈": 1, "排涝泵": 3}, None)
    assert parse_equipment("")[0] is None
    assert "正整数" in parse_equipment("冲锋舟:0")[1]


def test_cli_reports_bad_rows_and_exit_code(sqlite_city_engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    dispose_engines()
    try:
        bad = _write(tmp_path, HEADER + "XX,消防站,城外,113.5,23.1,,,,,,,\n")
        assert manage.main(["import-resources", str(bad)]) == 1
        assert "第 2 行：坐标（113.5, 23.1）不在本市范围内" in capsys.readouterr().out
        assert manage.main(["import-resources", str(_write(tmp_path, HEADER + GOOD, "ok.csv"))]) == 0
        assert "新增 4 条" in capsys.readouterr().out
        assert manage.main(["emergency-coverage"]) == 0
        assert "茂南区" in capsys.readouterr().out
    finally:
        monkeypatch.delenv("DATABASE_URL")
        settings.reload_settings()
        dispose_engines()
