"""The billing service's HTTP API (internal, behind the gateway; operators' /admin).

`create_app` builds the runtime (database, payment dispatcher, rates, job
queue) and the routers; `python -m services.billing` serves it with uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from services.billing import errors as billing_errors
from services.billing.agents.endpoints import router as agents_router
from services.billing.crypto.endpoints import router as crypto_router
from services.billing.ops.endpoints import router as ops_router
from services.billing.plans.endpoints import router as plans_router
from services.billing.renewals.endpoints import router as renewals_router
from services.billing.runtime import Billing, build_billing
from services.billing.settings import BillingSettings
from services.billing.webhooks.endpoints import router as webhooks_router
from services.billing.worker import register_tasks
from services.common import problems
from services.common.clock import Clock
from services.common.logs import configure_logging
from services.common.observability import RequestContextMiddleware
from services.common.settings import resolve_admin_token
from services.payment_client.base import PaymentDispatcher

log = logging.getLogger("sealpay.billing")

DESCRIPTION = """
Sealpay billing: plans, upgrade quotes with proration, subscriptions and renewals,
exchange rates, signed outgoing webhooks, upgrades paid by crypto invoices.

* `/internal/*` is for the gateway (`Authorization: Bearer <SEALPAY_SERVICE_TOKEN>`),
  except `/internal/charge-events`, the key server's callbacks, authenticated by
  their signature (`X-Sealpay-Key-Id: key_server`, SEALPAY_CALLBACK_SECRET).
* `/admin/*` is for operators (`Authorization: Bearer <SEALPAY_ADMIN_TOKEN>`).
* Prices are integer USD cents; charges are integer minor units of the agent's asset.
* Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


def create_app(
    settings: BillingSettings | None = None,
    *,
    engine: Engine | None = None,
    dispatcher: PaymentDispatcher | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or BillingSettings()
    service_token, service_generated = settings.service_token()
    admin_token, admin_generated = resolve_admin_token(
        settings.sealpay_admin_token, settings.sealpay_env
    )
    callback_secret = settings.callback_secret()  # production refuses to start without it
    billing = build_billing(settings, engine=engine, dispatcher=dispatcher, clock=clock)
    register_tasks(billing)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if service_generated:
            log.warning("billing.service_token.development", extra={"service_token": service_token})
        if admin_generated:
            log.warning("billing.admin_token.development", extra={"admin_token": admin_token})
        await billing.start()
        try:
            yield
        finally:
            await billing.stop()

    app = FastAPI(
        title="Sealpay Billing", version="1.0.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.billing = billing
    app.state.service_token = service_token
    app.state.admin_token = admin_token
    app.state.callback_secret = callback_secret
    problems.install(app)
    billing_errors.install(app)
    for router in (
        ops_router,
        agents_router,
        crypto_router,
        plans_router,
        webhooks_router,
        renewals_router,
    ):
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, service="billing")
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: configure logging, then build the app from the environment."""
    settings = BillingSettings()
    configure_logging("billing", settings.log_level)
    return create_app(settings)


__all__ = ["Billing", "create_app"]
