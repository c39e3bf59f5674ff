"""The console as the shell sees it: its pages under ``/console`` (their own sign-in session,
CSRF check and error pages), its static files, and the template engine."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.handlers import BaseRouteHandler
from litestar.static_files import create_static_files_router

from console import (
    audit_desk,
    desk,
    evaluation_desk,
    exports,
    instrument_edit,
    instrument_new,
    instruments,
    long_work,
    mobile,
    mobile_bookings,
    mobile_find,
    mobile_privacy,
    mobile_waitlist,
    operator,
    oversight,
    payments_desk,
    phone,
    provider,
    public_report,
    purchase_reviews,
    qualifications,
    region,
    results_desk,
    rewards,
    science,
    settlements,
    unit_desk,
    wechat_signin,
    yearly_desk,
)
from console.pages import EXCEPTION_PAGES, HERE, TEMPLATE_CONFIG
from console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    ConsoleSessionMiddleware,
    CsrfRefused,
    csrf_matches,
    current_session,
)
from yixiang.domains import Domain, PeriodicJob

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Pages load only the app's own files; no inline script, nothing from another host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


async def csrf_protected(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every form posts the session's token back (the sign-in form: its cookie's); else 403."""
    if not isinstance(connection, Request) or connection.method in SAFE_METHODS:
        return
    request: Request[Any, Any, Any] = connection
    if handler.opt.get("csrf") == "address":  # a streamed upload: its body is not read here
        given: Any = connection.query_params.get(CSRF_FIELD) or connection.headers.get(CSRF_HEADER)
    else:
        given = (await request.form()).get(CSRF_FIELD) or connection.headers.get(CSRF_HEADER)
    session = current_session(connection.scope)
    if handler.opt.get("csrf") == "sign_in" or session is None:
        expected = connection.scope["state"].get("console_sign_in_csrf")
    else:
        expected = session.csrf
    if not csrf_matches(expected, str(given) if given else None):
        raise CsrfRefused()


pages = Router(
    path="/console",
    route_handlers=[
        *desk.ROUTES,
        *wechat_signin.ROUTES,
        *provider.ROUTES,
        *results_desk.ROUTES,
        *instrument_new.ROUTES,
        *instrument_edit.ROUTES,
        *instruments.ROUTES,
        *qualifications.ROUTES,
        *unit_desk.ROUTES,
        *science.ROUTES,
        *settlements.ROUTES,
        *rewards.ROUTES,
        *operator.ROUTES,
        *audit_desk.ROUTES,
        *long_work.ROUTES,
        *exports.ROUTES,
        *region.ROUTES,
        *oversight.ROUTES,
        *mobile.ROUTES,
        *phone.ROUTES,
        *mobile_find.ROUTES,
        *mobile_bookings.ROUTES,
        *mobile_privacy.ROUTES,
        *mobile_waitlist.ROUTES,
        *payments_desk.ROUTES,
        *yearly_desk.ROUTES,
        *purchase_reviews.ROUTES,
        *evaluation_desk.ROUTES,
    ],
    middleware=[ConsoleSessionMiddleware],
    guards=[csrf_protected],
    exception_handlers=EXCEPTION_PAGES,
    response_headers=[ResponseHeader(name="Content-Security-Policy", value=CSP)],
    include_in_schema=False,
    tags=["console"],
)
static = create_static_files_router(
    path="/console/static", directories=[HERE / "static"], include_in_schema=False, name="console-static"
)

DOMAIN = Domain(
    name="console",
    route_handlers=[pages, public_report.public_pages, static],
    template_config=TEMPLATE_CONFIG,
    consumers={exports.PURGE_TOPIC: [exports.purge_old_exports]},
    periodic_jobs=[
        PeriodicJob(name="console-exports-retention", every_seconds=86400, topic=exports.PURGE_TOPIC)
    ],
)
