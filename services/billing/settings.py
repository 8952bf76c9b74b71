"""Billing settings; env names are the Contracts table's (DESIGN.md) plus billing's own.

Every field is named after its environment variable (`BILLING_PORT`,
`RATE_SOURCES`, ...). Billing reaches the payment core exactly like the
gateway does, so the payment-client settings (PAYMENT_VIA_TEE, ...) are
inherited.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from services.common.errors import ConfigError
from services.common.sealing import resolve_keys
from services.payment_client.settings import PaymentClientSettings

MIN_TOKEN_CHARS = 16
MIN_CALLBACK_SECRET_CHARS = 32  # the key server's own minimum for the same secret
DEFAULT_RATE_STATIC = "XMR-USD:150.00,BTC-USD:60000"
PUBLIC_RATE_SOURCES = "kraken,coingecko"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BillingSettings(PaymentClientSettings):
    billing_host: str = "127.0.0.1"
    billing_port: int = Field(default=8002, ge=1, le=65535)
    # Bearer token of the internal API (the gateway's); generated in development.
    sealpay_service_token: str | None = None
    # Operator token of /admin/*; resolved like the gateway's.
    sealpay_admin_token: str | None = None

    # Exchange rates. RATE_SOURCES: comma-separated `kind[@base_url]`, tried in
    # order; kinds are static, kraken, coingecko. Unset: `static` in
    # development, `kraken,coingecko` elsewhere.
    rate_sources: str | None = None
    rate_static: str = DEFAULT_RATE_STATIC
    rate_fresh_seconds: int = Field(default=300, ge=1)
    rate_max_age_seconds: int = Field(default=86_400, ge=1)
    rate_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    billing_quote_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    # How long a request waits for another workflow on the same agent (which may
    # be waiting on the key server or the payment core) before 503 agent_busy.
    billing_lock_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    billing_grace_days: int = Field(default=7, ge=0, le=60)
    # Delay before the next renewal attempt after the 1st, 2nd, ... failure;
    # the last delay repeats. Units s, m, h, d.
    billing_retry_schedule: str = "5m,30m,2h,6h,12h"
    billing_max_failures: int = Field(default=5, ge=1, le=50)
    # Cron of the periodic renewal sweep (5 fields, or 6 with seconds); empty = none.
    billing_renewal_cron: str = "* * * * *"
    billing_worker_concurrency: int = Field(default=4, ge=1, le=64)
    billing_worker_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    # A worker silent (no heartbeat) for this long is taken for dead: the jobs it
    # was running go back to the queue. Workers beat every third of it.
    billing_worker_stalled_seconds: float = Field(default=30.0, ge=1, le=3600)

    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_base_seconds: float = Field(default=30.0, ge=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, ge=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # The crypto rail: where the key server is (its service token is
    # SEALPAY_SERVICE_TOKEN), the HMAC secret of its signed charge callbacks
    # (key id `key_server`), the URL the key server reaches billing at (unset:
    # http://127.0.0.1:BILLING_PORT), and how long a charge stays payable.
    key_server_url: str = "http://127.0.0.1:8003"
    key_server_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    sealpay_callback_secret: str | None = None
    # Fernet keys sealing webhook signing secrets at rest, comma-separated, primary
    # first (development: generated once per checkout; production: required).
    billing_secret_keys: str | None = None
    billing_public_callback_url: str | None = None
    billing_crypto_charge_ttl_seconds: int = Field(default=1800, ge=60, le=7 * 24 * 3600)

    def service_token(self) -> tuple[str, bool]:
        """(SEALPAY_SERVICE_TOKEN, whether it was generated for development)."""
        if self.sealpay_service_token:
            if len(self.sealpay_service_token) < MIN_TOKEN_CHARS:
                raise ConfigError(
                    f"SEALPAY_SERVICE_TOKEN must be at least {MIN_TOKEN_CHARS} characters"
                )
            return self.sealpay_service_token, False
        if self.is_production:
            raise ConfigError("SEALPAY_SERVICE_TOKEN is required when SEALPAY_ENV=production")
        from services.common.devsecrets import dev_secret

        return dev_secret("service_token", self.sealpay_env, prefix="svc_"), True

    def callback_secret(self) -> str:
        """SEALPAY_CALLBACK_SECRET: verifies the key server's charge callbacks.

        Development and test share the key server's generated value
        (.data/dev-secrets.json); production refuses to start without one,
        since billing would otherwise accept no payment confirmation at all.
        """
        if self.sealpay_callback_secret:
            if len(self.sealpay_callback_secret) < MIN_CALLBACK_SECRET_CHARS:
                raise ConfigError(
                    f"SEALPAY_CALLBACK_SECRET must be at least {MIN_CALLBACK_SECRET_CHARS} "
                    "characters"
                )
            return self.sealpay_callback_secret
        if self.is_production:
            raise ConfigError("SEALPAY_CALLBACK_SECRET is required when SEALPAY_ENV=production")
        from services.common.devsecrets import dev_secret

        return dev_secret("callback_secret", self.sealpay_env)

    def secret_keys(self) -> tuple[str, ...]:
        """BILLING_SECRET_KEYS, checked; billing refuses to start without one in production."""
        return resolve_keys(
            self.billing_secret_keys,
            self.sealpay_env,
            setting="BILLING_SECRET_KEYS",
            dev_name="billing_secret_key",
        )

    def charge_callback_url(self) -> str:
        """Where the key server POSTs charge callbacks for billing's invoices."""
        base = self.billing_public_callback_url or f"http://127.0.0.1:{self.billing_port}"
        return base.rstrip("/") + "/internal/charge-events"

    def rate_source_spec(self) -> str:
        if self.rate_sources is not None and self.rate_sources.strip():
            return self.rate_sources
        return "static" if self.sealpay_env == "development" else PUBLIC_RATE_SOURCES

    def retry_delays(self) -> tuple[timedelta, ...]:
        return parse_durations(self.billing_retry_schedule)


def parse_durations(text: str) -> tuple[timedelta, ...]:
    """ "5m,30m,2h" -> timedeltas; refuses empty lists and unknown units."""
    delays: list[timedelta] = []
    for raw in text.split(","):
        item = raw.strip()
        unit = _UNITS.get(item[-1:]) if item else None
        if unit is None or not item[:-1].isdigit() or int(item[:-1]) <= 0:
            raise ConfigError(f"BILLING_RETRY_SCHEDULE: {item!r} is not like 5m, 2h or 1d")
        delays.append(timedelta(seconds=int(item[:-1]) * unit))
    return tuple(delays)
