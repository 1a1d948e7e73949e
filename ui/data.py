"""The engine for the running app: one per process, cached by Streamlit."""
from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from store.db import get_engine


@st.cache_resource(show_spinner=False)
def app_engine() -> Engine:
    return get_engine()
