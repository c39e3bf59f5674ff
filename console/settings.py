"""The console's settings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from yixiang.settings import Section


class ConsoleSettings(Section):
    env_prefix = "CONSOLE_"

    # A download of more rows than this (the bookings table, a settlement batch) is made as a long
    # job: its page shows the progress and offers the file when done; smaller ones come at once.
    export_job_rows: Annotated[int, msgspec.Meta(ge=0)] = 2_000
    # Such a file is kept this many days after it was made, then deleted (its job page says so).
    export_retention_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7


SECTIONS = (ConsoleSettings,)
