"""Pull mode for networks that allow only outbound calls: fetch the tasks handed down instead of
receiving them on POST /exchange/v1/tasks.

    GET <tasks_pull_url>?after=<cursor>      signed like an upward request (over the empty body)
    → 200 {"tasks": [ {task}, … ], "cursor": "…"}   signed: X-Exchange-Timestamp / X-Exchange-Signature

The answer's signature is checked before anything is read; each task is then checked and applied on its
own (exchange.tasks), a refused one logged with its reason and skipped. The cursor is saved once the
batch is done; tasks are idempotent by id, so fetching a batch again after a crash changes nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlencode

from sqlalchemy import Engine, select, update

from exchange import tasks
from exchange.config import ExchangeConfig
from exchange.queue import ensure_destinations
from exchange.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, problem, sign_headers
from exchange.transport import Client, Fault
from store.db import session_scope
from store.models import ExchangeDestination

log = logging.getLogger("exchange.tasks")
PULL = "tasks_pull"  # the destination row holding the pull cursor


@dataclass
class PullReport:
    fetched: int = 0
    applied: int = 0
    repeated: int = 0
    refused: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"拉取任务失败：{self.error}"
        text = f"拉取任务 {self.fetched} 件：新办理 {self.applied} 件，重复 {self.repeated} 件"
        return text + (f"，拒收 {len(self.refused)} 件" if self.refused else "")


def pull_once(engine: Engine, cfg: ExchangeConfig, *, client: Client | None = None,
              now: datetime | None = None) -> PullReport:
    report = PullReport()
    if not cfg.tasks_pull_url:
        report.error = "未配置任务拉取地址（[exchange].tasks_pull_url）"
        return report
    ensure_destinations(engine, [PULL])
    with session_scope(engine, readonly=True) as s:
        cursor = s.scalar(select(ExchangeDestination.cursor).where(ExchangeDestination.name == PULL))
    client = client or Client(timeout=cfg.upper_timeout_seconds, client_cert=cfg.upper_client_cert,
                              client_key=cfg.upper_client_key, ca_bundle=cfg.upper_ca_bundle)
    sep = "&" if "?" in cfg.tasks_pull_url else "?"
    url = cfg.tasks_pull_url + (f"{sep}{urlencode({'after': cursor})}" if cursor else "")
    reply = client.request("GET", url, headers=sign_headers(cfg.task_secret, b"", cfg.system_id, now))
    if isinstance(reply, Fault):
        report.error = reply.reason
        return report
    if not reply.ok:
        report.error = f"HTTP {reply.status}：{reply.text(200)}"
        return report
    why = problem(cfg.task_secret, reply.body, reply.headers.get(HEADER_TIMESTAMP.lower()),
                  reply.headers.get(HEADER_SIGNATURE.lower()), skew_seconds=cfg.signature_skew_seconds)
    if why:
        report.error = f"应答签名无效：{why}"
        log.warning("拒收拉取的任务：%s", why)
        return report
    try:
        doc = tasks.parse_body(reply.body, cfg.max_task_bytes * 100)
    except tasks.TaskRefused as exc:
        report.error = exc.reason
        return report
    items = doc.get("tasks") if isinstance(doc.get("tasks"), list) else []
    for raw in items:
        report.fetched += 1
        task_id = str(raw.get("taskId")) if isinstance(raw, dict) else "?"
        try:
            if not isinstance(raw, dict):
                raise tasks.TaskRefused("任务应为一个 JSON 对象")
            result = tasks.apply(engine, tasks.parse(raw, now or datetime.now(timezone.utc)), via="pull", now=now)
        except tasks.TaskRefused as exc:
            log.warning("拒收上级任务 %s：%s", task_id, exc.reason)
            report.refused.append(f"{task_id}：{exc.reason}")
            continue
        if result.repeated:
            report.repeated += 1
        else:
            report.applied += 1
    if doc.get("cursor") is not None:
        with session_scope(engine) as s:
            s.execute(update(ExchangeDestination).where(ExchangeDestination.name == PULL)
                      .values(cursor=str(doc["cursor"])[:200], last_success_at=now or datetime.now(timezone.utc)))
    return report
