"""数据导入: the screen as each role (the kinds it may import, or a Chinese refusal), upload → 检查 →
确认导入 through AppTest (a good file is checked without a write, then imported; a bad file lists every
bad row as plain text and writes nothing), and every kind's check and import through ui.import_kinds on
SQLite and PostgreSQL (row counts before and after, progress, audit)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import streamlit as st
from shapely.geometry import box, mapping
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import settings
from auth import roles
from auth.roles import ROLE_NAMES
from geo import crs as crs_mod
from geo.locate import clear_locator_cache
from store.db import dispose_engines, get_engine, session_scope
from store.models import AuditEntry, Base, Event, ExternalValue, InventoryItem, Region, Resource, Sensor, SensorReading
from store.scope import PermissionDenied, Viewer
from tabular import Column, Contract, read_table, stages
from tests.support.datav import datav_files
from tests.test_events_support import prepare
from ui import import_kinds

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "data_import.py")
DUTY = Viewer("zhiban", "duty_officer", "440900", display_name="值班员")
ZONES = {"leader": "440900", "department": "440900", "grid_officer": "440902001001001"}

CASES = ("工单编号,受理时间,大类,小类,问题描述,地址,经度,纬度\n"
         "GD-001,2026-11-20 09:30,街面秩序,占道经营,门口摆摊,油城路1号,110.10,21.90\n"
         "GD-002,2026-11-20 10:05,市容环境,暴露垃圾,垃圾未清运,站前路,111.60,21.20\n"
         "GD-003,2026-11-21 14:00,突发事件,道路积水,积水严重,人民路,110.70,21.60\n")
# Lines 3–6 are bad; line 4's description and line 5's 小类 carry Markdown, HTML and a formula.
BAD_CASES = ("工单编号,受理时间,大类,小类,问题描述,地址,经度,纬度\n"
             "GD-101,2026-11-20 09:30,街面秩序,占道经营,好的一行,油城路1号,110.10,21.90\n"
             "GD-102,2026-11-20 09:30,街面秩序,占道经营,城外,油城路1号,119.10,21.90\n"
             "GD-103,不是时间,街面秩序,占道经营,**粗体** <b>x</b> =1+1,油城路,110.1,21.9\n"
             "GD-104,2026-11-20 09:30,街面秩序,**假小类** [外链](http://198.51.100.7/x),x,路,110.1,21.9\n"
             "GD-101,2026-11-20 09:30,街面秩序,占道经营,重复编号,油城路1号,110.10,21.90\n")
STATS = ("指标编号,区划代码,期间,数值,来源\n"
         "ec_retail_sales,440902,2026-09,\"1,234.5\",市统计局\n"
         "ec_retail_sales,440902,2026-10,1300,市统计局\n"
         "ec_gdp_growth,440900,2026-09,5.2,\n")
BAD_STATS = ("指标编号,区划代码,期间,数值\n"
             "ec_retail_sales,440902,2026-09,12\n"
             "no_such_indicator,440902,2026-09,1\n"
             "ec_retail_sales,999999,2026-09,1\n"
             "ec_retail_sales,440902,2026/13,abc\n")
SENSORS = ("id,kind,name,lon,lat\n"
           "AQ-1,air,一号站,110.2,21.7\n"
           "AQ-2,air,二号站,111.2,21.3\n")
READINGS = ("传感器编号,时间,指标,数值\n"
            "AQ-1,2026-11-25T10:00:00+08:00,PM2.5,35.2\n"
            "AQ-1,2026-11-25T10:00:00+08:00,PM10,61\n"
            "AQ-2,2026-11-25 11:00,PM2.5,40\n")  # no zone: local time (the screen's default)
RESOURCES = ("编号,类型,名称,经度,纬度,人数,容量,面积,装备,联系人,电话,状态\n"
             "FS-01,消防站,茂南消防站,110.30,21.70,30,,,水罐车:2;登高车:1,张三,0668-1234567,\n"
             "WH-01,物资储备库,市储备库,111.60,21.30,,,,,,,\n")
INVENTORY = "仓库编号,物资,单位,数量\nWH-01,沙袋,袋,800\nWH-01,帐篷,,40\n"


def _feature(code: str, name: str, parent: str, geom) -> dict:  # noqa: ANN001
    return {"type": "Feature", "properties": {"code": code, "name": name, "parent_code": parent},
            "geometry": mapping(geom)}


def _geojson(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False).encode()


# The north street of 茂南区 again (same square: an update) and a new community inside it.
BOUNDARIES = _geojson(_feature("440902001", "茂南区北街道", "440902", box(110.0, 21.5, 111.0, 22.0)),
                      _feature("440902001003", "新城社区", "440902001", box(110.1, 21.6, 110.2, 21.7)))
BAD_BOUNDARIES = _geojson(_feature("12345", "坏代码", "440902", box(110.1, 21.6, 110.2, 21.7)),
                          _feature("440999001", "无上级", "440999", box(110.1, 21.6, 110.2, 21.7)),
                          _feature("440902001004", "在上级之外", "440902001", box(111.5, 21.1, 111.6, 21.2)))


# -- fixtures and helpers -------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _fresh_locator():
    clear_locator_cache()
    yield
    clear_locator_cache()


@pytest.fixture
def app_db(sqlite_city_engine, monkeypatch):
    prepare(sqlite_city_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sqlite_city_engine
    monkeypatch.delenv("DATABASE_URL")
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def _page(viewer: Viewer) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["viewer"] = viewer
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _upload(at: AppTest, kind: str, name: str, data: bytes, **options: str) -> AppTest:
    at.selectbox(key="data_import_kind").set_value(kind).run()
    for key, value in options.items():
        at.selectbox(key=f"data_import_{kind}_{key}").set_value(value).run()
    at.file_uploader[0].set_value((name, data, "application/octet-stream")).run()
    _ok(at)
    return at


def _check(at: AppTest) -> AppTest:
    at.button(key="data_import_check_button").click().run()
    _ok(at)
    return at


def _commit(at: AppTest) -> AppTest:
    at.button(key="data_import_commit_button").click().run()
    _ok(at)
    return at


def _buttons(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


def _count(engine, model) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def _summary(at: AppTest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item, value in at.dataframe[0].value.itertuples(index=False):
        out.setdefault(item, []).append(value)
    return out


def _imports(engine) -> list[tuple[str, str, str]]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "data_import").order_by(AuditEntry.id)).all()
        return [(r.detail["kind"], r.detail["mode"], r.detail["outcome"]) for r in rows]


def _markdown_text(at: AppTest) -> str:
    """Everything drawn through Markdown (markdown, captions, alerts)."""
    return " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.success, *at.error, *at.info, *at.warning])


# -- the screen, as each role ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", list(ROLE_NAMES))
def test_each_role_sees_its_kinds_or_a_chinese_refusal(app_db, role):
    at = _page(Viewer(f"u_{role}", role, ZONES.get(role, "440900"), department_code="chengguan"
                      if role == "department" else None))
    _ok(at)
    allowed = [k.label for k in import_kinds.kinds_for(role)]
    if allowed:
        assert at.selectbox(key="data_import_kind").options == allowed
    else:
        assert [e.value for e in at.error] == ["您的角色无权导入数据"]
        assert not at.selectbox and not at.file_uploader
        with session_scope(app_db, readonly=True) as s:
            assert s.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == "access_denied", AuditEntry.actor == f"u_{role}")) == 1


def test_the_duty_officer_imports_every_kind_and_administrators_none():
    assert [k.key for k in import_kinds.kinds_for("duty_officer")] == [
        "boundaries", "cases", "statistics", "sensors", "readings", "resources", "inventory"]
    for role in (*roles.ADMIN_ROLES, "leader", "department", "grid_officer", "wall_display"):
        assert import_kinds.kinds_for(role) == []
    page = next(p for p in roles.PAGES if p.url_path == "data-import")
    assert page.roles == {"duty_officer"}


def test_kinds_follow_the_capability_of_each_kind(app_db, monkeypatch):
    monkeypatch.setitem(roles.CAPABILITIES, "import_statistics", frozenset({"duty_officer", "leader"}))
    at = _page(Viewer("lingdao", "leader", "440900"))
    _ok(at)
    assert at.selectbox(key="data_import_kind").options == ["统计数据"]


# -- upload → check → commit ----------------------------------------------------------------------------------

def test_good_case_file_is_checked_without_writing_then_imported(app_db):
    at = _page(DUTY)
    assert "data_import_check_button" not in _buttons(at)  # nothing to check before a file is chosen
    at = _check(_upload(at, "cases", "12345工单.csv", CASES.encode("gbk"), source="12345", crs="wgs84"))
    assert [e.value for e in at.success] == ["检查通过，可以导入：没有发现问题（尚未写入任何数据）"]
    summary = _summary(at)
    assert summary["文件"] == ["12345工单.csv"] and summary["读取方式"] == ["CSV，编码 GBK"]
    assert (summary["数据行数"], summary["将新增"]) == (["3"], ["3"])
    assert _count(app_db, Event) == 0  # the check wrote nothing
    assert "data_import_commit_button" in _buttons(at)
    at = _commit(at)
    assert [e.value for e in at.success] == ["导入完成"]
    assert _summary(at)["已新增"] == ["3"]
    assert any("指挥调度" in c.value for c in at.caption)  # where the cases now show
    assert _count(app_db, Event) == 3
    with session_scope(app_db, readonly=True) as s:
        assert set(s.scalars(select(Event.source))) == {"12345"}
    # The picker is fresh and there is nothing to confirm: a second click cannot import the file twice.
    assert at.file_uploader[0].value is None and "data_import_commit_button" not in _buttons(at)
    assert _imports(app_db) == [("cases", "check", "passed"), ("cases", "import", "imported")]
    with session_scope(app_db, readonly=True) as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.action == "data_import")).all()[-1]
        assert (row.actor, row.object_id) == ("zhiban", "12345工单.csv")
        assert (row.detail["rows"], row.detail["inserted"], row.detail["problems"]) == (3, 3, 0)


def test_bad_file_lists_every_bad_row_as_plain_text_and_writes_nothing(app_db):
    at = _check(_upload(_page(DUTY), "cases", "bad.csv", BAD_CASES.encode(), source="巡查", crs="wgs84"))
    assert not at.success and at.error[0].value.startswith("检查未通过")
    problems = at.dataframe[1].value
    assert list(problems.columns) == ["位置", "列", "问题"]
    assert sorted(set(problems["位置"])) == ["第 3 行", "第 4 行", "第 5 行", "第 6 行"]
    text = " ".join(problems["问题"])
    assert "不在本市范围内" in text and "无法识别的时间" in text and "与第 2 行重复" in text
    assert "**假小类** [外链](http://198.51.100.7/x)" in text  # the cell as it is, as data
    assert "粗体" not in _markdown_text(at) and "198.51.100.7" not in _markdown_text(at)
    assert "data_import_commit_button" not in _buttons(at)
    assert _count(app_db, Event) == 0
    assert _imports(app_db) == [("cases", "check", "failed")]


def test_a_check_holds_only_for_the_same_file_and_options(app_db):
    at = _check(_upload(_page(DUTY), "cases", "c.csv", CASES.encode(), source="12345", crs="wgs84"))
    assert "data_import_commit_button" in _buttons(at)
    at.selectbox(key="data_import_cases_crs").set_value("gcj02").run()
    assert "data_import_commit_button" not in _buttons(at) and not at.dataframe


def test_an_import_refused_after_its_check_writes_nothing_and_says_why(app_db):
    at = _check(_upload(_page(DUTY), "cases", "c.csv", CASES.encode(), source="12345", crs="wgs84"))
    # Someone imports the same tickets between the check and the confirmation.
    import_kinds.run(import_kinds.kinds_for("duty_officer")[1], app_db, DUTY, CASES.encode(), "other.csv",
                     {"source": "12345", "crs": "wgs84"}, check_only=False)
    assert _count(app_db, Event) == 3
    at = _commit(at)
    assert at.error[0].value.startswith("导入未通过")
    assert "已导入过" in " ".join(at.dataframe[-1].value["问题"])
    assert _count(app_db, Event) == 3
    assert _imports(app_db)[-1] == ("cases", "import", "failed")


def test_statistics_and_boundaries_through_the_screen(app_db):
    at = _commit(_check(_upload(_page(DUTY), "statistics", "统计.csv", STATS.encode("utf-8-sig"))))
    assert [e.value for e in at.success] == ["导入完成"] and _count(app_db, ExternalValue) == 3
    at = _check(_upload(at, "boundaries", "边界.geojson", BOUNDARIES, crs="wgs84"))
    summary = _summary(at)
    assert (summary["数据要素数"], summary["将新增"], summary["将更新"]) == (["2"], ["1"], ["1"])
    with session_scope(app_db, readonly=True) as s:
        assert s.get(Region, "440902001003") is None
    at = _commit(at)
    assert [e.value for e in at.success] == ["导入完成"]
    with session_scope(app_db, readonly=True) as s:
        assert s.get(Region, "440902001003").name == "新城社区"
    at = _check(_upload(at, "boundaries", "坏边界.geojson", BAD_BOUNDARIES, crs="wgs84"))
    assert sorted(set(at.dataframe[1].value["位置"])) == ["第 1 个要素", "第 2 个要素", "第 3 个要素"]


# -- every kind's check and import on both backends ----------------------------------------------------------

def _kind(key: str) -> import_kinds.Kind:
    return next(k for k in import_kinds.kinds_for("duty_officer") if k.key == key)


# (kind, file name, content, options, model counted, rows it adds, bad content or None)
KIND_CASES = [
    ("boundaries", "b.geojson", BOUNDARIES, {"crs": "wgs84", "encoding": ""}, Region, 1, BAD_BOUNDARIES),
    ("cases", "c.csv", CASES.encode(), {"source": "巡查", "crs": "wgs84"}, Event, 3, BAD_CASES.encode()),
    ("statistics", "s.csv", STATS.encode(), {}, ExternalValue, 3, BAD_STATS.encode()),
    ("sensors", "sensors.csv", SENSORS.encode(), {"crs": "wgs84"}, Sensor, 2,
     (SENSORS + "BAD/1,air,坏编号,110.2,21.7\n").encode()),
    ("readings", "r.csv", READINGS.encode(), {"assume_tz": "Asia/Shanghai"}, SensorReading, 3,
     (READINGS + "ZZ,2026-11-25T10:00:00+08:00,PM2.5,35\n").encode()),
    ("resources", "res.csv", RESOURCES.encode(), {"crs": "wgs84"}, Resource, 2,
     (RESOURCES + "XX-01,地震救援队,未知类型,110.5,21.5,,,,,,,\n").encode()),
    ("inventory", "inv.xlsx", None, {}, InventoryItem, 2, b"not a workbook"),
]


def _xlsx(text: str) -> bytes:
    from io import BytesIO

    from openpyxl import Workbook

    wb = Workbook()
    for line in text.strip().splitlines():
        wb.active.append([int(c) if c.isdigit() else c or None for c in line.split(",")])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _setup(engine, key: str) -> None:  # noqa: ANN001
    prepare(engine)
    if key == "readings":
        import_kinds.run(_kind("sensors"), engine, DUTY, SENSORS.encode(), "s.csv", {"crs": "wgs84"}, check_only=False)
    if key == "inventory":
        import_kinds.run(_kind("resources"), engine, DUTY, RESOURCES.encode(), "r.csv", {"crs": "wgs84"},
                         check_only=False)


@pytest.mark.parametrize("key,name,data,options,model,added,bad", KIND_CASES, ids=[c[0] for c in KIND_CASES])
def test_check_writes_nothing_and_import_writes_all_or_nothing(city_engine, key, name, data, options, model, added,
                                                              bad):
    data = data if data is not None else _xlsx(INVENTORY)
    _setup(city_engine, key)
    kind = _kind(key)
    before = _count(city_engine, model)
    seen: list[tuple[int, int]] = []
    bad_outcome = import_kinds.run(kind, city_engine, DUTY, bad, name, options, check_only=False)
    assert not bad_outcome.ok and bad_outcome.problems and all(p.message for p in bad_outcome.problems)
    assert _count(city_engine, model) == before
    checked = import_kinds.run(kind, city_engine, DUTY, data, name, options, check_only=True,
                               progress=lambda done, total: seen.append((done, total)))
    assert checked.ok, checked.problems
    assert checked.inserted == added and checked.read_as
    assert _count(city_engine, model) == before
    assert seen and seen[-1][0] == seen[-1][1] and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    seen.clear()
    done = import_kinds.run(kind, city_engine, DUTY, data, name, options, check_only=False,
                            progress=lambda d, t: seen.append((d, t)))
    assert done.ok and done.inserted == added and (done.rows, done.updated) == (checked.rows, checked.updated)
    assert _count(city_engine, model) == before + added
    assert seen and max(d for d, _ in seen) <= seen[-1][1]
    assert [(mode, outcome) for k, mode, outcome in _imports(city_engine) if k == key][-3:] == [
        ("import", "failed"), ("check", "passed"), ("import", "imported")]


def test_a_role_without_the_kind_is_refused_and_audited(city_engine):
    leader = Viewer("lingdao", "leader", "440900")
    with pytest.raises(PermissionDenied, match="无权导入"):
        import_kinds.run(_kind("cases"), city_engine, leader, CASES.encode(), "c.csv",
                         {"source": "12345", "crs": "wgs84"}, check_only=True)
    assert _count(city_engine, Event) == 0
    assert _imports(city_engine) == [("cases", "check", "refused")]


def test_a_file_over_the_import_limit_is_refused_in_chinese(city_engine, monkeypatch):
    monkeypatch.setattr(import_kinds, "max_bytes", lambda: 100)
    out = import_kinds.run(_kind("cases"), city_engine, DUTY, CASES.encode(), "c.csv",
                           {"source": "12345", "crs": "wgs84"}, check_only=True)
    assert not out.ok and "超过单次导入上限" in out.problems[0].message


def test_one_bar_over_the_stages_of_an_import():
    seen: list[tuple[int, int]] = []
    reading, checking, writing = stages(lambda done, total: seen.append((done, total)), 1, 1, 0)
    assert writing is None and stages(None, 1, 1) == [None, None]
    reading(5, 10)
    reading(10, 10)
    checking(1, 2)
    checking(2, 2)
    assert seen == [(500, 2000), (1000, 2000), (1500, 2000), (2000, 2000)]
    seen.clear()
    read_table(("a,b\n" + "1,2\n" * 5000).encode(), Contract("t", (Column("a", "A"), Column("b", "B"))), name="t.csv",
               progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5002, 5002) and [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 3


def test_a_zipped_projected_shapefile_imports_through_the_screen(tmp_path):
    """The grid office's usual hand-over: a zipped Shapefile in CGCS2000 3-degree Gauss-Krüger metres
    (EPSG:4546) with GBK attributes and DataV-style field names. "按文件自带" takes the CRS from the .prj;
    the check writes nothing; the import adds the districts under the city."""
    city_path, _full, parts = datav_files(tmp_path / "datav", "440900")
    engine = get_engine(f"sqlite:///{tmp_path / 'shp.db'}")
    Base.metadata.create_all(engine)
    outcome = import_kinds.run(_kind("boundaries"), engine, DUTY, city_path.read_bytes(), "440900.json",
                               {"crs": "gcj02", "encoding": ""}, check_only=False)
    assert outcome.ok, outcome.problems
    wgs = crs_mod.transform_geometry(np.asarray([g for _, _, g in parts], dtype=object), "gcj02")
    frame = gpd.GeoDataFrame({"adcode": [c for c, _, _ in parts], "name": [n for _, n, _ in parts],
                              "parent": ["440900"] * len(parts)}, geometry=list(wgs), crs="EPSG:4326")
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(frame.to_crs("EPSG:4546"), folder / "区县.shp", encoding="GBK")
    archive = tmp_path / "区县.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, part.name)
    before = _count(engine, Region)
    checked = import_kinds.run(_kind("boundaries"), engine, DUTY, archive.read_bytes(), "区县.zip",
                               {"crs": "", "encoding": ""}, check_only=True)
    assert checked.ok, checked.problems
    assert checked.inserted == len(parts) and _count(engine, Region) == before
    done = import_kinds.run(_kind("boundaries"), engine, DUTY, archive.read_bytes(), "区县.zip",
                            {"crs": "", "encoding": ""}, check_only=False)
    assert done.ok and _count(engine, Region) == before + len(parts)
    assert "Shapefile" in done.read_as
