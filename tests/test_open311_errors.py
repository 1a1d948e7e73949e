"""Every refusal of the Open311 API: the spec's error answer (a list of {code, description}) in the
requested format with 400/403/404 (429 for the rate limit), an audit row for the call, and nothing
else written (row counts), on SQLite and PostgreSQL. Keys: scope, revocation (through manage.py)."""
from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager, redirect_stdout
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import update

import manage
import settings
from store.db import session_scope
from store.models import ApiCallWindow, ApiKey
from tests.test_open311_support import (  # noqa: F401 - the api fixture
    EAST_POINT, OUTSIDE, POINT, api, audit_calls, counts, new_key, windows)

GOOD = {"service_code": "E0102", "lat": str(POINT[1]), "long": str(POINT[0])}


@contextmanager
def setting(name: str, value: str):  # noqa: ANN201
    """A CITYOPS_* override for the block, and the settings re-read before and after it."""
    os.environ[name] = value
    settings.reload_settings()
    try:
        yield
    finally:
        os.environ.pop(name, None)
        settings.reload_settings()


def error_of(response, fmt: str) -> tuple[int, str]:  # noqa: ANN001
    """(code, description) of a spec error answer, checking its shape in either format."""
    if fmt == "xml":
        assert response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.tag == "errors" and [c.tag for c in root[0]] == ["code", "description"]
        return int(root[0].findtext("code")), root[0].findtext("description")
    body = response.json()
    assert isinstance(body, list) and set(body[0]) == {"code", "description"}
    return body[0]["code"], body[0]["description"]


