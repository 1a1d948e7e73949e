"""Case facts worded for screens: local times and the map point frame (plain functions, no reads)."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from events.deadlines import DEADLINE_STATE_NAMES, deadline_state, remaining_text
from events.statuses import OPEN_STATUSES, STATUS_NAMES, map_state
from store.period import local_tz

POINT_FRAME_COLUMNS = ["id", "lon", "lat", "status", "state", "tip"]


def fmt_time(t: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
    """A stored (UTC) time in the deployment's time zone; "—" when there is none."""
    return t.astimezone(local_tz()).strftime(pattern) if t else "—"


def point_frame(rows, now: datetime) -> pd.DataFrame:  # noqa: ANN001 - rows with EventViews.POINT_COLUMNS
    """Map points (id, lon, lat, status, state in statuses.MAP_STATES, tip), sorted by id."""
    records = []
    for r in rows:
        dl = deadline_state(now, r.stage_warn_at, r.stage_deadline) if r.status in OPEN_STATUSES else None
        records.append({"id": r.id, "lon": r.lon, "lat": r.lat, "status": r.status,
                        "state": map_state(r.status, dl),
                        "tip": f"#{r.id} {r.title}\n{r.category}/{r.subcategory}\n"
                               f"{STATUS_NAMES.get(r.status, r.status)} · {DEADLINE_STATE_NAMES[dl]}"
                               f"（{remaining_text(now, r.stage_deadline)}）"})
    frame = pd.DataFrame(records, columns=POINT_FRAME_COLUMNS)
    return frame.sort_values("id").reset_index(drop=True)
