"""Scoped reads for the case pages (dispatch console, department, my grid).

Every function takes the Viewer and goes through store.scope (apply_scope for lists, ensure_visible for
one case), so a department only ever sees the cases dispatched to it and a grid officer only their
grids, whatever the page asks for. Personal data is masked here (auth.masking) for roles without
view_personal, so no page can forget to.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape as geo_shape
from sqlalchemy import Integer, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

import settings
from auth.masking import mask_record
from auth.roles import ROLE_NAMES
from events import routing, workflow
from events.catalog import get_catalog
from events.deadlines import DEADLINE_STATE_NAMES, PRIORITY_NAMES, deadline_state, remaining_text
from events.departments import department_names, list_departments
from events.photos import photo_path
from store.frames import rows_frame
from store.hints import rare
from store.models import Event, EventDailyRollup, EventTransition, Region
from store.period import Period
from store.scope import Viewer, apply_scope, ensure_region_visible, ensure_visible, in_region, is_within, level_of

QUEUE_STATUSES = ("reported", "registered")  # what the dispatch console works on by default


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.get_settings()["app"]["timezone"])


def fmt_time(t: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
    return t.astimezone(_tz()).strftime(pattern) if t else "—"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _scoped(viewer: Viewer, region: str | None):  # noqa: ANN202
    stmt = apply_scope(select(Event), Event, viewer)
    if region and region != viewer.zone_code:
        ensure_region_visible(viewer, region)
        stmt = stmt.where(in_region(Event, region))
    return stmt


def _deadline_filter(stmt, state: str | None, now: datetime):  # noqa: ANN001, ANN202
    if state == "overdue":
        return stmt.where(Event.stage_deadline < now)
    if state == "warning":
        return stmt.where(Event.stage_warn_at <= now, Event.stage_deadline >= now)
    return stmt


# -- lists ----------------------------------------------------------------------------------------------
@dataclass
class QueuePage:
    rows: list[dict]
    total: int
    page: int
    page_size: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = max(1, math.ceil(self.total / self.page_size))


def status_in(statuses) -> ColumnElement:  # noqa: ANN001
    """Cases in these states; open states are marked rare, so a district's few open cases are read through
    the status index rather than by walking every case the district ever had (store.hints.rare)."""
    cond = Event.status.in_(list(statuses))
    return rare(cond) if set(statuses) <= set(workflow.OPEN_STATUSES) else cond


def case_list(session: Session, viewer: Viewer, *, statuses=None, category: str | None = None,  # noqa: ANN001
              source: str | None = None, region: str | None = None, deadline: str | None = None,
              department_code: str | None = None, search: str | None = None, page: int = 1,
              page_size: int | None = None, now: datetime | None = None) -> QueuePage:
    """Cases in the viewer's scope matching the filters, most urgent deadline first, one page."""
    now = _now(now)
    page_size = int(page_size or settings.get_settings().get("events", {}).get("page_size", 50))
    stmt = _scoped(viewer, region)
    if statuses:
        stmt = stmt.where(status_in(statuses))
    if category:
        stmt = stmt.where(Event.category == category)
    if source:
        stmt = stmt.where(Event.source == source)
    if department_code:
        stmt = stmt.where(Event.department_code == department_code)
    if search:
        text = search.strip().lstrip("#")
        cond = Event.title.contains(text, autoescape=True)
        if text.isdigit():
            cond = or_(cond, Event.id == int(text))
        stmt = stmt.where(cond)
    stmt = _deadline_filter(stmt, deadline, now)
    total = session.scalar(stmt.with_only_columns(func.count(Event.id)).order_by(None)) or 0
    page = max(1, int(page))
    rows = session.execute(
        stmt.order_by(Event.stage_deadline.is_(None), Event.stage_deadline, Event.id)
        .offset((page - 1) * page_size).limit(page_size)
    ).scalars().all()
    return QueuePage(_rows(session, rows, now), total, page, page_size)


