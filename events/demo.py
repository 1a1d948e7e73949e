"""Demo grid events: `scale.events_per_year` cases over the 12 months before `now`, generated.

Shape of the year: more cases on weekdays and in daytime (patrols follow office hours, the hotline
peaks mid-morning and evening, video and sensors run all night), fewer over 春节; the rainy season
(May–September, typhoons July–September) brings 道路积水, 下水道堵塞, 树木倒伏 and 路面塌陷. Each case
runs the same workflow as the real one (events.workflow.TABLE) with durations drawn against its own
SLA limits (events.deadlines, config [sla.*] and [workday]): most on time, some late, some 退回 and
re-dispatched, some 延期, some 返工, a few 挂账; whatever has not happened by `now` is still open.

Everything is vectorised (numpy over a piece of the year at a time) and bulk-inserted, because the city
scale is a million cases: points are drawn inside grid polygons by rejection sampling
(shapely.contains_xy over the whole batch), working-hour deadlines by the calendar's array arithmetic,
routing once per (小类, street). The year is generated month by month, a month in pieces of at most
CHUNK_CASES cases (the days' volumes are drawn first, for the whole year), so the peak memory is one
piece's arrays, not a year's. The rollup is computed from the same arrays with rollup.recount_frame, the
one definition of every counter, so it equals a recount from the stored cases.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

import settings
from events import deadlines, demo_text, rollup, routing, status_cohort
from events.catalog import get_catalog
from events.departments import DISTRICT_BUREAUS, code_for, ensure_demo_departments
from events.statuses import OPEN_STATUSES
from store import bulkload, region_codes
from store.models import Department, Event, EventDailyRollup, EventDistrictDaily, EventTransition, Region, User

SOURCES = np.array(["网格员", "12345", "巡查", "视频", "传感器"], dtype=object)
SOURCE_WEIGHTS = np.array([0.38, 0.27, 0.18, 0.12, 0.05])
# Relative frequency of the busiest 小类 (others weigh 1 for 事件, 0.6 for 部件).
HOT = {
    "暴露垃圾": 6, "占道经营": 6, "机动车乱停放": 5, "非法小广告": 5, "乱堆物堆料": 4, "店外经营": 4,
    "积存垃圾渣土": 3, "施工扰民": 3, "社会生活噪声扰民": 3, "非机动车乱停放": 3, "道路不洁": 3,
    "路灯": 2.5, "路面破损": 2.5, "污水井盖": 2, "雨水箅子": 2, "道路积水": 1.5, "下水道堵塞或破损": 1.5,
    "行道树": 2, "垃圾箱": 2, "无照经营游商": 2.5, "工地扬尘": 2, "道路遗撒": 2,
}
RAINY = {"道路积水": 6.0, "下水道堵塞或破损": 2.5, "树木倒伏": 3.0, "路面塌陷": 2.0, "雨水箅子": 1.8,
         "架空线缆损坏": 1.8}
MONTH_VOLUME = [0.92, 0.72, 0.95, 1.0, 1.05, 1.1, 1.12, 1.12, 1.05, 1.0, 1.0, 0.95]  # Jan..Dec
NIGHT_SUBS = {"露天烧烤", "社会生活噪声扰民"}

_H = np.array
HOURS = {
    "patrol": _H([.2, .1, .1, .1, .1, .2, .5, 1.5, 4, 7, 8, 6, 2, 2, 5, 7, 7, 5, 2, 1, .6, .4, .3, .2]),
    "hotline": _H([.3, .2, .15, .1, .1, .2, .5, 2, 5, 8, 9, 8, 5, 5, 7, 8, 8, 7, 6, 6, 6, 5, 3, 1.2]),
    "auto": _H([1, 1, 1, 1, 1, 1.2, 1.6, 2.2, 2.5, 2.5, 2.5, 2.4, 2.2, 2.2, 2.5, 2.5, 2.5, 2.4, 2.2, 2, 1.8, 1.5, 1.2, 1]),
    "night": _H([2, 1.2, .6, .3, .2, .2, .2, .3, .5, .6, .6, .6, .6, .6, .6, .7, .8, 1, 2, 4, 6, 7, 6, 4]),
}
SATISFACTION_P = np.array([0.03, 0.04, 0.09, 0.22, 0.62])  # scores 1..5 for an on-time case


def _isnat(a: np.ndarray) -> np.ndarray:
    return np.isnan(a)


class _Clock:
    """NaN-propagating deadline arithmetic over arrays: calendar hours for urgent, working hours else."""

    def __init__(self, urgent: np.ndarray):
        self.urgent = urgent
        self.cal = deadlines.get_calendar()

    def add(self, starts: np.ndarray, hours) -> np.ndarray:  # noqa: ANN001
        hours = np.broadcast_to(np.asarray(hours, dtype=float), starts.shape)
        out = np.full(starts.shape, np.nan)
        ok = ~np.isnan(starts) & ~np.isnan(hours)
        u = ok & self.urgent
        w = ok & ~self.urgent
        out[u] = starts[u] + hours[u] * 3600.0
        if w.any():
            out[w] = self.cal.add_seconds_array(starts[w], np.maximum(hours[w], 0) * 3600.0)
        # Whole seconds, as stored: every comparison and sum below then sees exactly the stored values.
        return np.round(out)


def _load_grids(session: Session) -> pd.DataFrame:
    """The grids of the city being generated (settings' [city]; demo.cities sets it per city)."""
    city = str(settings.get_settings()["city"]["code"])
    rows = session.execute(select(Region.code, Region.city_code, Region.geometry, Region.centroid_lon,
                                  Region.centroid_lat, Region.population)
                           .where(Region.level == "grid", Region.city_code == city)
                           .order_by(Region.code)).all()
    if not rows:
        raise RuntimeError("演示案件需要网格：请先运行 geo.demo_city 生成器")
    frame = pd.DataFrame(rows, columns=["code", "city", "geometry", "lon", "lat", "population"])
    frame = frame[frame["geometry"].notna()].reset_index(drop=True)
    streets = dict(session.execute(select(Region.code, Region.name).where(Region.level == "street")).all())
    for level in ("district", "street", "community"):
        frame[level] = [region_codes.ancestor_at(c, level) for c in frame["code"]]
    frame["street_name"] = frame["street"].map(streets).fillna("")
    return frame


def _sample_points(rng: np.random.Generator, geoms: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside each case's grid polygon (rejection sampling in the bounding box)."""
    bounds = shapely.bounds(geoms)
    x = np.empty(len(idx))
    y = np.empty(len(idx))
    todo = np.arange(len(idx))
    for _ in range(12):
        if not todo.size:
            break
        b = bounds[idx[todo]]
        x[todo] = b[:, 0] + rng.random(todo.size) * (b[:, 2] - b[:, 0])
        y[todo] = b[:, 1] + rng.random(todo.size) * (b[:, 3] - b[:, 1])
        inside = shapely.contains_xy(geoms[idx[todo]], x[todo], y[todo])
        todo = todo[~inside]
    if todo.size:  # thin slivers: fall back to a point guaranteed inside
        pts = shapely.point_on_surface(geoms[idx[todo]])
        x[todo], y[todo] = shapely.get_x(pts), shapely.get_y(pts)
    return np.round(x, 6), np.round(y, 6)


def _days(now: datetime, tz: ZoneInfo) -> tuple[list, np.ndarray]:
    """The 365 local days before `now` and each day's relative volume (month, weekday, holidays)."""
    cfg = deadlines.WorkdayConfig.from_settings()
    last = now.astimezone(tz).date()
    days = [last - timedelta(days=k) for k in range(364, -1, -1)]
    w = []
    for d in days:
        f = MONTH_VOLUME[d.month - 1]
        f *= 1.08 if cfg.is_workday(d) else (0.85 if d.weekday() == 5 else 0.75)
        w.append(f)
    return days, np.array(w)


def _subcategory_probs(items, month: int) -> np.ndarray:  # noqa: ANN001
    w = np.array([HOT.get(i.name, 1.0 if i.kind == "事件" else 0.6) for i in items])
    rainy = 5 <= month <= 9
    typhoon = 7 <= month <= 9
    for k, i in enumerate(items):
        if i.name in RAINY:
            w[k] *= RAINY[i.name] if rainy else 0.35
            if typhoon and i.name == "树木倒伏":
                w[k] *= 2.0
        if i.name == "焚烧垃圾树叶" and month in (11, 12, 1, 2):
            w[k] *= 2.5
        if i.name == "露天烧烤" and 6 <= month <= 9:
            w[k] *= 2.0
        if i.name == "工地扬尘" and month in (10, 11, 12, 1, 2, 3):
            w[k] *= 1.6
    return w / w.sum()


def _actors(session: Session) -> dict:
    """Usernames to sign generated steps with: real demo accounts where they exist (auth.demo), else
    descriptive placeholders (the timeline shows them as they are)."""
    users = session.execute(select(User.username, User.role, User.zone_code, User.department_code)).all()
    by_role: dict[str, list] = {}
    for u in users:
        by_role.setdefault(u.role, []).append(u)
    duty = sorted(u.username for u in by_role.get("duty_officer", [])) or ["zhiban"]
    city = settings.get_settings()["city"]["code"]
    leaders = sorted(u.username for u in by_role.get("leader", []) if u.zone_code == city) or ["lingdao"]
    dept_users = {}
    for u in sorted(by_role.get("department", []), key=lambda u: u.username):
        dept_users.setdefault(u.department_code, u.username)
    grid_users = sorted((u.zone_code, u.username) for u in by_role.get("grid_officer", []))
    return {"duty": duty, "leaders": leaders, "dept": dept_users, "grid": grid_users}


class _Year:
    """What every piece of the demo year shares: the grids and their weights, the calendar, the actors,
    the routing and SLA-limit look-ups (memoised across pieces). Built once; `piece` then generates, writes
    and counts the cases of some consecutive days of one month."""

    def __init__(self, session: Session, rng: np.random.Generator, now: datetime, tz: ZoneInfo) -> None:
        self.session, self.rng, self.now, self.tz = session, rng, now, tz
        self.nowts = now.timestamp()
        self.grids = _load_grids(session)
        self.geoms = shapely.from_geojson(self.grids["geometry"].to_numpy())
        shapely.prepare(self.geoms)
        items = list(get_catalog().items)
        self.items = items
        self.item_kind = np.array([i.kind for i in items], dtype=object)
        self.item_category = np.array([i.category for i in items], dtype=object)
        self.item_name = np.array([i.name for i in items], dtype=object)
        self.item_sensor = np.array([i.sensor for i in items])
        self.item_urgent = np.array([i.urgent for i in items])
        self.sub_probs = {m: _subcategory_probs(items, m) for m in range(1, 13)}
        self.days, self.day_w = _days(now, tz)
        self.month_of_day = np.array([d.month for d in self.days])
        cfg = deadlines.WorkdayConfig.from_settings()
        self.workday = np.array([cfg.is_workday(d) for d in self.days])
        self.day_start = np.array([datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() for d in self.days])
        self.actors = _actors(session)
        self.duty = np.array(self.actors["duty"], dtype=object)
        self.leaders = np.array(self.actors["leaders"], dtype=object)
        self.existing = set(session.execute(select(Department.code)).scalars())
        self.frac = deadlines.warning_fraction()
        self.routes: dict[tuple, str | None] = {}
        self.limits: dict[tuple, float] = {}
        log_days = int(settings.get_settings().get("events", {}).get("demo_log_days", 0) or 0)
        self.log_days = log_days
        self.log_from = (now - timedelta(days=log_days)).timestamp() if log_days > 0 else -np.inf
        self.regions = self.grids[["code", "city", "district", "street", "community"]].rename(columns={
            "code": "grid_code", "city": "city_code", "district": "district_code", "street": "street_code",
            "community": "community_code"})
        self.grid_w = np.empty(0)

    def place_weights(self) -> None:
        """Cases per grid follow population times a lognormal hot-spot factor (drawn once for the year)."""
        grids = self.grids
        pop = grids["population"].fillna(1000).to_numpy(dtype=float)
        hotspot = self.rng.lognormal(0.0, 0.6, size=len(grids))
        for zone, _user in self.actors["grid"]:
            # The demo officers' grids are busy ones, so their 我的网格 has work to show.
            hotspot[grids["code"].str.startswith(region_codes.subtree_prefix(zone)).to_numpy()] *= 12.0
        gw = pop * hotspot
        self.grid_w = gw / gw.sum()

    def limit(self, stage: str, combos: list[tuple]) -> np.ndarray:
        out = np.empty(len(combos))
        for k, (c, s, p) in enumerate(combos):
            key = (stage, c, s, p)
            if key not in self.limits:
                self.limits[key] = deadlines.stage_limit(c, s, p, stage).hours
            out[k] = self.limits[key]
        return out

    def route(self, keys: list[tuple], city: str) -> np.ndarray:
        """The department each (kind, 大类, 小类, street) is routed to (events.routing), once per key."""
        out = []
        for k, c, s, st in keys:
            if (k, c, s, st) not in self.routes:
                codes = {"city": city, "district": region_codes.ancestor_at(st, "district"), "street": st}
                self.routes[(k, c, s, st)] = next(
                    (code for code, _ in routing.candidates(k, c, s, codes) if code in self.existing), None)
            out.append(self.routes[(k, c, s, st)])
        return np.array(out, dtype=object)

    def piece(self, day_idx: np.ndarray, first_id: int, first_index: int) -> dict:  # noqa: C901 - one pipeline
        """Generate the cases reported on the days `day_idx` (one entry per case, all in one month), write
        them and their log, and return their rollup counts and summary figures. `first_id` is the first
        case id to use, `first_index` the number of cases generated before (12345 numbers stay unique)."""
        rng, session, tz, items, grids = self.rng, self.session, self.tz, self.items, self.grids
        n = day_idx.size
        t0 = time.perf_counter()

        # -- when ---------------------------------------------------------------------------------------
        month_of = self.month_of_day[day_idx]
        sub_idx = np.empty(n, dtype=np.int64)
        for m in np.unique(month_of):
            sel = np.flatnonzero(month_of == m)
            sub_idx[sel] = rng.choice(len(items), size=sel.size, p=self.sub_probs[int(m)])
        kind, category = self.item_kind[sub_idx], self.item_category[sub_idx]
        subcategory = self.item_name[sub_idx]
        sensor_ok, urgent_default = self.item_sensor[sub_idx], self.item_urgent[sub_idx]
        del sub_idx

        # Source: patrols work less on rest days; sensors only report what they can sense.
        workday = self.workday[day_idx]
        src_p = np.tile(SOURCE_WEIGHTS, (n, 1))
        src_p[~workday, 0] *= 0.55
        src_p[~workday, 2] *= 0.55
        src_p[~sensor_ok, 4] = 0.0
        src_p /= src_p.sum(axis=1, keepdims=True)
        src_idx = (src_p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
        source = SOURCES[src_idx]
        del src_p, src_idx, workday, sensor_ok

        # Hour of day by channel (evening profile for barbecues and noise).
        profile = np.where(np.isin(source, ["网格员", "巡查"]), "patrol",
                           np.where(source == "12345", "hotline", "auto")).astype(object)
        profile[np.isin(subcategory, list(NIGHT_SUBS))] = "night"
        hour = np.empty(n, dtype=np.int64)
        for name, weights in HOURS.items():
            sel = np.flatnonzero(profile == name)
            if sel.size:
                hour[sel] = rng.choice(24, size=sel.size, p=weights / weights.sum())
        t_rep = self.day_start[day_idx] + hour * 3600 + rng.random(n) * 3600
        t_rep = np.floor(np.minimum(t_rep, self.nowts - 60))
        del profile, hour
        # Ids in report order, as a live system would have them (pieces come in order, so across them too).
        order = np.argsort(t_rep, kind="stable")
        kind, category, subcategory = kind[order], category[order], subcategory[order]
        urgent_default, source, t_rep = urgent_default[order], source[order], t_rep[order]
        del order

        # -- where --------------------------------------------------------------------------------------
        grid_idx = rng.choice(len(grids), size=n, p=self.grid_w)
        lon, lat = _sample_points(rng, self.geoms, grid_idx)

        # -- priority and limits ------------------------------------------------------------------------
        urgent = np.where(urgent_default, rng.random(n) < 0.6, rng.random(n) < 0.04)
        priority = np.where(urgent, "urgent", "normal").astype(object)
        combo = pd.Series(list(zip(category, subcategory, priority)))
        codes_combo, uniques = pd.factorize(combo)
        lim = {stage: self.limit(stage, list(uniques))[codes_combo] for stage in deadlines.STAGES}
        del combo, codes_combo, uniques, urgent_default
        frac = self.frac
        clock = _Clock(urgent)
        nowts = self.nowts

        def lognorm(median: float, sigma: float) -> np.ndarray:
            return rng.lognormal(np.log(median), sigma, size=n)

        def when(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
            return np.where(mask, values, np.nan)

        # -- lifecycle (every possible step; those after `now` are cut below) -------------------------------
        reject_p = np.select([source == "12345", source == "传感器", source == "视频"], [0.09, 0.12, 0.07], 0.04)
        rejected = rng.random(n) < reject_p
        t_dec = clock.add(t_rep, lognorm(0.3, 0.8) * lim["register"])
        t_reg = when(~rejected, t_dec)
        t_rej = when(rejected, t_dec)
        reg = ~rejected
        t_d1 = clock.add(t_reg, lognorm(0.25, 0.8) * lim["dispatch"])
        returned = reg & (rng.random(n) < 0.03)
        t_ret = clock.add(when(returned, t_d1), rng.uniform(0.03, 0.15, n) * lim["handle"])
        t_d2 = clock.add(t_ret, rng.uniform(0.1, 0.5, n) * lim["dispatch"])
        t_dl = np.where(returned, t_d2, t_d1)  # the dispatch that sticks
        hang = reg & ~returned & (rng.random(n) < 0.004)
        ext = reg & ~returned & ~hang & (rng.random(n) < 0.025)
        ext_ok = ext & (rng.random(n) < 0.9)
        ext_hours = np.where(urgent, rng.choice([2.0, 4.0], n), rng.choice([8.0, 16.0, 24.0, 40.0], n))
        f_h = lognorm(0.45, 0.6)
        stalled = rng.random(n) < 0.04  # cases that sit with a department well past their limit
        f_h = np.where(stalled, rng.uniform(1.3, 4.0, n), f_h)
        f_h = np.where(ext_ok, rng.uniform(0.85, 1.0, n) + ext_hours / lim["handle"] * rng.uniform(0.2, 0.9, n), f_h)
        f_h = np.where(ext & ~ext_ok, rng.uniform(0.8, 1.4, n), f_h)
        accepted = reg & ((rng.random(n) < 0.85) | ext | hang)
        t_acc = clock.add(when(accepted, t_dl), np.minimum(f_h * 0.2, 0.3) * lim["handle"])
        t_xreq = clock.add(when(ext, t_dl), 0.5 * lim["handle"])
        t_xdec = clock.add(t_xreq, rng.uniform(0.05, 0.2, n) * lim["handle"])
        t_hreq = clock.add(when(hang, t_dl), 0.6 * lim["handle"])
        t_hok = clock.add(t_hreq, rng.uniform(0.1, 0.5, n) * lim["handle"])
        t_fb1 = clock.add(when(reg & ~hang, t_dl), f_h * lim["handle"])
        failed = rng.random(n) < 0.06
        t_v1 = clock.add(t_fb1, lognorm(0.3, 0.7) * lim["verify"])
        t_rw = clock.add(when(failed, t_v1), rng.uniform(0.02, 0.1, n) * lim["verify"])
        t_fb2 = clock.add(t_rw, lognorm(0.3, 0.5) * lim["handle"])
        t_v2 = clock.add(t_fb2, lognorm(0.3, 0.7) * lim["verify"])
        t_pass = np.where(failed, t_v2, t_v1)
        t_close = clock.add(t_pass, rng.uniform(0.02, 0.15, n) * lim["verify"])
        del reject_p, t_dec, f_h, stalled, t_pass

        def done(t: np.ndarray) -> np.ndarray:
            return ~np.isnan(t) & (t <= nowts)

        # -- departments (routing once per 小类 × street, memoised over the year) ---------------------------
        street_of = grids["street"].to_numpy()[grid_idx]
        district_of = grids["district"].to_numpy()[grid_idx]
        city_of = grids["city"].to_numpy()[grid_idx]
        keys = pd.Series(list(zip(kind, category, subcategory, street_of)))
        key_codes, key_uniques = pd.factorize(keys)
        dept_final = self.route(list(key_uniques), city_of[0])[key_codes]
        del keys, key_codes, key_uniques
        # A wrong first dispatch (later 退回) goes to another bureau of the same district.
        pick = rng.integers(len(DISTRICT_BUREAUS), size=n)
        dept_wrong = np.array([code_for(d, DISTRICT_BUREAUS[p].abbr) for d, p in zip(district_of, pick)],
                              dtype=object)
        dept_wrong = np.where(dept_wrong == dept_final, street_of + "-JD", dept_wrong)
        dept_first = np.where(returned, dept_wrong, dept_final)
        del pick, dept_wrong

        # -- fields as of `now` ---------------------------------------------------------------------------
        dispatch_deadline = clock.add(when(done(t_reg), t_reg), lim["dispatch"])
        t_dl_now = np.where(done(t_d2), t_d2, when(done(t_d1), t_d1))
        handle_deadline = clock.add(t_dl_now, lim["handle"])
        ext_applied = ext_ok & done(t_xdec)
        handle_deadline = np.where(ext_applied, clock.add(handle_deadline, ext_hours), handle_deadline)
        close_deadline = clock.add(handle_deadline, lim["verify"])
        # Figures are judged against the deadline in force when the milestone happened.
        handle_deadline_at_fb = np.where(ext_ok, clock.add(clock.add(t_dl, lim["handle"]), ext_hours),
                                         clock.add(t_dl, lim["handle"]))
        close_deadline_final = clock.add(handle_deadline_at_fb, lim["verify"])

        # Transitions as parallel arrays.
        steps: list[tuple] = []

        def step(mask, t, action, frm, to, role, dept=None, comment=None, detail=None):  # noqa: ANN001
            sel = np.flatnonzero(mask & done(t))
            steps.append((sel, t[sel], action, frm if isinstance(frm, np.ndarray) else np.full(sel.size, frm, object),
                          to, role, None if dept is None else dept[sel], None if comment is None else comment[sel],
                          None if detail is None else detail[sel]))

        all_ = np.ones(n, dtype=bool)
        step(all_, t_rep, "report", None, "reported", "report")
        step(reg, t_reg, "register", "reported", "registered", "duty_officer")
        step(rejected, t_rej, "reject", "reported", "rejected", "duty_officer",
             comment=demo_text.pick(rng, "reject", n))
        step(reg, t_d1, "dispatch", "registered", "dispatched", "duty_officer", dept=dept_first)
        step(returned, t_ret, "return", "dispatched", "registered", "department", dept=dept_first,
             comment=demo_text.pick(rng, "return", n))
        step(returned, t_d2, "dispatch", "registered", "dispatched", "duty_officer", dept=dept_final)
        step(accepted, t_acc, "accept", "dispatched", "handling", "department", dept=dept_final)
        hours_detail = np.full(n, None, dtype=object)
        for i in np.flatnonzero(ext):
            hours_detail[i] = {"hours": float(ext_hours[i])}
        step(ext, t_xreq, "request_extension", "handling", "extension_requested", "department", dept=dept_final,
             comment=demo_text.pick(rng, "request_extension", n), detail=hours_detail)
        step(ext_ok, t_xdec, "approve_extension", "extension_requested", "handling", "leader", dept=dept_final,
             detail=hours_detail)
        step(ext & ~ext_ok, t_xdec, "reject_extension", "extension_requested", "handling", "leader",
             dept=dept_final, comment=demo_text.pick(rng, "reject_extension", n))
        hang_reason = demo_text.pick(rng, "request_hang", n)
        step(hang, t_hreq, "request_hang", "handling", "hang_requested", "department", dept=dept_final,
             comment=hang_reason)
        step(hang, t_hok, "approve_hang", "hang_requested", "hung", "leader", dept=dept_final)
        fb_from = np.where(accepted, "handling", "dispatched").astype(object)
        step(reg & ~hang, t_fb1, "feedback", fb_from[np.flatnonzero(reg & ~hang & done(t_fb1))], "handled",
             "department", dept=dept_final, comment=demo_text.pick(rng, "feedback", n))
        step(failed & ~np.isnan(t_fb1), t_v1, "verify_fail", "handled", "verify_failed", "verifier",
             dept=dept_final, comment=demo_text.pick(rng, "verify_fail", n))
        step(~failed & ~np.isnan(t_fb1), t_v1, "verify_pass", "handled", "verified", "verifier", dept=dept_final)
        step(failed, t_rw, "rework", "verify_failed", "handling", "duty_officer", dept=dept_final,
             comment=demo_text.pick(rng, "rework", n))
        step(failed, t_fb2, "feedback", "handling", "handled", "department", dept=dept_final,
             comment=demo_text.pick(rng, "feedback", n))
        step(failed, t_v2, "verify_pass", "handled", "verified", "verifier", dept=dept_final)

        closed_now = done(t_close)
        late = closed_now & (t_close > close_deadline_final)
        is_hotline = source == "12345"
        p = np.tile(SATISFACTION_P, (n, 1))
        p[late | failed] = [0.10, 0.10, 0.20, 0.25, 0.35]
        score = (p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1) + 1
        satisfaction = np.where(is_hotline & closed_now, score, 0)
        del p, score, late
        close_detail = np.full(n, None, dtype=object)
        for i in np.flatnonzero(satisfaction):
            close_detail[i] = {"satisfaction": int(satisfaction[i])}
        step(~np.isnan(t_close), t_close, "close", "verified", "closed", "duty_officer", dept=dept_final,
             detail=close_detail)
        del hours_detail, close_detail, fb_from

        # -- current status, version, per-stage deadline ------------------------------------------------------
        ev_idx = np.concatenate([s[0] for s in steps])
        at = np.concatenate([s[1] for s in steps])
        to_status = np.concatenate([np.full(s[0].size, s[4], dtype=object) for s in steps])
        last = np.lexsort((at, ev_idx))
        ev_sorted = ev_idx[last]
        is_last = np.r_[ev_sorted[1:] != ev_sorted[:-1], True]
        status = np.full(n, "reported", dtype=object)
        status[ev_sorted[is_last]] = to_status[last][is_last]
        updated = np.full(n, np.nan)
        updated[ev_sorted[is_last]] = at[last][is_last]
        version = np.bincount(ev_idx, minlength=n)  # report row counts as version 1
        del ev_idx, at, to_status, last, ev_sorted, is_last

        st = status
        handle_round = np.where(done(t_rw), t_rw, t_dl_now)
        fb_latest = np.where(done(t_fb2), t_fb2, when(done(t_fb1), t_fb1))
        stage_start = np.select(
            [st == "reported", st == "registered", np.isin(st, ["dispatched", "handling", "extension_requested",
                                                                 "hang_requested"]),
             np.isin(st, ["handled", "verified", "verify_failed"])],
            [t_rep, np.where(done(t_ret), t_ret, t_reg), handle_round, fb_latest], np.nan)
        stage_name = np.select([st == "reported", st == "registered",
                                np.isin(st, ["dispatched", "handling", "extension_requested", "hang_requested"]),
                                np.isin(st, ["handled", "verified", "verify_failed"])],
                               ["register", "dispatch", "handle", "verify"], "")
        stage_limit = np.select([stage_name == s for s in deadlines.STAGES], [lim[s] for s in deadlines.STAGES],
                                np.nan)
        stage_deadline = clock.add(stage_start, stage_limit)
        stage_warn = clock.add(stage_start, stage_limit * frac)
        in_handle_first_round = (stage_name == "handle") & ~done(t_rw) & ext_applied
        stage_deadline = np.where(in_handle_first_round, clock.add(stage_deadline, ext_hours), stage_deadline)
        stage_warn = np.where(in_handle_first_round, clock.add(stage_warn, ext_hours), stage_warn)
        del handle_round, fb_latest, stage_start, stage_name, stage_limit, in_handle_first_round

        department = np.where(np.isin(st, ["reported", "registered", "rejected"]), None,
                              np.where(done(t_d2) | ~returned, dept_final, dept_first)).astype(object)
        handled_at = when(done(t_fb1), t_fb1)
        verified = ~np.isnan(t_fb1) & done(t_v1)  # as the verify_pass / verify_fail steps above
        dispatched_at = when(done(t_d1), t_d1)

        # -- reporters --------------------------------------------------------------------------------------
        street_names = grids["street_name"].to_numpy()[grid_idx].astype(object)
        address = demo_text.addresses(rng, street_names)
        with_person = is_hotline | (rng.random(n) < 0.05)
        reporter_name = np.where(with_person, demo_text.names(rng, n), None)
        reporter_phone = np.where(with_person, demo_text.phones(rng, n), None)
        ids_for = with_person & (rng.random(n) < 0.15)
        reporter_id = np.full(n, None, dtype=object)
        if ids_for.any():
            reporter_id[ids_for] = demo_text.id_numbers(rng, int(ids_for.sum()))
        grid_codes = grids["code"].to_numpy()[grid_idx]
        officer = _grid_officers(self.actors["grid"], grid_codes)
        reporter_user = np.where(source == "网格员", officer, None)
        prefix = np.array(demo_text.HOTLINE_PREFIX, dtype=object)[rng.integers(len(demo_text.HOTLINE_PREFIX),
                                                                               size=n)]
        templates = np.array([demo_text.REPORT_TEXT.get(c, "{sub}") for c in category], dtype=object)
        description = np.array([t.format(sub=s) for t, s in zip(templates, subcategory)], dtype=object)
        description = np.where(is_hotline, prefix + address + "，" + description, description)
        title = subcategory + "（" + address + "）"
        source_id = np.full(n, None, dtype=object)
        hot = np.flatnonzero(is_hotline)
        local_dates = pd.to_datetime(t_rep[hot], unit="s", utc=True).tz_convert(tz).strftime("%Y%m%d").to_numpy()
        source_id[hot] = np.array([f"12345-{d}-{first_index + i:07d}" for d, i in zip(local_dates, hot)],
                                  dtype=object)
        del street_names, with_person, ids_for, prefix, templates, hot, local_dates

        # -- write the cases ----------------------------------------------------------------------------------
        ids = np.arange(first_id, first_id + n)
        g = grids.iloc[grid_idx]
        columns = {
            "id": ids, "source": source, "source_id": source_id, "kind": kind, "category": category,
            "subcategory": subcategory, "priority": priority, "title": title, "description": description,
            "address": address, "lon": lon, "lat": lat, "reporter_name": reporter_name,
            "reporter_phone": reporter_phone, "reporter_id_no": reporter_id, "status": status,
            "department_code": department, "reporter_user": reporter_user,
            "reported_at": t_rep, "registered_at": when(done(t_reg), t_reg), "rejected_at": when(done(t_rej), t_rej),
            "dispatched_at": dispatched_at, "handled_at": handled_at, "closed_at": when(closed_now, t_close),
            "stage_deadline": stage_deadline, "stage_warn_at": stage_warn, "dispatch_deadline": dispatch_deadline,
            "handle_deadline": handle_deadline, "close_deadline": close_deadline,
            "dispatched_on_time": np.where(done(t_d1), t_d1 <= dispatch_deadline, None),
            "handled_on_time": np.where(done(t_fb1), t_fb1 <= handle_deadline_at_fb, None),
            "closed_on_time": np.where(closed_now, t_close <= close_deadline_final, None),
            # The first 核查 (pass or fail) against the verify stage that began at the first feedback.
            "verified_at": when(verified, t_v1),
            "verified_on_time": np.where(verified, t_v1 <= clock.add(t_fb1, lim["verify"]), None),
            "rework_count": done(t_rw).astype(int), "return_count": done(t_ret).astype(int),
            "satisfaction": np.where(satisfaction > 0, satisfaction, None),
            "hang_reason": np.where(done(t_hreq), hang_reason, None), "photos": None,
            "version": version, "updated_at": updated,
            "city_code": g["city"].to_numpy(), "district_code": g["district"].to_numpy(),
            "street_code": g["street"].to_numpy(), "community_code": g["community"].to_numpy(),
            "grid_code": grid_codes,
        }
        t_gen = time.perf_counter() - t0
        bulkload.load(session, Event, columns, n)
        t_events = time.perf_counter() - t0 - t_gen

        # -- write the transition log -----------------------------------------------------------------------
        keep_event = t_rep >= self.log_from
        rows_written = 0
        duty, leaders = self.duty, self.leaders
        for sel, t, action, frm, to, role, dept, comment, detail in steps:
            k = keep_event[sel]
            sel, t, frm = sel[k], t[k], frm[k]
            if not sel.size:
                continue
            dept = None if dept is None else dept[k]
            comment = None if comment is None else comment[k]
            detail = None if detail is None else detail[k]
            if role == "report":
                who = np.where(source[sel] == "网格员", officer[sel], "system:" + source[sel]).astype(object)
                who_role = np.where(source[sel] == "网格员", "grid_officer", "system").astype(object)
            elif role == "duty_officer":
                who, who_role = duty[rng.integers(len(duty), size=sel.size)], np.full(sel.size, role, object)
            elif role == "leader":
                who, who_role = leaders[rng.integers(len(leaders), size=sel.size)], np.full(sel.size, role, object)
            elif role == "department":
                who = np.array([self.actors["dept"].get(d) or f"staff@{d}" for d in dept], dtype=object)
                who_role = np.full(sel.size, role, object)
            else:  # verifier: the grid's officer mostly, the duty room sometimes
                by_duty = rng.random(sel.size) < 0.15
                who = np.where(by_duty, duty[rng.integers(len(duty), size=sel.size)], officer[sel]).astype(object)
                who_role = np.where(by_duty, "duty_officer", "grid_officer").astype(object)
            cols = {
                "event_id": ids[sel], "action": action, "from_status": frm, "to_status": to,
                "actor": who, "actor_role": who_role, "at": t,
                "comment": comment if comment is not None else (description[sel] if action == "report" else ""),
                "department_code": dept, "attachments": None,
                "detail": detail if detail is not None else _dispatch_detail(action, dept, dept_final[sel]),
            }
            bulkload.load(session, EventTransition, cols, sel.size)
            rows_written += sel.size
        del steps
        t_log = time.perf_counter() - t0 - t_gen - t_events

        # -- rollup counts from the same arrays (the one definition in events.rollup) -----------------------
        frame = pd.DataFrame({
            "id": ids, "grid_code": grid_codes, "category": category, "source": source,
            "reported_at": pd.to_datetime(t_rep, unit="s", utc=True),
            "registered_at": pd.to_datetime(columns["registered_at"], unit="s", utc=True),
            "rejected_at": pd.to_datetime(columns["rejected_at"], unit="s", utc=True),
            "dispatched_at": pd.to_datetime(dispatched_at, unit="s", utc=True),
            "dispatched_on_time": columns["dispatched_on_time"],
            "handled_at": pd.to_datetime(handled_at, unit="s", utc=True),
            "handled_on_time": columns["handled_on_time"],
            "closed_at": pd.to_datetime(columns["closed_at"], unit="s", utc=True),
            "closed_on_time": columns["closed_on_time"], "satisfaction": columns["satisfaction"],
            "verified_at": pd.to_datetime(columns["verified_at"], unit="s", utc=True),
            "verified_on_time": columns["verified_on_time"],
        })
        del columns
        rw = done(t_rw)
        rework = pd.DataFrame({"id": ids[rw], "at": pd.to_datetime(t_rw[rw], unit="s", utc=True)})
        counted = rollup.recount_frame(frame, rework, tz)
        open_now = np.isin(status, list(OPEN_STATUSES))
        return {
            "counted": counted, "transitions": rows_written, "open": int(open_now.sum()),
            "overdue": int((open_now & (stage_deadline < nowts)).sum()), "hung": int((status == "hung").sum()),
            "reworked": int(rw.sum()), "returned": int(done(t_ret).sum()),
            "seconds": {"generate": t_gen, "events": t_events, "log": t_log,
                        "rollup": time.perf_counter() - t0 - t_gen - t_events - t_log},
        }


# Cases generated and written at a time, at most: a month, or part of one where a month has more (city
# scale: ≈85k a month). The arrays of one piece (≈8 kB a case, Python strings included) are the peak.
CHUNK_CASES = 30_000


def _pieces(days: list, counts: np.ndarray, most: int = CHUNK_CASES) -> list[tuple[int, int]]:
    """[start, stop) day indices of the pieces the year is generated in: consecutive days of one calendar
    month, with at most `most` cases between them (unless a single day has more)."""
    out: list[tuple[int, int]] = []
    start, total = 0, 0
    for i in range(len(days)):
        new_month = i > start and days[i].month != days[i - 1].month
        if i > start and (new_month or total + counts[i] > most):
            out.append((start, i))
            start, total = i, 0
        total += int(counts[i])
    out.append((start, len(days)))
    return out


def generate(session: Session, rng, scale, now: datetime, progress=None, derive_copies: bool = True) -> dict:  # noqa: ANN001
    """The generator protocol of demo.seed. Cases are generated and written a month at a time, or part of a
    month (CHUNK_CASES at most), so memory stays bounded whatever the scale; the rollup rows a piece touches
    stay in memory only until no later piece can add to them (a case reported on day d has all its
    milestones on day d or later), then go out. `progress(done, total)` is told after every piece.
    `derive_copies=False` leaves the district and department copies of the rollup to one `finish(session)` call
    after the last city of a generated province (each rebuild reads every city's cases)."""
    t_start = time.perf_counter()
    n = int(scale.events_per_year)
    tz = ZoneInfo(settings.get_settings()["app"]["timezone"])
    made_departments = ensure_demo_departments(session)
    year = _Year(session, rng, now, tz)
    counts = rng.multinomial(n, year.day_w / year.day_w.sum())
    year.place_weights()
    deferred = bulkload.drop_indexes_if_empty(session, (Event, EventTransition, EventDailyRollup))
    first_id = int(session.scalar(select(func.coalesce(func.max(Event.id), 0)))) + 1
    pieces = _pieces(year.days, counts)
    totals = {"transitions": 0, "open": 0, "overdue": 0, "hung": 0, "reworked": 0, "returned": 0}
    seconds = {"generate": 0.0, "events": 0.0, "log": 0.0, "rollup": 0.0}
    key = list(rollup.KEY)
    carry: pd.DataFrame | None = None
    rollup_rows = made = 0
    for k, (lo, hi) in enumerate(pieces):
        day_idx = np.repeat(np.arange(lo, hi), counts[lo:hi])
        if day_idx.size:
            part = year.piece(day_idx, first_id + made, first_id - 1 + made)  # 12345 numbers unique across cities
            made += day_idx.size
            for name in totals:
                totals[name] += part[name]
            for name in seconds:
                seconds[name] += part["seconds"][name]
            counted = part["counted"]
            carry = counted if carry is None else pd.concat([carry, counted]).groupby(level=key).sum()
        if carry is not None and len(carry):
            t0 = time.perf_counter()
            if hi < len(year.days):  # rows of days before the next piece are final
                final_mask = carry.index.get_level_values("day") < year.days[hi]
                final, carry = carry[final_mask], carry[~final_mask]
            else:
                final, carry = carry, None
            roll = rollup.frame_for_insert(final, year.regions)
            rollup_rows += bulkload.load(session, EventDailyRollup, {c: roll[c].to_numpy() for c in roll.columns},
                                         len(roll))
            seconds["rollup"] += time.perf_counter() - t0
        if progress is not None:
            progress(k + 1, len(pieces))
    t0 = time.perf_counter()
    bulkload.create_indexes(session, deferred)
    bulkload.fix_sequence(session, Event)  # before anything else opens a case (the sensors' alerts do)
    if derive_copies:
        finish(session)
    seconds["indexes"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    return {
        "events": made, "departments_added": made_departments, "transitions": totals["transitions"],
        "rollup_rows": rollup_rows, "open": totals["open"], "overdue": totals["overdue"], "hung": totals["hung"],
        "reworked": totals["reworked"], "returned": totals["returned"], "log_days": year.log_days or "all",
        "pieces": len(pieces), "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def finish(session: Session) -> None:
    """After the bulk load of every city's cases: the district and department copies of the grid rollup,
    the status cohort, the planner's statistics."""
    if session.get_bind().dialect.name == "postgresql":
        # The derivations group tens of millions of narrow rows (a province: 5M cases, 34M log rows): with
        # the default 4 MB each hash table spills to temporary files many times its size.
        session.execute(text("SET LOCAL work_mem = '256MB'"))
    rollup.rebuild_district(session)  # the district copy of the bulk-loaded grid rollup
    rollup.rebuild_department(session)  # and the department copy, from the cases and their log
    status_cohort.rebuild(session)  # where each day's reports stand now
    bulkload.analyze(session, (Event, EventTransition, EventDailyRollup, EventDistrictDaily))
    session.flush()


def _grid_officers(grid_users: list[tuple[str, str]], grid_codes: np.ndarray) -> np.ndarray:
    """The username of the officer of each case's grid: a demo account whose zone covers the grid, else
    a per-grid placeholder."""
    out = np.array(["wangge@" + g for g in grid_codes], dtype=object)
    for zone, user in grid_users:
        hit = np.char.startswith(grid_codes.astype(str), region_codes.subtree_prefix(zone))
        out[hit] = user
    return out


def _dispatch_detail(action: str, dept, final) -> np.ndarray:  # noqa: ANN001
    if action != "dispatch" or dept is None:
        return np.full(len(final), None, dtype=object)
    return np.array([{"department_code": d, "suggested": f} for d, f in zip(dept, final)], dtype=object)