BAD_POSTS = [
    # (what, how to send it, status, words in the description)
    ("unknown service", {"data": {**GOOD, "service_code": "E9999"}}, 400, "未知的 service_code"),
    ("no service", {"data": {"lat": GOOD["lat"], "long": GOOD["long"]}}, 400, "缺少 service_code"),
    ("outside the city", {"data": {**GOOD, "lat": str(OUTSIDE[1]), "long": str(OUTSIDE[0])}}, 400, "不在本市范围内"),
    ("swapped coordinates", {"data": {**GOOD, "lat": GOOD["long"], "long": GOOD["lat"]}}, 400, "颠倒"),
    ("half a location", {"data": {"service_code": "E0102", "lat": "21.9"}}, 400, "同时提供"),
    ("no location", {"data": {"service_code": "E0102"}}, 400, "缺少位置"),
    ("unknown crs", {"data": {**GOOD, "crs": "mercator"}}, 400, "坐标系"),
    ("bad region code", {"data": {"service_code": "E0102", "region_code": "44x"}}, 400, "region_code"),
    ("foreign region", {"data": {"service_code": "E0102", "region_code": "110101"}}, 400, "不是本市"),
    ("missing required attribute", {"data": {**GOOD, "service_code": "E0403"}}, 400, "缺少必填的附加信息"),
    ("bad attribute value", {"data": {**GOOD, "service_code": "E0403", "attribute[gas_smell]": "maybe"}}, 400, "值应为"),
    ("unknown attribute", {"data": {**GOOD, "attribute[color]": "red"}}, 400, "没有附加信息"),
    ("media not a URL", {"data": {**GOOD, "media_url": "file:///etc/passwd"}}, 400, "media_url"),
    ("media too long", {"data": {**GOOD, "media_url": "https://x.example/" + "a" * 1100}}, 400, "media_url"),
    ("bad phone", {"data": {**GOOD, "phone": "call me"}}, 400, "联系电话"),
    ("bad email", {"data": {**GOOD, "email": "not-an-address"}}, 400, "email"),
    ("control characters", {"data": {**GOOD, "description": "bad\x00text"}}, 400, "控制字符"),
    ("wrong jurisdiction", {"data": {**GOOD, "jurisdiction_id": "110000"}}, 400, "jurisdiction_id"),
    ("malformed JSON", {"content": b'{"service_code": "E01', "headers": {"content-type": "application/json"}}, 400,
     "JSON"),
    ("JSON not an object", {"content": b'["E0102"]', "headers": {"content-type": "application/json"}}, 400, "对象"),
    ("malformed XML", {"content": b"<service_request><service_code>E0102</service_request>",
                       "headers": {"content-type": "text/xml"}}, 400, "XML"),
    ("XML entity bomb", {"content": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                                    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><service_request>'
                                    b'<service_code>&b;</service_code></service_request>',
                         "headers": {"content-type": "text/xml"}}, 400, "DTD"),
    ("oversize body", {"data": {**GOOD, "description": "长" * 30_000}}, 400, "请求体过大"),
    ("unsupported body type", {"content": b"x", "headers": {"content-type": "multipart/form-data; boundary=x"}}, 400,
     "Content-Type"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("what,send,status,words", BAD_POSTS, ids=[b[0] for b in BAD_POSTS])
def test_bad_posts_get_the_spec_error_and_write_nothing(api, fmt, what, send, status, words):
    before = counts(api.engine)
    send = dict(send)
    if "data" in send:
        send["data"] = {"api_key": api.key, **send["data"]}
        r = api.client.post(f"/open311/v2/requests.{fmt}", **send)
    else:
        r = api.client.post(f"/open311/v2/requests.{fmt}", params={"api_key": api.key}, **send)
    assert r.status_code == status, r.text
    code, description = error_of(r, fmt)
    assert code == status and words in description, description
    assert counts(api.engine) == before
    last = audit_calls(api.engine)[-1]
    assert last.detail["status"] == status and last.object_id == "POST requests"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_keys_wrong_missing_revoked_and_out_of_scope(api, fmt):
    before = counts(api.engine)
    for key in (None, "wrong", "o311_00000000_" + "A" * 43, api.key[:-1] + ("A" if api.key[-1] != "A" else "B")):
        for r in (api.post(fmt, key=key, **GOOD), api.get(f"requests.{fmt}", key=key),
                  api.get(f"requests/1.{fmt}", key=key), api.get(f"tokens/abc.{fmt}", key=key)):
            assert r.status_code == 403 and error_of(r, fmt)[0] == 403
    _, narrow = new_key(api.engine, "east", zone="440904")
    r = api.post(fmt, key=narrow, **GOOD)
    assert r.status_code == 403 and "范围" in error_of(r, fmt)[1]
    assert counts(api.engine) == before
    refused = [c for c in audit_calls(api.engine) if c.detail["status"] == 403]
    assert {c.detail.get("key_refused") for c in refused} >= {"missing", "malformed", "unknown"}


def test_revocation_through_manage_py(api):
    out = io.StringIO()
    with redirect_stdout(out):
        assert manage.main(["api-key", "create", "wechat", "--zone", "440902", "--categories", "市容环境",
                            "--rate", "30"]) == 0
    key = re.search(r"o311_[0-9a-f]{8}_\S{43}", out.getvalue()).group(0)
    assert api.post(key=key, **GOOD).status_code == 201
    with redirect_stdout(io.StringIO()) as listed:
        assert manage.main(["api-key", "list"]) == 0
    assert "wechat" in listed.getvalue() and key not in listed.getvalue() and "有效" in listed.getvalue()
    with redirect_stdout(io.StringIO()):
        assert manage.main(["api-key", "revoke", "wechat"]) == 0
        assert manage.main(["api-key", "revoke", "wechat"]) == 1  # already revoked
    before = counts(api.engine)
    r = api.post("xml", key=key, **GOOD)
    assert r.status_code == 403 and "吊销" in error_of(r, "xml")[1]
    assert api.get("requests.json", key=key).status_code == 403
    assert counts(api.engine) == before
    with session_scope(api.engine, readonly=True) as s:
        row = s.query(ApiKey).filter_by(name="wechat").one()
        assert key.rsplit("_", 1)[1] not in (row.secret_sha256, row.prefix)  # only the hash is stored


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_queries(api, fmt):
    cases = [
        (f"requests.{fmt}", {"status": "pending"}, 400, "status"),
        (f"requests.{fmt}", {"start_date": "yesterday"}, 400, "W3C"),
        (f"requests.{fmt}", {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2025-01-01T00:00:00+08:00"},
         400, "晚于"),
        (f"requests.{fmt}", {"start_date": "2025-01-01T00:00:00+08:00", "end_date": "2026-01-01T00:00:00+08:00"},
         400, "90 天"),
        (f"requests.{fmt}", {"service_request_id": "1,x"}, 400, "service_request_id"),
        (f"requests.{fmt}", {"service_request_id": ",".join(map(str, range(1, 150)))}, 400, "最多"),
        (f"requests.{fmt}", {"page_size": "5000"}, 400, "page_size"),
        (f"requests.{fmt}", {"page": "0"}, 400, "page"),
        (f"requests.{fmt}", {"service_code": "E9999"}, 400, "service_code"),
        (f"requests/abc.{fmt}", {}, 404, "没有编号"),
        (f"requests/999999.{fmt}", {}, 404, "没有编号"),
        (f"services/nope.{fmt}", {}, 404, "没有代码"),
        (f"services.{fmt}", {"jurisdiction_id": "x"}, 400, "jurisdiction_id"),
    ]
    for path, params, status, words in cases:
        r = api.get(path, **params)
        assert r.status_code == status, (path, params, r.text)
        code, description = error_of(r, fmt)
        assert code == status and words in description, (path, description)


def test_methods_and_formats(api):
    r = api.client.delete("/open311/v2/requests.xml", params={"api_key": api.key})
    assert r.status_code == 405 and error_of(r, "xml")[0] == 405
    r = api.client.post("/open311/v2/services.json", data={})
    assert r.status_code == 405
    r = api.client.get("/open311/v2/services.html")
    assert r.status_code == 404 and error_of(r, "json")[0] == 404
    r = api.client.get("/open311/v2/openapi.yaml")
    assert r.status_code == 200 and b"openapi: 3.0.3" in r.content


@pytest.fixture
def one_window(monkeypatch):  # noqa: ANN001, ANN201
    """The limiter's clock held still: its window turns over on the minute, and a test that straddled a
    minute counted its calls in two windows (seen once in a loaded run: [200, 200, 200] for a limit of 2)."""
    from open311 import ratelimit

    real, now = ratelimit.hit, datetime.now(timezone.utc)
    monkeypatch.setattr(ratelimit, "hit", lambda session, subject, limit, _now, **kw: real(session, subject, limit,
                                                                                           now, **kw))


def test_rate_limit_per_key_and_per_address(api, one_window):  # noqa: ARG001
    _, slow = new_key(api.engine, "slow", rate_per_minute=3)
    answers = [api.get("requests.json", key=slow) for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]
    code, description = error_of(answers[3], "json")
    assert code == 429 and "每分钟最多 3 次" in description and int(answers[3].headers["retry-after"]) >= 1
    xml = api.get("requests.xml", key=slow)
    assert xml.status_code == 429 and error_of(xml, "xml")[0] == 429
    # Only the first refusal of the window is audited; the others are counted.
    refusals = [c for c in audit_calls(api.engine) if c.detail["status"] == 429]
    assert len(refusals) == 1 and refusals[0].actor == "api:slow"
    # Another key is not affected.
    assert api.get("requests.json").status_code == 200
    # The next window: allowed again, and the closed window's refusals become one audit row.
    with session_scope(api.engine) as s:
        for w in s.query(ApiCallWindow).all():
            s.execute(update(ApiCallWindow).where(ApiCallWindow.subject == w.subject,
                                                  ApiCallWindow.window_start == w.window_start)
                      .values(window_start=w.window_start - timedelta(minutes=1)))
    assert api.get("requests.json", key=slow).status_code == 200
    summary = audit_calls(api.engine, "open311_rate_limited")
    assert [(r.actor, r.detail["refused"]) for r in summary] == [("api:slow", 4)]
    assert [w.count for w in windows(api.engine) if w.subject.endswith("|api:slow")] == [1]  # old ones gone


def test_anonymous_calls_are_limited_per_address(api, one_window):  # noqa: ARG001
    with setting("CITYOPS_OPEN311_ANONYMOUS_RATE_PER_MINUTE", "2"):
        statuses = [api.get("services.json", key=None).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert api.get("services.json").status_code == 200  # with a key: the key's own limit


def test_the_api_can_be_switched_off(api):
    with setting("CITYOPS_OPEN311_ENABLED", "false"):
        r = api.post(**GOOD)
        assert r.status_code == 404 and counts(api.engine)["events"] == 0


def test_odd_input_is_refused_not_crashed(api):
    """Inputs that once could reach an unhandled error: a JSON lone surrogate or a 5000-digit number, a
    year out of range, a Unicode digit as an id, NUL in a query or path, a token of the wrong shape."""
    before = counts(api.engine)
    for body in (b'{"service_code": "\\ud800"}', b'{"service_code": ' + b"9" * 5000 + b"}"):
        r = api.client.post("/open311/v2/requests.json", content=body, params={"api_key": api.key},
                            headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
    for path, params, status in (("requests.json", {"start_date": "9999-12-31T00:00:00"}, 400),
                                 ("requests.json", {"end_date": "0001-01-01T00:00:00"}, 400),
                                 ("requests/\u00b2.json", {}, 404),
                                 ("requests.json", {"service_request_id": "\u00b2"}, 400),
                                 ("requests.json", {"service_code": "E\x0001"}, 400),
                                 ("tokens/%00abc.json", {}, 404), ("tokens/" + "a" * 60 + ".xml", {}, 404)):
        r = api.get(path, **params)
        assert r.status_code == status, (path, params, r.text)
    assert counts(api.engine) == before
