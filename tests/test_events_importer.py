"""Hotline/patrol import: UTF-8 and GBK CSV, Excel, every bad row by line and reason, all-or-nothing,
duplicate source ids (in the file and against the store), coordinate systems, the CLI."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

import manage
import settings
from events import rollup
from events.importer import import_events
from geo import crs
from store.db import dispose_engines, session_scope
from store.models import AuditEntry, Event
from store.scope import PermissionDenied, Viewer
from tabular import TabularError
from tests.support.tiny_city import codes_for_point
from tests.test_events_support import prepare

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
HEADER = "工单编号,受理时间,大类,小类,问题描述,地址,经度,纬度,紧急程度,来电人,来电号码\n"
GOOD = [
    "GD-001,2026-11-20 09:30,街面秩序,占道经营,门口摆摊,油城路1号,110.10,21.90,一般,张三,13812341234",
    "GD-002,2026/11/20 10:05:00,市容环境,暴露垃圾,垃圾未清运,站前路,111.60,21.20,,李四,13900001111",
    "GD-003,2026-11-21T14:00,突发事件,道路积水,积水严重,人民路,110.70,21.60,紧急,,",
]


def _csv(rows: list[str], encoding: str = "utf-8") -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode(encoding)


def _count(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(Event))


def test_good_utf8_file_imports_everything(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        report = import_events(s, _csv(GOOD), "12345", "wgs84", now=NOW)
    assert report.imported == 3 and report.file == "CSV，编码 UTF-8"
    with session_scope(city_engine, readonly=True) as s:
        rows = s.execute(select(Event).order_by(Event.source_id)).scalars().all()
        assert [r.source_id for r in rows] == ["GD-001", "GD-002", "GD-003"]
        assert rows[0].grid_code == codes_for_point(110.10, 21.90)["grid"]
        assert rows[0].reported_at == datetime(2026, 11, 20, 1, 30, tzinfo=timezone.utc)  # 09:30 local
        assert rows[2].priority == "urgent" and rows[1].priority == "normal"
        assert rows[0].reporter_phone == "13812341234"
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "event_import")) == 1
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


def test_gbk_file_is_read(sqlite_city_engine):
    prepare(sqlite_city_engine)
    data = _csv(GOOD, "gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with session_scope(sqlite_city_engine) as s:
        report = import_events(s, data, "12345", now=NOW)
    assert report.file == "CSV，编码 GBK" and report.imported == 3
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert s.scalar(select(Event.description).where(Event.source_id == "GD-001")) == "门口摆摊"


def test_every_bad_row_is_reported_and_nothing_written(sqlite_city_engine):
    prepare(sqlite_city_engine)
    rows = [
        GOOD[0],
        "GD-010,2026-11-20 09:30,街面秩序,不存在的小类,描述,,110.1,21.9,,,",              # line 3
        "GD-011,昨天下午,市容环境,暴露垃圾,描述,,110.1,21.9,,,",                          # line 4
        "GD-012,2026-11-20 09:30,市容环境,暴露垃圾,描述,,abc,21.9,,,",                     # line 5
        "GD-013,2026-11-20 09:30,市容环境,暴露垃圾,描述,,120.5,30.2,,,",                   # line 6
        ",2026-11-20 09:30,市容环境,暴露垃圾,描述,,110.1,21.9,,,",                         # line 7
        "GD-014,2026-11-20 09:30,市容环境,暴露垃圾,描述,,110.1,21.9,很急,王五,12345",       # line 8 (2 errors)
        "GD-001,2026-11-20 09:30,市容环境,暴露垃圾,描述,,110.1,21.9,,,",                   # line 9 dup of 2
        "GD-015,2026-12-30 09:30,市容环境,暴露垃圾,描述,,110.1,21.9,,,",                   # line 10 future
    ]
    with pytest.raises(TabularError) as err, session_scope(sqlite_city_engine) as s:
        import_events(s, _csv(rows), "12345", now=NOW)
    by_line = {}
    for e in err.value.errors:
        by_line.setdefault(e.line, []).append(str(e))
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "没有小类「不存在的小类」" in by_line[3][0]
    assert "无法识别的时间" in by_line[4][0]
    assert "不是数字" in by_line[5][0]
    assert "不在本市范围内" in by_line[6][0]
    assert "「来源编号」：不能为空" in by_line[7][0]
    assert len(by_line[8]) == 2 and any("紧急程度" in m for m in by_line[8]) and any("联系电话" in m for m in by_line[8])
    assert "与第 2 行重复" in by_line[9][0]
    assert "晚于当前时间" in by_line[10][0]
    assert all(m.startswith(f"第 {line} 行") for line, ms in by_line.items() for m in ms)
    assert "8 行有错误" in str(err.value) and "未写入任何数据" in str(err.value)
    assert _count(sqlite_city_engine) == 0


def test_duplicates_against_the_store_are_refused(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        assert import_events(s, _csv(GOOD[:1]), "12345", now=NOW).imported == 1
    with pytest.raises(TabularError) as err, session_scope(sqlite_city_engine) as s:
        import_events(s, _csv(GOOD), "12345", now=NOW)
    assert [e.line for e in err.value.errors] == [2]
    assert "已导入过" in str(err.value.errors[0])
    assert _count(sqlite_city_engine) == 1
    # The same id from another channel is a different case.
    with session_scope(sqlite_city_engine) as s:
        assert import_events(s, _csv(GOOD[:1]), "巡查", now=NOW).imported == 1


def test_gcj02_file_is_converted(sqlite_city_engine):
    prepare(sqlite_city_engine)
    glon, glat = crs.from_wgs84(110.40, 21.55, "gcj02")
    row = f"GD-100,2026-11-20 09:30,街面秩序,占道经营,描述,,{glon:.8f},{glat:.8f},,,"
    with session_scope(sqlite_city_engine) as s:
        assert import_events(s, _csv([row]), "12345", "gcj02", now=NOW).imported == 1
    with session_scope(sqlite_city_engine, readonly=True) as s:
        e = s.execute(select(Event)).scalar_one()
        assert e.lon == pytest.approx(110.40, abs=1e-6) and e.lat == pytest.approx(21.55, abs=1e-6)
        assert e.grid_code == codes_for_point(110.40, 21.55)["grid"]


def test_excel_file(sqlite_city_engine):
    prepare(sqlite_city_engine)
    wb = Workbook()
    ws = wb.active
    ws.append(["工单编号", "受理时间", "大类", "小类", "经度", "纬度", "来电号码"])
    ws.append([20261120001, datetime(2026, 11, 20, 9, 30), "街面秩序", "占道经营", 110.1, 21.9, 13812341234])
    ws.append(["X-2", "2026-11-20 10:00", "街面秩序", "没有这个", 110.1, 21.9, None])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(TabularError) as err, session_scope(sqlite_city_engine) as s:
        import_events(s, buf.getvalue(), "12345", now=NOW)
    assert [e.line for e in err.value.errors] == [3] and err.value.source == "Excel，工作表「Sheet」"
    ws.delete_rows(3)
    buf = io.BytesIO()
    wb.save(buf)
    with session_scope(sqlite_city_engine) as s:
        report = import_events(s, buf.getvalue(), "12345", now=NOW)
    assert report.imported == 1 and report.file.startswith("Excel")
    with session_scope(sqlite_city_engine, readonly=True) as s:
        e = s.execute(select(Event)).scalar_one()
        assert (e.source_id, e.reporter_phone) == ("20261120001", "13812341234")
        assert e.reported_at == datetime(2026, 11, 20, 1, 30, tzinfo=timezone.utc)


def test_whole_file_problems(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        with pytest.raises(TabularError, match="缺少必需的列：经度、纬度"):
            import_events(s, "工单编号,受理时间,大类,小类\nA,2026-11-20,市容环境,暴露垃圾\n".encode(), "12345", now=NOW)
        with pytest.raises(TabularError, match="旧版 .xls"):
            import_events(s, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "12345", now=NOW)
        with pytest.raises(TabularError, match="文件是空的"):
            import_events(s, b"", "12345", now=NOW)
        with pytest.raises(TabularError, match="未知的案件来源"):
            import_events(s, _csv(GOOD), "微博", now=NOW)
        with pytest.raises(TabularError, match="未知的坐标系"):
            import_events(s, _csv(GOOD), "12345", "mercator", now=NOW)
        with pytest.raises(PermissionDenied):
            import_events(s, _csv(GOOD), "12345", actor=Viewer("g", "grid_officer", "440902001001001"), now=NOW)


def test_multiline_field_reports_the_record_start(sqlite_city_engine):
    prepare(sqlite_city_engine)
    rows = [GOOD[0], 'GD-200,2026-11-20 09:30,街面秩序,占道经营,"第一行\n第二行",,110.1,21.9,,,',
            "GD-201,2026-11-20 09:30,街面秩序,错,描述,,110.1,21.9,,,"]
    with pytest.raises(TabularError) as err, session_scope(sqlite_city_engine) as s:
        import_events(s, _csv(rows), "12345", now=NOW)
    assert [e.line for e in err.value.errors] == [5]


@pytest.fixture
def cli_db(sqlite_city_engine, monkeypatch):
    prepare(sqlite_city_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    yield sqlite_city_engine
    monkeypatch.delenv("DATABASE_URL")
    settings.reload_settings()
    dispose_engines()


def test_cli_import_events(cli_db, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv([GOOD[0], "GD-9,2026-11-20 09:30,街面秩序,错,描述,,110.1,21.9,,,"], "gbk"))
    assert manage.main(["import-events", str(bad), "--source", "12345", "--crs", "wgs84"]) == 1
    out = capsys.readouterr().out
    assert "第 3 行" in out and "未写入任何数据" in out and "CSV，编码 GBK" in out
    good = tmp_path / "good.csv"
    good.write_bytes(_csv(GOOD))
    assert manage.main(["import-events", str(good), "--source", "12345", "--dry-run"]) == 0
    assert _count(cli_db) == 0
    assert manage.main(["import-events", str(good), "--source", "12345"]) == 0
    assert "已全部导入 3 件" in capsys.readouterr().out
    assert _count(cli_db) == 3
    assert manage.main(["event-rollup-check"]) == 0
