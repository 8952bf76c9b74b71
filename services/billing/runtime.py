"""Everything a billing process needs, built once from settings: the database,
the payment dispatcher, the clock, the rate service and the job queue.

The API (`app.py`) and the worker (`worker.py`) build the same runtime; tests
build it with a FixedClock and their own engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import procrastinate
from sqlalchemy import Engine

from services.billing.crypto.client import KeyServerClient
from services.billing.db import Database
from services.billing.jobs import build_queue
from services.billing.plans import service as plans_service
from services.billing.rates.assets import ASSETS
from services.billing.rates.service import RateService
from services.billing.rates.sources import RateSource, StaticSource, parse_rate_sources
from services.billing.settings import BillingSettings
from services.common.clock import Clock, SystemClock
from services.common.database import create_db_engine, resolve_database_url
from services.common.errors import ConfigError
from services.common.sealing import Vault
from services.payment_client.attestation_gate import TeeChecker
from services.payment_client.base import PaymentDispatcher
from services.payment_client.factory import build_dispatcher, tee_checker

log = logging.getLogger("sealpay.billing")


@dataclass
class Billing:
    settings: BillingSettings
    engine: Engine
    db: Database
    dispatcher: PaymentDispatcher
    clock: Clock
    rates: RateService
    queue: procrastinate.App
    retry_delays: tuple[timedelta, ...]
    owns_engine: bool = False
    # With PAYMENT_VIA_TEE, the same health and attestation gate as the gateway:
    # no money goes to a TEE whose attestation did not verify.
    checker: TeeChecker | None = None
    webhook_http: httpx.AsyncClient = field(init=False)
    # The crypto rail's key server (charges), with the service token.
    key_server: KeyServerClient = field(init=False)
    # Webhook signing secrets are sealed at rest with BILLING_SECRET_KEYS.
    vault: Vault = field(init=False)

    def __post_init__(self) -> None:
        self.webhook_http = httpx.AsyncClient(
            timeout=self.settings.webhook_timeout_seconds,
            headers={"user-agent": "sealpay-billing/1 (webhooks)"},
            follow_redirects=False,
        )
        self.vault = Vault(self.settings.secret_keys())
        service_token, _ = self.settings.service_token()
        self.key_server = KeyServerClient(
            self.settings.key_server_url, service_token, self.settings.key_server_timeout_seconds
        )

    @property
    def asset(self) -> str:
        return self.dispatcher.default_asset

    async def start(self) -> None:
        await self.db.open()
        # The migration seeds the plans; restore any that are missing (never
        # changing an existing one) so a wiped table cannot stop billing.
        async with self.db.transaction() as conn:
            await plans_service.restore_defaults(conn, self.clock.now())
        await self.queue.open_async()
        if self.checker is not None:
            self.checker.start()

    async def stop(self) -> None:
        if self.checker is not None:
            await self.checker.stop()
        await self.queue.close_async()
        await self.rates.aclose()
        await self.webhook_http.aclose()
        await self.key_server.aclose()
        await self.dispatcher.close()
        await self.db.close()
        if self.owns_engine:
            self.engine.dispose()


def build_billing(
    settings: BillingSettings,
    *,
    engine: Engine | None = None,
    dispatcher: PaymentDispatcher | None = None,
    clock: Clock | None = None,
) -> Billing:
    clock = clock or SystemClock()
    owns_engine = engine is None
    if engine is None:
        engine = create_db_engine(
            resolve_database_url(settings.database_url, env=settings.sealpay_env),
            pool_size=settings.db_pool_size,
            application_name="sealpay-billing",
        )
    url = engine.url.render_as_string(hide_password=False)
    if dispatcher is None:
        dispatcher = build_dispatcher(settings, engine, clock)
    if dispatcher.default_asset not in ASSETS:
        raise ConfigError(
            f"LEDGER_DEFAULT_ASSET={dispatcher.default_asset}: billing has no rates for it "
            f"(known: {', '.join(sorted(ASSETS))})"
        )
    db = Database(
        url,
        max_size=settings.db_pool_size,
        lock_timeout_seconds=settings.billing_lock_timeout_seconds,
    )
    sources = parse_rate_sources(
        settings.rate_source_spec(), settings.rate_static, production=settings.is_production
    )
    _check_static_rates(sources)
    rates = RateService(
        sources,
        db,
        clock,
        fresh_seconds=settings.rate_fresh_seconds,
        max_age_seconds=settings.rate_max_age_seconds,
        timeout_seconds=settings.rate_timeout_seconds,
    )
    return Billing(
        settings=settings,
        engine=engine,
        db=db,
        dispatcher=dispatcher,
        clock=clock,
        rates=rates,
        queue=build_queue(url),
        retry_delays=settings.retry_delays(),
        owns_engine=owns_engine,
        checker=tee_checker(settings, dispatcher),
    )


def _check_static_rates(sources: list[RateSource]) -> None:
    """A static rate outside its asset's sanity bounds is a typo: refuse to start."""
    for source in sources:
        if not isinstance(source, StaticSource):
            continue
        for asset, value in source.rates.items():
            spec = ASSETS.get(asset)
            if spec is not None and not spec.accepts(value):
                raise ConfigError(
                    f"RATE_STATIC: {asset}-USD:{value} is outside {spec.min_usd}..{spec.max_usd}"
                )
