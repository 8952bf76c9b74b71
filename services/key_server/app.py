"""The key server: chains, addresses, charges, chain events, the vault.

`create_app` wires settings, the database, the vault and the routers;
`python -m services.key_server` serves it (see __main__.py for the worker and
the vault rotation command).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from services.common import problems
from services.common.clock import Clock, SystemClock
from services.common.database import create_db_engine, resolve_database_url
from services.common.logs import configure_logging
from services.common.observability import RequestContextMiddleware
from services.common.sealing import Vault
from services.key_server import errors
from services.key_server.chains.endpoints import router as chains_router
from services.key_server.chains.keys import ChainKeys
from services.key_server.charges.endpoints import router as charges_router
from services.key_server.deposits.endpoints import router as deposits_router
from services.key_server.events.endpoints import router as events_router
from services.key_server.ops.endpoints import router as ops_router
from services.key_server.settings import KeyServerSettings, resolve_secrets
from services.key_server.vault.endpoints import router as vault_router
from services.key_server.watchers.endpoints import router as watchers_router

log = logging.getLogger("sealpay.key_server")

DESCRIPTION = """
Sealpay's key server (internal): derives deposit and charge addresses from
account-level extended *public* keys, tracks charges, ingests signed chain
events, and keeps customer secrets in an encrypted vault.

* Nothing stored here can spend: chains hold xpubs (Monero: public spend key,
  with the view key sealed in the vault).
* Money is an integer in the chain's minor unit.
* Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


def build_engine(settings: KeyServerSettings) -> Engine:
    return create_db_engine(
        resolve_database_url(settings.database_url, env=settings.sealpay_env),
        pool_size=settings.db_pool_size,
        application_name="sealpay-key-server",
    )


def create_app(
    settings: KeyServerSettings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or KeyServerSettings()
    secrets = resolve_secrets(settings)  # refuses to start without them (ConfigError)
    engine = engine or build_engine(settings)
    vault = Vault(secrets.vault_keys)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if secrets.admin_token_generated:
            log.warning(
                "key_server.admin_token.development", extra={"admin_token": secrets.admin_token}
            )
        yield
        engine.dispose()

    app = FastAPI(
        title="Sealpay Key Server", version="1.0.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.secrets = secrets
    app.state.engine = engine
    app.state.clock = clock or SystemClock()
    app.state.vault = vault
    app.state.keys = ChainKeys(vault)
    problems.install(app)
    errors.install(app)
    for router in (
        ops_router,
        chains_router,
        watchers_router,
        deposits_router,
        charges_router,
        events_router,
        vault_router,
    ):
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, service="key_server")
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: configure logging, build the app from the environment."""
    settings = KeyServerSettings()
    configure_logging("key_server", settings.log_level)
    return create_app(settings)
