"""Platform accounts: the other side of fees, credits, charges and refunds.

Their balances are derived from lines (see tables.py), so they are never
locked or updated by a posting. They are created on first use, while a batch
prepares and before its transaction begins: the batch connection is in
autocommit there, so the insert is committed at once and its id can be cached
like a found one. (An account nobody ends up posting to is harmless.)
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from services.common.clock import Clock
from services.payment_tee.core import batch_repository as batch_repo

FEE_REVENUE = "fee_revenue"


class PlatformAccounts:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    async def id_for(self, conn: psycopg.AsyncConnection[Any], name: str, asset: str) -> int:
        key = (name, asset)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        existing = await batch_repo.platform_account_id(conn, name, asset)
        if existing is not None:
            with self._lock:
                self._ids[key] = existing
            return existing
        created = await batch_repo.insert_platform_account(conn, name, asset, self._clock.now())
        if created is None:
            # A concurrent transaction created it and committed (the insert waited).
            return await self.id_for(conn, name, asset)
        with self._lock:
            self._ids[key] = created
        return created

    def forget(self) -> None:
        """Drop cached ids (tests that truncate the ledger between cases)."""
        with self._lock:
            self._ids.clear()


def label(name: str) -> str:
    return f"platform:{name}"
