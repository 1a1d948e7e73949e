"""部门处置: the cases dispatched to the viewer's department — to sign for, in hand, waiting for approval,
挂账, and fed back — with feedback (photos), extension requests, 挂账 requests and 退回 on the case panel.

The figures and the list follow the sidebar's scope (区县/街道): a bureau that serves the whole city can
look at one district. After an action the page stays on the case acted on: the list switches to the
stage the case is in now and the message sits above that case's panel, with that case's buttons; a
case that has left the department's lists (退回) is named in a message of its own, and no other case is
opened in its place."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

import settings
from events import statuses
from events.statuses import STATUS_NAMES
from events.views import EventViews
from ui import case_panel, plain
from ui.chrome import resolve_scope
from ui.context import current_period
from ui.data import app_engine
from ui.session import live_fragment, require_viewer

PANEL = "department"  # the case panel's key: its pending outcome is read here

viewer = require_viewer()
engine = app_engine()
period = current_period()
refresh = int(settings.get_settings()["app"].get("refresh_seconds", 30))

if viewer.role == "department" and not viewer.department_code:
    st.error("您的账号未关联处置部门，请联系管理员")
    st.stop()

code, crumbs, _kids = resolve_scope(viewer)
with EventViews.open(engine, viewer) as v:
    dept_name = v.own_department_name()
where = " › ".join(c["name"] for c in crumbs)
st.markdown(f"### 部门处置 · {plain.md(dept_name)}" + (f" · {plain.md(where)}" if code != viewer.zone_code else ""))

# A department's cases by stage: to sign for, in hand, fed back (awaiting verification), long-term.
TABS = {g.label: list(g.statuses) for g in map(statuses.stage, ("to_accept", "handling", "to_verify", "hung"))}
TAB_OF = {s: label for label, group in TABS.items() for s in group}
FIRST_TAB = next(iter(TABS))


@live_fragment(run_every=refresh)
def overview() -> None:
    now = datetime.now(timezone.utc)
    with EventViews.open(engine, viewer) as v:
        figures = v.department_figures(period, region=code, now=now)
        counts = v.status_counts(code, now=now)
    c = st.columns(4)
    c[0].metric("在办", figures["open"])
    c[1].metric("已超期", figures["overdue"])
    c[2].metric(f"{period.label}处置", figures["handled"])
    rate = figures["handle_on_time_rate"]
    c[3].metric("按期处置率", "—" if rate is None else f"{rate:.1f}%")
    to_accept, handling = statuses.stage("to_accept"), statuses.stage("handling")
    pending = "、".join(f"{STATUS_NAMES[s]} {counts[s]}" for s in statuses.AWAITING_APPROVAL.statuses)
    st.caption(f"{to_accept.label} {statuses.count_in(counts, to_accept)} · {handling.label} "
               f"{statuses.count_in(counts, handling)}（其中{pending}） · 每 {refresh} 秒自动刷新")


overview()

# -- follow the case acted on in the previous run -----------------------------------------------------
state = st.session_state
state.setdefault("dept_tab", FIRST_TAB)
acted = case_panel.pending_outcome(PANEL)
if acted is not None and state.get("dept_followed") is not acted:
    state["dept_followed"] = acted  # once per outcome: later reruns leave the user's own choices alone
    if acted.status in TAB_OF:
        state["dept_tab"] = TAB_OF[acted.status]
    state["dept_case"] = acted.case_id
    state["dept_table_n"] = state.get("dept_table_n", 0) + 1  # a fresh table: no stale row highlighted


def _tab_changed() -> None:
    state.pop("dept_case", None)  # a new tab opens its first case


def _row_picker(table_key: str, ids: list[int]):  # noqa: ANN202 - a Streamlit callback
    """Runs only when the user changes the table's selection (never on a plain rerun)."""
    def picked() -> None:
        rows = state[table_key]["selection"]["rows"]
        if rows:
            state["dept_case"] = ids[rows[0]]
    return picked


def _case_picked(pick_key: str) -> None:
    state["dept_case"] = state[pick_key]


tab = st.segmented_control("案件", list(TABS), key="dept_tab", on_change=_tab_changed) or FIRST_TAB
with EventViews.open(engine, viewer) as v:
    page = v.department_cases(statuses=TABS[tab], region=code, page_size=200)
ids = [int(r["id"]) for r in page.rows]
notice = st.empty()  # always drawn, so a message here does not move the list and the panel below
if acted is not None and acted.case_id not in ids:
    # The case has left this department's lists (退回, or a colleague moved it): say so on its own,
    # and open no other case in its place.
    case_panel.show_outcome(PANEL, notice)
    state["dept_case"] = None
if not page.rows:
    st.info(f"没有「{tab}」的案件")
else:
    frame = pd.DataFrame(page.rows)
    shown = frame[["id", "deadline_state_name", "remaining", "status_name", "priority_name", "subcategory", "title",
                   "street"]].rename(columns={"id": "编号", "deadline_state_name": "时限", "remaining": "剩余/超期",
                                              "status_name": "状态", "priority_name": "紧急", "subcategory": "小类",
                                              "title": "标题", "street": "街道"})
    table_key = f"dept_table_{tab}_{state.get('dept_table_n', 0)}"
    st.dataframe(shown, hide_index=True, width="stretch", on_select=_row_picker(table_key, ids),
                 selection_mode="single-row", key=table_key)
    # "dept_case" is the one selection: absent → the tab's first case; None → none (the user picks).
    wanted = state.get("dept_case", ids[0])
    current = wanted if wanted in ids else (None if "dept_case" in state and wanted is None else ids[0])
    state["dept_case"] = current
    pick_key = f"dept_pick_{tab}"
    state[pick_key] = current
    titles = dict(zip(ids, frame["title"]))
    choice = st.selectbox("查看案件", ids, index=None, key=pick_key, on_change=_case_picked, args=(pick_key,),
                          placeholder="选择要查看的案件", format_func=lambda i: f"#{i} {titles[i]}")
    st.divider()
    if choice is not None:
        case_panel.render(engine, viewer, int(choice), key=PANEL)
