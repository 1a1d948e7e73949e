"""重复上报: the check every report goes through at intake, and the operator's two answers to it.

The same pothole is reported by a grid officer, two 12345 callers and a camera. Every channel creates
its case through events.intake.create_event, which asks `find_candidates` for the open cases of the same
小类 within a radius and a time window ([duplicates] in config.toml, per 大类 or 大类/小类) and keeps
what it found on the new case (`Event.duplicate_suspects`). Nothing merges silently: an operator either
links the report to one of them (`link`, the workflow's "merge": the new report is closed as 重复
pointing at the case, and the case records the extra reporter) or confirms it as new (`confirm_new`).
The report form shows the candidates before submit (EventViews.duplicate_candidates, the same
conditions restricted to the viewer), so a grid officer answers at once; imports and the open API
leave the answer to the duty officer (events.actions.merge_duplicates, in bulk).

The search reads one index (小类, reported_at, lat, lon): the window is a range on it and the bounding
box of the radius is checked on the same entries, so only the few cases of that 小类 around the point
and time are fetched, then measured exactly (haversine). Both bounds are inclusive: a case exactly at
the radius, or reported exactly the window before, is a candidate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import settings
from auth import audit
from events import workflow
from events.statuses import OPEN_STATUSES, STATUS_NAMES
from events.workflow import CONFIRM_NEW_ACTION, ConcurrentChange, EventNotFound, WorkflowError, latest_transition
from store.models import Event, EventTransition
from store.scope import PermissionDenied, Viewer, ensure_visible

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
# Metres per degree of latitude, at its smallest (the equator): a box drawn with it is never too small.
_M_PER_DEG_LAT = 110_574.0
MAX_CANDIDATES = 5
# Columns the candidate search reads (index-only on its own index, except title and status).
CANDIDATE_COLUMNS = (Event.id, Event.title, Event.status, Event.lon, Event.lat, Event.reported_at, Event.grid_code,
                     Event.category, Event.subcategory, Event.source)


@dataclass(frozen=True)
class Rule:
    radius_m: float
    window_hours: float


@dataclass(frozen=True)
class Candidate:
    id: int
    title: str
    status: str
    status_name: str
    lon: float
    lat: float
    distance_m: float
    age_hours: float  # how long before the new report it was reported (negative: after)
    reported_at: datetime
    grid_code: str | None
    source: str

    def brief(self) -> dict:
        """What the new case keeps of it (JSON on Event.duplicate_suspects)."""
        return {"id": self.id, "distance_m": round(self.distance_m, 1), "age_hours": round(self.age_hours, 1)}


def rule_for(category: str, subcategory: str, cfg: dict | None = None) -> Rule:
    """[duplicates.categories."大类/小类"] over [duplicates.categories."大类"] over [duplicates]."""
    section = (cfg or settings.get_settings()).get("duplicates", {})
    merged = {"radius_m": section.get("radius_m", 50), "window_hours": section.get("window_hours", 72)}
    per = section.get("categories", {})
    for key in (category, f"{category}/{subcategory}"):
        merged.update({k: v for k, v in per.get(key, {}).items() if k in merged})
    radius, window = float(merged["radius_m"]), float(merged["window_hours"])
    if not (radius > 0 and window > 0):
        raise ValueError(f"[duplicates] {category}/{subcategory} 的半径和时间窗必须为正数")
    return Rule(radius, window)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on the mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def conditions(*, subcategory: str, lon: float, lat: float, at: datetime, rule: Rule) -> list:
    """WHERE clauses: open cases of the 小类 reported within the window, inside the radius's bounding
    box (padded, so the exact distance decides at the edge)."""
    window = timedelta(hours=rule.window_hours)
    dlat = rule.radius_m / _M_PER_DEG_LAT * 1.01
    coslat = max(math.cos(math.radians(min(89.0, abs(lat) + dlat))), 1e-6)
    dlon = rule.radius_m / (_M_PER_DEG_LAT * coslat) * 1.01
    return [Event.subcategory == subcategory, Event.reported_at >= at - window, Event.reported_at <= at + window,
            Event.lat >= lat - dlat, Event.lat <= lat + dlat, Event.lon >= lon - dlon, Event.lon <= lon + dlon,
            Event.status.in_(OPEN_STATUSES)]


def nearest(rows, *, category: str, lon: float, lat: float, at: datetime, rule: Rule,  # noqa: ANN001
            exclude_id: int | None = None, limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """The rows (CANDIDATE_COLUMNS) within the radius, nearest first (then the newest)."""
    out = []
    for r in rows:
        if r.id == exclude_id or r.category != category:
            continue
        d = distance_m(lon, lat, r.lon, r.lat)
        if d > rule.radius_m:
            continue
        age = (at - r.reported_at).total_seconds() / 3600
        out.append(Candidate(r.id, r.title, r.status, STATUS_NAMES.get(r.status, r.status), r.lon, r.lat, d, age,
                             r.reported_at, r.grid_code, r.source))
    out.sort(key=lambda c: (c.distance_m, abs(c.age_hours), -c.id))
    return out[:limit]


def find_candidates(session: Session, *, category: str, subcategory: str, lon: float, lat: float,
                    at: datetime | None = None, exclude_id: int | None = None,
                    limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """Open cases the report at (lon, lat, WGS-84) of this 小类 at `at` may repeat, city-wide: the intake
    check, which runs for a system channel as for a person (screens use the viewer-restricted read,
    EventViews.duplicate_candidates)."""
    at = at or datetime.now(timezone.utc)
    rule = rule_for(category, subcategory)
    stmt = select(*CANDIDATE_COLUMNS).where(*conditions(subcategory=subcategory, lon=lon, lat=lat, at=at, rule=rule))
    return nearest(session.execute(stmt).all(), category=category, lon=lon, lat=lat, at=at, rule=rule,
                   exclude_id=exclude_id, limit=limit)


# -- the operator's answers ---------------------------------------------------------------------------------
def link(session: Session, event_id: int, target_id: int, actor: Viewer, *, comment: str = "",
         now: datetime | None = None, expected_version: int | None = None, client: str | None = None) -> Event:
    """Close report `event_id` as 重复 of open case `target_id` (the workflow's "merge": the report points
    at the case and leaves every count, the case's timeline records the extra reporter, both audited), in
    the caller's transaction. Raises WorkflowError, PermissionDenied or ConcurrentChange with a Chinese
    message; nothing is written then."""
    event = session.get(Event, int(event_id))
    target = session.get(Event, int(target_id))
    if not comment and event is not None and target is not None and event.id != target.id:
        comment = f"与案件 #{target.id} 重复（相距 {distance_m(event.lon, event.lat, target.lon, target.lat):.0f} 米）"
    return workflow.transition(session, int(event_id), "merge", actor, comment, expected_version=expected_version,
                               now=now, client=client, duplicate_of=int(target_id))


def confirm_new(session: Session, event_id: int, actor: Viewer, *, comment: str = "",
                now: datetime | None = None, expected_version: int | None = None,
                client: str | None = None) -> Event:
    """The operator looked at the candidates and says the report is a problem of its own: the suspicion
    is cleared and the answer (with the candidates it overrode) goes on the timeline and the audit log.
    Who may: whoever may merge it (the workflow's "merge" rule)."""
    now = now or datetime.now(timezone.utc)
    event = session.execute(select(Event).where(Event.id == int(event_id))
                            .execution_options(populate_existing=True)).scalar_one_or_none()
    if event is None:
        raise EventNotFound(f"案件 #{event_id} 不存在")
    ensure_visible(actor, event)
    if not workflow.role_may(actor.role, "merge"):
        raise PermissionDenied("您的角色无权判定重复上报")
    if expected_version is not None and event.version != expected_version:
        raise ConcurrentChange(event.id, None, None, None, None, event.status)
    if event.status != "reported" or not event.duplicate_suspects:
        raise WorkflowError(f"案件 #{event.id} 没有待判定的疑似重复")
    suspects = list(event.duplicate_suspects)
    result = session.execute(
        update(Event).where(Event.id == event.id, Event.status == "reported", Event.version == event.version)
        .values(duplicate_suspects=None, version=event.version + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        last = latest_transition(session, event.id)
        status = session.execute(select(Event.status).where(Event.id == event.id)).scalar_one()
        raise ConcurrentChange(event.id, last.actor if last else None, last.actor_role if last else None,
                               last.action if last else None, last.at if last else None, status)
    ids = "、".join(f"#{s['id']}" for s in suspects)
    session.add(EventTransition(event_id=event.id, action=CONFIRM_NEW_ACTION.id, from_status=event.status,
                                to_status=event.status, actor=actor.username, actor_role=actor.role, at=now,
                                comment=(comment or "").strip() or f"经核对与 {ids} 不是同一问题，按新案件办理",
                                detail={"suspects": suspects}))
    audit.record(session, actor, "event_confirm_new", object_type="event", object_id=event.id, client=client,
                 scope=event.grid_code or event.city_code, detail={"suspects": [s["id"] for s in suspects]})
    session.flush()
    session.refresh(event)
    return event
