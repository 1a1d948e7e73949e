"""Grid events (网格事件 / 12345 / 数字城管 cases), their transition log and the daily rollup."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column

from store import histogram
from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow


# The states in which a case is finished (events.statuses.TERMINAL, which the store may not import;
# tests/test_events_workflow.py checks the two agree). The open cases' index holds the other rows only.
TERMINAL_STATUSES = ("rejected", "closed", "duplicate")
_OPEN_CASE = text("status NOT IN ({})".format(", ".join(f"'{s}'" for s in TERMINAL_STATUSES)))


class Event(RegionKeyed, Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_events_source_source_id"),
        Index("ix_events_status_deadline", "status", "stage_deadline"),
        # A district's cases of a period, read from the index alone for what a district's overview shows of
        # them (its scope names the city too): how many (the map's choice of points or bins), by street and
        # status (办理进度, events.views.report_progress), and per grid with how many are open and overdue
        # (the map's bins). City scale, PostgreSQL: 26, 40 and 41 ms from the case rows; 3–7 ms from this.
        Index("ix_events_district_reported", "district_code", "reported_at", "status", "street_code", "city_code",
              "grid_code", "stage_deadline"),
        # The same for a whole city (or province): any period's cases by report time, and the city overview's
        # count and grid bins from the index alone (city scale, PostgreSQL: 53 and 85 ms from the case rows).
        Index("ix_events_reported_at", "reported_at", "city_code", "status", "grid_code", "stage_deadline"),
        # A district's figures for a month by each milestone (the tiles of a district; the single-column
        # time indexes below serve the whole city).
        Index("ix_events_district_registered", "district_code", "registered_at"),
        Index("ix_events_district_handled", "district_code", "handled_at"),
        Index("ix_events_district_closed", "district_code", "closed_at"),
        Index("ix_events_department_status", "department_code", "status"),
        # A district's open cases (the 在办 / 超期 tiles and the urgent list) from a small index of the open
        # ones alone: through the status index a district's count walked the whole city's open cases
        # (city scale, PostgreSQL: 12 ms → 0.4 ms).
        Index("ix_events_open_by_district", "district_code", "status", "city_code", "stage_deadline",
              postgresql_where=_OPEN_CASE),  # SQLite proves no IN list implies a NOT IN: a full index there
        # The duplicate check at intake (events.duplicates): open cases of one 小类 reported within a time
        # window, then a bounding box on lat/lon read from the same index entries.
        Index("ix_events_subcategory_reported", "subcategory", "reported_at", "lat", "lon"),
        # 处置率 (the cohort of a period's first dispatches, per district or department): read from the
        # index alone, for the whole city and for one district.
        Index("ix_events_dispatched_cover", "dispatched_at", "city_code", "district_code", "department_code",
              "handled_at"),
        Index("ix_events_district_dispatched", "district_code", "dispatched_at", "city_code", "department_code",
              "handled_at"),
        # The cases behind 按期核查率 (first verifications in a period).
        Index("ix_events_verified_at", "verified_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # 网格员 / 12345 / 巡查 / 视频 / 传感器
    source: Mapped[str] = mapped_column(String(20), index=True)
    source_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10), default="事件")  # 事件 / 部件
    category: Mapped[str] = mapped_column(String(20), index=True)  # 大类
    subcategory: Mapped[str] = mapped_column(String(40))  # 小类
    priority: Mapped[str] = mapped_column(String(10), default="normal")  # urgent / normal
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)  # WGS-84
    lat: Mapped[float] = mapped_column(Float)
    # 待定位: the address could not be matched (geo.geocode), so lon/lat and the codes are provisional (the
    # centre of the region the text named, or of the reporter's zone) until the duty officer places it.
    location_pending: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Personal data: masked for roles without the right (auth.masking).
    reporter_name: Mapped[str | None] = mapped_column(String(50))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    reporter_id_no: Mapped[str | None] = mapped_column(String(20))

    status: Mapped[str] = mapped_column(String(20), index=True)
    department_code: Mapped[str | None] = mapped_column(String(40), index=True)
    reporter_user: Mapped[str | None] = mapped_column(String(50), index=True)
    # The report form's one-time token (events.intake): a second submit of the same form (a double tap,
    # a resent request) finds this case instead of creating another. Unique, so two concurrent submits
    # cannot both insert.
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    # Indicators count by each of these milestones in a month (受理/处置/结案数): each is a range read.
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())  # indexed with what a city's map reads (above)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # 不予立案 decision time (kept apart from closed_at so 结案数 never counts rejected reports).
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Deadline of the stage the case is in now, and the fixed deadlines used by the evaluation.
    stage_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the current stage becomes "about to be overdue" ([sla_warning].fraction of its limit used),
    # stored so that warning lists and counts are plain indexed comparisons.
    stage_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatch_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handle_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_on_time: Mapped[bool | None] = mapped_column()
    handled_on_time: Mapped[bool | None] = mapped_column()
    closed_on_time: Mapped[bool | None] = mapped_column()
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 12345: 1..5, 4-5 = 满意
    hang_reason: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # 重复上报 (events.duplicates): a report merged into an earlier open case points at it and is closed
    # as 重复; until someone decides, the open cases the intake check found nearby wait here
    # ([{id, distance_m, age_hours}], None once linked or confirmed as new).
    duplicate_of: Mapped[int | None] = mapped_column(Integer, index=True)
    duplicate_suspects: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    # First 核查 (pass or fail) and whether it was within the verify stage's deadline (按期核查率).
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_on_time: Mapped[bool | None] = mapped_column()
    # 督办 (supervision.actions): level district/city, the deadline set by the leader, when; and at 结案
    # whether it came by that deadline (督办件按期办结率).
    supervision_level: Mapped[str | None] = mapped_column(String(10), index=True)
    supervision_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    supervised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    supervision_on_time: Mapped[bool | None] = mapped_column()
    # Highest level an overdue case has been escalated to by the rules (street/district/city).
    escalation_level: Mapped[str | None] = mapped_column(String(10), index=True)


class EventTransition(Base):
    __tablename__ = "event_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(50))
    actor_role: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    department_code: Mapped[str | None] = mapped_column(String(40))
    attachments: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    # Action parameters worth keeping: requested extension hours, suggested vs chosen department and the
    # override reason, satisfaction score...
    detail: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))


class FlowCounters:
    """Mixin: the daily flow counters of the event rollups (see events/rollup.py for what each counts)."""

    reported: Mapped[int] = mapped_column(Integer, default=0)
    registered: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    dispatched: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_on_time: Mapped[int] = mapped_column(Integer, default=0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    handled_on_time: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    reworked: Mapped[int] = mapped_column(Integer, default=0)
    handle_hours_sum: Mapped[float] = mapped_column(Float, default=0.0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[int] = mapped_column(Integer, default=0)
    verified_on_time: Mapped[int] = mapped_column(Integer, default=0)
    supervised_closed: Mapped[int] = mapped_column(Integer, default=0)
    supervised_closed_on_time: Mapped[int] = mapped_column(Integer, default=0)


class CaseMeasures:
    """Mixin: per-case measures of the event rollups that are not milestone counts (events/rollup.py):
    what the indicators that once read case by case (处置时长第90百分位, 12345 平均办结时长, the cohort
    rates 立案率 / 结案率 / 办结率 / 处置率) read instead.

    Durations, on the day of the milestone that ends them:
      close_hours_sum   hours from 上报 to 结案, on the 结案 day (平均办结时长 = sum / closed)
      handle_hist_00…49 cases whose first feedback came that day, by hours from first dispatch to it, in
                        the fixed log-spaced bins of store.histogram (处置时长第90百分位 from summed bins)
    Cohorts, on the day of the milestone that opens them (bumped later, when the case gets further):
      rep_rejected      of the cases reported that day, those since 不予立案
      rep_registered    … since 立案
      rep_closed        … since 结案
      reg_closed        of the cases 立案 that day, those since 结案
      disp_handled      of the cases first dispatched that day, those since 处置反馈
    """

    # Server defaults too: a writer that knows only the flow counters (a bulk INSERT … SELECT) leaves zeros.
    rep_rejected: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    rep_registered: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    rep_closed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    reg_closed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    disp_handled: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    close_hours_sum: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))


HANDLE_HIST = histogram.columns("handle_hist")
for _name in HANDLE_HIST:  # fifty bins as plain integer columns: a SUM each on both backends
    setattr(CaseMeasures, _name, mapped_column(_name, Integer, default=0, server_default=text("0")))


class EventDailyRollup(FlowCounters, Base):
    """Flow counts per day × grid × category × source, kept current on every write.

    Each counter counts the milestone on the day it happened (reported on day D, closed on day D...),
    so any period's figure is a SUM over days, and any level's figure a GROUP BY on an ancestor code.
    """

    __tablename__ = "event_daily_rollup"
    __table_args__ = (
        UniqueConstraint("day", "grid_code", "category", "source", name="uq_event_daily_rollup_key"),
        Index("ix_event_daily_rollup_district_day", "district_code", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # local (Asia/Shanghai) calendar day
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    category: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))


class EventDistrictDaily(FlowCounters, CaseMeasures, Base):
    """The same flow counters per day × district × category × source: what city- and district-level
    figures read (a year of the city is ~25× fewer rows than the grid rollup, whose rows are barely
    fewer than the cases themselves). Kept current by the same writes as the grid rollup, and carries
    the per-case measures too (CaseMeasures)."""

    __tablename__ = "event_district_daily"
    __table_args__ = (
        UniqueConstraint("day", "district_code", "category", "source", name="uq_event_district_daily_key"),
        Index("ix_event_district_daily_district_day", "district_code", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # local (Asia/Shanghai) calendar day
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6), default="")  # "" = outside every district
    category: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))


class EventDepartmentDaily(FlowCounters, CaseMeasures, Base):
    """The same flow counters per day × district × department × category × source: what the 考核 of
    departments reads. A milestone counts for the department the case was with when it happened (the
    department on that milestone's log row): a first dispatch for the department it went to, a feedback,
    a rework or a 结案 for the department handling it; report, 立案 and 不予立案 for none (""). Kept by
    the same writes as the other two rollups (events.rollup)."""

    __tablename__ = "event_department_daily"
    __table_args__ = (
        UniqueConstraint("day", "district_code", "department_code", "category", "source",
                         name="uq_event_department_daily_key"),
        Index("ix_event_department_daily_department_day", "department_code", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # local (Asia/Shanghai) calendar day
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6), default="")  # "" = outside every district
    department_code: Mapped[str] = mapped_column(String(40), default="")  # "" = with no department
    category: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))


class EventGridMonthly(FlowCounters, CaseMeasures, Base):
    """Flow counters and per-case measures per local month × grid × category × source: what street,
    community and grid figures read for whole months (a month of a grid is one row per category and
    source instead of one per day, and the per-case measures are not in the daily grid rollup). Kept by
    the same writes as the daily rollups (events.rollup).

    Every region code is part of the key and "" where the case has none (a case placed in a street but
    in no grid still counts for its street), so the upsert finds its row on both backends."""

    __tablename__ = "event_grid_monthly"
    __table_args__ = (
        UniqueConstraint("month", "city_code", "district_code", "street_code", "community_code", "grid_code",
                         "category", "source", name="uq_event_grid_monthly_key"),
        Index("ix_event_grid_monthly_district_month", "district_code", "month"),
        Index("ix_event_grid_monthly_street_month", "street_code", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The first day of the local calendar month. No index of its own: the unique key leads with it (a month-only
    # index also lured the planner away from the key for a district's month: 21 ms against 6 ms).
    month: Mapped[date] = mapped_column(Date)
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6), default="")
    street_code: Mapped[str] = mapped_column(String(9), default="")
    community_code: Mapped[str] = mapped_column(String(12), default="", index=True)
    grid_code: Mapped[str] = mapped_column(String(15), default="", index=True)
    category: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))


class EventGridMonthTotal(FlowCounters, CaseMeasures, Base):
    """event_grid_monthly summed over category and source: one row per local month × grid. What a figure
    of every grid reads when it asks for no category or source (按期结案率 of a city's 9,915 grids: a month
    is ~10k rows here against ~67k there, whose sum was most of that figure's time). Kept by the same
    writes as the other rollups (events.rollup); the SQL builder reads it wherever it serves
    (indicators.sources.COARSER)."""

    __tablename__ = "event_grid_month_totals"
    __table_args__ = (
        UniqueConstraint("month", "city_code", "district_code", "street_code", "community_code", "grid_code",
                         name="uq_event_grid_month_totals_key"),
        Index("ix_event_grid_month_totals_district_month", "district_code", "month"),
        Index("ix_event_grid_month_totals_street_month", "street_code", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date)  # first day of the local month (the unique key leads with it)
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6), default="")  # "" as in event_grid_monthly
    street_code: Mapped[str] = mapped_column(String(9), default="")
    community_code: Mapped[str] = mapped_column(String(12), default="", index=True)
    grid_code: Mapped[str] = mapped_column(String(15), default="", index=True)


class EventStatusCohort(Base):
    """Where the cases reported on a day stand now: cases per local report day × district × current status.

    Not a flow: every status change moves one case from its old status's row to its new one (and a case
    placed in another district moves between districts), so "of this month's reports, how many are still
    待派遣, 处置中, 已结案" per district is a read of ~300 rows a city-month instead of every case. Kept by
    every write that creates a case or changes its status or district (events.status_cohort)."""

    __tablename__ = "event_status_cohort"
    __table_args__ = (
        UniqueConstraint("day", "city_code", "district_code", "status", name="uq_event_status_cohort_key"),
        Index("ix_event_status_cohort_city_day", "city_code", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # local (Asia/Shanghai) calendar day of the report
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6), default="")  # "" = outside every district
    status: Mapped[str] = mapped_column(String(20))
    cases: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
