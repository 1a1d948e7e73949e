"""Shared chrome: the sidebar with who is signed in, the 演示数据 badge, the scope picker (breadcrumb +
children) and the period picker. Scope and period live in the URL (ui.context)."""
from __future__ import annotations

from datetime import date, datetime

import streamlit as st

from auth.roles import ROLE_NAMES
from demo.seed import is_demo
from geo import hierarchy
from store.db import session_scope
from store.models import LEVEL_NAMES_ZH
from store.period import Period, local_tz
from store.scope import PermissionDenied, Viewer
from ui.context import current_period, current_region, set_period, set_region
from ui.data import app_engine

DEMO_BADGE = ":orange-badge[:material/science: 演示数据 · 系统生成，非真实数据]"


@st.cache_data(ttl=300, show_spinner=False)
def demo_loaded() -> bool:
    with session_scope(app_engine(), readonly=True) as s:
        return is_demo(s)


@st.cache_data(ttl=600, show_spinner=False)
def scope_path(code: str, viewer: Viewer) -> tuple[list[dict], list[dict]]:
    """(breadcrumb, children) of region `code` as the viewer may see them."""
    with session_scope(app_engine(), readonly=True) as s:
        crumbs = hierarchy.breadcrumb(s, code, viewer)
        kids = [{"code": r.code, "name": r.name, "level": r.level} for r in hierarchy.children(s, code, viewer)]
    return crumbs, kids


def resolve_scope(viewer: Viewer) -> tuple[str, list[dict], list[dict]]:
    """The scope from the URL, validated; falls back to the viewer's zone with a clear message."""
    code = current_region(viewer)
    try:
        crumbs, kids = scope_path(code, viewer)
    except (PermissionDenied, LookupError) as exc:
        st.error(f"{exc}。已返回您的管辖范围。")
        code = viewer.zone_code
        set_region(code)
        crumbs, kids = scope_path(code, viewer)
    return code, crumbs, kids


def month_options(today: date, count: int = 24) -> list[Period]:
    p = Period.current_month(today)
    out = []
    for _ in range(count):
        out.append(p)
        p = p.previous()
    return out


def sidebar(viewer: Viewer) -> None:
    with st.sidebar:
        if demo_loaded():
            st.markdown(DEMO_BADGE)
        st.caption(f"{viewer.display_name or viewer.username} · {ROLE_NAMES.get(viewer.role, viewer.role)}")
        code, crumbs, kids = resolve_scope(viewer)
        st.markdown("**范围**")
        crumb_cols = st.columns(len(crumbs)) if len(crumbs) <= 3 else None
        for i, c in enumerate(crumbs):
            target = crumb_cols[i] if crumb_cols else st
            if target.button(c["name"], key=f"crumb-{c['code']}", disabled=c["code"] == code,
                             width="stretch"):
                set_region(c["code"])
                st.rerun()
        if kids:
            level = LEVEL_NAMES_ZH.get(kids[0]["level"], "")
            names = {k["code"]: k["name"] for k in kids}
            choice = st.selectbox(f"下钻到{level}", options=[None, *names], index=0,
                                  format_func=lambda c: "— 选择 —" if c is None else names[c], key=f"drill-{code}")
            if choice:
                set_region(choice)
                st.rerun()
        st.markdown("**时间**")
        period = current_period()
        today = datetime.now(local_tz()).date()
        months = month_options(today)
        keys = [p.key for p in months]
        custom = "自定义区间"
        current = period.key if period.key in keys else custom
        picked = st.selectbox("统计期", options=[*keys, custom], index=[*keys, custom].index(current),
                              format_func=lambda k: k if k == custom else Period.parse(k).label)
        if picked == custom:
            default = (period.start, period.end)
            rng = st.date_input("起止日期", value=default, max_value=today, format="YYYY-MM-DD")
            if isinstance(rng, tuple) and len(rng) == 2 and (rng[0], rng[1]) != default:
                set_period(Period(rng[0], rng[1], "range"))
                st.rerun()
        elif picked != period.key:
            set_period(Period.parse(picked))
            st.rerun()
        logout = getattr(__import__("ui.login", fromlist=["logout"]), "logout", None)
        if logout and st.button("退出登录", icon=":material/logout:", width="stretch"):
            logout()
