"""消息中心 parts: the sidebar's unread count, and one message as a card — its text as plain text (it
quotes case titles and addresses), and a link that opens the case (?case=ID) or the incident
(?incident=ID) on the page the viewer's role uses for it."""
from __future__ import annotations

from datetime import datetime

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from auth.roles import pages_for
from exchange.views import ExchangeViews
from store.period import local_tz
from store.scope import Viewer
from ui import plain
from ui.data import app_engine

MESSAGES_PAGE = "pages/messages.py"
# Where each role opens a case, in order of preference; incidents open on 应急指挥.
CASE_PAGES = ("pages/dispatch.py", "pages/department.py", "pages/my_grid.py", "pages/supervision_desk.py")
INCIDENT_PAGE = "pages/emergency_command.py"


def unread_count(viewer: Viewer) -> int:
    with ExchangeViews.open(app_engine(), viewer) as views:
        return views.unread_count()


def unread_badge(viewer: Viewer) -> None:
    """The sidebar's line: how many messages wait unread, as a link to the 消息中心."""
    if MESSAGES_PAGE not in {p.path for p in pages_for(viewer.role)}:
        return
    n = unread_count(viewer)
    label = f"消息中心 · {n} 条未读" if n else "消息中心"
    try:
        st.page_link(MESSAGES_PAGE, label=label, icon=":material/notifications_active:" if n else
                     ":material/notifications:")
    except StreamlitPageNotFoundError:  # the script runs outside app.py's navigation (tests, embedding)
        st.caption(label)


def link_target(viewer: Viewer, link_type: str | None, link_id: str | None) -> tuple[str, dict, str] | None:
    """(page, query parameters, label) of a message's object for this viewer's role, or None."""
    if not link_type or not link_id:
        return None
    allowed = [p.path for p in pages_for(viewer.role)]
    if link_type == "event":
        page = next((p for p in CASE_PAGES if p in allowed), None)
        return (page, {"case": str(link_id)}, f"打开案件 #{link_id}") if page else None
    if link_type == "incident" and INCIDENT_PAGE in allowed:
        return INCIDENT_PAGE, {"incident": str(link_id)}, f"打开突发事件 #{link_id}"
    return None


def _when(ts: datetime | None) -> str:
    return ts.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M") if ts else ""


def card(viewer: Viewer, msg: dict) -> bool:
    """One message; True when its 标为已读 button was pressed."""
    with st.container(border=True):
        badges = []
        if msg["read_at"] is None:
            badges.append(":blue-badge[未读]")
        if msg["priority"] == "urgent":
            badges.append(":red-badge[紧急]")
        st.markdown(" ".join(badges + [f"**{plain.md(msg['title'])}**"]))
        st.caption(_when(msg["created_at"]))
        if msg["body"]:
            st.text(msg["body"])
        left, right = st.columns([3, 1])
        target = link_target(viewer, msg["link_type"], msg["link_id"])
        if target is not None:
            page, params, label = target
            try:
                left.page_link(page, label=label, icon=":material/open_in_new:", query_params=params)
            except StreamlitPageNotFoundError:  # outside app.py's navigation (tests)
                left.caption(label)
        elif msg["link_id"]:
            left.caption(f"对象编号 {msg['link_id']}")
        if msg["read_at"] is None:
            return right.button("标为已读", key=f"msg-read-{msg['id']}", width="stretch")
    return False
