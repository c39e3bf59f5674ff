"""The catalogue domain as the shell sees it: instruments, fee standards, listing, working days."""

from __future__ import annotations

from catalogue.categories import load_categories
from catalogue.controllers import InstrumentController, ProviderInstrumentController, WorkingDayController
from catalogue.demo.loader import load_catalogue_demo
from catalogue.workdays import holiday_advisories_today
from yixiang.domains import Domain

DOMAIN = Domain(
    name="catalogue",
    route_handlers=[InstrumentController, ProviderInstrumentController, WorkingDayController],
    reference_loaders=[load_categories],
    demo_loaders=[load_catalogue_demo],
    advisories=holiday_advisories_today,
)