def _rows(session: Session, events: list[Event], now: datetime) -> list[dict]:
    names = _region_names(session, {e.street_code for e in events} | {e.grid_code for e in events})
    depts = department_names(session, {e.department_code for e in events})
    out = []
    for e in events:
        state = deadline_state(now, e.stage_warn_at, e.stage_deadline) if e.status in workflow.OPEN_STATUSES else None
        out.append({
            "id": e.id, "version": e.version, "title": e.title, "kind": e.kind, "category": e.category,
            "subcategory": e.subcategory, "source": e.source, "priority": e.priority,
            "priority_name": PRIORITY_NAMES.get(e.priority, e.priority), "status": e.status,
            "status_name": workflow.STATUS_NAMES.get(e.status, e.status), "street": names.get(e.street_code, ""),
            "grid": names.get(e.grid_code, ""), "grid_code": e.grid_code, "department_code": e.department_code,
            "department": depts.get(e.department_code, ""), "reported_at": fmt_time(e.reported_at),
            "deadline": fmt_time(e.stage_deadline), "remaining": remaining_text(now, e.stage_deadline),
            "deadline_state": state, "deadline_state_name": DEADLINE_STATE_NAMES[state],
            "rework_count": e.rework_count, "return_count": e.return_count, "lon": e.lon, "lat": e.lat,
        })
    return out


def queue(session: Session, viewer: Viewer, **filters) -> QueuePage:
    """The dispatch console queue: cases to register and dispatch unless other statuses are asked for."""
    filters.setdefault("statuses", QUEUE_STATUSES)
    return case_list(session, viewer, **filters)


def department_cases(session: Session, viewer: Viewer, *, statuses=None, **filters) -> QueuePage:  # noqa: ANN001
    """Cases with the viewer's department (scope adds department_code for role department)."""
    if viewer.role == "department" and not viewer.department_code:
        return QueuePage([], 0, 1, 50)
    return case_list(session, viewer, statuses=statuses or workflow.WITH_DEPARTMENT, **filters)


def grid_cases(session: Session, viewer: Viewer, *, open_only: bool = True, **filters) -> QueuePage:
    """A grid officer's cases: everything open in their zone (by deadline)."""
    return case_list(session, viewer, statuses=workflow.OPEN_STATUSES if open_only else None, **filters)


def status_counts(session: Session, viewer: Viewer, region: str | None = None,
                  now: datetime | None = None) -> dict[str, int]:
    """Open cases per status in scope, plus 'overdue' and 'warning' among open cases."""
    now = _now(now)
    base = _scoped(viewer, region).where(status_in(workflow.OPEN_STATUSES))
    rows = session.execute(base.with_only_columns(Event.status, func.count(Event.id)).group_by(Event.status)).all()
    out = {s: 0 for s in workflow.OPEN_STATUSES}
    out.update({s: int(n) for s, n in rows})
    out["overdue"] = session.scalar(_deadline_filter(base, "overdue", now).with_only_columns(func.count(Event.id))) or 0
    out["warning"] = session.scalar(_deadline_filter(base, "warning", now).with_only_columns(func.count(Event.id))) or 0
    return out


def overdue_list(session: Session, viewer: Viewer, region: str | None = None, limit: int = 100,
                 now: datetime | None = None) -> list[dict]:
    return case_list(session, viewer, statuses=workflow.OPEN_STATUSES, region=region, deadline="overdue",
                     page_size=limit, now=now).rows


