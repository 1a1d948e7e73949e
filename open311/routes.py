"""Open311 GeoReport v2 over HTTP, served beside the app by server.py (st.App routes), under /open311/v2/.

    GET  discovery.{json|xml}                    the discovery document
    GET  services.{fmt}                          our 小类 as services (api_key optional: the key's own)
    GET  services/{service_code}.{fmt}           a service definition (its attributes)
    POST requests.{fmt}                          file a request (api_key)            → service_request_id or token
    GET  requests.{fmt}                          requests in the key's scope (api_key), paged
    GET  requests/{service_request_id}.{fmt}     one request (api_key)
    GET  tokens/{token}.{fmt}                    a deferred request's id (api_key)
    GET  openapi.yaml                            the OpenAPI 3 description of all of the above

Machine-to-machine: a client system authenticates with its api_key (open311.keys), never with a
browser session cookie, so these routes neither read the sign-in cookie nor need the browser CSRF
token of auth/web.py (a cross-site page cannot obtain a key, and nothing here acts on ambient
credentials). GET never changes state; POST is the only write.

Every call: the key is checked (403), the call is counted against the key's per-minute limit, or the
client address's for calls without a key (open311.ratelimit; 429 with Retry-After), the work is done,
and the call is audited (`open311_call`: endpoint, status, key, client address, and never the body).
Errors are the spec's — a list of {code, description} in the requested format — with 400 (bad input),
403 (key missing, wrong, revoked, or outside its scope), 404 (no such service, request or token),
plus 429 for the rate limit and 405 for a method a path does not take.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import settings
from auth import audit, clients
from events.statuses import STATUS_NAMES
from open311 import formats, intake, keys, ratelimit
from open311.parse import BadRequest, Params, parse_body
from open311.policy import Policy
from open311.services import allowed, get_services
from open311.views import OPEN, PublishedRequests
from store.db import get_engine, session_scope

PREFIX = "/open311/v2"
OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.yaml"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_QUERY_CHARS = 4000
_ID = re.compile(r"^[0-9]{1,10}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
_TZ_CACHE: dict[str, ZoneInfo] = {}


class Answer(Exception):
    """An error answer: HTTP status and the Chinese descriptions (and extra headers, e.g. Retry-After)."""

    def __init__(self, status: int, *messages: str, headers: dict | None = None) -> None:
        super().__init__(messages[0] if messages else "")
        self.status = status
        self.messages = messages
        self.headers = headers


@dataclass
class Call:
    """One API call as the audit log records it."""

    endpoint: str
    method: str
    fmt: str
    client: str
    query: dict[str, str]
    key: keys.ClientKey | None = None
    detail: dict = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return self.key.actor if self.key else "api:anonymous"


# -- helpers --------------------------------------------------------------------------------------------
def _tz() -> ZoneInfo:
    name = settings.get_settings()["app"]["timezone"]
    if name not in _TZ_CACHE:
        _TZ_CACHE[name] = ZoneInfo(name)
    return _TZ_CACHE[name]


def w3c(value: datetime | None) -> str | None:
    """2026-11-20T09:30:00+08:00 (the spec's W3C format), in the city's time zone."""
    return value.astimezone(_tz()).isoformat(timespec="seconds") if value else None


def _client(request: Request) -> str:
    peer = request.client.host if request.client else None
    return clients.client_address(peer, request.headers.get("x-forwarded-for"))


def _printable(text: str) -> str:
    """A query value as the audit log keeps it: control characters (NUL …) dropped."""
    return "".join(ch for ch in text if ch.isprintable())


def _audit(engine, call: Call, status: int, error: str | None = None, session=None) -> None:  # noqa: ANN001
    """The call's audit row: in `session` when given (a write's own transaction), else its own."""
    query = {_printable(k[:40]): _printable(v[:100]) for k, v in call.query.items() if k != "api_key"}
    detail = {"method": call.method, "format": _printable(call.fmt[:10]), "status": status,
              **({"query": query} if query else {}), **call.detail,
              **({"error": _printable(error[:300])} if error else {})}

    def write(s) -> None:  # noqa: ANN001
        audit.record(s, call.actor, "open311_call", object_type="open311", object_id=call.endpoint,
                     client=call.client, scope=call.key.zone_code if call.key else None, detail=detail)

    if session is not None:
        write(session)
        return
    with session_scope(engine) as s:
        write(s)


def _authenticate(engine, call: Call, presented: str | None, required: bool) -> None:  # noqa: ANN001
    if not presented and not required:
        return
    with session_scope(engine, readonly=True) as s:
        try:
            call.key = keys.authenticate(s, presented)
        except keys.KeyRefused as exc:
            call.detail["key_refused"] = exc.reason
            raise Answer(403, str(exc)) from None


def _limit(engine, call: Call, policy: Policy) -> None:  # noqa: ANN001
    """Count the call; 429 over the limit (only the first refusal of a window is audited)."""
    if call.key is not None:
        subject, limit, key_id = f"key:{call.key.id}|{call.key.actor}", call.key.rate_per_minute, call.key.id
    else:
        subject, limit, key_id = f"ip:{call.client}", policy.anonymous_rate_per_minute, None
    with session_scope(engine) as s:
        verdict = ratelimit.hit(s, subject[:80], limit, datetime.now(timezone.utc), key_id=key_id)
    if verdict.allowed:
        return
    call.detail["rate"] = {"count": verdict.count, "limit": verdict.limit}
    message = f"调用过于频繁：每分钟最多 {verdict.limit} 次，请 {verdict.retry_after} 秒后再试"
    refusal = Answer if verdict.first_refusal else _Silent
    raise refusal(429, message, headers={"Retry-After": str(verdict.retry_after)})


class _Silent(Answer):
    """A refusal past the first of its window: answered, not audited one by one (ratelimit counts it)."""


def _jurisdiction(params: dict | Params) -> None:
    value = params.get("jurisdiction_id")
    if value and value != str(settings.get_settings()["city"]["code"]):
        raise Answer(400, f"jurisdiction_id 应为 {settings.get_settings()['city']['code']}（本市区划代码）或不填")


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise Answer(400, f"{name} 应为整数") from None
    if not low <= number <= high:
        raise Answer(400, f"{name} 应在 {low}–{high} 之间")
    return number


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        parsed = None
    if parsed is None or not 1970 <= parsed.year <= 2100:  # also keeps the 90-day arithmetic in range
        raise Answer(400, f"{name} 应为 W3C 日期时间，如 2026-11-20T09:30:00+08:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_tz())


# -- documents ------------------------------------------------------------------------------------------
def discovery_doc(request: Request, policy: Policy) -> dict:
    base = str(settings.get_settings().get("open311", {}).get("public_url") or "").rstrip("/") or \
        str(request.base_url).rstrip("/")
    return {"changeset": policy.changeset, "contact": policy.contact, "key_service": policy.key_service,
            "endpoints": [{"specification": SPECIFICATION, "url": base + PREFIX, "changeset": policy.changeset,
                           "type": "production", "formats": ["text/xml", "application/json"]}]}


def service_record(service, key: keys.ClientKey | None) -> dict:  # noqa: ANN001
    return {"service_code": service.code, "service_name": service.name, "description": service.description,
            "metadata": bool(service.attributes), "type": "batch" if key and key.deferred else "realtime",
            "keywords": service.keywords, "group": service.group}


def definition_record(service) -> dict:  # noqa: ANN001
    return {"service_code": service.code, "attributes": [{
        "variable": True, "code": a.code, "datatype": a.datatype, "required": a.required,
        "datatype_description": a.datatype_description or None, "order": a.order, "description": a.description,
        "values": [{"key": k, "name": n} for k, n in a.values] if a.values else None,
    } for a in service.attributes]}


def request_record(row: dict, policy: Policy) -> dict:
    service = get_services().for_item(row["category"], row["subcategory"])
    notes = STATUS_NAMES.get(row["status"], row["status"]) + ("；位置待定位" if row["location_pending"] else "")
    notice = f"本环节办理时限：{row['stage_deadline'].astimezone(_tz()):%Y-%m-%d %H:%M}" if row["stage_deadline"] \
        else None
    return {"service_request_id": str(row["id"]), "status": "open" if row["status"] in OPEN else "closed",
            "status_notes": notes, "service_name": row["subcategory"],
            "service_code": service.code if service else None,
            "description": row["description"] or None, "agency_responsible": row["department"] or policy.contact,
            "service_notice": notice, "requested_datetime": w3c(row["reported_at"]),
            "updated_datetime": w3c(row["updated_at"]), "expected_datetime": w3c(row["expected_at"]),
            "address": row["address"], "lat": round(row["lat"], 6), "long": round(row["lon"], 6)}


# -- endpoints (synchronous; run in the thread pool) ------------------------------------------------------
def do_discovery(engine, call: Call, request: Request, policy: Policy) -> Response:  # noqa: ANN001
    return formats.render(call.fmt, "discovery", discovery_doc(request, policy))


def do_services(engine, call: Call, request: Request, policy: Policy) -> Response:  # noqa: ANN001
    _jurisdiction(call.query)
    mine = [s for s in get_services().services if call.key is None or allowed(list(call.key.categories or []), s)]
    return formats.render(call.fmt, "services", [service_record(s, call.key) for s in mine])


def do_definition(engine, call: Call, request: Request, policy: Policy) -> Response:  # noqa: ANN001
    _jurisdiction(call.query)
    service = get_services().get(request.path_params["service_code"])
    if service is None:
        raise Answer(404, f"没有代码为「{request.path_params['service_code'][:20]}」的服务")
    return formats.render(call.fmt, "service_definition", definition_record(service))


def do_list(engine, call: Call, request: Request, policy: Policy) -> Response:  # noqa: ANN001
    q = call.query
    _jurisdiction(q)
    ids = None
    if q.get("service_request_id"):
        parts = [p.strip() for p in q["service_request_id"].split(",") if p.strip()]
        if not parts or len(parts) > policy.max_ids or not all(_ID.match(p) and 0 < int(p) < 2**31 for p in parts):
            raise Answer(400, f"service_request_id 应为逗号分隔的案件编号（最多 {policy.max_ids} 个）")
        ids = [int(p) for p in parts]
    pair = None
    if q.get("service_code"):
        service = get_services().get(q["service_code"])
        if service is None:
            raise Answer(400, f"未知的 service_code「{q['service_code'][:20]}」")
        if not allowed(list(call.key.categories or []), service):
            raise Answer(403, f"此 api_key 无权查看「{service.group}/{service.name}」类诉求")
        pair = (service.group, service.name)
    start, end = _date(q.get("start_date"), "start_date"), _date(q.get("end_date"), "end_date")
    if start and end and end <= start:
        raise Answer(400, "end_date 应晚于 start_date")
    if (start or end) and (end or datetime.now(timezone.utc)) - (start or (end - timedelta(days=policy.max_days))) \
            > timedelta(days=policy.max_days):
        raise Answer(400, f"查询时间范围不能超过 {policy.max_days} 天")
    if start and not end:
        end = start + timedelta(days=policy.max_days)
    if end and not start:
        start = end - timedelta(days=policy.max_days)
    statuses = None
    if q.get("status"):
        words = {w.strip() for w in q["status"].split(",") if w.strip()}
        if not words or not words <= {"open", "closed"}:
            raise Answer(400, "status 应为 open、closed 或 open,closed")
        statuses = tuple(s for s in STATUS_NAMES if (s in OPEN and "open" in words) or
                         (s not in OPEN and "closed" in words))
    page = _int(q.get("page"), "page", 1, 1, 100_000)
    size = _int(q.get("page_size"), "page_size", policy.default_page_size, 1, policy.max_page_size)
    with PublishedRequests.open(engine, call.key.viewer()) as face:
        result = face.service_requests(ids=ids, subcategory=pair, start=start, end=end, statuses=statuses,
                                       scope_categories=call.key.categories, page=page, limit=size,
                                       default_days=policy.default_days)
    call.detail["returned"] = len(result.rows)
    headers = {"X-Total-Count": str(result.total), "X-Page": str(result.page), "X-Page-Size": str(size)}
    links = []
    for rel, target in (("prev", page - 1), ("next", page + 1)):
        if 1 <= target <= result.pages and (rel == "prev" or page < result.pages):
            link_q = {k: v for k, v in q.items() if k != "api_key"} | {"page": str(target)}
            links.append(f'<{request.url.path}?{urlencode(link_q)}>; rel="{rel}"')
    if links:
        headers["Link"] = ", ".join(links)
    return formats.render(call.fmt, "service_requests", [request_record(r, policy) for r in result.rows],
                          headers=headers)


def do_one(engine, call: Call, request: Request, policy: Policy) -> Response:  # noqa: ANN001
    _jurisdiction(call.query)
    raw = request.path_params["service_request_id"]
    if not _ID.match(raw) or not 0 < int(raw) < 2**31:
        raise Answer(404, f"没有编号为「{raw[:20]}」的诉求")
    with PublishedRequests.open(engine, call.key.viewer()) as face:
        row = face.service_request(int(raw), scope_categories=call.key.categories)
    if row is None:
        raise Answer(404, f"没有编号为 {raw} 的诉求（或不在此 api_key 的范围内）")
    call.detail["service_request_id"] = raw
    return formats.render(call.fmt, "service_requests", [request_record(row, policy)])


def do_token(engine, call: Call, request: Request, policy: Policy) -> Response:  # noqa: ANN001
    _jurisdiction(call.query)
    token = request.path_params["token"]
    with session_scope(engine, readonly=True) as s:
        row = intake.token_state(s, call.key, token) if _TOKEN.match(token) else None
        state = (row.status, row.event_id, row.message) if row is not None else None
    if state is None:
        raise Answer(404, "没有这个 token（或它不属于此 api_key）")
    status, case_id, message = state
    record = {"service_request_id": str(case_id) if case_id else None, "token": token, "status": status,
              "status_notes": message if status == "failed" else None}
    return formats.render(call.fmt, "service_requests", [record])


def do_post(engine, call: Call, request: Request, policy: Policy, params: Params) -> Response:  # noqa: ANN001
    _jurisdiction(params)
    key = call.key
    try:
        with session_scope(engine) as s:
            prepared = intake.prepare(s, key, params, policy)
            call.detail["service_code"] = prepared.service_code
            if prepared.pending:
                call.detail["location_pending"] = True
            if key.deferred:
                token, token_id = intake.accept(s, key, prepared)
                _audit(engine, call, 202, session=s)
                record = {"token": token, "service_notice": prepared.notice(), "account_id": prepared.account_id}
            else:
                case_id = intake.create(s, key, prepared, client=call.client)
                call.detail["service_request_id"] = str(case_id)
                _audit(engine, call, 201, session=s)
                record = {"service_request_id": str(case_id), "service_notice": prepared.notice(case_id),
                          "account_id": prepared.account_id}
    except intake.Refused as exc:
        raise Answer(exc.status, str(exc)) from None
    response = formats.render(call.fmt, "service_requests", [record], 202 if key.deferred else 201)
    if key.deferred:
        response.background = BackgroundTask(intake.process_token, engine, token_id, key, client=call.client)
    return response


# -- the HTTP face ----------------------------------------------------------------------------------------
ENDPOINTS = {
    # name: (path, GET handler, api_key: "none" ignored / "optional" checked when given / "required")
    "discovery": (f"{PREFIX}/discovery.{{format}}", do_discovery, "none"),
    "services": (f"{PREFIX}/services.{{format}}", do_services, "optional"),
    "service_definition": (f"{PREFIX}/services/{{service_code}}.{{format}}", do_definition, "none"),
    "requests": (f"{PREFIX}/requests.{{format}}", do_list, "required"),
    "request": (f"{PREFIX}/requests/{{service_request_id}}.{{format}}", do_one, "required"),
    "token": (f"{PREFIX}/tokens/{{token}}.{{format}}", do_token, "required"),
}


async def _read_body(request: Request, policy: Policy) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > policy.max_body_bytes):
        raise Answer(400, f"请求体过大（最多 {policy.max_body_bytes // 1024} KB）")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > policy.max_body_bytes:
            raise Answer(400, f"请求体过大（最多 {policy.max_body_bytes // 1024} KB）")
        chunks.append(chunk)
    return b"".join(chunks)


def _endpoint(name: str):  # noqa: ANN202
    _, handler, key_use = ENDPOINTS[name]

    async def endpoint(request: Request) -> Response:
        policy = Policy.from_settings()
        fmt = request.path_params.get("format", "")
        engine = get_engine()
        method = request.method.upper()
        query = {k: v for k, v in request.query_params.items()}
        call = Call(f"{method} {name}", method, fmt, _client(request), query)
        if not policy.enabled:
            return formats.errors("json", 404, "开放接口未启用")
        if fmt not in formats.FORMATS:
            return formats.errors("json", 404, f"不支持的格式「{fmt[:10]}」：请使用 .json 或 .xml")
        try:
            if method not in ("GET", "HEAD") and not (method == "POST" and name == "requests"):
                raise Answer(405, f"{name} 不支持 {method} 方法")
            if len(str(request.url.query)) > MAX_QUERY_CHARS:
                raise Answer(400, "查询参数过长")
            if method == "POST":
                body = await _read_body(request, policy)
                try:
                    params = parse_body(body, request.headers.get("content-type"))
                except BadRequest as exc:
                    raise Answer(400, str(exc)) from None
                presented = params.get("api_key") or query.get("api_key")
                await run_in_threadpool(_authenticate, engine, call, presented, True)
                await run_in_threadpool(_limit, engine, call, policy)
                return await run_in_threadpool(do_post, engine, call, request, policy, params)
            presented = query.get("api_key") if key_use != "none" else None
            await run_in_threadpool(_authenticate, engine, call, presented, key_use == "required")
            await run_in_threadpool(_limit, engine, call, policy)
            response = await run_in_threadpool(handler, engine, call, request, policy)
            await run_in_threadpool(_audit, engine, call, response.status_code)
            return response
        except Answer as answer:
            if not isinstance(answer, _Silent):
                await run_in_threadpool(_audit, engine, call, answer.status, answer.messages[0])
            return formats.errors(fmt, answer.status, *answer.messages, headers=answer.headers)

    endpoint.__name__ = f"open311_{name}"
    return endpoint


async def openapi(request: Request) -> Response:  # noqa: ARG001
    """The OpenAPI description (static; no key, not audited: it says nothing about the city's data)."""
    return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


def routes() -> list[Route]:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(path, _endpoint(name), methods=methods) for name, (path, _h, _k) in ENDPOINTS.items()] + \
        [Route(f"{PREFIX}/openapi.yaml", openapi, methods=["GET"])]
