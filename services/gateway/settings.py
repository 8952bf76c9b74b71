"""Gateway settings; env names are the Contracts table's (DESIGN.md)."""

from __future__ import annotations

from pydantic import Field

from services.payment_client.settings import PaymentClientSettings


class GatewaySettings(PaymentClientSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    gateway_workers: int = Field(default=1, ge=1, le=64)
    # Operator token for /v2/admin/*; generated in development when unset.
    sealpay_admin_token: str | None = None
    # Internal services the gateway forwards to, and the token it presents.
    billing_url: str = "http://127.0.0.1:8002"
    key_server_url: str = "http://127.0.0.1:8003"
    # How long the gateway waits for them. Longer than billing's wait for an
    # agent's lock (BILLING_LOCK_TIMEOUT_SECONDS, 10) and its own calls out, so
    # their answer (agent_busy with Retry-After, or the result) reaches the
    # client instead of a misleading `<service>_unavailable`.
    gateway_internal_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    sealpay_service_token: str | None = None
    # How long an API key lookup is cached in memory (0 disables). A revoked
    # key stops working within this many seconds.
    auth_cache_seconds: float = Field(default=10.0, ge=0, le=300)
