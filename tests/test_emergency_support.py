"""Helpers shared by the emergency tests (no tests here): people and resources in the tiny city."""
from __future__ import annotations

from store.models import InventoryItem, Resource
from store.scope import Viewer
from tests.support.tiny_city import codes_for_point

COMMANDER = Viewer("cmd1", "duty_officer", "440900", display_name="值班员甲")
COMMANDER_2 = Viewer("cmd2", "duty_officer", "440900", display_name="值班员乙")
LEADER = Viewer("boss", "leader", "440900", display_name="领导")
WEST_COMMANDER = Viewer("west", "duty_officer", "440902", display_name="茂南值班员")


def add_resource(session, rid: str, kind: str, lon: float, lat: float, **kw) -> Resource:  # noqa: ANN001
    row = Resource(id=rid, kind=kind, name=kw.pop("name", rid), lon=lon, lat=lat,
                   status=kw.pop("status", "available"), version=1, **kw)
    row.set_region(codes_for_point(lon, lat))
    session.add(row)
    return row


def add_stock(session, rid: str, lon: float, lat: float, items: dict[str, int], **kw) -> list[InventoryItem]:  # noqa: ANN001
    add_resource(session, rid, "物资储备库", lon, lat, **kw)
    session.flush()
    rows = [InventoryItem(resource_id=rid, item=item, unit="袋" if item == "沙袋" else "件", quantity=n, reserved=0)
            for item, n in items.items()]
    session.add_all(rows)
    session.flush()
    return rows
