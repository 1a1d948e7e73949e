"""The engine for the running app: one per process, cached by Streamlit; and this browser session's
read route, so that with a read replica configured its screens read the replica except while the
replica has not yet replayed the session's own last write (store.db.read_session)."""
from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from store.db import ReadRoute, get_engine, set_route_provider

_ROUTE_KEY = "_cityops_read_route"


@st.cache_resource(show_spinner=False)
def app_engine() -> Engine:
    return get_engine()


def session_read_route() -> ReadRoute | None:
    """This browser session's ReadRoute, kept in its session state; None outside a script run (the
    sign-in and API routes beside the app, which read the primary)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    route = st.session_state.get(_ROUTE_KEY)
    if not isinstance(route, ReadRoute):
        route = st.session_state[_ROUTE_KEY] = ReadRoute()
    return route


set_route_provider(session_read_route)
