"""The view's scope (region code) and period, kept in the URL so any view is a shareable link:
?region=440902&period=2026-10&indicator=<id>.

Streamlit clears the query string when st.navigation switches pages, and a default (the viewer's zone,
this month) is not in the URL until written. `keep_view_params` runs on every desk page: it writes the
view's region and period into the URL and carries region, period, indicator and theme over a page
switch, so a link copied at any moment opens the same view and the same month later."""
from __future__ import annotations

import streamlit as st

from store.period import Period
from store.scope import Viewer
from ui import plain


# The parameters that describe the view (not the object on a page, such as ?case=…).
VIEW_PARAMS = ("region", "period", "indicator", "theme")
_KEPT = "view_params"


def keep_view_params(viewer: Viewer) -> None:
    """Remember the view's parameters from the URL and put back those a page switch dropped; pin the
    region and the period (a link without a period would show another month next month)."""
    kept: dict = st.session_state.setdefault(_KEPT, {})
    for name in VIEW_PARAMS:
        value = st.query_params.get(name)
        if value:
            kept[name] = value
        elif kept.get(name):
            st.query_params[name] = kept[name]
    if not st.query_params.get("region"):
        set_region(viewer.zone_code)
    period = current_period()  # says so once if the URL's period is malformed, and falls back to this month
    if st.query_params.get("period") != period.key:
        set_period(period)


def current_region(viewer: Viewer) -> str:
    """The scope region code from the URL, defaulting to the viewer's zone. Not validated here:
    pages resolve it through geo.views.RegionViews, which refuses unknown and out-of-zone codes."""
    return st.query_params.get("region") or viewer.zone_code


def set_region(code: str) -> None:
    st.query_params["region"] = code
    st.session_state.setdefault(_KEPT, {})["region"] = code


def current_period() -> Period:
    text = st.query_params.get("period")
    if text:
        try:
            return Period.parse(text)
        except ValueError as exc:
            plain.warning(f"{exc}；已改为本月")  # the message quotes the URL
    return Period.current_month()


def set_period(period: Period) -> None:
    st.query_params["period"] = period.key
    st.session_state.setdefault(_KEPT, {})["period"] = period.key
