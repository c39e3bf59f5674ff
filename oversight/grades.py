"""The four grades of the yearly evaluation (绩效评价), apart from the tables: the settings read
them, and settings load without the database layer (``yixiang worker --check-heartbeat``)."""

from __future__ import annotations

import enum


class Grade(enum.StrEnum):
    excellent = "优秀"
    good = "良好"
    passed = "合格"
    poor = "较差"
