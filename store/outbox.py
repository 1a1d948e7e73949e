"""Write an outbox record in the caller's transaction: the one call every domain makes when something
changes that someone outside the transaction must hear about (the upper platform, the people a message
rule names). Like auth.audit.record: a row added to the caller's session, committed or rolled back with
the change itself.

The record is the change as data (kind, object, a JSON snapshot, the region codes); with it go one
delivery row per destination that wants this kind: always `local` (the exchange worker's own rules —
messages to people, task results) and `upper` (the provincial platform) when [exchange].upper_url is
set and the kind matches [exchange].upper_kinds. Nothing is sent from here; the worker (exchange/) sends.
Sits on the bottom floor so that events, sensors, emergency and supervision can all call it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fnmatch import fnmatchcase

from sqlalchemy import inspect
from sqlalchemy.orm import Session

import settings
from store.models.outbox import OutboxDelivery, OutboxRecord

LOCAL = "local"
UPPER = "upper"
DEFAULT_UPPER_KINDS = ("case.*", "alert.*", "incident.*", "dispatch.*", "task.*")
DEFAULT_TIMELY_MINUTES = 30
# Personal data never leaves in a record (the upper platform gets the case, not the caller).
PERSONAL = frozenset({"reporter_name", "reporter_phone", "reporter_id_no", "client_token"})
# object_type of each table a record may be about.
OBJECT_TYPES = {"events": "event", "alerts": "alert", "incidents": "incident", "dispatches": "dispatch",
                "exchange_tasks": "task"}
_LEVELS = ("city", "district", "street", "community", "grid")


def _config() -> dict:
    return settings.get_settings().get("exchange", {}) or {}


def destinations_for(kind: str) -> tuple[str, ...]:
    """The destinations a record of `kind` is delivered to, from the settings in force."""
    cfg = _config()
    out = [LOCAL]
    if str(cfg.get("upper_url") or "").strip() and \
            any(fnmatchcase(kind, p) for p in (cfg.get("upper_kinds") or DEFAULT_UPPER_KINDS)):
        out.append(UPPER)
    return tuple(out)


def timely_minutes() -> float:
    return float(_config().get("timely_minutes", DEFAULT_TIMELY_MINUTES))


def json_value(value):  # noqa: ANN001, ANN201
    """A value as JSON: times as ISO 8601 in UTC, dates as ISO dates, inside lists and dicts too."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def snapshot(obj) -> dict:  # noqa: ANN001 - a mapped object
    """Every column of a mapped object as JSON-safe values, personal data left out."""
    mapper = inspect(obj).mapper
    return {c.key: json_value(getattr(obj, c.key)) for c in mapper.column_attrs if c.key not in PERSONAL}


def region_codes_of(obj) -> dict[str, str | None]:  # noqa: ANN001
    """city … grid codes of an object with RegionKeyed columns (or a dict of them); the configured city
    when it has none."""
    get = obj.get if isinstance(obj, dict) else (lambda k: getattr(obj, k, None))
    codes = {f"{lv}_code": get(f"{lv}_code") for lv in _LEVELS}
    if not codes["city_code"]:
        codes["city_code"] = str(settings.get_settings()["city"]["code"])
    return codes


@dataclass(frozen=True)
class Recorded:
    id: int
    order_key: str


def record(session: Session, kind: str, object_type: str, object_id, payload: dict, *,  # noqa: ANN001
           region=None, order_key: str | None = None, actor: str | None = None,  # noqa: ANN001
           at: datetime | None = None) -> Recorded:
    """Write an outbox record (and its deliveries) in `session`'s transaction; committed or rolled back
    with the caller's change.

    `region`: an object or dict carrying city_code … grid_code. `order_key`: records with one key are
    delivered in the order written (default: the object itself). Two plain INSERTs, not ORM objects:
    this runs on every workflow step, and the unit of work would double its cost."""
    at = at or datetime.now(timezone.utc)
    key = order_key or f"{object_type}:{object_id}"
    records, deliveries = OutboxRecord.__table__, OutboxDelivery.__table__
    record_id = session.execute(records.insert().values(
        kind=kind, object_type=object_type, object_id=str(object_id), order_key=key, payload=payload, actor=actor,
        created_at=at, **region_codes_of(region or {})).returning(records.c.id)).scalar_one()
    due = at + timedelta(minutes=timely_minutes())
    # Due at once: at the change's own time, or now if it is dated ahead of the clock.
    ready = min(at, datetime.now(timezone.utc))
    for destination in destinations_for(kind):
        session.execute(deliveries.insert().values(
            destination=destination, record_id=record_id, order_key=key, state="pending", attempts=0,
            next_attempt_at=ready, created_at=at, due_at=due if destination == UPPER else None))
    return Recorded(record_id, key)


def record_object(session: Session, kind: str, obj, *, actor: str | None = None,  # noqa: ANN001
                  extra: dict | None = None, region=None, order_key: str | None = None,  # noqa: ANN001
                  at: datetime | None = None) -> Recorded:
    """Record a change of a mapped object (a case, an alert, an incident, a dispatch): its snapshot as
    the payload (plus `extra`, e.g. the step's comment), its own region codes unless `region` is given
    (a dispatch takes its incident's), keyed to itself unless `order_key` says otherwise."""
    object_type = OBJECT_TYPES[obj.__table__.name]
    payload = snapshot(obj)
    if extra:
        payload["_change"] = json_value(extra)
    return record(session, kind, object_type, obj.id, payload, region=region if region is not None else obj,
                  order_key=order_key, actor=actor, at=at)
