"""Production entry point: `streamlit run server.py`.

Streamlit detects the `st.App` instance below and serves app.py through it, with the sign-in routes
(POST /auth/login, GET|POST /auth/logout from auth/web.py) beside the app on the same origin, so the
login can set an HttpOnly session cookie that the script then reads through st.context.cookies.
`streamlit run app.py` still starts the app, but nobody can sign in without these routes.
"""
from __future__ import annotations

import streamlit as st

from auth.web import routes

app = st.App("app.py", routes=routes())

if __name__ == "__main__":
    app.run()
