"""Where a case reported by address alone stands: the geocoder's match, or a provisional place.

`locate_address` turns the address text of a report (a 12345 ticket, an Open311 address_string, an
import row without coordinates) into what events.intake.create_event needs: a WGS-84 point, its
region codes, and whether the case is 待定位. A match at or above `[geocode].min_confidence` places
the case at the standard address. Below it the case is still created — never dropped — at the centre
of the deepest region the text made certain (a district named in it, a road's street) inside the
reporter's zone, or else at the centre of the zone itself, and marked 待定位 for the duty officer
(events.placement). Either way the geocoding result is kept on the 上报 log row (`detail`).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.geocode import AddressIndex, Match, get_index, min_confidence
from store.models import Region
from store.region_codes import ancestor_at, is_within, level_of

LEVELS = ("city", "district", "street", "community", "grid")


@dataclass(frozen=True)
class AddressPlace:
    lon: float
    lat: float
    codes: dict          # city … grid (None below the deepest known level)
    pending: bool        # 待定位
    match: Match

    def detail(self) -> dict:
        """What the 上报 log row keeps of the geocoding."""
        m = self.match
        return {"geocode": {"query": m.query[:200], "kind": m.kind, "address_id": m.address_id,
                            "matched": m.text, "confidence": m.confidence, "pending": self.pending,
                            "note": m.note[:200]}}


def _codes_of(code: str) -> dict:
    """{city, district, …} for a region code, down to the code's own level."""
    return {lv: (ancestor_at(code, lv) if LEVELS.index(lv) <= LEVELS.index(level_of(code)) else None)
            for lv in LEVELS}


def locate_address(session: Session, text: str, zone_code: str, *, index: AddressIndex | None = None,
                   threshold: float | None = None) -> AddressPlace | None:
    """The place of a case reported at `text` by someone whose zone is `zone_code` (the city for system
    channels). None when the zone itself has no centre in the region table (no boundaries loaded)."""
    match = (index or get_index(session)).geocode(text)
    threshold = min_confidence() if threshold is None else threshold
    if match.placed(threshold):
        return AddressPlace(match.lon, match.lat, {lv: match.codes.get(lv) for lv in LEVELS}, False, match)
    named = next((match.region_codes[lv] for lv in reversed(LEVELS) if match.region_codes.get(lv)), None)
    if named is None or (not is_within(named, zone_code) and is_within(zone_code, named)):
        named = zone_code  # nothing certain, or only something wider than the zone: the zone's centre
    row = session.execute(select(Region.centroid_lon, Region.centroid_lat).where(Region.code == named)).first()
    if row is None or row[0] is None:
        return None
    return AddressPlace(float(row[0]), float(row[1]), _codes_of(named), True, match)
