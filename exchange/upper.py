"""Outbox records as the JSON the upper platform takes: one batch per request, each record with a
stable id the receiver de-duplicates by, and the case data named as the platforms exchange it.

The field names (camelCase, as the provincial interfaces use) and what each carries:

| field | 中文 | from |
|---|---|---|
| recordId | 记录编号 | `<system>-<outbox id>`: the same record always has the same id |
| caseCode | 案件编号 | our case id |
| source | 问题来源 | 网格员 / 12345 / 巡查 / 视频 / 传感器 / 上级交办 |
| mainType / subType | 大类 / 小类 | the 数字城管 classification |
| regionCode (+ district/street/community/grid) | 区划代码 | the deepest code, then each level |
| coordinate {lon, lat, coordSys} | 坐标 | WGS-84 |
| times {report, register, dispatch, handle, verify, close, reject} | 各环节时间 | ISO 8601, +08:00 |
| deadlines {stage, dispatch, handle, close} | 各环节时限 | ISO 8601 |
| department {code, name} | 处置部门 | the department the case is with |
| result {status, statusName, closedOnTime, satisfaction, reworkCount, returnCount} | 结果 | |
| upperTaskId | 上级任务编号 | the task it came from or was raised by |
| step {action, actionName, from, to, comment, actor} | 本次环节 | the change this record is |

Personal data (reporter name, phone, ID number) is never in a record (store.outbox.PERSONAL).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from events.statuses import STATUS_NAMES
from events.workflow import action_label
from store.models import OutboxRecord
from store.period import local_tz

FIELD_NAMES = {
    "recordId": "记录编号", "caseCode": "案件编号", "source": "问题来源", "mainType": "大类", "subType": "小类",
    "regionCode": "区划代码", "coordinate": "坐标", "times": "各环节时间", "deadlines": "各环节时限",
    "department": "处置部门", "result": "结果", "upperTaskId": "上级任务编号", "step": "本次环节",
}
_TIMES = {"report": "reported_at", "register": "registered_at", "dispatch": "dispatched_at", "handle": "handled_at",
          "verify": "verified_at", "close": "closed_at", "reject": "rejected_at"}
_DEADLINES = {"stage": "stage_deadline", "dispatch": "dispatch_deadline", "handle": "handle_deadline",
              "close": "close_deadline"}
_LEVELS = ("district", "street", "community", "grid")


def local_iso(value: str | None) -> str | None:
    """An ISO time from a payload (UTC) as ISO 8601 in the city's zone, seconds precision."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(local_tz()).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return None


def record_id(system_id: str, outbox_id: int) -> str:
    return f"{system_id}-{outbox_id}"


def _regions(p: dict) -> dict:
    codes = {f"{lv}Code": p.get(f"{lv}_code") for lv in _LEVELS}
    deepest = next((p.get(f"{lv}_code") for lv in reversed(_LEVELS) if p.get(f"{lv}_code")), p.get("city_code"))
    return {"regionCode": deepest, "cityCode": p.get("city_code"), **codes}


def _coordinate(p: dict) -> dict | None:
    if p.get("lon") is None or p.get("lat") is None:
        return None
    return {"lon": p["lon"], "lat": p["lat"], "coordSys": "WGS84"}


def case_body(p: dict, departments: dict[str, str], tasks: list[str]) -> dict:
    change = p.get("_change") or {}
    status = p.get("status")
    dept = p.get("department_code")
    upper = list(tasks)
    if p.get("source") == "上级交办" and p.get("source_id") and p["source_id"] not in upper:
        upper.insert(0, p["source_id"])
    return {
        "caseCode": str(p.get("id")), "source": p.get("source"), "caseType": p.get("kind"),
        "mainType": p.get("category"), "subType": p.get("subcategory"), "title": p.get("title"),
        "description": p.get("description"), "address": p.get("address"), "priority": p.get("priority"),
        **_regions(p), "coordinate": _coordinate(p),
        "times": {k: local_iso(p.get(col)) for k, col in _TIMES.items()},
        "deadlines": {k: local_iso(p.get(col)) for k, col in _DEADLINES.items()},
        "department": {"code": dept, "name": departments.get(dept or "")} if dept else None,
        "result": {"status": status, "statusName": STATUS_NAMES.get(status or "", status),
                   "closedOnTime": p.get("closed_on_time"), "satisfaction": p.get("satisfaction"),
                   "reworkCount": p.get("rework_count"), "returnCount": p.get("return_count"),
                   "supervisionLevel": p.get("supervision_level"),
                   "supervisionDeadline": local_iso(p.get("supervision_deadline")),
                   "escalationLevel": p.get("escalation_level")},
        "upperTaskId": upper[0] if upper else None, "upperTaskIds": upper,
        "step": {"action": change.get("action"), "actionName": action_label(change.get("action")),
                 "from": change.get("from"), "to": status, "comment": change.get("comment")} if change else None,
    }


