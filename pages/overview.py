"""态势总览: one map of the scope (regions coloured by an indicator, events, sensors, resources,
incidents) with drill-down by click, KPI tiles by government function, where the period's reports stand
per child region, trend, ranking, urgent items and the meeting briefing."""
from __future__ import annotations

import streamlit as st

from ui import overview_parts as parts, plain
from ui.chrome import resolve_scope
from ui.context import current_period
from ui.session import require_viewer

viewer = require_viewer()
code, crumbs, _ = resolve_scope(viewer)
period = current_period()
indicator_id = parts.indicator_picker(code)

st.markdown(f"### {plain.md(' › '.join(c['name'] for c in crumbs))} · {period.label}")
layers = parts.layer_picker()
prefetched = parts.prefetch(viewer, code, period, indicator_id)
left, right = st.columns([3, 2], gap="medium")
with left:
    parts.situation_map(viewer, code, period, indicator_id, layers)
with right:
    parts.urgent_list(viewer, code)
    parts.ranking(viewer, code, period, indicator_id)
parts.kpi_tiles(viewer, code, period)
parts.report_progress(viewer, code, period)
parts.trend(viewer, code, period, indicator_id)
parts.briefing_downloads(viewer, code, period, indicator_id, crumbs)
parts.settle(prefetched)
