"""Shared chrome: the sidebar with who is signed in, the 演示数据 badge, the scope picker (breadcrumb +
children) and the period picker. Scope and period live in the URL (ui.context)."""
from __future__ import annotations

from datetime import date, datetime

import streamlit as st

from auth.roles import ROLE_NAMES
from store.meta import is_demo
from geo.views import RegionViews, coverage_note
from store.db import session_scope
from store.period import Period, local_tz
from store.region_codes import LEVEL_NAMES_ZH
from store.scope import PermissionDenied, Viewer
from ui import audit_trail, inbox, plain, versions
from ui.context import current_period, current_region, keep_view_params, set_period, set_region
from ui.data import app_engine
from ui.login import logout

DEMO_BADGE = ":orange-badge[:material/science: 演示数据 · 系统生成，非真实数据]"


# Cached by the data version of what they read (ui/versions.py): the sidebar of every rerun of every page
# reads them, and regions change only by an import.
@st.cache_data(max_entries=4, show_spinner=False)
def _demo_loaded(inputs: tuple) -> bool:
    with session_scope(app_engine(), readonly=True) as s:
        return is_demo(s)


def demo_loaded() -> bool:
    return _demo_loaded(versions.versions("meta"))


@st.cache_data(max_entries=256, show_spinner=False)
def _boundary_note(code: str, viewer: Viewer, inputs: tuple) -> str | None:
    with RegionViews.open(app_engine(), viewer) as regions:
        return coverage_note(regions.boundary_coverage(code))


def boundary_note(code: str, viewer: Viewer) -> str | None:
    """Where only district boundaries exist (or the deeper levels are generated), what to say."""
    return _boundary_note(code, viewer, versions.versions("regions"))


@st.cache_data(max_entries=512, show_spinner=False)
def _scope_path(code: str, viewer: Viewer, inputs: tuple) -> tuple[list[dict], list[dict]]:
    with RegionViews.open(app_engine(), viewer) as regions:
        crumbs = regions.breadcrumb(code)
        kids = [{"code": r.code, "name": r.name, "level": r.level} for r in regions.children(code)]
    return crumbs, kids


def scope_path(code: str, viewer: Viewer) -> tuple[list[dict], list[dict]]:
    """(breadcrumb, children) of region `code` as the viewer may see them."""
    return _scope_path(code, viewer, versions.versions("regions"))


def resolve_scope(viewer: Viewer) -> tuple[str, list[dict], list[dict]]:
    """The scope from the URL, validated; falls back to the viewer's zone with a clear message."""
    code = current_region(viewer)
    try:
        crumbs, kids = scope_path(code, viewer)
    except (PermissionDenied, LookupError) as exc:
        plain.error(f"{exc}。已返回您的管辖范围。")  # the message may quote the URL
        if isinstance(exc, PermissionDenied):
            audit_trail.note_refusal(viewer, str(exc), what=f"区域 {code}", object_type="region", object_id=code)
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
        st.caption(f"{plain.md(viewer.display_name or viewer.username)} · {ROLE_NAMES.get(viewer.role, viewer.role)}")
        inbox.unread_badge(viewer)  # 消息中心: unread count, a link to the page
        keep_view_params(viewer)  # before the scope is read: a page switch may have dropped it
        code, crumbs, kids = resolve_scope(viewer)
        st.markdown("**范围**")
        crumb_cols = st.columns(len(crumbs)) if len(crumbs) <= 3 else None
        for i, c in enumerate(crumbs):
            target = crumb_cols[i] if crumb_cols else st
            if target.button(plain.md(c["name"]), key=f"crumb-{c['code']}", disabled=c["code"] == code,
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
        note = boundary_note(code, viewer)
        if note:
            st.caption(note)
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
        if st.button("退出登录", icon=":material/logout:", width="stretch"):
            logout()
