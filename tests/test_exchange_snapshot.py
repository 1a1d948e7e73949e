"""The period snapshot for the 共享交换平台 (cases, regions, indicators as JSON Lines with a manifest,
each file replaced atomically), and the 上报及时率 indicator over the upward deliveries."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

import settings
from exchange import snapshot
from indicators import compute
from store.db import session_scope
from store.models import OutboxDelivery
from store.period import Period
from store.scope import Viewer
from tests.test_events_support import STREET_OFFICE, T0, drive, new_case, prepare

PERIOD = Period.parse("2026-11")


def test_snapshot_files_with_manifest(sqlite_city_engine, tmp_path):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        closed = new_case(s, reporter_phone="13800001111")
        drive(s, closed.id, "closed")
        new_case(s, reported_at=T0 + timedelta(hours=1))
        new_case(s, reported_at=datetime(2026, 10, 30, tzinfo=timezone.utc))  # another period
    report = snapshot.export(sqlite_city_engine, PERIOD, tmp_path)
    folder = tmp_path / "2026-11"
    assert sorted(p.name for p in folder.iterdir()) == ["cases.jsonl", "indicators.jsonl", "manifest.json",
                                                         "regions.jsonl"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["period"] == "2026-11" and set(manifest["files"]) == {"cases.jsonl", "regions.jsonl",
                                                                         "indicators.jsonl"}
    for name, info in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["bytes"]
        assert len(data.splitlines()) == info["rows"]
    cases = [json.loads(line) for line in (folder / "cases.jsonl").read_text().splitlines()]
    assert len(cases) == 2 and report.files["cases.jsonl"]["rows"] == 2
    first = next(c for c in cases if c["caseCode"] == str(closed.id))
    assert first["result"]["status"] == "closed" and first["department"]["code"] == STREET_OFFICE
    assert first["times"]["close"] and first["regionCode"] == "440902001001001"
    assert "13800001111" not in (folder / "cases.jsonl").read_text()  # no personal data
    regions = [json.loads(line) for line in (folder / "regions.jsonl").read_text().splitlines()]
    assert {r["level"] for r in regions} >= {"city", "district", "grid"}
    indicators = [json.loads(line) for line in (folder / "indicators.jsonl").read_text().splitlines()]
    assert {"ex_report_timely_rate", "sv_supervised_ontime_rate"} <= {i["indicatorId"] for i in indicators}
    assert {i["level"] for i in indicators} == {"city", "district"}


def test_a_failed_rewrite_leaves_the_old_file(tmp_path):
    target = tmp_path / "x" / "cases.jsonl"
    snapshot.write_atomically(target, [{"a": 1}, {"a": 2}])
    old = target.read_bytes()

    def rows():  # noqa: ANN202
        yield {"a": 3}
        raise RuntimeError("the database went away mid-export")

    with pytest.raises(RuntimeError):
        snapshot.write_atomically(target, rows())
    assert target.read_bytes() == old
    assert [p.name for p in target.parent.iterdir()] == ["cases.jsonl"]  # no temporary file left behind


@pytest.fixture
def upper_configured(monkeypatch):
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_URL", "https://upper.example.gov.cn/receive")
    settings.reload_settings()
    yield
    monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_URL")
    settings.reload_settings()


def test_report_timeliness_indicator(city_engine, upper_configured):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        ids = [new_case(s, reported_at=T0 + timedelta(minutes=i)).id for i in range(5)]
    with session_scope(city_engine) as s:
        d = OutboxDelivery
        rows = sorted(s.execute(d.__table__.select().where(d.destination == "upper")).all(), key=lambda r: r.id)
        on_time, late, waiting_past_due, failed, _still_due = rows
        s.execute(update(d).where(d.id == on_time.id).values(state="delivered", on_time=True))
        s.execute(update(d).where(d.id == late.id).values(state="delivered", on_time=False))
        s.execute(update(d).where(d.id == failed.id).values(state="failed"))
        s.execute(update(d).where(d.id == _still_due.id).values(due_at=datetime.now(timezone.utc) + timedelta(hours=1)))
        assert waiting_past_due.due_at < datetime.now(timezone.utc)
    viewer = Viewer("lingdao", "leader", "440900")
    result = compute("ex_report_timely_rate", "440900", PERIOD, viewer, engine=city_engine,
                     now=datetime(2026, 11, 30, tzinfo=timezone.utc))
    # on time 1 of (delivered 2 + past due 2); the one still inside its window is not judged yet
    assert result.value == pytest.approx(25.0)
    district = compute("ex_report_timely_rate", "440902", PERIOD, viewer, engine=city_engine,
                       now=datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert district.value == pytest.approx(25.0) and len(ids) == 5
