"""The batch engine's SQL, on a plain psycopg connection in pipeline mode.

Kept apart from `repository.py` (SQLAlchemy) because this is the hot path and
measured as such: a batch of postings needs exactly two network round trips,
one that sends BEGIN, the holder locks and every read together, and one that
sends every write and COMMIT together (psycopg pipeline mode). PostgreSQL still
runs the statements in order, so the reads are planned after the locks are
granted and see the latest committed rows. Each batcher worker owns one
connection: no pool checkout or reset per batch.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Json

from services.payment_tee.core.records import AccountRef

ENTRY_COLUMNS = (
    "id", "kind", "idempotency_scope", "idempotency_key", "request_hash", "asset", "amount",
    "fee", "fee_bps", "debit_account_id", "credit_account_id", "payer_owner_id",
    "payee_owner_id", "from_label", "to_label", "from_account", "to_account", "memo",
    "related_entry_id", "created_at", "signer", "signing_key", "signature",
)  # fmt: skip
_ENTRY_TYPES = (
    "uuid", "text", "text", "text", "bytea", "text", "bigint",
    "bigint", "integer", "bigint", "bigint", "uuid",
    "uuid", "text", "text", "text", "text", "text",
    "uuid", "timestamptz", "text", "text", "text",
)  # fmt: skip
_ENTRY_SELECT = ", ".join(ENTRY_COLUMNS)
_AUDIT_COLUMNS = (
    "account_id", "seq", "action", "actor", "entry_id", "details", "at", "prev_hmac", "hmac",
)  # fmt: skip
_AUDIT_TYPES = (
    "bigint", "bigint", "text", "text", "uuid", "jsonb", "timestamptz", "bytea", "bytea",
)  # fmt: skip


def _unnest(columns: Sequence[str], types: Sequence[str]) -> str:
    return ", ".join(f"%({c})s::{t}[]" for c, t in zip(columns, types, strict=True))


LOCK_HOLDERS = (
    "SELECT owner_id, tier, created_at FROM ledger.holders "
    "WHERE owner_id = ANY(%(owners)s::uuid[]) ORDER BY owner_id FOR UPDATE"
)
MONTH_COUNTS = (
    "SELECT owner_id, transfers FROM ledger.monthly_counters "
    "WHERE owner_id = ANY(%(owners)s::uuid[]) AND month = %(month)s"
)
LOAD_ACCOUNTS = (
    "SELECT a.id, a.owner_id, a.name, a.asset, a.balance, a.audit_seq, a.audit_head "
    "FROM ledger.accounts a "
    "JOIN ledger.holders h ON h.owner_id = a.owner_id AND h.owner_id = ANY(%(owners)s::uuid[]) "
    "JOIN unnest(%(r_owner)s::uuid[], %(r_name)s::text[], %(r_asset)s::text[]) "
    "  AS r(owner_id, name, asset) "
    "  ON a.owner_id = r.owner_id AND a.name = r.name AND a.asset = r.asset"
)
ENTRIES_BY_KEYS = (
    f"SELECT {_ENTRY_SELECT} FROM ledger.entries e "
    "JOIN unnest(%(scopes)s::text[], %(keys)s::text[]) AS k(scope, key) "
    "  ON e.idempotency_scope = k.scope AND e.idempotency_key = k.key"
)
REFUNDED_TOTALS = (
    "SELECT related_entry_id, sum(amount) FROM ledger.entries "
    "WHERE related_entry_id = ANY(%(ids)s::uuid[]) AND kind = 'refund' GROUP BY related_entry_id"
)
# Writes carry their rows as one JSON document per table: building it with the
# C JSON encoder costs a fifth of adapting one Python list per column, and
# json_populate_recordset types every column from the table itself.
INSERT_ENTRIES = (
    "INSERT INTO ledger.entries SELECT * FROM json_populate_recordset(NULL::ledger.entries, %s)"
)
INSERT_LINES = (
    "INSERT INTO ledger.lines SELECT * FROM json_populate_recordset(NULL::ledger.lines, %s)"
)
INSERT_AUDIT_ROWS = (
    "INSERT INTO ledger.audit_log SELECT * FROM json_populate_recordset(NULL::ledger.audit_log, %s)"
)
APPLY_ACCOUNT_CHANGES = (
    "UPDATE ledger.accounts AS a SET balance = a.balance + c.delta, "
    "  audit_seq = COALESCE(c.seq, a.audit_seq), audit_head = COALESCE(c.head, a.audit_head) "
    "FROM json_to_recordset(%s) AS c(id bigint, delta bigint, seq bigint, head bytea) "
    "WHERE a.id = c.id"
)
ADD_TO_COUNTERS = (
    "INSERT INTO ledger.monthly_counters AS c (owner_id, month, transfers) "
    "SELECT owner_id, month, transfers "
    "FROM json_to_recordset(%s) AS x(owner_id uuid, month date, transfers integer) "
    "ON CONFLICT (owner_id, month) DO UPDATE SET transfers = c.transfers + EXCLUDED.transfers"
)
UPDATE_TIERS = (
    "UPDATE ledger.holders AS h SET tier = t.tier, updated_at = t.at "
    "FROM json_to_recordset(%s) AS t(owner_id uuid, tier text, at timestamptz) "
    "WHERE h.owner_id = t.owner_id"
)
PLATFORM_ACCOUNT_ID = (
    "SELECT id FROM ledger.accounts "
    "WHERE owner_id IS NULL AND name = %(name)s AND asset = %(asset)s"
)
INSERT_PLATFORM_ACCOUNT = (
    "INSERT INTO ledger.accounts (owner_id, name, asset, kind, balance, created_at) "
    "VALUES (NULL, %(name)s, %(asset)s, 'platform', NULL, %(now)s) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
GET_ENTRY = f"SELECT {_ENTRY_SELECT} FROM ledger.entries WHERE id = %(id)s"


@dataclass
class Loaded:
    holders: list[tuple[uuid.UUID, str, datetime]] = field(default_factory=list)
    counts: dict[uuid.UUID, int] = field(default_factory=dict)
    accounts: list[tuple[int, uuid.UUID, str, str, int, int, bytes | None]] = field(
        default_factory=list
    )
    entries: list[dict[str, Any]] = field(default_factory=list)
    refunded: dict[uuid.UUID, int] = field(default_factory=dict)


def lock_and_load(
    conn: psycopg.Connection[Any],
    owners: Collection[uuid.UUID],
    refs: Collection[AccountRef],
    keys: Collection[tuple[str, str]],
    charge_ids: Collection[uuid.UUID],
    month: date,
) -> Loaded:
    """One round trip: lock the holders (ascending owner_id), then read under the locks."""
    owner_list = sorted(owners)
    refs = [r for r in refs if r.owner_id in owners]
    with conn.pipeline():
        c_holders = conn.execute(LOCK_HOLDERS, {"owners": owner_list})
        c_counts = conn.execute(MONTH_COUNTS, {"owners": owner_list, "month": month})
        c_accounts = conn.execute(
            LOAD_ACCOUNTS,
            {
                "owners": owner_list,
                "r_owner": [r.owner_id for r in refs],
                "r_name": [r.name for r in refs],
                "r_asset": [r.asset for r in refs],
            },
        )
        c_entries = None
        if keys:
            c_entries = conn.cursor(row_factory=dict_row)
            c_entries.execute(
                ENTRIES_BY_KEYS, {"scopes": [k[0] for k in keys], "keys": [k[1] for k in keys]}
            )
        c_refunds = conn.execute(REFUNDED_TOTALS, {"ids": list(charge_ids)}) if charge_ids else None
        return Loaded(
            holders=c_holders.fetchall(),
            counts=dict(c_counts.fetchall()),
            accounts=c_accounts.fetchall(),
            entries=c_entries.fetchall() if c_entries is not None else [],
            refunded={k: int(v) for k, v in c_refunds.fetchall()} if c_refunds else {},
        )


def write_and_commit(conn: psycopg.Connection[Any], writes: Any, now: datetime) -> None:
    """One round trip: every write of the batch, then COMMIT."""
    with conn.pipeline():
        if writes.entries:
            conn.execute(INSERT_ENTRIES, (_json(writes.entries),))
        if writes.lines:
            lines = [
                {"entry_id": e, "line_no": n, "account_id": a, "amount": v}
                for e, n, a, v in writes.lines
            ]
            conn.execute(INSERT_LINES, (_json(lines),))
        changes = _account_changes(writes.balance_deltas, writes.audit_heads)
        if changes:
            conn.execute(APPLY_ACCOUNT_CHANGES, (_json(changes),))
        if writes.counters:
            counters = [
                {"owner_id": owner, "month": month, "transfers": n}
                for (owner, month), n in writes.counters.items()
            ]
            conn.execute(ADD_TO_COUNTERS, (_json(counters),))
        if writes.audit_rows:
            conn.execute(INSERT_AUDIT_ROWS, (_json(writes.audit_rows),))
        if writes.tiers:
            tiers = [{"owner_id": o, "tier": t.value, "at": now} for o, t in writes.tiers.items()]
            conn.execute(UPDATE_TIERS, (_json(tiers),))
        conn.commit()


def _account_changes(
    deltas: dict[int, int], heads: dict[int, tuple[int, bytes]]
) -> list[dict[str, Any]]:
    ids = sorted(set(deltas) | set(heads))
    return [
        {
            "id": i,
            "delta": deltas.get(i, 0),
            "seq": heads[i][0] if i in heads else None,
            "head": heads[i][1] if i in heads else None,
        }
        for i in ids
    ]


def _pg_json_default(value: object) -> object:
    """UUIDs, bytes (as bytea hex input) and timestamps for PostgreSQL's JSON input;
    called by the C encoder only for values JSON has no type for."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


_dumps = functools.partial(json.dumps, default=_pg_json_default, separators=(",", ":"))


def _json(rows: list[dict[str, Any]]) -> Json:
    return Json(rows, dumps=_dumps)


def platform_account_id(conn: psycopg.Connection[Any], name: str, asset: str) -> int | None:
    row = conn.execute(PLATFORM_ACCOUNT_ID, {"name": name, "asset": asset}).fetchone()
    return None if row is None else int(row[0])


def insert_platform_account(
    conn: psycopg.Connection[Any], name: str, asset: str, now: datetime
) -> int | None:
    """The new account's id, or None when it already exists (the insert waited for it)."""
    row = conn.execute(
        INSERT_PLATFORM_ACCOUNT, {"name": name, "asset": asset, "now": now}
    ).fetchone()
    return None if row is None else int(row[0])


def get_entry(conn: psycopg.Connection[Any], entry_id: uuid.UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(GET_ENTRY, {"id": entry_id})
        return cur.fetchone()
