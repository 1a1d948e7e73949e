"""import-stats: UTF-8 / GBK CSV and xlsx, every bad row reported by line, all or nothing, upsert."""
from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

import indicators as I
import settings
from indicators.external_import import import_bytes
from store.db import dispose_engines, session_scope
from store.models import AuditEntry, ExternalValue
from store.scope import Viewer
from tabular import TabularError

ADMIN = Viewer("admin", "admin", "440900")
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)

GOOD_CSV = """指标编号,区划代码,期间,数值,来源
ec_retail_sales,440902,2026-09,"1,234.5",市统计局
ec_retail_sales,440902,2026-10,1300,市统计局
ec_gdp_growth,440900,2026-09,5.2,
ps_doctors_per_1k,440904,2025,3.1,
"""


def count(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.execute(select(func.count()).select_from(ExternalValue)).scalar_one()


def test_csv_utf8_then_upsert(city_engine):
    report = import_bytes(city_engine, "stats.csv", GOOD_CSV.encode("utf-8-sig"), actor="tester")
    assert (report.rows, report.inserted, report.updated) == (4, 4, 0)
    assert "新增 4 条" in report.summary() and "（CSV，编码 UTF-8（带 BOM））" in report.summary()
    oct_ = I.compute("ec_retail_sales", "440902", "2026-10", ADMIN, engine=city_engine, now=NOW)
    assert oct_.value == 1300 and oct_.mom == pytest.approx(1234.5)
    assert I.compute("ps_doctors_per_1k", "440904", "2025", ADMIN, engine=city_engine, now=NOW).value == 3.1
    revised = "indicator_id,region_code,period,value\nec_retail_sales,440902,2026-10,1310\n"
    again = import_bytes(city_engine, "rev.csv", revised.encode(), actor="tester")
    assert (again.inserted, again.updated) == (0, 1)
    assert count(city_engine) == 4
    assert I.compute("ec_retail_sales", "440902", "2026-10", ADMIN, engine=city_engine, now=NOW).value == 1310
    with session_scope(city_engine, readonly=True) as s:
        audits = s.execute(select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)).all()
    assert [a.action for a in audits] == ["import_stats", "import_stats"] and audits[1].detail["updated"] == 1


def test_gbk_csv_and_xlsx(city_engine):
    report = import_bytes(city_engine, "gbk.csv", GOOD_CSV.encode("gbk"))
    assert report.rows == 4 and report.read_as == "CSV，编码 GBK"
    wb = Workbook()
    ws = wb.active
    ws.append(["indicator_id", "region_code", "period", "value"])
    ws.append(["mk_entities", "440902", "2026-10", 123456])
    ws.append(["mk_entities", 440904, datetime(2026, 10, 1), 654321.0])  # Excel turned the period into a date
    buf = BytesIO()
    wb.save(buf)
    report = import_bytes(city_engine, "stats.xlsx", buf.getvalue())
    assert report.rows == 2
    kids = I.compute_children("mk_entities", "440900", "2026-10", ADMIN, engine=city_engine, now=NOW)
    assert dict(zip(kids.region_code, kids.value)) == {"440902": 123456, "440904": 654321}


def test_every_bad_row_reported_and_nothing_written(city_engine):
    bad = """indicator_id,region_code,period,value
ec_retail_sales,440902,2026-10,100
no_such,440902,2026-10,1
cm_reported,440902,2026-10,1
ec_retail_sales,999999,2026-10,1
ec_retail_sales,440902001,2026-10,1
ec_retail_sales,440904,2026-13,1
ec_retail_sales,440904,2026/10,1
ps_doctors_per_1k,440904,2025-10,1
ec_retail_sales,440904,2026-09,abc
ec_retail_sales,440904,2026-08,
ec_retail_sales,440902,2026-10,100
"""
    with pytest.raises(TabularError) as err:
        import_bytes(city_engine, "bad.csv", bad.encode())
    errors = err.value.errors
    assert [e.line for e in errors] == list(range(3, 13))  # one problem per bad row, every bad row
    text = str(err.value)
    for expected in ("指标「no_such」不在指标库中", "不是外部统计指标", "区划代码「999999」不存在", "不在街道/镇级统计",
                     "期间「2026-13」格式应为 YYYY-MM", "期间「2026/10」", "格式应为 YYYY（该指标按年统计）",
                     "第 10 行「数值」：「abc」不是数字", "第 11 行「数值」：不能为空", "与第 2 行重复"):
        assert expected in text, expected
    assert count(city_engine) == 0


def test_layout_errors(city_engine):
    with pytest.raises(TabularError, match="表头缺少必需的列：数值"):
        import_bytes(city_engine, "x.csv", "indicator_id,region_code,period\n".encode())
    with pytest.raises(TabularError, match="不支持的文件类型"):
        import_bytes(city_engine, "x.json", b"{}")
    with pytest.raises(TabularError, match="没有数据行"):
        import_bytes(city_engine, "x.csv", "indicator_id,region_code,period,value\n".encode())


def test_cli(city_engine, tmp_path, monkeypatch, capsys):
    import manage

    monkeypatch.setenv("DATABASE_URL", city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    try:
        good = tmp_path / "good.csv"
        good.write_text(GOOD_CSV, encoding="utf-8")
        assert manage.main(["import-stats", str(good)]) == 0
        assert "已导入 good.csv（CSV，编码 UTF-8）：共 4 行，新增 4 条" in capsys.readouterr().out
        bad = tmp_path / "bad.csv"
        bad.write_text("indicator_id,region_code,period,value\nec_cpi,440900,2026-10,x\n", encoding="gbk")
        assert manage.main(["import-stats", str(bad)]) == 1
        err = capsys.readouterr().err
        assert "统计数据导入失败（CSV，编码 UTF-8）" in err and "第 2 行「数值」：「x」不是数字" in err
        assert manage.main(["check-indicators"]) == 0
        assert "指标库有效" in capsys.readouterr().out
    finally:
        monkeypatch.delenv("DATABASE_URL")
        settings.reload_settings()
        dispose_engines()
