"""The events read face: every read the case screens (dispatch console, department, my grid, case panel)
and the situation screens make of cases.

Each read starts from `self.scoped(Event)` (store.scope.ReadFace), a SELECT already restricted to the
viewer's zone — and, for department staff, to the cases dispatched to their department — so a page
cannot ask for more than its viewer may see. Reads of tables that are not region-keyed (the region
tree, the departments) say how they are restricted. Personal data is masked here (auth.masking) for
roles without view_personal, so no page can forget to.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import Integer, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

import settings
from auth.masking import mask_record
from auth.roles import role_label
from events import duplicates, routing, status_cohort, workflow
from events.deadlines import DEADLINE_STATE_NAMES, PRIORITY_NAMES, deadline_state, remaining_text
from events.departments import department_names, list_departments
from events.format import fmt_time, point_frame
from events.photos import photo_path
from events.statuses import OPEN_STATUSES, QUEUE, STATUS_NAMES, WITH_DEPARTMENT
from geo.crs import UnknownCRS, to_wgs84
from store import region_codes
from store.frames import rows_frame
from store.hints import rare
from store.models import Event, EventStatusCohort, EventTransition, Region, User
from store.period import Period
from store.scope import PermissionDenied, ReadFace, ensure_visible, in_region

# What a map point needs (events.format.point_frame).
POINT_COLUMNS = (Event.id, Event.lon, Event.lat, Event.status, Event.title, Event.category, Event.subcategory,
                 Event.stage_deadline, Event.stage_warn_at)


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
    return rare(cond) if set(statuses) <= set(OPEN_STATUSES) else cond


def _deadline_filter(stmt, state: str | None, now: datetime):  # noqa: ANN001, ANN202
    if state == "overdue":
        return stmt.where(Event.stage_deadline < now)
    if state == "warning":
        return stmt.where(Event.stage_warn_at <= now, Event.stage_deadline >= now)
    return stmt


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _period_filter(stmt, period: Period):  # noqa: ANN001, ANN202
    start, end = period.utc_bounds()
    return stmt.where(Event.reported_at >= start, Event.reported_at < end)


def _ratio(a: float, b: float) -> float | None:
    return round(100.0 * a / b, 1) if b else None


class EventViews(ReadFace):
    """Cases as the viewer may see them. `region` narrows to a region inside the viewer's zone (None:
    the whole zone); a region outside it raises store.scope.PermissionDenied."""

    def _events(self, region: str | None, *columns):  # noqa: ANN202
        """Scoped SELECT of cases (or `columns` of them), narrowed to `region` when it is not the zone."""
        stmt = self.scoped(Event, *columns)
        if region is not None and region != self.viewer.zone_code:
            stmt = self.within(stmt, Event, region)
        return stmt

    # -- lists ------------------------------------------------------------------------------------------
    def case_list(self, *, statuses=None, category: str | None = None, source: str | None = None,  # noqa: ANN001
                  region: str | None = None, deadline: str | None = None, department_code: str | None = None,
                  search: str | None = None, page: int = 1, page_size: int | None = None,
                  now: datetime | None = None) -> QueuePage:
        """Cases matching the filters, most urgent deadline first, one page."""
        now = _now(now)
        page_size = int(page_size or settings.get_settings().get("events", {}).get("page_size", 50))
        stmt = self._events(region)
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
        total = self.session.scalar(stmt.with_only_columns(func.count(Event.id)).order_by(None)) or 0
        page = max(1, int(page))
        rows = self.session.execute(
            stmt.order_by(Event.stage_deadline.is_(None), Event.stage_deadline, Event.id)
            .offset((page - 1) * page_size).limit(page_size)
        ).scalars().all()
        return QueuePage(self._rows(rows, now), total, page, page_size)

    def queue(self, *, statuses=None, **filters) -> QueuePage:  # noqa: ANN001
        """The dispatch console's queue: cases to register and dispatch unless other statuses are asked for."""
        return self.case_list(statuses=statuses or QUEUE.statuses, **filters)

    def department_cases(self, *, statuses=None, **filters) -> QueuePage:  # noqa: ANN001
        """Cases with a department (for department staff, their own: the scope adds it)."""
        if self.viewer.role == "department" and not self.viewer.department_code:
            return QueuePage([], 0, 1, 50)
        return self.case_list(statuses=statuses or WITH_DEPARTMENT, **filters)

    def grid_cases(self, *, open_only: bool = True, **filters) -> QueuePage:
        """A grid officer's cases: everything open in their zone (by deadline)."""
        return self.case_list(statuses=OPEN_STATUSES if open_only else None, **filters)

    def overdue_list(self, region: str | None = None, limit: int = 100, now: datetime | None = None) -> list[dict]:
        """Open cases past their stage deadline, the longest overdue first."""
        return self.case_list(statuses=OPEN_STATUSES, region=region, deadline="overdue", page_size=limit,
                              now=now).rows

    def newest(self, region: str | None = None, limit: int = 12) -> list[dict]:
        """The newest reported cases (id, title, source, reported_at, grid_code, status, stage_warn_at,
        stage_deadline), newest first."""
        stmt = self._events(region, Event.id, Event.title, Event.source, Event.reported_at, Event.grid_code,
                            Event.status, Event.stage_warn_at, Event.stage_deadline) \
            .order_by(Event.reported_at.desc()).limit(limit)
        return [dict(r._mapping) for r in self.session.execute(stmt)]

    def urgent_open(self, region: str | None = None, limit: int = 50, *, exclude_ids=()) -> list[dict]:  # noqa: ANN001
        """Urgent cases not yet finished (closed or rejected), newest first, leaving out `exclude_ids`."""
        stmt = self._events(region, Event.id, Event.title, Event.category, Event.subcategory, Event.reported_at,
                            Event.grid_code).where(Event.priority == "urgent", Event.status.not_in(("rejected", "closed")))
        if exclude_ids:
            stmt = stmt.where(Event.id.not_in(sorted(exclude_ids)))
        rows = self.session.execute(stmt.order_by(Event.reported_at.desc()).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    def _rows(self, events: list[Event], now: datetime) -> list[dict]:
        names = self._region_names({e.street_code for e in events} | {e.grid_code for e in events})
        depts = department_names(self.session, {e.department_code for e in events})
        out = []
        for e in events:
            state = deadline_state(now, e.stage_warn_at, e.stage_deadline) if e.status in OPEN_STATUSES else None
            out.append({
                "id": e.id, "version": e.version, "title": e.title, "kind": e.kind, "category": e.category,
                "subcategory": e.subcategory, "source": e.source, "priority": e.priority,
                "priority_name": PRIORITY_NAMES.get(e.priority, e.priority), "status": e.status,
                "status_name": STATUS_NAMES.get(e.status, e.status), "street": names.get(e.street_code, ""),
                "grid": names.get(e.grid_code, ""), "grid_code": e.grid_code, "department_code": e.department_code,
                "department": depts.get(e.department_code, ""), "reported_at": fmt_time(e.reported_at),
                "deadline": fmt_time(e.stage_deadline), "remaining": remaining_text(now, e.stage_deadline),
                "deadline_state": state, "deadline_state_name": DEADLINE_STATE_NAMES[state],
                "rework_count": e.rework_count, "return_count": e.return_count, "lon": e.lon, "lat": e.lat,
                # 督办 and escalation marks, and a report still waiting for its duplicate answer.
                "supervision_level": e.supervision_level, "escalation_level": e.escalation_level,
                "suspected_duplicate": bool(e.duplicate_suspects) and e.status == "reported",
                "location_pending": bool(e.location_pending),
            })
        return out

    # -- counts -----------------------------------------------------------------------------------------
    def status_counts(self, region: str | None = None, now: datetime | None = None) -> dict[str, int]:
        """Open cases per status, plus 'overdue' and 'warning' among open cases."""
        now = _now(now)
        base = self._events(region).where(status_in(OPEN_STATUSES))
        rows = self.session.execute(
            base.with_only_columns(Event.status, func.count(Event.id)).group_by(Event.status)).all()
        out = {s: 0 for s in OPEN_STATUSES}
        out.update({s: int(n) for s, n in rows})
        for state in ("overdue", "warning"):
            out[state] = self.session.scalar(
                _deadline_filter(base, state, now).with_only_columns(func.count(Event.id))) or 0
        return out

    def report_progress(self, period: Period, region: str | None = None) -> pd.DataFrame:
        """Where the cases reported in `period` stand now, per child region of `region` (default the zone):
        columns code, status, cases (statuses no such case has are absent). A province's cities and a
        city's districts are read from the status cohort (events.status_cohort: ~470 rows a city-month);
        below a city, and for department staff (the cohort has neither streets nor departments), the
        scoped cases are counted."""
        code = self.region(region)
        child = region_codes.child_level(region_codes.level_of(code))
        if child is None:
            return pd.DataFrame(columns=["code", "status", "cases"])
        if child in ("city", "district") and self.viewer.role != "department":
            t = EventStatusCohort
            stmt = status_cohort.counts(period.start, period.end + timedelta(days=1),
                                         and_(in_region(t, self.viewer.zone_code), in_region(t, code)),
                                         by=getattr(t, f"{child}_code"))
        else:
            column = getattr(Event, f"{child}_code")
            stmt = _period_filter(self._events(region, column.label("code"), Event.status,
                                               func.count().label("cases")), period) \
                .group_by(column, Event.status)
        frame = rows_frame(self.session.execute(stmt).all(), columns=["code", "status", "cases"])
        return frame[frame["code"].notna() & (frame["code"] != "")].reset_index(drop=True)

    def department_figures(self, period: Period, region: str | None = None, now: datetime | None = None) -> dict:
        """The viewer's department's own figures from its cases (in `region`, default the zone): handled
        in the period, the share on time, open now and overdue now. A read of the cases rather than an
        indicator: the daily rollup the indicator library sums has no department key."""
        now = _now(now)
        start, end = period.utc_bounds()
        handled = self._events(region, func.count(Event.id),
                               func.coalesce(func.sum(Event.handled_on_time.cast(Integer)), 0)) \
            .where(Event.handled_at >= start, Event.handled_at < end)
        n, on_time = self.session.execute(handled).one()
        open_stmt = self._events(region, func.count(Event.id)).where(status_in(WITH_DEPARTMENT))
        open_n = self.session.scalar(open_stmt) or 0
        overdue = self.session.scalar(open_stmt.where(Event.stage_deadline < now)) or 0
        return {"handled": int(n), "handle_on_time_rate": _ratio(float(on_time), float(n)), "open": int(open_n),
                "overdue": int(overdue)}

    # -- maps -------------------------------------------------------------------------------------------
    def map_points(self, region: str | None = None, *, statuses=None, limit: int | None = None,  # noqa: ANN001
                   now: datetime | None = None) -> tuple[pd.DataFrame, int]:
        """Open cases (or `statuses`) as map points (events.format.point_frame) and the total matching;
        above [map].max_raw_points only the `limit` most urgent are sent."""
        now = _now(now)
        limit = int(limit or settings.get_settings()["map"]["max_raw_points"])
        stmt = self._events(region).where(status_in(statuses or OPEN_STATUSES))
        total = self.session.scalar(stmt.with_only_columns(func.count(Event.id))) or 0
        rows = self.session.execute(
            stmt.with_only_columns(*POINT_COLUMNS)
            .order_by(Event.stage_deadline.is_(None), Event.stage_deadline, Event.id).limit(limit)).all()
        return point_frame(rows, now), int(total)

    def reported_count(self, period: Period, region: str | None = None) -> int:
        """Cases reported in the period."""
        return int(self.session.scalar(_period_filter(self._events(region, func.count()), period)) or 0)

    def period_points(self, period: Period, region: str | None = None, now: datetime | None = None) -> pd.DataFrame:
        """Every case reported in the period as a map point (events.format.point_frame)."""
        stmt = _period_filter(self._events(region, *POINT_COLUMNS), period).order_by(Event.id)
        return point_frame(self.session.execute(stmt).all(), _now(now))

    def grid_bins(self, period: Period, region: str | None = None, now: datetime | None = None) -> pd.DataFrame:
        """Cases reported in the period per grid, at the grid's centroid: grid_code, lon, lat, count, open,
        overdue (open past the deadline now) and tip, sorted by grid code."""
        now = _now(now)
        is_open = Event.status.in_(OPEN_STATUSES)
        overdue = is_open & (Event.stage_deadline < now)
        bins = _period_filter(self._events(
            region, Event.grid_code, func.count().label("count"),
            func.sum(is_open.cast(Integer)).label("open"), func.sum(overdue.cast(Integer)).label("overdue"),
        ), period).group_by(Event.grid_code).subquery()
        # At the centroids of the grids that hold visible cases (the region tree itself is not restricted),
        # joined in the database: a city's month touches ~10k grids, too many to name in an IN list.
        stmt = select(bins.c.grid_code, Region.name, Region.centroid_lon, Region.centroid_lat, bins.c["count"],
                      bins.c.open, bins.c.overdue).join(Region, Region.code == bins.c.grid_code)
        frame = rows_frame(self.session.execute(stmt).all(),
                           columns=["grid_code", "name", "lon", "lat", "count", "open", "overdue"])
        columns = ["grid_code", "lon", "lat", "count", "open", "overdue", "tip"]
        if frame.empty:
            return pd.DataFrame(columns=columns)
        frame = frame.sort_values("grid_code")
        frame[["open", "overdue"]] = frame[["open", "overdue"]].fillna(0).astype(int)
        frame["tip"] = [f"{n}\n上报 {c} 件，未办结 {o} 件，超期 {d} 件"
                        for n, c, o, d in zip(frame["name"], frame["count"], frame["open"], frame["overdue"])]
        return frame[columns].reset_index(drop=True)

    # -- one case ---------------------------------------------------------------------------------------
    def case_detail(self, case_id: int, now: datetime | None = None) -> dict:
        """Everything the case panel shows, masked for the viewer. Raises PermissionDenied outside scope
        and LookupError when the case does not exist."""
        now = _now(now)
        event = self.session.execute(
            self.scoped(Event).where(Event.id == int(case_id)).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if event is None:
            self._refuse(int(case_id))
        codes = [event.district_code, event.street_code, event.community_code, event.grid_code]
        names = self._region_names(codes)
        transitions = self.session.execute(
            select(EventTransition).where(EventTransition.event_id == event.id)
            .order_by(EventTransition.at, EventTransition.id)).scalars().all()
        depts = department_names(self.session, [event.department_code, *[t.department_code for t in transitions],
                                                *[(t.detail or {}).get("suggested") for t in transitions]])
        actors = self._actor_names([t.actor for t in transitions])
        open_ = event.status in OPEN_STATUSES
        dl_state = deadline_state(now, event.stage_warn_at, event.stage_deadline) if open_ else None
        record = {
            "id": event.id, "version": event.version, "title": event.title, "description": event.description,
            "kind": event.kind, "category": event.category, "subcategory": event.subcategory,
            "source": event.source, "source_id": event.source_id, "priority": event.priority,
            "priority_name": PRIORITY_NAMES.get(event.priority, event.priority), "status": event.status,
            "status_name": STATUS_NAMES.get(event.status, event.status), "address": event.address,
            "lon": event.lon, "lat": event.lat, "grid_code": event.grid_code,
            "location_pending": bool(event.location_pending),
            "region_path": " / ".join(names[c] for c in codes if c in names),
            "department_code": event.department_code, "department": depts.get(event.department_code, ""),
            "reporter_name": event.reporter_name, "reporter_phone": event.reporter_phone,
            "reporter_id_no": event.reporter_id_no, "reporter_user": event.reporter_user,
            "reported_at": fmt_time(event.reported_at, "%Y-%m-%d %H:%M"),
            "deadline": fmt_time(event.stage_deadline, "%Y-%m-%d %H:%M"), "deadline_state": dl_state,
            "deadline_state_name": DEADLINE_STATE_NAMES[dl_state],
            "remaining": remaining_text(now, event.stage_deadline) if open_ else "—",
            "milestones": [(label, fmt_time(t, "%Y-%m-%d %H:%M")) for label, t in (
                ("上报", event.reported_at), ("立案", event.registered_at), ("不予立案", event.rejected_at),
                ("派遣", event.dispatched_at), ("处置反馈", event.handled_at), ("结案", event.closed_at)) if t],
            "deadlines": [(label, fmt_time(t, "%Y-%m-%d %H:%M"), ok) for label, t, ok in (
                ("派遣时限", event.dispatch_deadline, event.dispatched_on_time),
                ("处置时限", event.handle_deadline, event.handled_on_time),
                ("结案时限", event.close_deadline, event.closed_on_time)) if t],
            "rework_count": event.rework_count, "return_count": event.return_count,
            "satisfaction": event.satisfaction, "hang_reason": event.hang_reason,
            "duplicate_of": event.duplicate_of,
            "duplicate_suspects": self._visible_suspects(event) if event.status == "reported" else [],
            "duplicates": self._merged_into(event.id),
            "supervision": {"level": event.supervision_level,
                            "deadline": fmt_time(event.supervision_deadline, "%Y-%m-%d %H:%M"),
                            "state": deadline_state(now, None, event.supervision_deadline)
                            if open_ else None,
                            "on_time": event.supervision_on_time} if event.supervised_at else None,
            "escalation_level": event.escalation_level,
            "satisfaction_required": workflow.satisfaction_required(event.source),
            "photos": _photos(event.photos, "上报/反馈"),
            "timeline": [_timeline_row(t, actors, depts) for t in transitions],
            "actions": [{"id": a.id, "label": a.label, "comment": a.comment, "kind": a.kind}
                        for a in workflow.allowed_actions(event, self.viewer)],
        }
        for t in transitions:
            if t.attachments and t.action not in ("report", "feedback"):
                record["photos"] += _photos(t.attachments, workflow.action_label(t.action))
        if any(a["id"] in ("dispatch", "redispatch") for a in record["actions"]):
            s = routing.suggest(self.session, event)
            record["suggestion"] = {"code": s.department_code, "name": s.department_name, "reason": s.reason} \
                if s else None
            record["department_options"] = _department_options(self.session, event.district_code)
        if event.status == "extension_requested":
            req = next((t for t in reversed(transitions) if t.action == "request_extension"), None)
            record["extension_request"] = {"hours": (req.detail or {}).get("hours"), "reason": req.comment} \
                if req else None
        return mask_record(record, self.viewer)

    def _refuse(self, case_id: int) -> None:
        """Why a case is not in the viewer's scope: it does not exist, or it is not theirs (the row is
        read only to word the refusal, never returned)."""
        event = self.session.get(Event, case_id)
        if event is None:
            raise LookupError(f"案件 #{case_id} 不存在")
        ensure_visible(self.viewer, event)
        raise PermissionDenied("无权查看该案件")

    def _region_names(self, codes) -> dict[str, str]:  # noqa: ANN001
        """Names of regions the viewer's cases lie in (the region tree is public within the city)."""
        codes = sorted({c for c in codes if c})
        if not codes:
            return {}
        return dict(self.session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())

    def _actor_names(self, usernames) -> dict[str, str]:  # noqa: ANN001
        """Display names of the users on a visible case's timeline, where known."""
        names = sorted({u for u in usernames if u})
        if not names:
            return {}
        return {u: d for u, d in self.session.execute(
            select(User.username, User.display_name).where(User.username.in_(names))).all() if d}

    # -- the zone's grids (maps and the report form) ---------------------------------------------------
    def zone_grids(self, region: str | None = None) -> pd.DataFrame:
        """Grids inside the viewer's zone (or `region` within it): code, name, geometry (GeoJSON dict),
        centroid lon/lat, sorted by code. The region tree is not region-keyed: restricted by code."""
        code = self.region(region)
        stmt = select(Region.code, Region.name, Region.geometry, Region.centroid_lon, Region.centroid_lat) \
            .where(Region.level == "grid", region_codes.code_inside(Region.code, code))
        frame = rows_frame(self.session.execute(stmt.order_by(Region.code)).all(),
                           columns=["code", "name", "geometry", "lon", "lat"])
        frame["geometry"] = [json.loads(g) if g else None for g in frame["geometry"]]
        return frame[frame["geometry"].notna()].reset_index(drop=True)

    def grid_shape(self, region: str | None = None) -> dict | None:
        """The GeoJSON boundary of a region inside the zone (a case's grid; default the zone itself)."""
        code = self.region(region)
        text = self.session.execute(select(Region.geometry).where(Region.code == code)).scalar_one_or_none()
        return json.loads(text) if text else None

    # -- departments ------------------------------------------------------------------------------------
    def department_options(self, region: str | None = None) -> list[dict]:
        """Departments a case in `region` (checked visible; default the zone) could go to: that region's
        bureaus and offices plus the city-wide ones, as code, name and kind. The departments table is the
        city's directory, not case data: it is restricted by the region asked for, not by the viewer's
        department."""
        code = self.region(region)
        return _department_options(self.session, None if region_codes.level_of(code) == "city" else code)

    # -- 重复上报 ---------------------------------------------------------------------------------------
    def duplicate_candidates(self, *, category: str | None = None, subcategory: str | None = None,
                             lon: float | None = None, lat: float | None = None, crs: str = "wgs84",
                             now: datetime | None = None, limit: int = duplicates.MAX_CANDIDATES) -> list[dict]:
        """Open cases the viewer may see that a report of this 小类 at (lon, lat) in `crs`, made `now`, may
        repeat (events.duplicates: same conditions as the intake check, restricted to the viewer): id,
        title, status, WGS-84 lon/lat, distance_m, age_hours, reported_at, grid_code, nearest first.
        Incomplete input (no 小类 or no coordinates yet) gives no candidates."""
        if not (category and subcategory) or lon is None or lat is None:
            return []
        try:
            x, y = to_wgs84(float(lon), float(lat), crs)
        except (UnknownCRS, TypeError, ValueError):
            return []
        at = _now(now)
        try:
            rule = duplicates.rule_for(category, subcategory)
        except ValueError:
            return []
        stmt = self.scoped(Event, *duplicates.CANDIDATE_COLUMNS).where(
            *duplicates.conditions(subcategory=subcategory, lon=x, lat=y, at=at, rule=rule))
        found = duplicates.nearest(self.session.execute(stmt).all(), category=category, lon=x, lat=y, at=at,
                                   rule=rule, limit=limit)
        return [{"id": c.id, "title": c.title, "status": c.status, "status_name": c.status_name, "lon": c.lon,
                 "lat": c.lat, "distance_m": round(c.distance_m, 1), "age_hours": round(c.age_hours, 1),
                 "reported_at": fmt_time(c.reported_at), "grid_code": c.grid_code, "source": c.source}
                for c in found]

    def suspected_duplicates(self, region: str | None = None, *, limit: int = 200) -> list[dict]:
        """Reports still waiting for a duplicate answer (from imports, the open API, a form submitted
        while a candidate appeared), oldest first, each with its nearest visible candidate: what the
        dispatch console merges in bulk."""
        stmt = self._events(region).where(Event.status == "reported", Event.duplicate_suspects.is_not(None)) \
            .order_by(Event.reported_at, Event.id).limit(limit)
        events = self.session.execute(stmt).scalars().all()
        out = []
        for e in events:
            visible = self._visible_suspects(e)
            if not visible:
                continue
            best = visible[0]
            out.append({"id": e.id, "version": e.version, "title": e.title, "source": e.source,
                        "subcategory": e.subcategory, "grid_code": e.grid_code,
                        "reported_at": fmt_time(e.reported_at), "candidate_id": best["id"],
                        "candidate_title": best["title"], "distance_m": best["distance_m"],
                        "age_hours": best["age_hours"], "candidates": len(visible)})
        return out

    def _visible_suspects(self, event: Event) -> list[dict]:
        """The suspects kept on a report that the viewer may see, with their titles and states."""
        kept = {int(s["id"]): s for s in (event.duplicate_suspects or [])}
        if not kept:
            return []
        rows = self.session.execute(self.scoped(Event, Event.id, Event.title, Event.status)
                                    .where(Event.id.in_(sorted(kept)))).all()
        found = {r.id: r for r in rows}
        return [{**kept[i], "title": found[i].title, "status_name": STATUS_NAMES.get(found[i].status, "")}
                for i in kept if i in found]

    def _merged_into(self, case_id: int) -> list[dict]:
        """Reports merged into this case as 重复 that the viewer may see (id, source, reported_at)."""
        rows = self.session.execute(self.scoped(Event, Event.id, Event.source, Event.reported_at)
                                    .where(Event.duplicate_of == case_id).order_by(Event.id)).all()
        return [{"id": r.id, "source": r.source, "reported_at": fmt_time(r.reported_at)} for r in rows]

    def own_department_name(self) -> str:
        """The viewer's department's name ("" for viewers without a department)."""
        code = self.viewer.department_code
        return department_names(self.session, [code]).get(code, code or "") if code else ""


def _department_options(session, region: str | None) -> list[dict]:  # noqa: ANN001
    """Departments to choose from (code, name, kind): what a dispatch form needs of the directory."""
    return [{k: d[k] for k in ("code", "name", "kind")} for d in list_departments(session, region)]


def _photos(items, stage: str) -> list[dict]:  # noqa: ANN001
    out = []
    for meta in items or []:
        path = photo_path(meta)
        if path is not None:
            out.append({"path": str(path), "name": meta.get("name", ""), "stage": stage, "at": meta.get("at", "")})
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
            "role": "系统" if t.actor_role == "system" else role_label(t.actor_role),
            "from": STATUS_NAMES.get(t.from_status, "—") if t.from_status else "—",
            "to": STATUS_NAMES.get(t.to_status, t.to_status), "comment": t.comment or "",
            "note": "；".join(notes)}
