"""The view's scope (region code) and period, kept in the URL so any view is a shareable link:
?region=440902&period=2026-10&indicator=<id>."""
from __future__ import annotations

import streamlit as st

from store.period import Period
from store.scope import Viewer


def current_region(viewer: Viewer) -> str:
    """The scope region code from the URL, defaulting to the viewer's zone. Not validated here:
    pages resolve it through geo.hierarchy, which refuses unknown and out-of-zone codes."""
    return st.query_params.get("region") or viewer.zone_code


def set_region(code: str) -> None:
    st.query_params["region"] = code


def current_period() -> Period:
    text = st.query_params.get("period")
    if text:
        try:
            return Period.parse(text)
        except ValueError as exc:
            st.warning(f"{exc}；已改为本月")
    return Period.current_month()


def set_period(period: Period) -> None:
    st.query_params["period"] = period.key
