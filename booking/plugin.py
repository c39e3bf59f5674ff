"""The booking domain as the shell sees it: catalogue and bookings together."""

from __future__ import annotations

from booking import wiring as bookings
from booking.catalogue import wiring as catalogue
from yixiang.domains import Domain

DOMAIN = Domain(
    name="booking",
    route_handlers=[*catalogue.ROUTES, *bookings.ROUTES],
    consumers={
        topic: [*catalogue.CONSUMERS.get(topic, []), *bookings.CONSUMERS.get(topic, [])]
        for topic in {*catalogue.CONSUMERS, *bookings.CONSUMERS}
    },
    periodic_jobs=[*catalogue.PERIODIC_JOBS, *bookings.PERIODIC_JOBS],
    demo_loaders=[*catalogue.DEMO_LOADERS, *bookings.DEMO_LOADERS],
    cli_commands=[*catalogue.CLI_COMMANDS, *bookings.CLI_COMMANDS],
)