def map_points(session: Session, viewer: Viewer, region: str | None = None, *, statuses=None,  # noqa: ANN001
               limit: int | None = None, now: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """Open cases (or `statuses`) as map points: columns id, lon, lat, status, state
    (open/warning/overdue/closed), tip — the shape geo.layers.event_point_layer takes. Returns the frame
    and the total in scope; above [map].max_raw_points only the most urgent `limit` are sent."""
    now = _now(now)
    limit = int(limit or settings.get_settings()["map"]["max_raw_points"])
    stmt = _scoped(viewer, region).where(status_in(statuses or workflow.OPEN_STATUSES))
    total = session.scalar(stmt.with_only_columns(func.count(Event.id))) or 0
    rows = session.execute(stmt.with_only_columns(*POINT_COLUMNS).order_by(Event.stage_deadline.is_(None), Event.stage_deadline, Event.id).limit(limit)).all()
    return point_frame(rows, now), int(total)


POINT_COLUMNS = (Event.id, Event.lon, Event.lat, Event.status, Event.title, Event.category, Event.subcategory,
                 Event.stage_deadline, Event.stage_warn_at)


def point_frame(rows, now: datetime) -> pd.DataFrame:  # noqa: ANN001 - rows selected with POINT_COLUMNS
    """Map points (id, lon, lat, status, state open/warning/overdue/closed, tip), sorted by id."""
    records = []
    for r in rows:
        open_ = r.status in workflow.OPEN_STATUSES
        dl = deadline_state(now, r.stage_warn_at, r.stage_deadline) if open_ else None
        state = "closed" if not open_ else {"overdue": "overdue", "warning": "warning"}.get(dl, "open")
        records.append({"id": r.id, "lon": r.lon, "lat": r.lat, "status": r.status, "state": state,
                        "tip": f"#{r.id} {r.title}\n{r.category}/{r.subcategory}\n"
                               f"{workflow.STATUS_NAMES.get(r.status, r.status)} · {DEADLINE_STATE_NAMES[dl]}"
                               f"（{remaining_text(now, r.stage_deadline)}）"})
    frame = pd.DataFrame(records, columns=["id", "lon", "lat", "status", "state", "tip"])
    return frame.sort_values("id").reset_index(drop=True)


# -- one case -------------------------------------------------------------------------------------------
def _region_names(session: Session, codes) -> dict[str, str]:  # noqa: ANN001
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    return dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())


def _actor_names(session: Session, usernames) -> dict[str, str]:  # noqa: ANN001
    """Display names of users (auth's users table), where known."""
    from store.models import User

    names = sorted({u for u in usernames if u})
    if not names:
        return {}
    return {u: d for u, d in session.execute(select(User.username, User.display_name)
                                             .where(User.username.in_(names))).all() if d}


