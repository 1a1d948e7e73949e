"""本期上报案件办理进度: of the cases reported in the period, how many sit at each stage of the loop now,
per child region — the leader's "which district is not finishing its cases" view. Counts come from
EventViews.report_progress (the status cohort at city and province level); this module only shapes
them into the table the overview shows."""
from __future__ import annotations

import pandas as pd

from events.statuses import STAGES
from events.views import EventViews
from geo.views import RegionViews
from store.period import Period

DONE = "done"
TOTAL = "上报"
RATE = "办结率"


def progress_table(events: EventViews, regions: RegionViews, code: str, period: Period) -> pd.DataFrame:
    """One row per child region of `code` (every child, with zeros where nothing was reported): 区域,
    上报, 办结率 (% of the period's reports 已办结 — closed, not accepted or merged as 重复; None without
    reports) and one column per stage (events.statuses.STAGES). Empty for a grid (no children)."""
    children = regions.children(code)
    if not children:
        return pd.DataFrame()
    counts = events.report_progress(period, code)
    stage_of = {s: g.label for g in STAGES for s in g.statuses}
    labels = [g.label for g in STAGES]
    table = pd.DataFrame(0, index=[c.code for c in children], columns=labels, dtype="int64")
    for row in counts.itertuples(index=False):
        if row.code in table.index:
            table.loc[row.code, stage_of[row.status]] += int(row.cases)
    done = next(g.label for g in STAGES if g.id == DONE)
    total = table.sum(axis=1)
    # 办结率 right after 上报: on a phone the stages scroll sideways, the share stays in view.
    table.insert(0, RATE, [round(100.0 * d / t, 1) if t else None for d, t in zip(table[done], total)])
    table.insert(0, TOTAL, total)
    table.insert(0, "区域", [c.name for c in children])
    return table.reset_index(drop=True)
