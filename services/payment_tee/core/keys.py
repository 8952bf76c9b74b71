"""Key material settings shared by every process that writes the ledger."""

from __future__ import annotations

from services.common.devsecrets import dev_secret
from services.common.errors import ConfigError

MIN_AUDIT_KEY_CHARS = 32


def audit_key_from_settings(value: str | None, env: str) -> bytes:
    """LEDGER_AUDIT_KEY as bytes; generated once per checkout in development.

    The gateway's in-process core and the payment_tee must share it: both
    append to the same audit chains.
    """
    text = value or dev_secret("ledger_audit_key", env)
    if len(text) < MIN_AUDIT_KEY_CHARS:
        raise ConfigError(f"LEDGER_AUDIT_KEY must be at least {MIN_AUDIT_KEY_CHARS} characters")
    return text.encode()
