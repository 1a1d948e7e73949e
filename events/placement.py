"""Placing a 待定位 case on the map: the duty officer gives the point the address could not.

A case created from an address the geocoder could not match (geo.geocode below `[geocode].min_confidence`)
stands at the centre of the region its text named, with `location_pending` set, so it is never dropped
and never silently placed. Placing it sets the point and its grid codes, clears the flag, and moves the
case's daily rollup counts from the provisional region to the real one — all in the caller's transaction,
against the version the officer saw (a concurrent change is refused, as in events.workflow).

Only before dispatch (待立案 / 待派遣): after that a department holds the case at the place it was sent to.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from events import duplicates, rollup, status_cohort
from events.intake import IntakeError, check_coordinates, default_locator, to_wgs84
from events.workflow import NOTE_ACTION, ConcurrentChange, EventNotFound, WorkflowError
from store.models import Event, EventTransition
from store.region_codes import is_within
from store.scope import PermissionDenied, Viewer, ensure_visible

PLACEABLE = ("reported", "registered")
REGION_COLUMNS = ("city", "district", "street", "community", "grid")


def place_event(session: Session, case_id: int, lon: float, lat: float, actor: Viewer, *, crs: str = "wgs84",
                expected_version: int | None = None, locator=None, now: datetime | None = None,  # noqa: ANN001
                client: str | None = None) -> Event:
    """Put case `case_id` at (lon, lat) as `actor` (who must hold register_event). Raises
    PermissionDenied, EventNotFound, WorkflowError, ConcurrentChange or IntakeError (Chinese)."""
    now = now or datetime.now(timezone.utc)
    if not can(actor.role, "register_event"):
        raise PermissionDenied("您的角色无权为案件定位")
    event = session.execute(select(Event).where(Event.id == int(case_id))
                            .execution_options(populate_existing=True)).scalar_one_or_none()
    if event is None:
        raise EventNotFound(f"案件 #{case_id} 不存在")
    ensure_visible(actor, event)
    if expected_version is not None and event.version != expected_version:
        raise ConcurrentChange(event.id, None, None, None, None, event.status)
    if event.status not in PLACEABLE:
        raise WorkflowError("案件已派遣或办结，不能再修改位置")
    x, y = check_coordinates(lon, lat)
    wlon, wlat = to_wgs84(x, y, crs)
    codes = (locator or default_locator(session)).locate(wlon, wlat)
    if not codes or not codes.get("city"):
        raise IntakeError(f"位置（{x:.6f}, {y:.6f}，{crs}）不在本市范围内")
    deepest = next(codes[lv] for lv in reversed(REGION_COLUMNS) if codes.get(lv))
    if not is_within(deepest, actor.zone_code):
        raise PermissionDenied("该位置不在您的管辖范围内")

    # Placed, the report gets the duplicate check it could not have at intake (events.duplicates).
    suspects = duplicates.find_candidates(session, category=event.category, subcategory=event.subcategory,
                                          lon=wlon, lat=wlat, at=event.reported_at, exclude_id=event.id) \
        if event.status == "reported" else []
    before = {lv: getattr(event, f"{lv}_code") for lv in REGION_COLUMNS}
    moved = [(event.reported_at, {"reported": -1})]
    if event.registered_at is not None:
        moved.append((event.registered_at, {"registered": -1}))
    for at, counts in moved:  # out of the provisional region's rollup rows …
        rollup.bump(session, event, at, **counts)
    placed = status_cohort.snapshot(event)
    result = session.execute(
        update(Event).where(Event.id == event.id, Event.version == event.version, Event.status == event.status)
        .values(lon=wlon, lat=wlat, location_pending=False, version=event.version + 1, updated_at=now,
                duplicate_suspects=[c.brief() for c in suspects] or event.duplicate_suspects,
                **{f"{lv}_code": codes.get(lv) for lv in REGION_COLUMNS})
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise ConcurrentChange(event.id, None, None, None, None, event.status)
    session.refresh(event)
    status_cohort.move(session, placed, event)
    for at, counts in moved:  # … into the real one's
        rollup.bump(session, event, at, **{k: -v for k, v in counts.items()})
    was = "待定位" if any(before.values()) else "无位置"
    session.add(EventTransition(
        event_id=event.id, action=NOTE_ACTION.id, from_status=event.status, to_status=event.status,
        actor=actor.username, actor_role=actor.role, at=now, comment=f"定位：由{was}改为地图上的位置",
        department_code=event.department_code,
        detail={"placed": {"lon": round(wlon, 7), "lat": round(wlat, 7), "grid": codes.get("grid")},
                "from_region": next((before[lv] for lv in reversed(REGION_COLUMNS) if before[lv]), None)}))
    audit.record(session, actor, "event_place", object_type="event", object_id=event.id, client=client,
                 scope=codes.get("grid") or codes.get("city"),
                 detail={"lon": round(wlon, 7), "lat": round(wlat, 7), "crs": crs, "grid": codes.get("grid"),
                         "from": before})
    session.flush()
    return event
