"""The supervision read face: every read the 督办研判 and 考核评价 screens, the case panel's 督办 mark and the
leaders' urgent list make of supervision, escalation and 研判.

Each read of a region-keyed table (cases, supervision records, escalations, hotspots) starts from
`self.scoped(...)` — the viewer's zone, and for department staff their department's rows where the
table has a department. Two reads are of tables that are not region-keyed and say how they are
restricted: departments (the city's directory, restricted to those serving the region asked for) and
grid officers (users whose zone lies inside the region asked for, itself checked to be visible).
Status codes come back as codes; screens name them (events.statuses).
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import func, or_, select

from store import region_codes
from store.models import Department, Escalation, Event, Hotspot, Region, Supervision, User
from store.period import local_tz
from store.scope import ReadFace
from supervision.actions import SUPERVISION_LEVELS
from supervision.hotspots import KINDS
from supervision.rules import LEVEL_NAMES, LEVELS

CASE_COLUMNS = (Event.id, Event.title, Event.category, Event.subcategory, Event.status, Event.department_code,
                Event.grid_code, Event.street_code, Event.district_code, Event.reported_at, Event.stage_deadline,
                Event.supervision_level, Event.supervision_deadline, Event.escalation_level, Event.lon, Event.lat)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _fmt(t: datetime | None) -> str:
    return t.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M") if t else "—"


def _open(stmt):  # noqa: ANN001, ANN202
    """Cases still being worked on (not closed, refused or merged as 重复)."""
    return stmt.where(Event.closed_at.is_(None), Event.rejected_at.is_(None), Event.duplicate_of.is_(None))


def _case_row(r, now: datetime) -> dict:  # noqa: ANN001
    overdue = r.stage_deadline is not None and r.stage_deadline < now
    late = r.supervision_deadline is not None and r.supervision_deadline < now
    return {"id": r.id, "title": r.title, "category": r.category, "subcategory": r.subcategory, "status": r.status,
            "department_code": r.department_code, "grid_code": r.grid_code, "street_code": r.street_code,
            "district_code": r.district_code, "reported_at": _fmt(r.reported_at), "deadline": _fmt(r.stage_deadline),
            "overdue": overdue, "supervision_level": r.supervision_level,
            "supervision_name": SUPERVISION_LEVELS.get(r.supervision_level or "", ""),
            "supervision_deadline": _fmt(r.supervision_deadline), "supervision_late": late,
            "escalation_level": r.escalation_level,
            "escalation_name": LEVEL_NAMES.get(r.escalation_level or "", ""), "lon": r.lon, "lat": r.lat}


class SupervisionViews(ReadFace):
    """Supervised and escalated cases, 督办 records, hotspots, and the directory reads the screens need,
    in the viewer's zone (`region` narrows inside it; outside it store.scope.PermissionDenied)."""

    def _cases(self, region: str | None, *columns):  # noqa: ANN202
        return self.within(self.scoped(Event, *(columns or CASE_COLUMNS)), Event, region)

    # -- 督办 -------------------------------------------------------------------------------------------
    def supervised_cases(self, region: str | None = None, *, now: datetime | None = None, open_only: bool = True,
                         late_only: bool = False, limit: int = 200) -> list[dict]:
        """Cases under supervision, the nearest supervision deadline first."""
        now = _now(now)
        stmt = self._cases(region).where(Event.supervised_at.is_not(None))
        if open_only:
            stmt = _open(stmt)
        if late_only:
            stmt = stmt.where(Event.supervision_deadline < now)
        rows = self.session.execute(stmt.order_by(Event.supervision_deadline, Event.id).limit(limit)).all()
        return [_case_row(r, now) for r in rows]

    def supervision_records(self, region: str | None = None, *, case_id: int | None = None,
                            limit: int = 100) -> list[dict]:
        """督办 orders, newest first (of one case when `case_id` is given)."""
        s = Supervision
        stmt = self.within(self.scoped(s), s, region)
        if case_id is not None:
            stmt = stmt.where(s.event_id == int(case_id))
        rows = self.session.execute(stmt.order_by(s.created_at.desc(), s.id.desc()).limit(limit)).scalars().all()
        names = self._department_names({r.notified_department for r in rows} | {r.department_code for r in rows})
        return [{"id": r.id, "case_id": r.event_id, "level": r.level, "level_name": SUPERVISION_LEVELS[r.level],
                 "deadline": _fmt(r.deadline), "note": r.note, "notified_department": r.notified_department,
                 "notified_name": names.get(r.notified_department or "", ""), "department_code": r.department_code,
                 "by": r.created_by, "at": _fmt(r.created_at), "batch_id": r.batch_id, "grid_code": r.grid_code}
                for r in rows]

    def department_overdue(self, region: str | None = None, *, now: datetime | None = None) -> list[dict]:
        """Overdue open cases per department (the lists a leader may place under supervision at once),
        the most first."""
        now = _now(now)
        stmt = _open(self._cases(region, Event.department_code, func.count(Event.id))) \
            .where(Event.department_code.is_not(None), Event.stage_deadline < now).group_by(Event.department_code)
        counts = dict(self.session.execute(stmt).all())
        names = self._department_names(set(counts))
        return sorted(({"department_code": code, "department": names.get(code, code), "overdue": int(n)}
                       for code, n in counts.items()), key=lambda d: (-d["overdue"], d["department_code"]))

    # -- escalation --------------------------------------------------------------------------------------
    def escalated_cases(self, region: str | None = None, *, now: datetime | None = None,
                        limit: int = 50) -> list[dict]:
        """Open cases the rules escalated to the level of the region looked at or above (a district sees
        what rose to the district or the city; a street, also what rose to the street), longest overdue
        first."""
        now = _now(now)
        code = self.region(region)
        level = region_codes.level_of(code)
        floor = LEVELS.index(level) if level in LEVELS else 0
        stmt = _open(self._cases(region)).where(Event.escalation_level.in_(LEVELS[floor:]))
        rows = self.session.execute(stmt.order_by(Event.stage_deadline.is_(None), Event.stage_deadline, Event.id)
                                    .limit(limit)).all()
        return [_case_row(r, now) for r in rows]

    def escalations(self, region: str | None = None, *, since: datetime | None = None,
                    limit: int = 100) -> list[dict]:
        """Escalation records, newest first, with the case's title."""
        e = Escalation
        stmt = self.within(self.scoped(e, e.id, e.event_id, e.level, e.rule_id, e.overdue_hours, e.unit, e.at,
                                       e.grid_code, e.department_code), e, region)
        if since is not None:
            stmt = stmt.where(e.at >= since)
        rows = self.session.execute(stmt.order_by(e.at.desc(), e.id.desc()).limit(limit)).all()
        titles = self._titles({r.event_id for r in rows})
        return [{"id": r.id, "case_id": r.event_id, "title": titles.get(r.event_id, ""), "level": r.level,
                 "level_name": LEVEL_NAMES[r.level], "rule": r.rule_id, "overdue": round(r.overdue_hours, 1),
                 "unit": r.unit, "at": _fmt(r.at), "grid_code": r.grid_code, "department_code": r.department_code}
                for r in rows]

    # -- 研判 -------------------------------------------------------------------------------------------
    def hotspot_day(self, region: str | None = None, *, today: date | None = None) -> date | None:
        """The latest day a 研判 run stored findings for (on or before `today`)."""
        stmt = self.within(self.scoped(Hotspot, func.max(Hotspot.run_day)), Hotspot, region)
        if today is not None:
            stmt = stmt.where(Hotspot.run_day <= today)
        return self.session.scalar(stmt)

    def hotspots(self, region: str | None = None, *, today: date | None = None, kind: str | None = None,
                 limit: int = 200) -> list[dict]:
        """The latest run's findings in the zone, the strongest first: kind, region_code, topic, observed,
        expected, ratio, q_value, cases (count), lon/lat and the region code columns."""
        day = self.hotspot_day(region, today=today)
        if day is None:
            return []
        h = Hotspot
        stmt = self.within(self.scoped(h), h, region).where(h.run_day == day)
        if kind is not None:
            stmt = stmt.where(h.kind == kind)
        rows = self.session.execute(stmt.order_by(h.q_value, h.observed.desc(), h.id).limit(limit)).scalars().all()
        names = self._region_names({r.region_code for r in rows})
        return [{"id": r.id, "run_day": r.run_day, "kind": r.kind, "kind_name": KINDS[r.kind],
                 "region_code": r.region_code, "region_name": names.get(r.region_code, r.region_code),
                 "topic": r.topic, "observed": r.observed, "expected": r.expected,
                 "ratio": round(r.observed / r.expected, 1) if r.expected else None, "q_value": r.q_value,
                 "cases": len(r.case_ids or []), "lon": r.lon, "lat": r.lat, "city_code": r.city_code,
                 "district_code": r.district_code, "street_code": r.street_code, "grid_code": r.grid_code}
                for r in rows]

    def hotspot_cases(self, hotspot_id: int | None = None, *, limit: int = 200) -> list[dict]:
        """The cases behind one finding that the viewer may see (none for a finding outside the zone)."""
        if hotspot_id is None:
            return []
        h = self.session.execute(self.scoped(Hotspot).where(Hotspot.id == int(hotspot_id))).scalar_one_or_none()
        if h is None or not h.case_ids:
            return []
        now = datetime.now(timezone.utc)
        rows = self.session.execute(self.scoped(Event, *CASE_COLUMNS).where(Event.id.in_(list(h.case_ids)))
                                    .order_by(Event.reported_at.desc()).limit(limit)).all()
        return [_case_row(r, now) for r in rows]

    # -- directory reads -------------------------------------------------------------------------------
    def officers(self, region: str | None = None) -> list[dict]:
        """Active grid officers whose zone lies inside the region (default the viewer's zone): username,
        display name, zone_code. Users are not region-keyed: restricted by their zone code."""
        code = self.region(region)
        rows = self.session.execute(
            select(User.username, User.display_name, User.zone_code)
            .where(User.role == "grid_officer", User.active.is_(True), region_codes.code_inside(User.zone_code, code))
            .order_by(User.zone_code, User.username)).all()
        return [{"username": r.username, "name": r.display_name or r.username, "zone_code": r.zone_code}
                for r in rows]

    def departments(self, region: str | None = None) -> list[dict]:
        """Departments serving inside the region (default the zone): its own, those of the regions above
        it, those without a region. The directory is not case data: restricted by the region asked."""
        code = self.region(region)
        rows = self.session.execute(
            select(Department.code, Department.name, Department.kind).where(or_(
                Department.region_code.is_(None), region_codes.code_inside(Department.region_code, code),
                Department.region_code.in_(region_codes.ancestors(code)))).order_by(Department.code)).all()
        return [{"code": r.code, "name": r.name, "kind": r.kind} for r in rows]

    def _department_names(self, codes) -> dict[str, str]:  # noqa: ANN001
        codes = sorted({c for c in codes if c})
        if not codes:
            return {}
        return dict(self.session.execute(select(Department.code, Department.name)
                                         .where(Department.code.in_(codes))).all())

    def _titles(self, ids) -> dict[int, str]:  # noqa: ANN001
        ids = sorted(ids)
        if not ids:
            return {}
        return dict(self.session.execute(self.scoped(Event, Event.id, Event.title).where(Event.id.in_(ids))).all())

    def _region_names(self, codes) -> dict[str, str]:  # noqa: ANN001
        """Names of regions findings are about (the region tree is public within the city)."""
        codes = sorted({c for c in codes if c})
        if not codes:
            return {}
        return dict(self.session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())

