"""All SQL of the payment core.

Functions take the caller's `Connection`; the transaction belongs to
`PaymentCore`, never to a query. The postings' own SQL (locks, batch reads
and writes) is in `batch_repository.py`, on the batcher's psycopg connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping

from services.payment_tee.core.batch_repository import ENTRY_COLUMNS
from services.payment_tee.core.records import AccountRef, Holder
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


def derived_balance(conn: Connection, account_id: int) -> int:
    """The balance as the sum of lines: the truth every cached balance must equal."""
    total = conn.execute(
        sa.text("SELECT COALESCE(sum(amount), 0) FROM ledger.lines WHERE account_id = :a"),
        {"a": account_id},
    ).scalar_one()
    return int(total)


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


# --- the journal against its audit rows ----------------------------------------------------
#
# The HMAC chains prove the audit rows are what the core wrote; these queries
# prove the journal is what the audit rows describe. Without them, a holder of
# the application's database role could mint money with plain INSERTs (a
# balanced entry and lines) and an UPDATE of a cached balance, and every chain
# would still verify. Each query returns only what is wrong, at most `limit` rows.

# The account whose chain records a posting (audit.py): the credited agent
# account for credits and refunds, the debited one otherwise.
_AUDITED_ACCOUNT = (
    "CASE WHEN e.kind IN ('credit', 'refund') THEN e.credit_account_id ELSE e.debit_account_id END"
)


def entries_unlike_their_audit_rows(conn: Connection, limit: int) -> list[RowMapping]:
    """Entries with no matching posting audit row, and posting rows with no entry.

    Beyond what the row's HMAC covers, each entry must name its accounts as they
    are (owner, name, asset: an account handed to another agent, or a posting
    redirected to another account, shows here), and its platform side must be
    the one its audit row implies: a credit's source, a charge's revenue
    account, the revenue account its refund's charge paid. Compared as JSON
    values, never cast: a forged `details` must be reported, not abort the check."""
    sql = f"""
    SELECT e.id AS entry_id, e.kind, a.entry_id AS audit_entry_id, a.account_id, a.seq
      FROM ledger.entries e
      LEFT JOIN ledger.accounts da ON da.id = e.debit_account_id
      LEFT JOIN ledger.accounts ca ON ca.id = e.credit_account_id
      LEFT JOIN ledger.entries charged ON charged.id = e.related_entry_id
      FULL JOIN (SELECT * FROM ledger.audit_log WHERE entry_id IS NOT NULL) a
        ON a.entry_id = e.id
     WHERE e.id IS NULL OR a.entry_id IS NULL
        OR a.action <> e.kind || '.posted'
        OR a.account_id <> {_AUDITED_ACCOUNT}
        OR a.at <> e.created_at
        OR a.details -> 'amount' IS DISTINCT FROM to_jsonb(e.amount)
        OR (e.kind IN ('hub_routing', 'internal_transfer') AND (
              a.details -> 'fee' IS DISTINCT FROM to_jsonb(e.fee)
              OR a.details -> 'to_account' IS DISTINCT FROM to_jsonb(e.credit_account_id)))
        OR (e.kind <> 'hub_routing' AND e.fee <> 0)
        OR (e.id IS NOT NULL AND (da.id IS NULL OR ca.id IS NULL))
        OR da.asset <> e.asset OR ca.asset <> e.asset
        OR da.name <> e.from_account OR ca.name <> e.to_account
        OR da.owner_id IS DISTINCT FROM e.payer_owner_id
        OR ca.owner_id IS DISTINCT FROM e.payee_owner_id
        OR (e.kind = 'credit' AND a.details -> 'source' IS DISTINCT FROM to_jsonb(e.from_account))
        OR (e.kind = 'charge'
            AND e.to_account IS DISTINCT FROM 'revenue:' || (a.details ->> 'purpose'))
        OR (e.kind = 'refund' AND (
              a.details -> 'charge_id' IS DISTINCT FROM to_jsonb(e.related_entry_id::text)
              OR charged.kind IS DISTINCT FROM 'charge'
              OR charged.credit_account_id IS DISTINCT FROM e.debit_account_id))
     LIMIT :n
    """
    return list(conn.execute(sa.text(sql), {"n": limit}).mappings())


def entries_with_wrong_lines(conn: Connection, limit: int) -> list[RowMapping]:
    """Entries whose lines are not exactly: the debited account -amount, the
    credited account +(amount - fee), and the asset's fee revenue +fee when
    there is a fee."""
    sql = """
    SELECT e.id AS entry_id, count(l.entry_id) AS lines
      FROM ledger.entries e
      LEFT JOIN ledger.lines l ON l.entry_id = e.id
      LEFT JOIN ledger.accounts fa ON fa.id = l.account_id
     GROUP BY e.id
    HAVING count(l.entry_id) <> CASE WHEN e.fee > 0 THEN 3 ELSE 2 END
        OR count(*) FILTER (
             WHERE l.account_id = e.debit_account_id AND l.amount = -e.amount) <> 1
        OR count(*) FILTER (
             WHERE l.account_id = e.credit_account_id AND l.amount = e.amount - e.fee) <> 1
        OR (e.fee > 0 AND count(*) FILTER (
             WHERE fa.kind = 'platform' AND fa.name = 'fee_revenue' AND fa.asset = e.asset
               AND l.amount = e.fee) <> 1)
     LIMIT :n
    """
    return list(conn.execute(sa.text(sql), {"n": limit}).mappings())


def lines_without_entries(conn: Connection, limit: int) -> list[RowMapping]:
    """Lines naming no journal entry (only possible with the foreign key bypassed)."""
    sql = """
    SELECT l.entry_id, l.line_no FROM ledger.lines l
     WHERE NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.id = l.entry_id)
     LIMIT :n
    """
    return list(conn.execute(sa.text(sql), {"n": limit}).mappings())


def cached_balances_off_their_lines(conn: Connection, limit: int) -> list[RowMapping]:
    """Agent accounts whose stored balance is not the sum of their lines."""
    sql = """
    SELECT a.id AS account_id, a.balance, COALESCE(s.total, 0) AS lines_total
      FROM ledger.accounts a
      LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger.lines
                  GROUP BY account_id) s ON s.account_id = a.id
     WHERE a.kind = 'agent' AND a.balance IS DISTINCT FROM COALESCE(s.total, 0)
     LIMIT :n
    """
    return list(conn.execute(sa.text(sql), {"n": limit}).mappings())


def holders_off_their_tier_rows(conn: Connection, limit: int) -> list[RowMapping]:
    """Holders whose stored tier is not the one their last `tier.set` audit row
    set (free when there is none: every holder starts free). The tier decides
    fees and limits, and the application's role can UPDATE it."""
    sql = """
    SELECT h.owner_id, h.tier, COALESCE(last.to_tier, 'free') AS audited_tier
      FROM ledger.holders h
      LEFT JOIN LATERAL (
        SELECT a.details ->> 'to' AS to_tier
          FROM ledger.accounts acc
          JOIN ledger.audit_log a ON a.account_id = acc.id
         WHERE acc.owner_id = h.owner_id AND a.action = 'tier.set'
         ORDER BY a.at DESC, a.seq DESC
         LIMIT 1
      ) last ON true
     WHERE h.tier IS DISTINCT FROM COALESCE(last.to_tier, 'free')
     LIMIT :n
    """
    return list(conn.execute(sa.text(sql), {"n": limit}).mappings())
