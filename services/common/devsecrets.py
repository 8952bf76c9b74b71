"""Secrets for development runs, shared by every local process.

In development an unset secret (operator token, audit HMAC key) is generated
once into `.data/dev-secrets.json` (mode 0600) so all services started by
`make run` agree on it and restarts keep verifying old audit rows.
Production never reads this file: unset secrets there are a startup error.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path

from services.common.database import DEFAULT_DATA_DIR
from services.common.errors import ConfigError


def secrets_path(data_dir: Path | None = None) -> Path:
    return (data_dir or DEFAULT_DATA_DIR) / "dev-secrets.json"


def _load(path: Path) -> dict[str, str]:
    try:
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    except FileNotFoundError:
        return {}


def dev_secret(name: str, env: str, *, prefix: str = "", data_dir: Path | None = None) -> str:
    """The named development secret, created on first use; refused in production."""
    if env == "production":
        raise ConfigError(f"{name.upper()} must be set when SEALPAY_ENV=production")
    path = secrets_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several services may start at once: one lock around read-modify-write.
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        values = _load(path)
        if name not in values:
            values[name] = prefix + secrets.token_urlsafe(32)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(values, handle, indent=2)
            os.replace(tmp, path)
        return values[name]
