"""`python -m services.billing`: serve the API; `... worker`: the worker;
`... rotate-secrets`: seal every webhook secret under the primary BILLING_SECRET_KEYS key."""

from __future__ import annotations

import sys

import uvicorn

from services.billing.settings import BillingSettings


def main(argv: list[str]) -> None:
    if argv[:1] == ["worker"]:
        from services.billing.worker import main as worker_main

        worker_main()
        return
    if argv[:1] == ["rotate-secrets"]:
        raise SystemExit(rotate_secrets())
    if argv:
        raise SystemExit("usage: python -m services.billing [worker | rotate-secrets]")
    settings = BillingSettings()
    uvicorn.run(
        "services.billing.app:app_from_env",
        factory=True,
        host=settings.billing_host,
        port=settings.billing_port,
        log_config=None,
        access_log=False,
    )


def rotate_secrets() -> int:
    """Seal plaintext (pre-sealing) and old-key webhook secrets under the primary key.

    Run after putting a new key first in BILLING_SECRET_KEYS, and before removing
    the old one; idempotent (one transaction, a second run finds nothing to do).
    """
    import asyncio

    from services.billing.db import Database
    from services.billing.webhooks.service import seal_secrets
    from services.common.database import resolve_database_url
    from services.common.errors import ConfigError
    from services.common.sealing import Vault, VaultError

    settings = BillingSettings()
    try:
        vault = Vault(settings.secret_keys())
        url = resolve_database_url(settings.database_url, env=settings.sealpay_env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        db = Database(url, max_size=1)
        await db.open()
        try:
            async with db.transaction() as conn:
                return await seal_secrets(conn, vault)
        finally:
            await db.close()

    try:
        sealed = asyncio.run(run())
    except VaultError as exc:
        print(f"error: {exc}; nothing was changed", file=sys.stderr)
        return 1
    print(f"webhook secrets sealed under key {vault.primary_key_id}: {sealed}")
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
