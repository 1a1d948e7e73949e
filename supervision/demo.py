"""The demo city's supervision: what the jobs would have left at the anchor time — the escalation rules
applied once, the command centre's 督办 on the longest-overdue open cases, and the day's 研判 — so that
督办研判 and the leaders' urgent list are not empty in the demo. Generator protocol of demo.seed."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Event, User
from store.period import local_tz
from store.region_codes import inside
from store.scope import Viewer
from supervision import actions, escalation, hotspots

DEMO_SUPERVISED = 5


def generate(session: Session, rng, scale, now: datetime) -> dict:  # noqa: ANN001, ARG001 - the generator protocol
    escalated = escalation.run(session, now=now)
    duty = session.execute(select(User.username, User.display_name, User.zone_code)
                           .where(User.role == "duty_officer").order_by(User.username).limit(1)).first()
    supervised: list[int] = []
    if duty is not None:
        viewer = Viewer(duty.username, "duty_officer", duty.zone_code, display_name=duty.display_name or "")
        late = [int(i) for i in session.scalars(
            select(Event.id).where(Event.stage_deadline < now, inside(Event, duty.zone_code))
            .order_by(Event.stage_deadline).limit(DEMO_SUPERVISED))]
        if late:
            actions.place(session, viewer, late, level="city", deadline=now + timedelta(days=3), now=now,
                          note="超期时间最长的在办案件，请于三日内办结并反馈（演示）")
            supervised = late
    found = hotspots.run(session, today=now.astimezone(local_tz()).date())
    return {"escalated": len(escalated.escalated), "supervised": len(supervised), "hotspots": found.found}
