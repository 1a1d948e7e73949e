"""Message rules as data (exchange/rules.yaml): which record kinds, under which conditions, reach whom,
on which channels, with which text; quiet hours; the de-duplication reason. Plain functions: load and
check the file, match a record, render a template, and place a time against the quiet hours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

import yaml

from store.period import local_tz

RECIPIENTS = ("department_on_duty", "duty_officer", "case_holder", "incident_commander")
CHANNELS = ("inapp", "sms", "webhook")
PRIORITIES = ("urgent", "normal")
_ID = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RuleError(ValueError):
    """rules.yaml is wrong; the message names the rule and the field (Chinese)."""


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    on: tuple[str, ...]
    to: str
    channels: tuple[str, ...]
    reason: str
    title: str
    text: str = ""
    when: tuple[tuple[str, tuple], ...] = ()
    priority: str | None = None
    quiet: bool = True

    def matches(self, kind: str, fields: dict) -> bool:
        if not any(fnmatchcase(kind, pattern) for pattern in self.on):
            return False
        return all(str(fields.get(key)) in values for key, values in self.when)


@dataclass(frozen=True)
class QuietHours:
    start: time | None = None
    end: time | None = None
    channels: tuple[str, ...] = ("sms", "webhook")
    except_priority: tuple[str, ...] = ("urgent",)

    def holds(self, channel: str, priority: str) -> bool:
        return self.start is not None and channel in self.channels and priority not in self.except_priority

    def release_at(self, at: datetime) -> datetime | None:
        """When a message made at `at` may go out, if `at` lies in the quiet hours (else None). The
        window may span midnight (22:00–07:00)."""
        if self.start is None or self.end is None or self.start == self.end:
            return None
        local = at.astimezone(local_tz())
        t = local.time()
        if self.start < self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:
            inside = t >= self.start or t < self.end
            end_day = local.date() + timedelta(days=1) if t >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=local_tz())


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    quiet_hours: QuietHours

    def matching(self, kind: str, fields: dict) -> list[Rule]:
        return [r for r in self.rules if r.matches(kind, fields)]


def _time(value, where: str) -> time:  # noqa: ANN001
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise RuleError(f"{where}：时间应为 HH:MM，收到「{value}」") from None


def _strings(value, where: str, field: str, allowed=None) -> tuple[str, ...]:  # noqa: ANN001
    items = value if isinstance(value, list) else [value]
    out = tuple(str(v).strip() for v in items if v is not None and str(v).strip())
    if not out:
        raise RuleError(f"{where}：{field} 不能为空")
    if allowed is not None:
        bad = [v for v in out if v not in allowed]
        if bad:
            raise RuleError(f"{where}：{field} 不认识「{'、'.join(bad)}」，可选：{'、'.join(allowed)}")
    return out


def parse(doc: dict) -> RuleSet:
    """Check the whole file; RuleError names the first problem found."""
    if not isinstance(doc, dict):
        raise RuleError("rules.yaml 应为一个映射（quiet_hours、rules）")
    q = doc.get("quiet_hours") or {}
    quiet = QuietHours()
    if q:
        quiet = QuietHours(_time(q.get("start"), "quiet_hours"), _time(q.get("end"), "quiet_hours"),
                           _strings(q.get("channels", ["sms", "webhook"]), "quiet_hours", "channels", CHANNELS),
                           tuple(q.get("except_priority") or ()))
    rules, seen = [], set()
    for raw in doc.get("rules") or []:
        rid = str((raw or {}).get("id", "")).strip()
        where = f"消息规则 {rid or '（无 id）'}"
        if not _ID.match(rid) or rid in seen:
            raise RuleError(f"{where}：id 应为小写字母开头的字母、数字、下划线，且不重复")
        seen.add(rid)
        to = str(raw.get("to") or "")
        if to not in RECIPIENTS:
            raise RuleError(f"{where}：to 应为 {'、'.join(RECIPIENTS)} 之一")
        when = raw.get("when") or {}
        if not isinstance(when, dict):
            raise RuleError(f"{where}：when 应为 字段: 值 的映射")
        priority = raw.get("priority")
        if priority is not None and priority not in PRIORITIES:
            raise RuleError(f"{where}：priority 应为 urgent 或 normal")
        title = str(raw.get("title") or "").strip()
        if not title:
            raise RuleError(f"{where}：title 不能为空")
        reason = str(raw.get("reason") or "").strip()
        if not reason:
            raise RuleError(f"{where}：reason（去重原因）不能为空")
        rules.append(Rule(
            id=rid, name=str(raw.get("name") or rid), on=_strings(raw.get("kinds"), where, "kinds"), to=to,
            channels=_strings(raw.get("channels", ["inapp"]), where, "channels", CHANNELS), reason=reason,
            title=title, text=str(raw.get("text") or ""),
            when=tuple((str(k), tuple(str(v) for v in (vals if isinstance(vals, list) else [vals])))
                       for k, vals in when.items()),
            priority=priority, quiet=bool(raw.get("quiet", True))))
    return RuleSet(tuple(rules), quiet)


@lru_cache(maxsize=4)
def load(path: str) -> RuleSet:
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))


def load_rules(path: Path | str) -> RuleSet:
    return load(str(path))


def render(template: str, fields: dict) -> str:
    """`{name}` replaced by the field's value (missing or empty: —). Only plain names: no attribute or
    index access, so a template cannot reach into objects."""
    def one(m: re.Match) -> str:
        value = fields.get(m.group(1))
        return "—" if value in (None, "") else str(value)

    return _FIELD.sub(one, template)
