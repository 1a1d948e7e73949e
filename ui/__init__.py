"""Streamlit building blocks shared by pages: session/viewer, scope and period state, chrome, widgets.
Only pages and app.py import this package; domain modules never import Streamlit."""
