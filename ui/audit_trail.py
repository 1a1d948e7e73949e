"""The audit trail of what a screen shows or refuses (等保三级 安全审计, ASVS 7.1): refusals of access,
views of unmasked personal data, and exports that are not workbooks (the HTML briefing).

Screens rerun on every interaction and live fragments every few seconds, so refusals and views are
written once per browser tab and object (remembered in st.session_state), not once per rerun; an
export is written each time its download is clicked. The rows themselves are written by auth.actions.
"""
from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlsplit

import streamlit as st

from auth import actions, roles
from store.scope import Viewer
from ui.data import app_engine
from ui.session import client_address

_SEEN_KEY = "audit_trail_seen"


def _first_time(*key: object) -> bool:
    seen: set = st.session_state.setdefault(_SEEN_KEY, set())
    if key in seen:
        return False
    seen.add(key)
    return True


def note_refusal(viewer: Viewer, message: str, *, what: str, object_type: str = "page",
                 object_id: str | int | None = None, scope: str | None = None) -> None:
    """Audit a refusal shown to `viewer` (once per tab and object)."""
    if _first_time("refusal", what, object_type, object_id, scope):
        actions.record_refusal(app_engine(), viewer, what, reason=message, object_type=object_type,
                               object_id=object_id, scope=scope, client=client_address())


def refuse(viewer: Viewer, message: str, *, what: str, object_type: str = "page",
           object_id: str | int | None = None) -> NoReturn:
    """Show a refusal, audit it, and stop the page."""
    st.error(message)
    note_refusal(viewer, message, what=what, object_type=object_type, object_id=object_id)
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


def note_refused_page(viewer: Viewer, allowed_url_paths: set[str]) -> None:
    """The browser asked for a product page this role may not open (a bookmark, an edited URL):
    st.navigation shows the role's default page instead; say why once and audit it."""
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - no browser context
        return
    if not isinstance(url, str):
        return
    path = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    known = {p.url_path: p.title for p in roles.PAGES}
    if path in known and path not in allowed_url_paths and _first_time("page", path):
        message = f"您的角色无权打开“{known[path]}”页面，已转到您的首页"
        st.error(message)
        actions.record_refusal(app_engine(), viewer, f"页面 {known[path]}", reason=message, object_type="page",
                               object_id=path, client=client_address())


def note_personal_view(viewer: Viewer, object_type: str, object_id: str | int, fields: list[str],
                       scope: str | None = None) -> None:
    """Audit that `viewer` is shown unmasked personal data of one object (once per tab and object);
    nothing is written for a role that sees masked values."""
    if fields and _first_time("personal", object_type, object_id):
        actions.record_personal_view(app_engine(), viewer, object_type, object_id, fields=fields, scope=scope,
                                     client=client_address())


def note_export(viewer: Viewer, what: str, scope: str, detail: dict | None = None) -> None:
    """Audit an export that is not built by auth.exports (call it when the file is generated, i.e. at
    click time for a deferred download)."""
    actions.record_export(app_engine(), viewer, what, scope, detail=detail, client=client_address())
