"""The rate service: the USD price of an asset, from the first source that has a sane one.

* A cached rate is *fresh* for RATE_FRESH_SECONDS (5 minutes) and used as is.
* Otherwise the sources are tried in order; a failing source, or one quoting
  zero, a negative or an absurd price (outside the asset's sanity bounds), is
  skipped. The first good rate is cached (in the billing schema, shared by
  every process) and used.
* When every source fails, the cached rate is still *usable but stale* up to
  RATE_MAX_AGE_SECONDS (24 hours) and is flagged `stale` in every audit.
* Beyond that: `RateUnavailableError` (503 rate_unavailable); nothing is
  quoted or charged.

`fetched_at` is when billing obtained the rate, on billing's clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
from prometheus_client import Counter

from services.billing.db import Database
from services.billing.errors import RateUnavailableError
from services.billing.rates import repository as repo
from services.billing.rates.assets import ASSETS, AssetSpec
from services.billing.rates.sources import RateSource, RateSourceError
from services.common.clock import Clock, rfc3339

log = logging.getLogger("sealpay.billing.rates")

RATE_FETCHES = Counter(
    "sealpay_billing_rate_fetches_total",
    "Rate lookups by source and outcome (ok, failed, rejected).",
    ["source", "outcome"],
)
RATE_SERVED = Counter(
    "sealpay_billing_rates_served_total",
    "Rates handed to quotes and charges, by freshness (fresh, cached, stale, unavailable).",
    ["freshness"],
)


@dataclass(frozen=True)
class Rate:
    asset: str
    usd_per_unit: Decimal
    source: str
    fetched_at: datetime
    stale: bool

    def wire(self) -> dict[str, object]:
        return {
            "value": str(self.usd_per_unit),
            "source": self.source,
            "fetched_at": rfc3339(self.fetched_at),
            "stale": self.stale,
        }


def asset_spec(asset: str) -> AssetSpec:
    spec = ASSETS.get(asset)
    if spec is None:
        raise RateUnavailableError(f"billing has no exchange rate for {asset}", asset=asset)
    return spec


class RateService:
    def __init__(
        self,
        sources: list[RateSource],
        db: Database,
        clock: Clock,
        *,
        fresh_seconds: int,
        max_age_seconds: int,
        timeout_seconds: float,
    ) -> None:
        self.sources = sources
        self.db = db
        self.clock = clock
        self.fresh = timedelta(seconds=fresh_seconds)
        self.max_age = timedelta(seconds=max_age_seconds)
        self.http = httpx.AsyncClient(
            timeout=timeout_seconds,
            headers={"user-agent": "sealpay-billing/1 (rates)"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def current(self, asset: str) -> Rate:
        """The rate to quote or charge with now, or RateUnavailableError."""
        spec = asset_spec(asset)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            cached = await repo.get(conn, asset)
        if cached is not None and timedelta(0) <= now - cached.fetched_at <= self.fresh:
            RATE_SERVED.labels("cached").inc()
            return Rate(asset, cached.usd_per_unit, cached.source, cached.fetched_at, False)
        for source in self.sources:
            value = await self._try(source, spec)
            if value is None:
                continue
            fetched = repo.CachedRate(asset, value, source.name, now)
            async with self.db.transaction() as conn:
                await repo.put(conn, fetched)
            RATE_SERVED.labels("fresh").inc()
            return Rate(asset, value, source.name, now, False)
        if cached is not None and timedelta(0) <= now - cached.fetched_at <= self.max_age:
            RATE_SERVED.labels("stale").inc()
            log.warning(
                "billing.rate.stale",
                extra={
                    "asset": asset,
                    "source": cached.source,
                    "fetched_at": str(cached.fetched_at),
                },
            )
            return Rate(asset, cached.usd_per_unit, cached.source, cached.fetched_at, True)
        RATE_SERVED.labels("unavailable").inc()
        raise RateUnavailableError(
            f"no {asset}/USD rate from any source, and none cached within "
            f"{int(self.max_age.total_seconds())} s; nothing was charged",
            asset=asset,
        )

    async def _try(self, source: RateSource, spec: AssetSpec) -> Decimal | None:
        try:
            value = await source.fetch(spec.code, self.http)
        except RateSourceError as exc:
            RATE_FETCHES.labels(source.name, "failed").inc()
            log.warning(
                "billing.rate.source_failed",
                extra={"source": source.name, "asset": spec.code, "error": str(exc)[:200]},
            )
            return None
        if not spec.accepts(value):
            RATE_FETCHES.labels(source.name, "rejected").inc()
            log.warning(
                "billing.rate.rejected",
                extra={"source": source.name, "asset": spec.code, "value": str(value)},
            )
            return None
        RATE_FETCHES.labels(source.name, "ok").inc()
        return value
