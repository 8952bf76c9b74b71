"""Settings shared by every service.

Env names follow the Contracts table in DESIGN.md exactly (`DATABASE_URL`,
`SEALPAY_ADMIN_TOKEN`, ...), so each field is named after its variable.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.errors import ConfigError


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    sealpay_env: Literal["development", "test", "production"] = "development"
    database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.sealpay_env == "production"


def resolve_admin_token(token: str | None, env: str) -> tuple[str, bool]:
    """(SEALPAY_ADMIN_TOKEN, whether it was generated for development).

    Production refuses to start without one: an admin API guarded by a token
    nobody set is an open door. Elsewhere an unset token is generated once into
    .data/dev-secrets.json so every local service shares it.
    """
    if token:
        if len(token) < 16:
            raise ConfigError("SEALPAY_ADMIN_TOKEN must be at least 16 characters")
        return token, False
    if env == "production":
        raise ConfigError("SEALPAY_ADMIN_TOKEN is required when SEALPAY_ENV=production")
    from services.common.devsecrets import dev_secret

    return dev_secret("admin_token", env, prefix="dev_"), True


def resolve_service_token(token: str | None, env: str) -> str:
    """SEALPAY_SERVICE_TOKEN: how internal services authenticate each other.

    Generated once into .data/dev-secrets.json in development (shared by every
    local process); required in production.
    """
    if token:
        if len(token) < 16:
            raise ConfigError("SEALPAY_SERVICE_TOKEN must be at least 16 characters")
        return token
    if env == "production":
        raise ConfigError("SEALPAY_SERVICE_TOKEN is required when SEALPAY_ENV=production")
    from services.common.devsecrets import dev_secret

    return dev_secret("service_token", env, prefix="svc_")
