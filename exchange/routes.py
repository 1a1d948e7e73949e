"""POST /exchange/v1/tasks: the upper platform hands a task down (交办/督办), served beside the app by
server.py.

Machine to machine: the request is signed with the shared secret (exchange.signing — HMAC-SHA256 over
the timestamp and the body), never a browser cookie, so no CSRF token is involved. Order of checks,
each refusing with a JSON {"error": "…"} and a log line, before anything is written: the route is
configured (503), the body is within [exchange].max_task_bytes (413), the signature and timestamp hold
(401), the task is well formed and can become a case (400; 404 for an unknown case; 409 for an ended
one). A task accepted answers 201 (200 when the same task id came before) with {taskId, caseCode,
outcome, repeated}.
"""
from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exchange import config as exchange_config
from exchange import tasks
from exchange.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, problem
from store.db import get_engine

PATH = "/exchange/v1/tasks"
log = logging.getLogger("exchange.tasks")


def _json(status: int, doc: dict) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), status_code=status,
                    media_type="application/json; charset=utf-8")


def _refuse(request: Request, status: int, reason: str) -> Response:
    peer = request.client.host if request.client else "?"
    log.warning("拒收上级任务（来自 %s，HTTP %d）：%s", peer, status, reason)
    return _json(status, {"error": reason})


async def _read(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (never read a huge body whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_task(request: Request) -> Response:
    cfg = exchange_config.load()
    if not cfg.task_secret:
        return _refuse(request, 503, "本系统未启用上级任务接收（未配置交换密钥）")
    body = await _read(request, cfg.max_task_bytes)
    if body is None:
        return _refuse(request, 413, f"任务超过 {cfg.max_task_bytes} 字节")
    why = problem(cfg.task_secret, body, request.headers.get(HEADER_TIMESTAMP), request.headers.get(HEADER_SIGNATURE),
                  skew_seconds=cfg.signature_skew_seconds)
    if why:
        return _refuse(request, 401, why)
    try:
        task = tasks.parse(tasks.parse_body(body, cfg.max_task_bytes))
        result = await run_in_threadpool(tasks.apply, get_engine(), task, via="route")
    except tasks.TaskRefused as exc:
        return _refuse(request, exc.status, exc.reason)
    log.info("上级任务 %s → 案件 #%s（%s%s）", result.task_id, result.case_id, result.outcome,
             "，重复送达" if result.repeated else "")
    return _json(200 if result.repeated else 201, result.as_json())


def routes() -> list[Route]:
    return [Route(PATH, receive_task, methods=["POST"])]
