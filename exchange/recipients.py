"""Who a message rule's `to` names, for one record: accounts (消息中心) and contact groups (SMS numbers,
robot webhooks) from [exchange.contacts].

- department_on_duty: the active accounts of the case's department whose zone covers the case, and
  the contact group named by the department code;
- duty_officer: the active 指挥中心值班员 accounts whose zone covers the object, and the group
  `duty_officer`;
- case_holder: the department while the case is with one (派遣 … 挂账), else the duty officers;
- incident_commander: the account named as the incident's commander (by user name or display name),
  else the duty officers; external channels go to the group `duty_officer`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from events.statuses import WITH_DEPARTMENT
from exchange.config import ExchangeConfig
from store.models import User
from store.region_codes import is_within

DUTY_GROUP = "duty_officer"


@dataclass(frozen=True)
class Recipients:
    users: tuple[str, ...]  # usernames, for the 消息中心
    group: str | None  # contact group for the outbound channels


class Directory:
    """Active accounts, read once per worker pass (a handful of rows per city)."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(select(User.username, User.display_name, User.role, User.zone_code,
                                      User.department_code).where(User.active.is_(True))).all()
        self.rows = rows

    def duty_officers(self, code: str | None) -> tuple[str, ...]:
        return tuple(sorted(r.username for r in self.rows
                            if r.role == "duty_officer" and code and is_within(code, r.zone_code)))

    def department(self, department_code: str | None, code: str | None) -> tuple[str, ...]:
        if not department_code:
            return ()
        return tuple(sorted(r.username for r in self.rows if r.role == "department"
                            and r.department_code == department_code and (not code or is_within(code, r.zone_code))))

    def named(self, name: str | None) -> tuple[str, ...]:
        if not name:
            return ()
        return tuple(sorted({r.username for r in self.rows if name in (r.username, r.display_name)}))


def deepest(fields: dict) -> str | None:
    for level in ("grid", "community", "street", "district", "city"):
        if fields.get(f"{level}_code"):
            return fields[f"{level}_code"]
    return None


def resolve(to: str, fields: dict, directory: Directory, cfg: ExchangeConfig) -> Recipients:  # noqa: ARG001
    code = deepest(fields)
    if to == "case_holder":
        to = "department_on_duty" if fields.get("status") in WITH_DEPARTMENT and fields.get("department_code") \
            else "duty_officer"
    if to == "department_on_duty":
        dept = fields.get("department_code")
        return Recipients(directory.department(dept, code), dept or None)
    if to == "incident_commander":
        named = directory.named(fields.get("commander"))
        if named:
            return Recipients(named, DUTY_GROUP)
    return Recipients(directory.duty_officers(code), DUTY_GROUP)
