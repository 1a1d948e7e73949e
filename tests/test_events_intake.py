"""Creating cases: validation, coordinate systems, the officer's own zone, photos (type by magic bytes,
size, count, generated names, removed again when the transaction rolls back)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import settings
from events import intake, photos, rollup
from events.intake import IntakeError
from events.photos import PhotoError
from geo import crs
from store.db import session_scope
from store.models import AuditEntry, Event, EventTransition
from store.scope import PermissionDenied, Viewer
from tests.support.tiny_city import codes_for_point
from tests.test_events_support import GRID, GRID_OFFICER, POINT, T0, jpeg_bytes, new_case, png_bytes, prepare


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_APP_UPLOAD_DIR", str(tmp_path / "uploads"))
    settings.reload_settings()
    yield tmp_path / "uploads"
    monkeypatch.delenv("CITYOPS_APP_UPLOAD_DIR")
    settings.reload_settings()


def test_create_sets_codes_deadline_log_audit_and_rollup(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        e = new_case(s, actor=GRID_OFFICER, source="网格员", description="路口有垃圾")
        assert e.status == "reported" and e.version == 1 and e.kind == "事件"
        assert e.grid_code == GRID and e.street_code == codes_for_point(*POINT)["street"]
        assert e.stage_deadline == T0 + timedelta(hours=2)  # 2 working hours from Monday 09:00
        assert e.reporter_user == "g1"
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(EventTransition)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "event_report")) == 1
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_coordinates_in_other_systems_are_converted(sqlite_city_engine, system):
    prepare(sqlite_city_engine)
    lon, lat = crs.from_wgs84(110.3, 21.8, system)
    with session_scope(sqlite_city_engine) as s:
        e = intake.create_event(s, source="12345", category="街面秩序", subcategory="占道经营", title="占道",
                                lon=lon, lat=lat, crs=system, now=T0, reported_at=T0)
        assert e.lon == pytest.approx(110.3, abs=1e-7) and e.lat == pytest.approx(21.8, abs=1e-7)
        assert e.grid_code == codes_for_point(110.3, 21.8)["grid"]
        # The same numbers read as WGS-84 would be ~500 m away: not the same place.
        assert (lon - 110.3) ** 2 + (lat - 21.8) ** 2 > (0.003) ** 2


@pytest.mark.parametrize("kwargs,message", [
    ({"category": "市容环境", "subcategory": "不存在"}, "没有小类"),
    ({"category": "不存在"}, "未知的大类"),
    ({"source": "微信"}, "未知的案件来源"),
    ({"priority": "很急"}, "紧急程度"),
    ({"point": (120.0, 30.0)}, "不在本市范围内"),
    ({"point": (21.9, 110.1)}, "经纬度颠倒"),
    ({"reporter_phone": "call me"}, "联系电话"),
    ({"reporter_id_no": "110101199003071234"}, "校验位"),
    ({"title": "   "}, "标题不能为空"),
    ({"reported_at": T0 + timedelta(hours=2)}, "晚于当前时间"),
])
def test_bad_input_is_refused_and_nothing_written(sqlite_city_engine, kwargs, message):
    prepare(sqlite_city_engine)
    kwargs = dict(kwargs)
    at = kwargs.pop("reported_at", T0)
    with pytest.raises(IntakeError, match=message):
        with session_scope(sqlite_city_engine) as s:
            intake.create_event(
                s, source=kwargs.pop("source", "巡查"), category=kwargs.pop("category", "市容环境"),
                subcategory=kwargs.pop("subcategory", "暴露垃圾"), title=kwargs.pop("title", "垃圾"),
                lon=kwargs.get("point", POINT)[0], lat=kwargs.pop("point", POINT)[1], reported_at=at, now=T0,
                **kwargs)
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


def test_valid_id_number_is_kept():
    assert intake.check_id_no("11010519491231002X") == "11010519491231002X"  # GB 11643 example
    assert intake.check_phone(" 138 1234 1234 ") == "13812341234"


def test_grid_officer_reports_only_in_own_zone(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with pytest.raises(PermissionDenied, match="管辖网格"):
        with session_scope(sqlite_city_engine) as s:
            new_case(s, point=(111.9, 21.1), actor=GRID_OFFICER, source="网格员")
    with pytest.raises(PermissionDenied, match="无权上报"):
        with session_scope(sqlite_city_engine) as s:
            new_case(s, actor=Viewer("boss", "leader", "440900"))


def test_duplicate_source_id_refused(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        new_case(s, source="12345", source_id="GD-1")
    with pytest.raises(IntakeError, match="已存在"):
        with session_scope(sqlite_city_engine) as s:
            new_case(s, source="12345", source_id="GD-1")


def test_photos_are_checked_and_stored_with_generated_names(sqlite_city_engine, uploads):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        e = new_case(s, photos=[("../../etc/passwd.jpg", jpeg_bytes()), ("现场 2.png", png_bytes())])
        stored = e.photos
    assert [p["type"] for p in stored] == ["image/jpeg", "image/png"]
    assert stored[0]["name"] == "passwd.jpg" and stored[1]["name"] == "现场 2.png"
    for meta in stored:
        path = photos.photo_path(meta)
        assert path is not None and path.is_relative_to(uploads.resolve())
        assert path.name.startswith(f"{e.id}-") and ".." not in meta["file"]
    assert photos.photo_path({"file": "../../../etc/passwd"}) is None


@pytest.mark.parametrize("items,message", [
    ([("fake.jpg", b"\xff\xd8\xff" + b"not really a jpeg")], "损坏"),
    ([("doc.pdf", b"%PDF-1.4 hello")], "不是 JPEG 或 PNG"),
    ([("empty.jpg", b"")], "空文件"),
    ([("a.jpg", jpeg_bytes())] * 4, "最多上传 3 张"),
])
def test_bad_photos_are_refused(sqlite_city_engine, uploads, items, message):
    prepare(sqlite_city_engine)
    with pytest.raises(PhotoError, match=message):
        with session_scope(sqlite_city_engine) as s:
            new_case(s, photos=items)
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


def test_oversized_photo_refused(sqlite_city_engine, uploads, monkeypatch):
    prepare(sqlite_city_engine)
    monkeypatch.setenv("CITYOPS_APP_UPLOAD_MAX_MB", "0.0001")
    settings.reload_settings()
    with pytest.raises(PhotoError, match="超过上限"):
        with session_scope(sqlite_city_engine) as s:
            new_case(s, photos=[("big.jpg", jpeg_bytes(size=(64, 64)))])


def test_photos_removed_when_the_transaction_rolls_back(sqlite_city_engine, uploads):
    prepare(sqlite_city_engine)
    with pytest.raises(RuntimeError):
        with session_scope(sqlite_city_engine) as s:
            new_case(s, photos=[("a.jpg", jpeg_bytes())])
            assert len(list(uploads.rglob("*.jpg"))) == 1
            raise RuntimeError("later step failed")
    assert list(uploads.rglob("*.jpg")) == []
    with session_scope(sqlite_city_engine) as s:
        new_case(s, photos=[("b.jpg", jpeg_bytes())])
    assert len(list(uploads.rglob("*.jpg"))) == 1  # a committed photo stays
