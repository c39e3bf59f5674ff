"""The voucher domain as the shell sees it: routes, the expiry job, demo data."""

from __future__ import annotations

from vouchers.application_controllers import ROUTES as APPLICATION_ROUTES
from vouchers.clearing_controllers import ROUTES as CLEARING_ROUTES
from vouchers.controllers import ROUTES
from vouchers.demo import load_vouchers
from vouchers.invoice_controllers import ROUTES as INVOICE_ROUTES
from vouchers.programs import expire_programs
from yixiang.clock import shanghai_date
from yixiang.db import utcnow
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event

EXPIRY_TOPIC = "vouchers.expire_due"


async def expire_due_programs(ctx: JobContext, event: Event) -> None:
    """Grants expire the day after their programme's last valid day (Asia/Shanghai)."""
    await expire_programs(ctx.session, shanghai_date(utcnow()))


DOMAIN = Domain(
    name="vouchers",
    route_handlers=[*ROUTES, *APPLICATION_ROUTES, *CLEARING_ROUTES, *INVOICE_ROUTES],
    consumers={EXPIRY_TOPIC: [expire_due_programs]},
    periodic_jobs=[PeriodicJob(name="vouchers-expiry", every_seconds=3600, topic=EXPIRY_TOPIC)],
    demo_loaders=[load_vouchers],
)