def alert_body(p: dict) -> dict:
    return {"alertId": str(p.get("id")), "ruleId": p.get("rule_id"), "ruleName": p.get("rule_name"),
            "severity": p.get("severity"), "status": p.get("status"), "sensorId": p.get("sensor_id"),
            "message": p.get("message"), "closeMessage": p.get("close_message"), "value": p.get("value"),
            "openedAt": local_iso(p.get("opened_at")), "closedAt": local_iso(p.get("closed_at")),
            "caseCode": str(p["event_id"]) if p.get("event_id") else None,
            "incidentId": str(p["incident_id"]) if p.get("incident_id") else None, **_regions(p)}


def incident_body(p: dict) -> dict:
    change = p.get("_change") or {}
    return {"incidentId": str(p.get("id")), "type": p.get("type"), "level": p.get("level"), "title": p.get("title"),
            "status": p.get("status"), "commander": p.get("commander"), "coordinate": _coordinate(p),
            "openedAt": local_iso(p.get("opened_at")), "closedAt": local_iso(p.get("closed_at")),
            "caseCode": str(p["source_event_id"]) if p.get("source_event_id") else None,
            "alertId": str(p["source_alert_id"]) if p.get("source_alert_id") else None,
            **_regions(p), "change": change or None}


def dispatch_body(p: dict) -> dict:
    return {"dispatchId": str(p.get("id")), "incidentId": str(p.get("incident_id")), "resourceId": p.get("resource_id"),
            "item": p.get("item"), "unit": p.get("unit"), "quantity": p.get("quantity"), "used": p.get("used"),
            "status": p.get("status"), "distanceKm": p.get("distance_km"), "etaMinutes": p.get("eta_minutes"),
            "createdAt": local_iso(p.get("created_at")), "releasedAt": local_iso(p.get("released_at"))}


def record_body(system_id: str, rec: OutboxRecord, departments: dict[str, str], tasks: list[str]) -> dict:
    """One record as the upper platform takes it."""
    p = rec.payload or {}
    out = {"recordId": record_id(system_id, rec.id), "sourceSystem": system_id, "kind": rec.kind,
           "objectType": rec.object_type, "objectId": rec.object_id,
           "occurredAt": rec.created_at.astimezone(local_tz()).isoformat(timespec="seconds"), "actor": rec.actor}
    if rec.object_type == "event":
        out["case"] = case_body(p, departments, tasks)
    elif rec.object_type == "alert":
        out["alert"] = alert_body(p)
    elif rec.object_type == "incident":
        out["incident"] = incident_body(p)
    elif rec.object_type == "dispatch":
        out["dispatch"] = dispatch_body(p)
    else:
        out["task"] = p
    return out


def batch(system_id: str, bodies: list[dict], now: datetime | None = None) -> bytes:
    """The request body: the batch as UTF-8 JSON (Chinese as is, not \\u-escaped)."""
    doc = {"batchId": uuid.uuid4().hex, "sourceSystem": system_id,
           "sentAt": (now or datetime.now(timezone.utc)).astimezone(local_tz()).isoformat(timespec="seconds"),
           "count": len(bodies), "records": bodies}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rejected(reply_body: bytes) -> dict[str, str]:
    """Records the receiver refused one by one in a 2xx answer: {"rejected": [{"recordId", "reason"}]}."""
    try:
        doc = json.loads(reply_body or b"{}")
    except ValueError:
        return {}
    out = {}
    for item in (doc.get("rejected") or []) if isinstance(doc, dict) else []:
        if isinstance(item, dict) and item.get("recordId"):
            out[str(item["recordId"])] = str(item.get("reason") or "上级平台拒收")[:300]
    return out
