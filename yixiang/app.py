"""The application factory: one Litestar app wired from settings, the shell and every domain."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from yixiang import __version__
from yixiang.admission import AdmissionMiddleware, Gate
from yixiang.answers import Answer
from yixiang.api_docs import DOCS_PATH, render_plugins
from yixiang.bodies import BodyGuardMiddleware
from yixiang.errors import EXCEPTION_HANDLERS
from yixiang.health import health, ready
from yixiang.http_meta import AllowMiddleware, one_charset
from yixiang.idempotency import IdempotencyMiddleware, request_sessions
from yixiang.logs import AccessLogMiddleware, RequestIdMiddleware, configure_logging
from yixiang.memory import release_freed
from yixiang.metrics import Metrics, metrics_page
from yixiang.openapi import documents_router
from yixiang.ratelimit import RateLimiter
from yixiang.replicas import ReplicaRoutingMiddleware
from yixiang.runtime import Runtime
from yixiang.schemas import StrictBodyRequest
from yixiang.security import SecurityHeadersMiddleware
from yixiang.settings import Settings, load_settings


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging(settings.effective_log_format, settings.log_level)
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        # What start-up built (modules, the app, dictionaries, caches) lives as long as the
        # process: leave it out of garbage collection, whose full passes over it otherwise pause
        # requests for tens of milliseconds.
        gc.collect()
        gc.freeze()
        release_freed()  # what start-up built and dropped goes back to the system (yixiang.memory)
        try:
            yield
        finally:
            await runtime.stop()

    # Requests get the sessions the worker and the CLI get: without advanced-alchemy's cache,
    # file-object and timestamp listeners, which cost every commit and that nothing here uses
    # (``updated_at`` columns are set by their own ``onupdate``). A keyed request's session is
    # on the connection its Idempotency-Key commits on (yixiang.idempotency).
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=runtime.engine,
        session_maker=request_sessions(runtime.session_maker, runtime.replicas),
        session_dependency_key="db_session",
        set_default_exception_handler=False,
        create_all=False,
    )
    route_handlers: list[Any] = [health, ready, metrics_page]
    middleware: list[Any] = []
    dependencies: dict[str, Any] = {}
    state: dict[str, Any] = {}
    template_config: Any = None
    for domain in runtime.domains:
        template_config = template_config or domain.template_config
        route_handlers.extend(domain.route_handlers)
        middleware.extend(domain.middleware)
        dependencies.update(domain.dependencies)
        if domain.app_state is not None:
            state.update(domain.app_state(settings))

    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        plugins=[SQLAlchemyPlugin(config=db_config)],
        dependencies=dependencies,
        middleware=[
            SecurityHeadersMiddleware,
            BodyGuardMiddleware,
            AllowMiddleware,
            *middleware,
            # after sign-in (it reads the user), before the key's transaction (writes: primary)
            DefineMiddleware(
                ReplicaRoutingMiddleware,
                replicas=runtime.replicas,
                store=runtime.store,
                sticky_seconds=settings.database_read_sticky_seconds,
            ),
            IdempotencyMiddleware,
        ],
        # strict JSON bodies (yixiang.schemas), over the body guard's refusals (yixiang.bodies)
        request_class=StrictBodyRequest,
        # every JSON answer in one time convention: +08:00, whole seconds (yixiang.answers)
        response_class=Answer,
        after_request=one_charset,
        exception_handlers=EXCEPTION_HANDLERS,
        compression_config=CompressionConfig(backend="gzip", minimum_size=1000),
        cors_config=CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="仪享 yixiang API",
            version=__version__,
            description="大型科研仪器开放共享平台：搜索、预约、创新券抵扣、结果反馈与评价。",
            path=DOCS_PATH,
            openapi_router=documents_router(DOCS_PATH),
            render_plugins=render_plugins(settings.api_docs),
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"BearerToken": []}],
        ),
        request_max_body_size=settings.max_body_bytes,
        template_config=template_config,
        debug=False,
        logging_config=None,
    )
    # Around the whole app, not among the middleware above (which run only once a route matched):
    # every request gets its id and its access line, a 404 or a 405 too.
    # Admission control there too: a request refused for overload costs no routing, and is still
    # logged, counted (the access log feeds the metrics) and tagged with its id.
    gate = Gate(
        settings.admission_max_in_flight, settings.admission_max_queued, settings.admission_max_wait_ms / 1000
    )
    transfers = Gate(
        settings.admission_transfers_max_in_flight,
        settings.admission_transfers_max_queued,
        settings.admission_transfers_max_wait_ms / 1000,
        name="transfers",
    )
    metrics = Metrics((gate, transfers), runtime.engine)
    app.asgi_handler = RequestIdMiddleware(
        AccessLogMiddleware(
            AdmissionMiddleware(app.asgi_handler, gate, transfers), settings.secret_key, metrics.observe
        )
    )
    app.state.gate = gate
    app.state.transfers_gate = transfers
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.engine = runtime.engine
    app.state.session_maker = runtime.session_maker
    app.state.store = runtime.store
    for key, value in state.items():
        app.state[key] = value
    app.state.services = runtime.services
    app.state.rate_limiter = RateLimiter(runtime.store)
    return app
