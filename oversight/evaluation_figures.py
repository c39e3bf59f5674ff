"""Where an evaluation's figures come from: the indicators of the region's calendar year
(``oversight.indicators``), the same records every other figure is computed from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from oversight.evaluation_runs import FiguresSource
from oversight.evaluation_scoring import InstrumentFiguresLike, UnitFiguresLike
from oversight.indicators import instrument_and_unit_figures
from yixiang.settings import Settings


def indicator_figures(settings: Settings | None) -> FiguresSource:
    async def source(
        session: AsyncSession, region_code: str, year: int
    ) -> tuple[Sequence[UnitFiguresLike], Sequence[InstrumentFiguresLike]]:
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
        instruments, units = await instrument_and_unit_figures(
            session, region_code=region_code, start=start, end=end, settings=settings
        )
        return units, instruments

    return source
