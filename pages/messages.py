"""消息中心 (every business role): the messages the rules (exchange/rules.yaml) addressed to the viewer —
派遣 to their department, deadlines near or past on cases they hold, urgent cases and severe alerts for
the duty officer, dispatches for an incident's commander. Newest first; unread ones marked; each links to
its case or incident; mark one or all read. Text is shown as plain text."""
from __future__ import annotations

import streamlit as st

from exchange import actions
from exchange.views import ExchangeViews
from ui import inbox
from ui.data import app_engine
from ui.session import require_viewer

PAGE_SIZE = 30

viewer = require_viewer()
engine = app_engine()

st.title("消息中心")
only_unread = st.toggle("只看未读", key="msg-only-unread")
page = int(st.session_state.get("msg-page", 1))
with ExchangeViews.open(engine, viewer) as views:
    unread = views.unread_count()
    rows = views.messages(limit=PAGE_SIZE + 1, page=page, unread_only=only_unread)
more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]

head, button = st.columns([3, 1])
head.caption(f"未读 {unread} 条" if unread else "没有未读消息")
if unread and button.button("全部标为已读", key="msg-read-all", width="stretch"):
    actions.mark_all_read(engine, viewer)
    st.rerun()

if not rows:
    st.info("暂无消息" if not only_unread else "没有未读消息")
for msg in rows:
    if inbox.card(viewer, msg):
        actions.mark_read(engine, viewer, msg["id"])
        st.rerun()

if page > 1 or more:
    prev, _, nxt = st.columns([1, 2, 1])
    if page > 1 and prev.button("上一页", key="msg-prev"):
        st.session_state["msg-page"] = page - 1
        st.rerun()
    if more and nxt.button("下一页", key="msg-next"):
        st.session_state["msg-page"] = page + 1
        st.rerun()
