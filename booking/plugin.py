"""The booking domain as the shell sees it: catalogue and bookings together."""

from __future__ import annotations

from booking import wiring as bookings
from booking.catalogue import wiring as catalogue
from booking.delivery import wiring as delivery
from yixiang.domains import Domain

PARTS = (catalogue, bookings, delivery)

DOMAIN = Domain(
    name="booking",
    route_handlers=[route for part in PARTS for route in part.ROUTES],
    consumers={
        topic: [consumer for part in PARTS for consumer in part.CONSUMERS.get(topic, [])]
        for topic in {topic for part in PARTS for topic in part.CONSUMERS}
    },
    periodic_jobs=[job for part in PARTS for job in part.PERIODIC_JOBS],
    demo_loaders=[loader for part in PARTS for loader in part.DEMO_LOADERS],
    cli_commands=[command for part in PARTS for command in part.CLI_COMMANDS],
    on_startup=delivery.ON_STARTUP,
)
