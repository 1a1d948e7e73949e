"""rows_frame: query rows to a frame, quickly and in column order; dict rows refused loudly."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from store.frames import rows_frame


def test_rows_frame_from_query_rows_keeps_order_and_types():
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT 'a' AS k, 1 AS n UNION ALL SELECT 'b', 2")).all()
    frame = rows_frame(rows, columns=["k", "n"])
    assert frame.to_dict("records") == [{"k": "a", "n": 1}, {"k": "b", "n": 2}]


def test_rows_frame_of_nothing_still_has_the_columns():
    frame = rows_frame([], columns=["k", "n"])
    assert list(frame.columns) == ["k", "n"] and frame.empty


def test_rows_frame_accepts_a_generator():
    assert rows_frame(((i, i * i) for i in range(3)), columns=["i", "sq"])["sq"].tolist() == [0, 1, 4]


def test_rows_frame_refuses_dicts():
    with pytest.raises(TypeError):
        rows_frame([{"k": "a"}], columns=["k"])
