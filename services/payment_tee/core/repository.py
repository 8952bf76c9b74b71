"""All SQL of the payment core.

Functions take the caller's `Connection`; the transaction belongs to
`PaymentCore`, never to a query. The postings' own SQL (locks, batch reads
and writes) is in `batch_repository.py`, on the batcher's psycopg connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping

from services.payment_tee.core.batch_repository import ENTRY_COLUMNS
from services.payment_tee.core.records import AccountBalance, AccountRef, Holder
from services.payment_tee.core.tiers import Tier

_ENTRY_SELECT = ", ".join(ENTRY_COLUMNS)


# --- holders and accounts -------------------------------------------------------------


def insert_holder(conn: Connection, owner_id: uuid.UUID, tier: Tier, now: datetime) -> bool:
    row = conn.execute(
        sa.text(
            "INSERT INTO ledger.holders (owner_id, tier, created_at, updated_at) "
            "VALUES (:o, :t, :now, :now) ON CONFLICT (owner_id) DO NOTHING RETURNING owner_id"
        ),
        {"o": owner_id, "t": tier.value, "now": now},
    ).first()
    return row is not None


def get_holder(conn: Connection, owner_id: uuid.UUID) -> Holder | None:
    row = conn.execute(
        sa.text("SELECT owner_id, tier, created_at FROM ledger.holders WHERE owner_id = :o"),
        {"o": owner_id},
    ).first()
    return None if row is None else Holder(row.owner_id, Tier(row.tier), row.created_at)


def insert_agent_account(conn: Connection, ref: AccountRef, now: datetime) -> bool:
    row = conn.execute(
        sa.text(
            "INSERT INTO ledger.accounts (owner_id, name, asset, kind, balance, created_at) "
            "VALUES (:o, :n, :a, 'agent', 0, :now) ON CONFLICT DO NOTHING RETURNING id"
        ),
        {"o": ref.owner_id, "n": ref.name, "a": ref.asset, "now": now},
    ).first()
    return row is not None


def agent_balances(conn: Connection, owner_id: uuid.UUID, asset: str) -> list[AccountBalance]:
    rows = conn.execute(
        sa.text(
            "SELECT name, asset, balance FROM ledger.accounts "
            "WHERE owner_id = :o AND asset = :a ORDER BY (name <> 'main'), name"
        ),
        {"o": owner_id, "a": asset},
    ).all()
    return [AccountBalance(r.name, r.asset, r.balance) for r in rows]


def derived_balance(conn: Connection, account_id: int) -> int:
    """The balance as the sum of lines: the truth every cached balance must equal."""
    total = conn.execute(
        sa.text("SELECT COALESCE(sum(amount), 0) FROM ledger.lines WHERE account_id = :a"),
        {"a": account_id},
    ).scalar_one()
    return int(total)


# --- journal --------------------------------------------------------------------------


def get_entry(conn: Connection, entry_id: uuid.UUID) -> RowMapping | None:
    return (
        conn.execute(
            sa.text(f"SELECT {_ENTRY_SELECT} FROM ledger.entries WHERE id = :id"), {"id": entry_id}
        )
        .mappings()
        .first()
    )


def history_page(
    conn: Connection,
    owner_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[RowMapping]:
    """Entries where the owner paid or was paid, newest first, keyset-paginated.

    Two index range scans (payer side, payee side) merged; each is bounded by
    the page size, so a deep history costs the same as a shallow one.
    """
    cursor_clause = "AND (created_at, id) < (:at, :id)" if before else ""
    params: dict[str, Any] = {"o": owner_id, "n": limit}
    if before:
        params.update(at=before[0], id=before[1])
    side = (
        f"(SELECT {_ENTRY_SELECT} FROM ledger.entries WHERE {{col}} = :o {cursor_clause} "
        "ORDER BY created_at DESC, id DESC LIMIT :n)"
    )
    sql = (
        f"SELECT DISTINCT ON (created_at, id) * FROM ("
        f"{side.format(col='payer_owner_id')} UNION ALL {side.format(col='payee_owner_id')}"
        ") AS both_sides ORDER BY created_at DESC, id DESC LIMIT :n"
    )
    return list(conn.execute(sa.text(sql), params).mappings())


# --- monthly counters ------------------------------------------------------------------


def transfers_in_month(
    conn: Connection, owners: Collection[uuid.UUID], month: date
) -> dict[uuid.UUID, int]:
    rows = conn.execute(
        sa.text(
            "SELECT owner_id, transfers FROM ledger.monthly_counters "
            "WHERE owner_id = ANY(CAST(:o AS uuid[])) AND month = :m"
        ),
        {"o": list(owners), "m": month},
    ).all()
    return {r.owner_id: int(r.transfers) for r in rows}


# --- audit log -------------------------------------------------------------------------


def iter_audit_rows(conn: Connection) -> Iterator[RowMapping]:
    result = conn.execution_options(stream_results=True, yield_per=1000).execute(
        sa.text(
            "SELECT account_id, seq, action, actor, entry_id, details, at, prev_hmac, hmac "
            "FROM ledger.audit_log ORDER BY account_id, seq"
        )
    )
    yield from result.mappings()


def audit_heads(conn: Connection) -> dict[int, tuple[int, bytes | None]]:
    rows = conn.execute(
        sa.text("SELECT id, audit_seq, audit_head FROM ledger.accounts WHERE kind = 'agent'")
    ).all()
    return {r.id: (r.audit_seq, r.audit_head) for r in rows}