def case_detail(session: Session, viewer: Viewer, event_id: int, now: datetime | None = None) -> dict:
    """Everything the case panel shows, masked for the viewer. Raises PermissionDenied outside scope
    and LookupError when the case does not exist."""
    now = _now(now)
    event = session.get(Event, event_id, populate_existing=True)
    if event is None:
        raise LookupError(f"案件 #{event_id} 不存在")
    ensure_visible(viewer, event)
    codes = [event.district_code, event.street_code, event.community_code, event.grid_code]
    names = _region_names(session, codes)
    transitions = session.execute(select(EventTransition).where(EventTransition.event_id == event.id)
                                  .order_by(EventTransition.at, EventTransition.id)).scalars().all()
    depts = department_names(session, [event.department_code, *[t.department_code for t in transitions],
                                       *[(t.detail or {}).get("suggested") for t in transitions]])
    actors = _actor_names(session, [t.actor for t in transitions])
    open_ = event.status in workflow.OPEN_STATUSES
    dl_state = deadline_state(now, event.stage_warn_at, event.stage_deadline) if open_ else None
    record = {
        "id": event.id, "version": event.version, "title": event.title, "description": event.description,
        "kind": event.kind, "category": event.category, "subcategory": event.subcategory, "source": event.source,
        "source_id": event.source_id, "priority": event.priority,
        "priority_name": PRIORITY_NAMES.get(event.priority, event.priority), "status": event.status,
        "status_name": workflow.STATUS_NAMES.get(event.status, event.status), "address": event.address,
        "lon": event.lon, "lat": event.lat, "grid_code": event.grid_code,
        "region_path": " / ".join(names[c] for c in codes if c in names),
        "department_code": event.department_code, "department": depts.get(event.department_code, ""),
        "reporter_name": event.reporter_name, "reporter_phone": event.reporter_phone,
        "reporter_id_no": event.reporter_id_no, "reporter_user": event.reporter_user,
        "reported_at": fmt_time(event.reported_at, "%Y-%m-%d %H:%M"),
        "deadline": fmt_time(event.stage_deadline, "%Y-%m-%d %H:%M"), "deadline_state": dl_state,
        "deadline_state_name": DEADLINE_STATE_NAMES[dl_state], "remaining": remaining_text(now, event.stage_deadline)
        if open_ else "—",
        "milestones": [(label, fmt_time(t, "%Y-%m-%d %H:%M")) for label, t in (
            ("上报", event.reported_at), ("立案", event.registered_at), ("不予立案", event.rejected_at),
            ("派遣", event.dispatched_at), ("处置反馈", event.handled_at), ("结案", event.closed_at)) if t],
        "deadlines": [(label, fmt_time(t, "%Y-%m-%d %H:%M"), ok) for label, t, ok in (
            ("派遣时限", event.dispatch_deadline, event.dispatched_on_time),
            ("处置时限", event.handle_deadline, event.handled_on_time),
            ("结案时限", event.close_deadline, event.closed_on_time)) if t],
        "rework_count": event.rework_count, "return_count": event.return_count,
        "satisfaction": event.satisfaction, "hang_reason": event.hang_reason,
        "photos": _photos(event.photos, "上报/反馈"),
        "timeline": [_timeline_row(t, actors, depts) for t in transitions],
        "actions": [{"id": a.id, "label": a.label, "comment": a.comment, "kind": a.kind}
                    for a in workflow.allowed_actions(event, viewer)],
    }
    for t in transitions:
        if t.attachments and t.action != "report" and t.action != "feedback":
            record["photos"] += _photos(t.attachments, workflow.action_label(t.action))
    if any(a["id"] in ("dispatch", "redispatch") for a in record["actions"]):
        s = routing.suggest(session, event)
        record["suggestion"] = {"code": s.department_code, "name": s.department_name, "reason": s.reason} if s else None
        record["department_options"] = list_departments(session, event.district_code)
    if event.status == "extension_requested":
        req = next((t for t in reversed(transitions) if t.action == "request_extension"), None)
        record["extension_request"] = {"hours": (req.detail or {}).get("hours"), "reason": req.comment} if req else None
    return mask_record(record, viewer)


def _photos(items, stage: str) -> list[dict]:  # noqa: ANN001
    out = []
    for meta in items or []:
        path = photo_path(meta)
        if path is not None:
            out.append({"path": str(path), "name": meta.get("name", ""), "stage": stage,
                        "at": meta.get("at", "")})
    return out


def _timeline_row(t: EventTransition, actors: dict, depts: dict) -> dict:
    label = workflow.action_label(t.action)
    notes = []
    d = t.detail or {}
    if t.action in ("dispatch", "redispatch") and t.department_code:
        notes.append(f"派往 {depts.get(t.department_code, t.department_code)}")
        if d.get("suggested") and d.get("suggested") != t.department_code:
            notes.append(f"系统推荐 {depts.get(d['suggested'], d['suggested'])}")
        if d.get("override_reason"):
            notes.append(f"改派原因：{d['override_reason']}")
    if d.get("hours"):
        notes.append(f"延期 {d['hours']:g} 小时")
    if d.get("satisfaction"):
        notes.append(f"满意度 {d['satisfaction']}")
    if t.attachments:
        notes.append(f"照片 {len(t.attachments)} 张")
    who = actors.get(t.actor, t.actor)
    return {"at": fmt_time(t.at, "%Y-%m-%d %H:%M"), "action": label, "actor": who,
            "role": ROLE_NAMES.get(t.actor_role, "系统" if t.actor_role == "system" else t.actor_role),
            "from": workflow.STATUS_NAMES.get(t.from_status, "—") if t.from_status else "—",
            "to": workflow.STATUS_NAMES.get(t.to_status, t.to_status), "comment": t.comment or "",
            "note": "；".join(notes)}


