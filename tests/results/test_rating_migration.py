"""Ratings stored before dimensions became optional keep their dimension means: each aggregate's
per-dimension counts become its rating count (every earlier rating scored all four)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import text

from yixiang.db import create_engine
from yixiang.migrate import upgrade

BEFORE = "0010_sent_notification_status"


async def test_earlier_aggregates_count_every_rating_for_every_dimension(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ratings.db'}")
    instrument = uuid.uuid4()
    try:
        await upgrade(engine, BEFORE)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO rating_aggregates (scope, subject_id, count, overall_sum, distribution,"
                    " dimension_sums, updated_at) VALUES ('instrument', :id, 2, 9, '{}', :sums, '2026-01-01')"
                ),
                {"id": instrument.hex, "sums": json.dumps(dict.fromkeys(("timeliness", "value"), 8))},
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            counts = await connection.scalar(text("SELECT dimension_counts FROM rating_aggregates"))
        assert json.loads(counts) == {"timeliness": 2, "data_quality": 2, "professionalism": 2, "value": 2}
    finally:
        await engine.dispose()
