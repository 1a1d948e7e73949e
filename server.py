"""Production entry point: `streamlit run server.py`.

Streamlit detects the `st.App` instance below and serves app.py through it, with the sign-in routes
(POST /auth/login, GET|POST /auth/logout from auth/web.py) beside the app on the same origin, so the
login can set an HttpOnly session cookie that the script then reads through st.context.cookies.
`streamlit run app.py` still starts the app, but nobody can sign in without these routes.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from auth.web import routes
from ui import heap

# Streamlit's legacy multipage mode runs any pages/<name>.py requested by URL *without* app.py
# until some session has called st.navigation — so on a freshly started server the first visitor
# to /admin would bypass the sign-in gate and the role's page list (pages still refuse: each
# starts with require_viewer). app.py always calls st.navigation, so switch the legacy mode off
# from the start. (Streamlit does the same itself once st.navigation has run once.)
PagesManager.uses_pages_directory = False

# Load the page modules and settle the heap before the first visitor, not during their first page.
heap.settle()

app = st.App("app.py", routes=routes())

if __name__ == "__main__":
    app.run()