# -- zone geometry for maps and the report form ------------------------------------------------------------
def zone_grids(session: Session, viewer: Viewer, region: str | None = None) -> pd.DataFrame:
    """Grids inside the viewer's zone (or `region` within it): code, name, geometry (GeoJSON dict),
    centroid lon/lat, sorted by code."""
    code = region or viewer.zone_code
    ensure_region_visible(viewer, code)
    stmt = select(Region.code, Region.name, Region.geometry, Region.centroid_lon, Region.centroid_lat).where(
        Region.level == "grid")
    if len(code) == 6 and code.endswith("00"):
        stmt = stmt.where(Region.city_code == code)
    else:
        stmt = stmt.where(Region.code.startswith(code, autoescape=True))
    rows = session.execute(stmt.order_by(Region.code)).all()
    frame = rows_frame(rows, columns=["code", "name", "geometry", "lon", "lat"])
    frame["geometry"] = [json.loads(g) if g else None for g in frame["geometry"]]
    return frame[frame["geometry"].notna()].reset_index(drop=True)


def zone_bbox(grids: pd.DataFrame) -> tuple[float, float, float, float]:
    """Bounding box (minlon, minlat, maxlon, maxlat) of the grids frame from `zone_grids`."""
    geoms = [geo_shape(g) for g in grids["geometry"]]
    return tuple(float(v) for v in shapely.total_bounds(np.array(geoms, dtype=object)))


def bbox_of(geometry: dict) -> tuple[float, float, float, float]:
    """(minlon, minlat, maxlon, maxlat) of a GeoJSON geometry."""
    return tuple(float(v) for v in geo_shape(geometry).bounds)


def grid_shape(session: Session, viewer: Viewer, code: str | None) -> dict | None:
    if not code:
        return None
    ensure_region_visible(viewer, code)
    text = session.execute(select(Region.geometry).where(Region.code == code)).scalar_one_or_none()
    return json.loads(text) if text else None


def location_lattice(grids: pd.DataFrame, max_points: int = 1500) -> pd.DataFrame:
    """Evenly spaced pickable points inside the zone's grids, so a tap on the map yields a location
    (Streamlit returns the picked object, not the clicked coordinate). Columns id, lon, lat, grid_code."""
    if grids.empty:
        return pd.DataFrame(columns=["id", "lon", "lat", "grid_code"])
    geoms = np.array([geo_shape(g) for g in grids["geometry"]], dtype=object)
    area = float(sum(g.area for g in geoms))
    step = math.sqrt(area / max_points) if area > 0 else 0.001
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    xs = np.arange(minx + step / 2, maxx, step)
    ys = np.arange(miny + step / 2, maxy, step)
    gx, gy = np.meshgrid(xs, ys)
    px, py = gx.ravel(), gy.ravel()
    owner = np.full(px.shape, -1)
    shapely.prepare(geoms)
    for i, g in enumerate(geoms):
        hit = (owner < 0) & shapely.contains_xy(g, px, py)
        owner[hit] = i
    keep = owner >= 0
    frame = pd.DataFrame({"lon": np.round(px[keep], 6), "lat": np.round(py[keep], 6),
                          "grid_code": grids["code"].to_numpy()[owner[keep]]})
    frame.insert(0, "id", np.arange(len(frame)))
    return frame


# -- evaluation figures (CJJ/T 106 family) from the rollup --------------------------------------------------
FIGURES = (
    ("reported", "上报数", "件"), ("registered", "立案数", "件"), ("register_rate", "立案率", "%"),
    ("dispatched", "派遣数", "件"), ("dispatch_on_time_rate", "按期派遣率", "%"),
    ("handled", "处置数", "件"), ("handle_on_time_rate", "按期处置率", "%"),
    ("closed", "结案数", "件"), ("close_rate", "结案率", "%"), ("close_on_time_rate", "按期结案率", "%"),
    ("rework_rate", "返工率", "%"), ("avg_handle_hours", "平均处置时长", "小时"), ("satisfaction_rate", "满意率", "%"),
)


def _ratio(a: float, b: float) -> float | None:
    return round(100.0 * a / b, 1) if b else None


