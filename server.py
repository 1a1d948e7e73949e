"""Production entry point: `streamlit run server.py`.

Streamlit detects the `st.App` instance below and serves app.py through it, with the sign-in routes
(POST /auth/login, POST /auth/logout from auth/web.py, each with an Origin check and a CSRF token)
beside the app on the same origin, so the login can set an HttpOnly session cookie that the script
then reads through st.context.cookies. Every HTTP response gets the security headers (CSP,
frame-ancestors, nosniff, referrer policy) from auth/http_headers.py.
`streamlit run app.py` still starts the app, but nobody can sign in without these routes.
"""
from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware
from streamlit import net_util
from streamlit.runtime.pages_manager import PagesManager

from auth.http_headers import SecurityHeadersMiddleware
from auth.web import LogoutLinkGuard, public_origin, routes, signed_in
from exchange.routes import routes as exchange_routes
from geo.tile_routes import routes as tile_routes
from open311.routes import routes as open311_routes
from ui import heap, warmup

# Streamlit's legacy multipage mode runs any pages/<name>.py requested by URL *without* app.py
# until some session has called st.navigation — so on a freshly started server the first visitor
# to /admin would bypass the sign-in gate and the role's page list (pages still refuse: each
# starts with require_viewer). app.py always calls st.navigation, so switch the legacy mode off
# from the start. (Streamlit does the same itself once st.navigation has run once.)
PagesManager.uses_pages_directory = False

# Zero requests off the machine, the server's included. Streamlit looks up the machine's "external IP"
# by asking checkip.amazonaws.com, and its "internal IP" by opening a UDP socket towards 8.8.8.8, in two
# places: the start-up banner (avoided by browser.serverAddress in .streamlit/config.toml) and the
# websocket's cross-origin check (streamlit.web.server.server_util.is_url_from_allowed_origins), which
# would ask on every cross-origin connection since a failed lookup is not cached. Both lookups return
# their cached value when one is set: "" means "none" (no address is ever allowed or shown by it). A
# deployment behind another origin lists it in server.corsAllowedOrigins instead.
net_util._external_ip = ""  # noqa: SLF001 - Streamlit's own cache, read before any lookup
net_util._internal_ip = ""  # noqa: SLF001

# Prepare the statements of the city's overview (ui/warmup.py: its figures are still computed for each
# visitor), then load the page modules and settle the heap — what was prepared included — before the first
# visitor, not during their first page.
warmup.prepare_city()
heap.settle()
# Then build the indicator statements of every scope level in the background (ui/warmup.py), so the first
# district a user opens does not pay for them.
warmup.start()

# The open intake API (open311/): machine-to-machine with api keys, so no sign-in cookie and no CSRF form token.
# Headers outermost, so that every answer — the guard's refusals included — carries them.
# The offline basemap's vector tiles and style (geo/tile_routes.py), for signed-in browsers only.
# Tasks handed down by the upper platform (exchange/): signed with the shared secret, machine to machine.
app = st.App("app.py", routes=routes() + open311_routes() + tile_routes(allow=signed_in, origin=public_origin) + exchange_routes(),
             middleware=[Middleware(SecurityHeadersMiddleware), Middleware(LogoutLinkGuard)])

if __name__ == "__main__":
    app.run()
