"""Key server settings; env names are the Contracts table's (DESIGN.md) plus KEY_SERVER_*.

Secrets are resolved once, at startup, by `resolve_secrets`: production refuses
to start without each of them; development and test generate them once into
.data/dev-secrets.json so every local process agrees.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from services.common.devsecrets import dev_secret
from services.common.errors import ConfigError
from services.common.sealing import resolve_keys
from services.common.settings import resolve_admin_token, resolve_service_token
from services.payment_client.settings import PaymentClientSettings

MIN_CALLBACK_SECRET_LEN = 32


class KeyServerSettings(PaymentClientSettings):
    key_server_host: str = "127.0.0.1"
    key_server_port: int = Field(default=8003, ge=1, le=65535)
    # Bearer token of internal callers (gateway, billing) for /internal/* and /charges.
    sealpay_service_token: str | None = None
    # Operator token for /admin/*.
    sealpay_admin_token: str | None = None
    # HMAC secret of the signed callbacks this service sends (key id `key_server`).
    sealpay_callback_secret: str | None = None
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    key_server_vault_keys: str | None = None
    # Worker: how many jobs at once, how often to poll for scheduled retries,
    # retry backoff (doubling from base up to max), callback HTTP timeout, and
    # the port of its own /metrics (0: none).
    key_server_worker_concurrency: int = Field(default=4, ge=1, le=64)
    key_server_worker_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    key_server_retry_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    key_server_retry_max_seconds: float = Field(default=3600.0, gt=0, le=86400)
    key_server_callback_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    key_server_worker_metrics_port: int = Field(default=8013, ge=0, le=65535)


@dataclass(frozen=True)
class Secrets:
    service_token: str
    admin_token: str
    admin_token_generated: bool
    callback_secret: str
    vault_keys: tuple[str, ...]


def resolve_secrets(settings: KeyServerSettings) -> Secrets:
    env = settings.sealpay_env
    admin_token, generated = resolve_admin_token(settings.sealpay_admin_token, env)
    return Secrets(
        service_token=resolve_service_token(settings.sealpay_service_token, env),
        admin_token=admin_token,
        admin_token_generated=generated,
        callback_secret=resolve_callback_secret(settings.sealpay_callback_secret, env),
        vault_keys=resolve_vault_keys(settings.key_server_vault_keys, env),
    )


def resolve_callback_secret(secret: str | None, env: str) -> str:
    if secret:
        if len(secret) < MIN_CALLBACK_SECRET_LEN:
            raise ConfigError(
                f"SEALPAY_CALLBACK_SECRET must be at least {MIN_CALLBACK_SECRET_LEN} characters"
            )
        return secret
    if env == "production":
        raise ConfigError("SEALPAY_CALLBACK_SECRET is required when SEALPAY_ENV=production")
    return dev_secret("callback_secret", env)


def resolve_vault_keys(value: str | None, env: str) -> tuple[str, ...]:
    """KEY_SERVER_VAULT_KEYS: the vault's Fernet keys, primary first."""
    return resolve_keys(
        value, env, setting="KEY_SERVER_VAULT_KEYS", dev_name="key_server_vault_key"
    )
