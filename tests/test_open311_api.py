"""The Open311 GeoReport v2 API over HTTP (Starlette TestClient on open311.routes), on SQLite and
PostgreSQL: every endpoint in JSON and XML, filing by coordinates / address / region code, deferred
tokens, reading with key scope, the duty officer's queue and a status change seen through the API,
and no personal data in any answer."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from events import workflow
from events.views import EventViews
from geo import crs as crs_mod
from open311.services import get_services
from store.db import session_scope
from store.models import AuditEntry, Event, EventTransition
from tests.test_events_support import ACTORS, DUTY, STREET_OFFICE
from tests.test_open311_support import (  # noqa: F401 - the api fixture
    ADDRESS_GRID, ADDRESS_POINT, EAST_POINT, PERSON, POINT, POINT_GRID, api, audit_calls, counts, new_key)


def records(response) -> list[dict]:  # noqa: ANN001
    """The records of a list answer, read the same way from JSON and XML."""
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    root = ET.fromstring(response.content)
    return [{child.tag: child.text for child in item} for item in root]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_services_and_definitions(api, fmt):
    r = api.get(f"discovery.{fmt}", key=None)
    assert r.status_code == 200
    if fmt == "json":
        doc = r.json()
        assert doc["endpoints"][0]["url"].endswith("/open311/v2")
        assert set(doc["endpoints"][0]["formats"]) == {"text/xml", "application/json"}
    else:
        root = ET.fromstring(r.content)
        assert root.tag == "discovery" and root.find("endpoints/endpoint/formats/format") is not None

    r = api.get(f"services.{fmt}", key=None)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json" if fmt == "json"
                                                                        else "text/xml")
    services = records(r)
    assert len(services) == len(get_services().services) >= 80
    gas = next(s for s in services if s["service_code"] == "E0403")
    assert gas["service_name"] == "燃气管道破裂" and gas["group"] == "突发事件"
    assert str(gas["metadata"]).lower() == "true" and gas["type"] == "realtime"

    r = api.get(f"services/E0403.{fmt}", key=None)
    assert r.status_code == 200
    if fmt == "json":
        attr = r.json()["attributes"][0]
        assert attr["code"] == "gas_smell" and attr["required"] is True
        assert {v["key"] for v in attr["values"]} == {"yes", "no"}
    else:
        root = ET.fromstring(r.content)
        assert root.tag == "service_definition"
        assert [v.text for v in root.findall("attributes/attribute/values/value/key")] == ["yes", "no"]
    r = api.get(f"services/E9999.{fmt}", key=None)
    assert r.status_code == 404 and records(r)[0]["code"] in (404, "404")


def test_a_key_sees_its_own_services(api):
    _, text = new_key(api.engine, "paper", categories=["宣传广告"], deferred=True)
    services = api.get("services.json", key=text).json()
    assert {s["group"] for s in services} == {"宣传广告"} and {s["type"] for s in services} == {"batch"}
    assert api.get("services.json", key="o311_00000000_" + "x" * 43).status_code == 403


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_by_coordinates_creates_a_case_through_the_intake(api, fmt):
    r = api.post(fmt, service_code="E0102", lat=str(POINT[1]), long=str(POINT[0]), description="路口堆了垃圾",
                 address_string="茂南区某路口", device_id="dev-1", account_id="acc-9", **PERSON)
    assert r.status_code == 201, r.text
    created = records(r)[0]
    case_id = int(created["service_request_id"])
    assert created["account_id"] == "acc-9"
    with session_scope(api.engine, readonly=True) as s:
        e = s.get(Event, case_id)
        assert (e.source, e.category, e.subcategory, e.status) == ("12345", "市容环境", "暴露垃圾", "reported")
        assert e.grid_code == POINT_GRID and not e.location_pending
        assert (e.reporter_name, e.reporter_phone) == ("欧阳小明", "13912345678")
        assert e.reporter_user == "api:hotline"
        log = s.scalars(select(EventTransition).where(EventTransition.event_id == case_id)).one()
        assert log.actor_role == "api_client" and log.detail["open311"]["device_id"] == "dev-1"
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "event_report",
                                                  AuditEntry.object_id == str(case_id))).one()
    calls = audit_calls(api.engine)
    assert calls[-1].actor == "api:hotline" and calls[-1].detail["status"] == 201
    assert calls[-1].detail["service_request_id"] == str(case_id)
    assert "13912345678" not in json.dumps(calls[-1].detail, ensure_ascii=False)


@pytest.mark.parametrize("body_format", ["form", "json", "xml"])
def test_post_bodies_form_json_and_xml(api, body_format):
    base = {"api_key": api.key, "service_code": "E0405", "lat": str(POINT[1]), "long": str(POINT[0])}
    if body_format == "form":
        r = api.client.post("/open311/v2/requests.json", data={**base, "attribute[depth_cm]": "30"})
    elif body_format == "json":
        r = api.client.post("/open311/v2/requests.json", json={**base, "attribute": {"depth_cm": 30}})
    else:
        xml = "<service_request>" + "".join(f"<{k}>{v}</{k}>" for k, v in base.items()) + \
              '<attribute code="depth_cm">30</attribute></service_request>'
        r = api.client.post("/open311/v2/requests.json", content=xml.encode(), headers={"content-type": "text/xml"})
    assert r.status_code == 201, r.text
    with session_scope(api.engine, readonly=True) as s:
        e = s.get(Event, int(r.json()[0]["service_request_id"]))
        assert "【附加信息】积水深度（厘米，估计）：30" in e.description and e.priority == "urgent"


def test_other_coordinate_systems_and_region_codes(api):
    lon, lat = crs_mod.from_wgs84(*POINT, "gcj02")
    r = api.post(service_code="E0102", lat=str(lat), long=str(lon), crs="gcj02")
    assert r.status_code == 201
    r2 = api.post(service_code="E0102", region_code=POINT_GRID)
    r3 = api.post(service_code="E0102", region_code="440902001001")
    with session_scope(api.engine, readonly=True) as s:
        e = s.get(Event, int(r.json()[0]["service_request_id"]))
        assert e.lon == pytest.approx(POINT[0], abs=1e-6) and e.grid_code == POINT_GRID
        by_grid = s.get(Event, int(r2.json()[0]["service_request_id"]))
        assert by_grid.grid_code == POINT_GRID and not by_grid.location_pending
        by_community = s.get(Event, int(r3.json()[0]["service_request_id"]))
        assert by_community.grid_code is None and by_community.community_code == "440902001001"
        assert by_community.location_pending


def test_an_address_is_placed_or_waits_in_the_duty_officers_queue(api):
    placed = api.post(service_code="E0102", address_string="广东省茂名市茂南区油城五路１２号附近")
    unknown = api.post(service_code="E0102", address_string="茂南区某个不存在的巷子口")
    assert placed.status_code == unknown.status_code == 201
    assert "待人工定位" in unknown.json()[0]["service_notice"]
    placed_id, pending_id = (int(r.json()[0]["service_request_id"]) for r in (placed, unknown))
    with session_scope(api.engine, readonly=True) as s:
        e = s.get(Event, placed_id)
        assert e.grid_code == ADDRESS_GRID and not e.location_pending
        assert (e.lon, e.lat) == pytest.approx(ADDRESS_POINT)
        p = s.get(Event, pending_id)
        assert p.location_pending and p.district_code == "440902" and p.grid_code is None
        log = s.scalars(select(EventTransition).where(EventTransition.event_id == pending_id)).one()
        assert log.detail["geocode"]["pending"] is True
    with EventViews.open(api.engine, DUTY) as v:
        queue = {row["id"]: row for row in v.queue(page_size=100).rows}
    assert queue[pending_id]["location_pending"] and not queue[placed_id]["location_pending"]
    shown = records(api.get(f"requests/{pending_id}.xml"))[0]
    assert "待定位" in shown["status_notes"]


def test_status_changes_show_in_get_request(api):
    case_id = int(api.post(service_code="E0102", lat=str(POINT[1]), long=str(POINT[0])).json()[0]["service_request_id"])
    first = api.get(f"requests/{case_id}.json").json()[0]
    assert first["status"] == "open" and first["status_notes"] == "待立案"
    with session_scope(api.engine) as s:
        workflow.transition(s, case_id, "register", DUTY)
        workflow.transition(s, case_id, "dispatch", DUTY, department_code=STREET_OFFICE)
    after = api.get(f"requests/{case_id}.json").json()[0]
    assert after["status_notes"] == "待签收" and after["agency_responsible"] != first["agency_responsible"]
    assert after["updated_datetime"] >= first["updated_datetime"]
    assert datetime.fromisoformat(after["expected_datetime"]) > datetime.now(timezone.utc)
    with session_scope(api.engine) as s:
        workflow.transition(s, case_id, "accept", ACTORS["dept"])
        workflow.transition(s, case_id, "feedback", ACTORS["dept"], "已清理")
        workflow.transition(s, case_id, "verify_pass", ACTORS["grid"])
        workflow.transition(s, case_id, "close", DUTY, satisfaction=5)
    closed = records(api.get(f"requests/{case_id}.xml"))[0]
    assert closed["status"] == "closed" and closed["status_notes"] == "已结案" and "expected_datetime" not in closed
    assert [r["service_request_id"] for r in api.get("requests.json", status="closed").json()] == [str(case_id)]
    assert api.get("requests.json", status="open").json() == []


def test_no_personal_data_in_any_answer(api):
    r = api.post(service_code="E0102", lat=str(POINT[1]), long=str(POINT[0]),
                 description="请联系我 13912345678，身份证 440902199001011234，邮箱 xm@example.com", **PERSON)
    case_id = r.json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        for answer in (api.get(f"requests.{fmt}"), api.get(f"requests/{case_id}.{fmt}")):
            text = answer.content.decode("utf-8")
            assert answer.status_code == 200 and case_id in text
            for secret in ("13912345678", "欧阳", "小明", "xm@example.com", "199001011234"):
                assert secret not in text, (fmt, secret)
            assert "139****5678" in text


def test_listing_filters_paging_and_scope(api):
    ids = [int(api.post(service_code=code, lat=str(POINT[1]), long=str(POINT[0])).json()[0]["service_request_id"])
           for code in ("E0102", "E0102", "E0201")]
    east = api.post(service_code="E0102", lat=str(EAST_POINT[1]), long=str(EAST_POINT[0]))
    assert east.status_code == 201
    page1 = api.get("requests.json", page_size="2")
    assert page1.status_code == 200 and page1.headers["x-total-count"] == "4" and len(page1.json()) == 2
    assert 'rel="next"' in page1.headers["link"] and "api_key" not in page1.headers["link"]
    page2 = api.get("requests.json", page_size="2", page="2")
    every = {r["service_request_id"] for r in page1.json() + page2.json()}
    assert every == {*map(str, ids), east.json()[0]["service_request_id"]}
    assert len(api.get("requests.json", service_code="E0201").json()) == 1
    picked = api.get("requests.json", service_request_id=f"{ids[0]},{ids[2]}").json()
    assert {r["service_request_id"] for r in picked} == {str(ids[0]), str(ids[2])}
    now = datetime.now(timezone.utc)
    assert len(api.get("requests.json", start_date=(now - timedelta(days=1)).isoformat(),
                       end_date=(now + timedelta(days=1)).isoformat()).json()) == 4
    assert api.get("requests.json", start_date=(now + timedelta(hours=1)).isoformat()).json() == []

    # A key for 茂南区 and 宣传广告 only: nothing of 电白区, nothing of other categories.
    _, narrow = new_key(api.engine, "maonan-ads", zone="440902", categories=["宣传广告"])
    seen = api.get("requests.json", key=narrow).json()
    assert [r["service_request_id"] for r in seen] == [str(ids[2])]
    assert api.get(f"requests/{ids[0]}.json", key=narrow).status_code == 404
    assert api.get(f"requests/{east.json()[0]['service_request_id']}.xml", key=narrow).status_code == 404
    assert api.get("requests.json", key=narrow, service_code="E0102").status_code == 403
    refused = api.post(key=narrow, service_code="E0102", lat=str(POINT[1]), long=str(POINT[0]))
    assert refused.status_code == 403
    outside = api.post(key=narrow, service_code="E0201", lat=str(EAST_POINT[1]), long=str(EAST_POINT[0]))
    assert outside.status_code == 403 and "范围" in outside.json()[0]["description"]


def test_deferred_keys_answer_with_a_token(api):
    _, batch = new_key(api.engine, "batch-sync", deferred=True)
    r = api.post("xml", key=batch, service_code="E0102", lat=str(POINT[1]), long=str(POINT[0]), **PERSON)
    assert r.status_code == 202
    token = records(r)[0]["token"]
    # The test client runs the background task before it returns: the case exists now.
    for fmt in ("json", "xml"):
        state = records(api.get(f"tokens/{token}.{fmt}", key=batch))[0]
        assert state["status"] == "created" and state["token"] == token
        case_id = int(state["service_request_id"])
    with session_scope(api.engine, readonly=True) as s:
        assert s.get(Event, case_id).reporter_phone == "13912345678"
        from store.models import Open311Token  # noqa: PLC0415 - this one assertion reads the token row

        assert s.scalars(select(Open311Token)).one().payload is None  # personal data only on the case
    assert api.get(f"tokens/{token}.json").status_code == 404        # another key's token
    assert api.get("tokens/nonsense.json", key=batch).status_code == 404


def test_calls_are_audited_without_the_key(api):
    api.get("services.json", key=None)
    api.get("requests.json", status="open")
    api.get("requests/999999.json")
    rows = audit_calls(api.engine)
    assert [(r.object_id, r.detail["status"]) for r in rows] == [
        ("GET services", 200), ("GET requests", 200), ("GET request", 404)]
    assert rows[0].actor == "api:anonymous" and rows[1].actor == "api:hotline" and rows[1].scope == "440900"
    assert all(api.key not in json.dumps(r.detail, ensure_ascii=False) for r in rows)
    assert rows[1].client == "testclient"
