"""Property-based: schemathesis generates requests for every operation of open311/openapi.yaml (valid
and random keys, every parameter and body the description allows) and checks each answer — no 500,
a documented status code and content type, and a JSON body and headers of the documented shape."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)
from starlette.applications import Starlette

import settings
from open311.routes import OPENAPI_PATH, routes
from open311.services import get_services
from tests.test_open311_support import POINT, api, new_key  # noqa: F401 - the api fixture

SCHEMA = schemathesis.openapi.from_path(OPENAPI_PATH)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = int(os.environ.get("OPEN311_SCHEMA_EXAMPLES", "60"))


def test_the_description_covers_every_route():
    described = {(op.method.upper(), op.path) for op in OPERATIONS}
    assert described == {("GET", "/discovery.{format}"), ("GET", "/services.{format}"),
                         ("GET", "/services/{service_code}.{format}"), ("GET", "/requests.{format}"),
                         ("POST", "/requests.{format}"), ("GET", "/requests/{service_request_id}.{format}"),
                         ("GET", "/tokens/{token}.{format}")}
    served = {r.path.removeprefix("/open311/v2") for r in routes()}
    assert {path for _, path in described} <= served


@pytest.fixture
def unlimited(api):  # noqa: F811 - the api fixture, with limits out of the way of the generator
    """The app, a key, and something to find: a few cases and a deferred request's token."""
    os.environ["CITYOPS_OPEN311_ANONYMOUS_RATE_PER_MINUTE"] = "1000000"
    settings.reload_settings()
    _, key = new_key(api.engine, "fuzz", rate_per_minute=10_000)
    _, batch = new_key(api.engine, "fuzz-batch", rate_per_minute=10_000, deferred=True)
    ids = [api.post(key=key, service_code=code, lat=str(POINT[1]), long=str(POINT[0])).json()[0]["service_request_id"]
           for code in ("E0102", "E0201", "C0101")]
    token = api.post(key=batch, service_code="E0102", lat=str(POINT[1]), long=str(POINT[0])).json()[0]["token"]
    yield Starlette(routes=routes()), {"key": key, "batch": batch, "ids": ids, "token": token}
    os.environ.pop("CITYOPS_OPEN311_ANONYMOUS_RATE_PER_MINUTE", None)
    settings.reload_settings()


CODES = [s.code for s in get_services().services]
FORMAT = st.sampled_from(["json", "xml"])
# Bodies a client would plausibly send (the generator's own bodies are mostly refused at once).
PLAUSIBLE = st.fixed_dictionaries(
    {"service_code": st.sampled_from(CODES),
     "lat": st.floats(20.9, 22.1, allow_nan=False).map(str), "long": st.floats(109.9, 112.1, allow_nan=False).map(str)},
    optional={"description": st.text(max_size=300), "address_string": st.text(max_size=60),
              "first_name": st.text(max_size=8), "last_name": st.text(max_size=8),
              "phone": st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), "email": st.emails(),
              "crs": st.sampled_from(["wgs84", "gcj02", "bd09"]), "media_url": st.just("https://example.org/p.jpg"),
              "attribute[depth_cm]": st.integers(0, 300).map(str), "attribute[component_id]": st.text(max_size=12),
              "attribute[gas_smell]": st.sampled_from(["yes", "no", "maybe"]), "account_id": st.text(max_size=12)})
PLAUSIBLE_ADDRESS = st.fixed_dictionaries(
    {"service_code": st.sampled_from(CODES),
     "address_string": st.sampled_from(["茂南区油城五路12号", "油城五路十二号附近", "人民路与中山路交叉口", "茂南区人民路与中山路交叉口",
                                        "电白区人民路3号", "某地"]) | st.text(max_size=40)})


def _overrides(operation, data, found: dict) -> dict:  # noqa: ANN001
    """Values the generator would seldom hit by itself: real codes, ids and tokens, plausible bodies."""
    path = operation.path
    if path == "/services/{service_code}.{format}" and data.draw(st.booleans()):
        return {"path_parameters": {"service_code": data.draw(st.sampled_from(CODES)), "format": data.draw(FORMAT)}}
    if path == "/requests/{service_request_id}.{format}" and data.draw(st.booleans()):
        return {"path_parameters": {"service_request_id": data.draw(st.sampled_from(found["ids"])),
                                    "format": data.draw(FORMAT)}}
    if path == "/tokens/{token}.{format}" and data.draw(st.booleans()):
        return {"path_parameters": {"token": found["token"], "format": data.draw(FORMAT)}}
    if operation.method.upper() == "POST" and data.draw(st.booleans()):
        body = data.draw(PLAUSIBLE | PLAUSIBLE_ADDRESS)
        kind = data.draw(st.sampled_from(["application/x-www-form-urlencoded", "application/json"]))
        return {"body": body, "media_type": kind}
    return {}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_answer_keeps_the_documented_shape(unlimited, operation):
    app, found = unlimited
    seen: set[int] = set()

    @given(data=st.data())
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    def run(data):  # noqa: ANN001
        case = data.draw(operation.as_strategy(**_overrides(operation, data, found)))
        key = data.draw(st.sampled_from([None, "random", "key", "batch"]))
        if key == "random":
            case.query = {**(case.query or {}), "api_key": data.draw(st.text(max_size=60))}
        elif key is not None:
            case.query = {**(case.query or {}), "api_key": found[key]}
        response = case.call(app=app, base_url="http://testserver/open311/v2")
        case.validate_response(response, checks=CHECKS)
        seen.add(response.status_code)

    run()
    # The generator reached the successful answers, not only the refusals.
    assert seen & {200, 201, 202}, seen
