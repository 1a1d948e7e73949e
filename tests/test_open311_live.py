"""The Open311 API served by the real server (`streamlit run server.py`, st.App routes) on a free port:
discovery, filing a request over plain HTTP, reading it back, the security headers every answer
carries, and no session cookie handed to an API client."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from store.db import get_engine, session_scope
from store.models import Base
from tests.support.live_server import LiveServer
from tests.support.tiny_city import tiny_city_regions
from tests.test_open311_support import POINT, add_addresses, new_key


def _call(url: str, data: dict | None = None) -> tuple[int, dict, bytes]:
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'api.db'}"
    engine = get_engine(url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as s:
        s.add_all(tiny_city_regions())
    add_addresses(engine)
    _, key = new_key(engine, "live")
    live = LiveServer(url)
    try:
        yield live, key
    finally:
        live.stop()


def test_the_real_server_serves_the_api(server):
    live, key = server
    base = f"{live.url}/open311/v2"
    status, headers, body = _call(f"{base}/discovery.json")
    assert status == 200 and json.loads(body)["endpoints"][0]["url"].endswith("/open311/v2")
    assert headers.get("x-content-type-options") == "nosniff" and "content-security-policy" in headers
    assert "set-cookie" not in headers

    status, _, body = _call(f"{base}/requests.json", {"api_key": key, "service_code": "E0102",
                                                      "lat": POINT[1], "long": POINT[0], "phone": "13912345678"})
    assert status == 201, body
    case_id = json.loads(body)[0]["service_request_id"]
    status, _, body = _call(f"{base}/requests/{case_id}.xml?{urlencode({'api_key': key})}")
    assert status == 200 and f"<service_request_id>{case_id}</service_request_id>".encode() in body
    assert b"13912345678" not in body
    status, _, body = _call(f"{base}/requests.json?api_key=wrong")
    assert status == 403 and json.loads(body) == [{"code": 403, "description": "api_key 无效"}]
    status, _, body = _call(f"{base}/openapi.yaml")
    assert status == 200 and body.startswith(b"openapi: 3.0.3")
