"""What a map costs to send: compact JSON, boundaries simplified below a screen pixel, heat bins with only
what the heat map draws."""
from __future__ import annotations

import json
import math

import pandas as pd
import shapely

from events.layers import case_heat_layer
from geo import layers as L
from situation.regions_map import SCREEN_UNITS, for_screen


def _wiggly_polygon(n: int = 4000) -> str:
    ring = [(111.0 + 0.5 * math.cos(2 * math.pi * i / n) + 0.00001 * ((i * 7919) % 13),
             21.8 + 0.4 * math.sin(2 * math.pi * i / n)) for i in range(n)]
    return shapely.to_geojson(shapely.Polygon(ring))


def test_for_screen_drops_invisible_vertices_and_stays_within_the_tolerance():
    stored = _wiggly_polygon()
    tolerance = 1.0 / SCREEN_UNITS
    drawn = for_screen(stored, tolerance)
    original, simplified = shapely.from_geojson(stored), shapely.geometry.shape(drawn)
    assert len(drawn["coordinates"][0]) < len(json.loads(stored)["coordinates"][0]) / 5
    assert shapely.hausdorff_distance(original, simplified) <= tolerance + 2e-5
    assert simplified.is_valid and abs(simplified.area - original.area) / original.area < 0.001


def test_deck_json_is_compact_and_says_the_same_as_pydeck():
    bins = pd.DataFrame({"lon": [111.123456789], "lat": [21.987654321], "count": [3], "open": [1], "overdue": [0],
                         "tip": ["第1网格"]})
    deck = L.deck([case_heat_layer(bins)], L.view_for_bbox((110.5, 21.4, 111.5, 22.3)))
    compact = L.deck_json(deck)
    assert "\n" not in compact and ": " not in compact
    assert json.loads(compact) == json.loads(deck.to_json())
    layer = json.loads(compact)["layers"][0]
    assert layer["data"] == [{"lon": 111.12346, "lat": 21.98765, "count": 3}]


def test_serialized_deck_gives_streamlit_the_cached_spec_and_the_tooltip():
    deck = L.deck([], L.view_for_bbox((110.5, 21.4, 111.5, 22.3)))
    frozen = L.SerializedDeck(L.deck_json(deck))
    assert frozen.to_json() == L.deck_json(deck)
    assert frozen._tooltip == L.TOOLTIP and frozen.layers == [] and frozen.mapbox_key is None