def evaluation(session: Session, viewer: Viewer, region: str | None, period: Period) -> dict:
    """The standard's evaluation figures for a region and period, summed from the daily rollup.
    立案率 = 立案 / (立案 + 不予立案) (有效上报 = reports decided), 结案率 = 结案 / 立案 in the period."""
    code = region or viewer.zone_code
    ensure_region_visible(viewer, code)
    start, end = period.start, period.end
    cols = ("reported", "registered", "rejected", "dispatched", "dispatched_on_time", "handled", "handled_on_time",
            "closed", "closed_on_time", "reworked", "handle_hours_sum", "satisfied", "rated")
    stmt = select(*[func.coalesce(func.sum(getattr(EventDailyRollup, c)), 0) for c in cols]).where(
        in_region(EventDailyRollup, code), EventDailyRollup.day >= start, EventDailyRollup.day <= end)
    sums = dict(zip(cols, session.execute(stmt).one()))
    s = {k: float(v) for k, v in sums.items()}
    return {
        "reported": int(s["reported"]), "registered": int(s["registered"]), "rejected": int(s["rejected"]),
        "register_rate": _ratio(s["registered"], s["registered"] + s["rejected"]),
        "dispatched": int(s["dispatched"]), "dispatch_on_time_rate": _ratio(s["dispatched_on_time"], s["dispatched"]),
        "handled": int(s["handled"]), "handle_on_time_rate": _ratio(s["handled_on_time"], s["handled"]),
        "closed": int(s["closed"]), "close_rate": _ratio(s["closed"], s["registered"]),
        "close_on_time_rate": _ratio(s["closed_on_time"], s["closed"]),
        "reworked": int(s["reworked"]), "rework_rate": _ratio(s["reworked"], s["handled"]),
        "avg_handle_hours": round(s["handle_hours_sum"] / s["handled"], 1) if s["handled"] else None,
        "satisfaction_rate": _ratio(s["satisfied"], s["rated"]),
    }


def department_figures(session: Session, viewer: Viewer, period: Period, now: datetime | None = None) -> dict:
    """A department's own figures from its cases (the rollup has no department key): cases handled in
    the period, on time, average hours, open now, overdue now."""
    now = _now(now)
    start, end = period.utc_bounds()
    base = apply_scope(select(), Event, viewer)
    handled = base.where(Event.handled_at >= start, Event.handled_at < end)
    n, on_time = session.execute(handled.add_columns(
        func.count(Event.id), func.coalesce(func.sum(Event.handled_on_time.cast(Integer)), 0))).one()
    open_stmt = base.where(status_in(workflow.WITH_DEPARTMENT))
    open_n = session.scalar(open_stmt.add_columns(func.count(Event.id))) or 0
    overdue = session.scalar(open_stmt.where(Event.stage_deadline < now).add_columns(func.count(Event.id))) or 0
    return {"handled": int(n), "handle_on_time_rate": _ratio(float(on_time), float(n)), "open": int(open_n),
            "overdue": int(overdue)}


def list_department_options(session: Session, region: str | None = None) -> list[dict]:
    """Departments a case in `region` could go to (that region's bureaus and offices, plus city-wide)."""
    if region and level_of(region) == "city":
        region = None
    return list_departments(session, region)


def category_tree() -> dict[str, dict[str, list[str]]]:
    return get_catalog().tree()


def within_zone(viewer: Viewer, codes: dict | None) -> bool:
    if not codes:
        return False
    deepest = codes.get("grid") or codes.get("community") or codes.get("street") or codes.get("district") \
        or codes.get("city")
    return bool(deepest) and is_within(deepest, viewer.zone_code)


__all__ = [
    "QueuePage", "case_list", "queue", "department_cases", "grid_cases", "status_counts", "overdue_list",
    "map_points", "case_detail", "zone_grids", "grid_shape", "location_lattice", "evaluation",
    "department_figures", "category_tree", "within_zone", "fmt_time", "FIGURES", "list_department_options", "zone_bbox", "bbox_of",
]
