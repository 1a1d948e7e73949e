"""Shared helpers for the events tests (no tests here): viewers, a located case factory on the tiny
city, and a driver that walks a case into any workflow state through the public API."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from PIL import Image

from events import intake, workflow
from events.departments import ensure_demo_departments
from geo.locate import Locator
from store.db import session_scope
from store.scope import Viewer

# Tiny city (tests/support/tiny_city.py): grid 440902001001001 covers lon 110.0–110.5, lat 21.75–22.0.
POINT = (110.1, 21.9)
GRID = "440902001001001"
OTHER_POINT = (111.9, 21.1)  # 440904002002002

DUTY = Viewer("duty1", "duty_officer", "440900", display_name="值班员甲")
DUTY2 = Viewer("duty2", "duty_officer", "440900", display_name="值班员乙")
LEADER = Viewer("boss", "leader", "440900")
ADMIN = Viewer("root", "admin", "440900")
GRID_OFFICER = Viewer("g1", "grid_officer", GRID)
OTHER_GRID_OFFICER = Viewer("g2", "grid_officer", "440904002002002")
STREET_OFFICE = "440902001-JD"  # where 市容环境/暴露垃圾 at POINT is routed
CITY_CGJ = "CGJ"

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # Monday 09:00 Asia/Shanghai


def dept(code: str = STREET_OFFICE, zone: str = "440900") -> Viewer:
    return Viewer(f"staff-{code}", "department", zone, department_code=code)


def prepare(engine) -> None:  # noqa: ANN001
    with session_scope(engine) as s:
        ensure_demo_departments(s)


def locator(session):  # noqa: ANN001, ANN201
    return Locator.from_session(session, "440900")


def new_case(session, *, point=POINT, source="巡查", category="市容环境", subcategory="暴露垃圾",  # noqa: ANN001
             priority="normal", reported_at=T0, actor=None, **kw):  # noqa: ANN001
    return intake.create_event(session, source=source, category=category, subcategory=subcategory,
                               title=kw.pop("title", f"{subcategory}测试"), lon=point[0], lat=point[1],
                               priority=priority, reported_at=reported_at, actor=actor, locator=locator(session),
                               now=reported_at, **kw)


# How to reach each state from 待立案: (action, who, kwargs) steps.
PATHS: dict[str, list[tuple]] = {
    "reported": [],
    "registered": [("register", "duty", {})],
    "rejected": [("reject", "duty", {"comment": "重复上报"})],
    "dispatched": [("register", "duty", {}), ("dispatch", "duty", {"department_code": STREET_OFFICE})],
}
PATHS["handling"] = PATHS["dispatched"] + [("accept", "dept", {})]
PATHS["extension_requested"] = PATHS["handling"] + [("request_extension", "dept", {"comment": "需采购", "hours": 8})]
PATHS["hang_requested"] = PATHS["handling"] + [("request_hang", "dept", {"comment": "需列入年度计划"})]
PATHS["hung"] = PATHS["hang_requested"] + [("approve_hang", "leader", {})]
PATHS["handled"] = PATHS["handling"] + [("feedback", "dept", {"comment": "已清理"})]
PATHS["verified"] = PATHS["handled"] + [("verify_pass", "grid", {})]
PATHS["verify_failed"] = PATHS["handled"] + [("verify_fail", "grid", {"comment": "仍有垃圾"})]
PATHS["closed"] = PATHS["verified"] + [("close", "duty", {})]
# 重复: merged into another open case, made on the way (duplicate_of "new": a fresh report at the same spot).
PATHS["duplicate"] = [("merge", "duty", {"duplicate_of": "new"})]

ACTORS = {"duty": DUTY, "dept": dept(), "leader": LEADER, "grid": GRID_OFFICER}


def drive(session, event_id: int, status: str, start: datetime = T0, step: timedelta = timedelta(minutes=10)):  # noqa: ANN001
    """Walk case `event_id` to `status` along PATHS; returns the time of the last step."""
    t = start
    for action, who, kw in PATHS[status]:
        t += step
        kw = dict(kw)
        comment = kw.pop("comment", "")
        if kw.get("duplicate_of") == "new":
            kw["duplicate_of"] = new_case(session, reported_at=t).id
        workflow.transition(session, event_id, action, ACTORS[who], comment, now=t, **kw)
    return t


def jpeg_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def png_bytes(size=(8, 8)) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(buf, format="PNG")
    return buf.getvalue()


def mg(at, name: str) -> str:  # noqa: ANN001
    """The session key of 我的网格's report-form widget `name` in the form number now shown
    (pages/my_grid.py renews every key after a successful report so the browser empties the form)."""
    return f"mg_{name}__{at.session_state['mg_form_n']}"
