"""The voucher domain as the shell sees it: routes, the expiry job, demo data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vouchers.application_controllers import ROUTES as APPLICATION_ROUTES
from vouchers.clearing_controllers import ROUTES as CLEARING_ROUTES
from vouchers.controllers import ROUTES
from vouchers.demo import load_vouchers
from vouchers.invoice_controllers import ROUTES as INVOICE_ROUTES
from vouchers.payment_controllers import ROUTES as PAYMENT_ROUTES
from vouchers.payment_refund_controllers import ROUTES as PAYMENT_REFUND_ROUTES
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.payments.refund_jobs import CONSUMERS as REFUND_CONSUMERS
from vouchers.payments.refund_jobs import PERIODIC_JOBS as REFUND_JOBS
from vouchers.payments.sync import sync_open_orders
from vouchers.programs import expire_programs
from vouchers.settings import WeChatPaySettings
from yixiang.clock import shanghai_date
from yixiang.db import utcnow
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event

if TYPE_CHECKING:
    from yixiang.runtime import Runtime

EXPIRY_TOPIC = "vouchers.expire_due"
PAYMENT_SYNC_TOPIC = "vouchers.payment_sync_due"


async def start_wechat_pay(runtime: Runtime) -> None:
    settings = WeChatPaySettings.of(runtime.settings)
    if settings.enabled:
        runtime.services[WECHAT_PAY] = WeChatPay.from_settings(settings)


async def stop_wechat_pay(runtime: Runtime) -> None:
    pay = runtime.services.pop(WECHAT_PAY)
    if pay is not None:
        await pay.client.aclose()


async def sync_payments(ctx: JobContext, event: Event) -> None:
    """Ask WeChat Pay about the orders it has not told us about; close the expired ones."""
    pay = ctx.services.get(WECHAT_PAY)
    if pay is not None:
        await ctx.session.commit()  # no transaction held while WeChat Pay answers
        await sync_open_orders(ctx.session, pay)


async def expire_due_programs(ctx: JobContext, event: Event) -> None:
    """Grants expire the day after their programme's last valid day (Asia/Shanghai)."""
    await expire_programs(ctx.session, shanghai_date(utcnow()))


DOMAIN = Domain(
    name="vouchers",
    route_handlers=[
        *ROUTES,
        *APPLICATION_ROUTES,
        *PAYMENT_ROUTES,
        *PAYMENT_REFUND_ROUTES,
        *CLEARING_ROUTES,
        *INVOICE_ROUTES,
    ],
    consumers={EXPIRY_TOPIC: [expire_due_programs], PAYMENT_SYNC_TOPIC: [sync_payments], **REFUND_CONSUMERS},
    periodic_jobs=[
        PeriodicJob(name="vouchers-expiry", every_seconds=3600, topic=EXPIRY_TOPIC),
        PeriodicJob(name="vouchers-payment-sync", every_seconds=60, topic=PAYMENT_SYNC_TOPIC),
        *REFUND_JOBS,
    ],
    on_startup=[start_wechat_pay],
    on_shutdown=[stop_wechat_pay],
    demo_loaders=[load_vouchers],
)
