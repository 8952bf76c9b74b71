"""The gateway: Sealpay's only public surface.

`create_app` wires settings, the database, the payment dispatcher and the
routers; `python -m services.gateway` serves it with uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine

from services.common import problems as errors
from services.common.clock import Clock, SystemClock
from services.common.database import create_db_engine, libpq_url, resolve_database_url
from services.common.logs import configure_logging
from services.common.observability import RequestContextMiddleware
from services.common.settings import resolve_admin_token, resolve_service_token
from services.gateway.admin.endpoints import router as admin_router
from services.gateway.agents.endpoints import router as agents_router
from services.gateway.agents.repository import AGENT_SESSION_OPTIONS
from services.gateway.agents.service import AgentDirectory
from services.gateway.auth import AuthCache
from services.gateway.billing.endpoints import router as billing_router
from services.gateway.deposits.endpoints import router as deposits_router
from services.gateway.internal import InternalService
from services.gateway.ops.endpoints import router as ops_router
from services.gateway.payments.endpoints import router as payments_router
from services.gateway.payments.service import Payments
from services.gateway.settings import GatewaySettings
from services.gateway.tee.endpoints import router as tee_router
from services.payment_client.base import PaymentDispatcher
from services.payment_client.factory import build_dispatcher, tee_checker

log = logging.getLogger("sealpay.gateway")

DESCRIPTION = """
Sealpay's public API for AI agents: register, hold a balance, pay other agents.

* Money is always an integer in the asset's minor unit (piconero for XMR).
* Every money-moving POST needs an `Idempotency-Key` header; a replay returns the
  original receipt with `Idempotent-Replayed: true`.
* Errors are RFC 9457 `application/problem+json` with a stable `code`.
* Receipts are signed (Ed25519 over RFC 8785 JSON); `signer` says by whom.
"""


def create_app(
    settings: GatewaySettings | None = None,
    *,
    engine: Engine | None = None,
    dispatcher: PaymentDispatcher | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    clock = clock or SystemClock()
    engine = engine or create_db_engine(
        resolve_database_url(settings.database_url, env=settings.sealpay_env),
        pool_size=settings.db_pool_size,
        application_name="sealpay-gateway",
    )
    pool = AsyncConnectionPool(
        libpq_url(engine.url.render_as_string(hide_password=False)),
        min_size=1,
        max_size=settings.db_pool_size,
        kwargs={
            "autocommit": True,
            "application_name": "sealpay-gateway",
            "options": AGENT_SESSION_OPTIONS,
        },
        open=False,
    )
    if dispatcher is None:
        dispatcher = build_dispatcher(settings, engine, clock)
    checker = tee_checker(settings, dispatcher)
    admin_token, generated = resolve_admin_token(settings.sealpay_admin_token, settings.sealpay_env)
    service_token = resolve_service_token(settings.sealpay_service_token, settings.sealpay_env)
    internal_timeout = settings.gateway_internal_timeout_seconds
    billing = InternalService("billing", settings.billing_url, service_token, internal_timeout)
    key_server = InternalService(
        "key_server", settings.key_server_url, service_token, internal_timeout
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if generated:
            log.warning("gateway.admin_token.development", extra={"admin_token": admin_token})
        await pool.open()
        if checker is not None:
            checker.start()
        yield
        if checker is not None:
            await checker.stop()
        await dispatcher.close()
        await billing.close()
        await key_server.close()
        await pool.close()
        engine.dispose()

    app = FastAPI(
        title="Sealpay Gateway",
        version="2.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    agents = AgentDirectory(pool, dispatcher, clock)
    app.state.settings = settings
    app.state.engine = engine
    app.state.dispatcher = dispatcher
    app.state.agents = agents
    app.state.payments = Payments(agents, dispatcher, billing)
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    app.state.admin_token = admin_token
    app.state.tee_checker = checker
    app.state.billing = billing
    app.state.key_server = key_server
    errors.install(app)
    routers = (
        ops_router,
        agents_router,
        payments_router,
        billing_router,
        deposits_router,
        admin_router,
        tee_router,
    )
    for router in routers:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, service="gateway")
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: each worker process configures logging and builds its app."""
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    return create_app(settings)
