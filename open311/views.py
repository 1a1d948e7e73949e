"""The read face of the Open311 API: cases as a client system may see them (GET requests).

`PublishedRequests` is an events.views.EventViews built with the key's viewer (role api_client, zone
= the key's zone), so every read starts from the events read face's scoped SELECT: nothing outside the
key's zone can come back. The key's categories narrow it further (`scope_categories`). Rows carry only
what the spec publishes about a request — never the reporter's name, phone or ID number, never staff
comments — and the description with phone numbers, ID numbers and e-mail addresses masked, since a
citizen may have typed their own into it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select

from auth.roles import can
from events.departments import department_names
from events.statuses import STATUS_NAMES, TERMINAL
from events.views import EventViews
from store import region_codes
from store.models import ApiKey, Event
from store.scope import PermissionDenied, ReadFace

OPEN = tuple(s for s in STATUS_NAMES if s not in TERMINAL)
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[\s-]?(\d{7,8})(?!\d)")
_ID_NO = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_EMAIL = re.compile(r"[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63})+")


def scrub(text: str | None) -> str:
    """Free text with phone numbers, resident ID numbers and e-mail addresses masked."""
    if not text:
        return ""
    text = _ID_NO.sub(lambda m: m.group(1) + "*" * 8 + m.group(3), text)
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: m.group(1) + "-" + "*" * (len(m.group(2)) - 4) + m.group(2)[-4:], text)
    return _EMAIL.sub("***@***", text)


@dataclass
class RequestPage:
    rows: list[dict]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


class PublishedRequests(EventViews):
    """Cases as service requests. `scope_categories`: the key's 大类 / "大类/小类" (None: all)."""

    def _published(self, scope_categories):  # noqa: ANN001, ANN202
        stmt = self._events(None)
        if scope_categories:
            whole = [c for c in scope_categories if "/" not in c]
            pairs = [c.split("/", 1) for c in scope_categories if "/" in c]
            stmt = stmt.where(or_(Event.category.in_(whole) if whole else False,
                                  *[(Event.category == c) & (Event.subcategory == s) for c, s in pairs]))
        return stmt

    def service_requests(self, *, ids: list[int] | None = None, subcategory: tuple[str, str] | None = None,
                         start: datetime | None = None, end: datetime | None = None,
                         statuses: tuple[str, ...] | None = None, scope_categories=None,  # noqa: ANN001
                         page: int = 1, limit: int = 100, now: datetime | None = None,
                         default_days: int = 90) -> RequestPage:
        """Requests, newest first, one page. `ids` (when given) ignores the other filters, as the spec
        says; without dates, the last `default_days` days."""
        stmt = self._published(scope_categories)
        if ids:
            stmt = stmt.where(Event.id.in_([int(i) for i in ids]))
        else:
            if subcategory is not None:
                stmt = stmt.where(Event.category == subcategory[0], Event.subcategory == subcategory[1])
            if start is None and end is None:
                start = (now or datetime.now(timezone.utc)) - timedelta(days=default_days)
            if start is not None:
                stmt = stmt.where(Event.reported_at >= start)
            if end is not None:
                stmt = stmt.where(Event.reported_at < end)
            if statuses:
                stmt = stmt.where(Event.status.in_(list(statuses)))
        total = self.session.scalar(stmt.with_only_columns(func.count(Event.id)).order_by(None)) or 0
        page, limit = max(1, int(page)), max(1, int(limit))
        events = self.session.execute(stmt.order_by(Event.reported_at.desc(), Event.id.desc())
                                      .offset((page - 1) * limit).limit(limit)).scalars().all()
        return RequestPage(self._requests(events), int(total), page, limit)

    def service_request(self, case_id: int, *, scope_categories=None) -> dict | None:  # noqa: ANN001
        """One request, or None when it does not exist or is not the key's to see (the same answer,
        so a key cannot probe which case numbers exist elsewhere)."""
        event = self.session.execute(self._published(scope_categories).where(Event.id == int(case_id))
                                     ).scalar_one_or_none()
        return self._requests([event])[0] if event is not None else None

    def _requests(self, events: list[Event]) -> list[dict]:
        depts = department_names(self.session, {e.department_code for e in events})
        return [{
            "id": e.id, "status": e.status, "category": e.category, "subcategory": e.subcategory,
            "description": scrub(e.description), "address": scrub(e.address) or None,
            "department": depts.get(e.department_code) if e.department_code else None,
            "reported_at": e.reported_at, "updated_at": e.updated_at,
            "expected_at": (e.close_deadline or e.handle_deadline or e.stage_deadline) if e.status in OPEN else None,
            "stage_deadline": e.stage_deadline if e.status in OPEN else None,
            "lon": e.lon, "lat": e.lat, "location_pending": bool(e.location_pending),
            "grid_code": e.grid_code, "district_code": e.district_code,
        } for e in events]


class ApiKeyViews(ReadFace):
    """The API keys as the 系统管理 page lists them. Keys are not region-keyed rows: the read is
    restricted explicitly to keys whose zone lies inside the viewer's zone, and to viewers who manage
    keys (others get PermissionDenied). Nothing secret is ever read."""

    def api_keys(self) -> list[dict]:
        if not can(self.viewer.role, "manage_api_keys"):
            raise PermissionDenied("您的角色无权查看接入密钥")
        rows = self.session.execute(
            select(ApiKey.name, ApiKey.prefix, ApiKey.zone_code, ApiKey.categories, ApiKey.source,
                   ApiKey.rate_per_minute, ApiKey.deferred, ApiKey.created_at, ApiKey.created_by, ApiKey.revoked_at,
                   ApiKey.revoked_by, ApiKey.last_used_at)
            .where(region_codes.code_inside(ApiKey.zone_code, self.viewer.zone_code))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
        return [dict(r._mapping) for r in rows]
