"""督办 on screen: the marks of supervised and escalated cases (dispatch console, case panel), the 挂牌督办
form for one case or a department's overdue list. Writes through supervision.actions."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from auth.roles import can
from store.period import local_tz
from store.region_codes import level_of
from store.scope import Viewer
from supervision import actions as supervision_actions
from supervision.actions import SUPERVISION_LEVELS
from supervision.rules import LEVEL_NAMES
from supervision.views import SupervisionViews
from ui import plain


def mark(supervision_level: str | None, escalation_level: str | None) -> str:
    """Short text for a table cell: 市级督办 / 区级督办, and the level an overdue case rose to."""
    parts = []
    if supervision_level:
        parts.append(SUPERVISION_LEVELS.get(supervision_level, supervision_level))
    if escalation_level:
        parts.append(f"升级至{LEVEL_NAMES.get(escalation_level, escalation_level)}")
    return " · ".join(parts)


def marks(frame: pd.DataFrame) -> list[str]:
    """The mark of every row of a case list (events.views rows): 督办, escalation, and 疑似重复 for a report
    still waiting for its duplicate answer."""
    if frame.empty:
        return []
    none = [None] * len(frame)
    sup = frame["supervision_level"] if "supervision_level" in frame else none
    esc = frame["escalation_level"] if "escalation_level" in frame else none
    dup = frame["suspected_duplicate"] if "suspected_duplicate" in frame else none
    return [" · ".join(x for x in (mark(s if isinstance(s, str) else None, e if isinstance(e, str) else None),
                                   "疑似重复" if d in (True,) else "") if x)
            for s, e, d in zip(sup, esc, dup)]


def badges(case: dict) -> str:
    """Badges for the case panel's header (our own words only)."""
    out = []
    sup = case.get("supervision")
    if sup and sup.get("level"):
        late = sup.get("state") == "overdue"
        out.append(f":{'red' if late else 'violet'}-badge[{SUPERVISION_LEVELS[sup['level']]} · 时限 {sup['deadline']}"
                   f"{' · 已逾期' if late else ''}]")
    if case.get("escalation_level"):
        out.append(f":red-badge[超期升级至{LEVEL_NAMES[case['escalation_level']]}]")
    return " ".join(out)


def _levels_for(viewer: Viewer) -> list[str]:
    """市级 only for the city's leaders and duty room (the action checks it again)."""
    return ["district", "city"] if level_of(viewer.zone_code) in ("province", "city") else ["district"]


def supervise_form(engine: Engine, viewer: Viewer, *, key: str, case_ids: list[int] | None = None,
                   department_code: str | None = None, region: str | None = None,
                   client: str | None = None) -> None:
    """The 挂牌督办 form: level, deadline, note, notified department; for the given cases, or for every
    overdue case of `department_code`."""
    if not can(viewer.role, "supervise"):
        return
    today = datetime.now(local_tz()).date()
    with SupervisionViews.open(engine, viewer) as v:
        departments = v.departments(region)
    names = {d["code"]: d["name"] for d in departments}
    with st.form(f"{key}-form", clear_on_submit=False):
        levels = _levels_for(viewer)
        level = st.radio("督办级别", levels, format_func=lambda x: SUPERVISION_LEVELS[x], horizontal=True,
                         key=f"{key}-level", index=len(levels) - 1)
        c1, c2 = st.columns(2)
        day = c1.date_input("督办时限（日期）", value=today + timedelta(days=3), min_value=today,
                            format="YYYY-MM-DD", key=f"{key}-day")
        at = c2.time_input("时间", value=time(17, 30), key=f"{key}-time")
        note = st.text_area("督办意见（必填）", key=f"{key}-note", height=80, max_chars=supervision_actions.NOTE_MAX,
                            placeholder="如：请于时限前处置完毕并反馈处置照片")
        notified = None
        if department_code is None:
            notified = st.selectbox("通知部门（可选）", [None, *names], key=f"{key}-notify",
                                    format_func=lambda c: "—" if c is None else names[c])
        submitted = st.form_submit_button("挂牌督办", type="primary", width="stretch")
    if not submitted:
        return
    deadline = datetime.combine(day, at, tzinfo=local_tz()).astimezone(timezone.utc)
    if department_code is not None:
        out = supervision_actions.supervise_department_overdue(engine, viewer, department_code, level=level,
                                                               deadline=deadline, note=note, region=region,
                                                               client=client)
    else:
        out = supervision_actions.supervise_cases(engine, viewer, case_ids or [], level=level, deadline=deadline,
                                                  note=note, notified_department=notified, client=client)
    (plain.success if out.ok else plain.error)(out.message)


def case_supervision(engine: Engine, viewer: Viewer, case: dict, key: str, client: str | None = None) -> None:
    """On the case panel: its 督办 records, and the form for whoever may supervise an open case."""
    with SupervisionViews.open(engine, viewer) as v:
        records = v.supervision_records(case_id=case["id"], limit=20)
    may = can(viewer.role, "supervise") and case["status"] not in ("closed", "rejected", "duplicate")
    if not records and not may:
        return
    with st.expander(f"督办（{len(records)} 次）" if records else "挂牌督办", expanded=False):
        if records:
            st.dataframe(pd.DataFrame([{"时间": r["at"], "级别": r["level_name"], "时限": r["deadline"],
                                        "督办人": r["by"], "通知部门": r["notified_name"], "督办意见": r["note"]}
                                       for r in records]), hide_index=True, width="stretch")
        if may:
            supervise_form(engine, viewer, key=f"{key}-sv-{case['id']}", case_ids=[case["id"]], client=client)
