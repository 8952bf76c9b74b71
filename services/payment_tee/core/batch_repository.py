"""The batch engine's SQL, on a plain psycopg connection in pipeline mode.

Kept apart from `repository.py` (SQLAlchemy) because this is the hot path and
measured as such: a batch of postings needs exactly two network round trips,
one that sends BEGIN, the holder locks and every read together, and one that
sends every write and COMMIT together (psycopg pipeline mode). PostgreSQL still
runs the statements in order, so the reads are planned after the locks are
granted and see the latest committed rows. Each batcher owns one connection:
no pool checkout or reset per batch.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection
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
_ENTRY_SELECT = ", ".join(ENTRY_COLUMNS)
LOCK_HOLDERS = (
    "SELECT owner_id, tier, created_at FROM ledger.holders "
    "WHERE owner_id = ANY(%(owners)s::uuid[]) ORDER BY owner_id FOR UPDATE"
)
# Everything a batch reads under its locks, in one statement and one row of
# JSON (one statement costs less than four, on both sides of the wire). Each
# part walks the request's keys and looks every one up through LATERAL, so the
# plan is an index probe per key whatever the planner guesses about the array
# sizes: a prepared (generic) plan would otherwise hash-join against a full
# scan of accounts or entries, which grows with the ledger.
LOAD_UNDER_LOCKS = """
SELECT
  (SELECT COALESCE(json_agg(json_build_array(
            a.id, a.owner_id, a.name, a.asset, a.balance, a.audit_seq,
            encode(a.audit_head, 'hex'))), '[]')
     FROM unnest(%(r_owner)s::uuid[], %(r_name)s::text[], %(r_asset)s::text[])
            AS r(owner_id, name, asset)
     CROSS JOIN LATERAL (
       SELECT * FROM ledger.accounts a
        WHERE a.owner_id = r.owner_id AND a.asset = r.asset AND a.name = r.name
     ) a),
  (SELECT COALESCE(json_object_agg(c.owner_id, c.transfers), '{}')
     FROM unnest(%(owners)s::uuid[]) AS o(owner_id)
     CROSS JOIN LATERAL (
       SELECT owner_id, transfers FROM ledger.monthly_counters m
        WHERE m.owner_id = o.owner_id AND m.month = %(month)s
     ) c),
  (SELECT COALESCE(json_agg(e), '[]')
     FROM unnest(%(scopes)s::text[], %(keys)s::text[]) AS k(scope, key)
     CROSS JOIN LATERAL (
       SELECT * FROM ledger.entries e
        WHERE e.idempotency_scope = k.scope AND e.idempotency_key = k.key
     ) e),
  (SELECT COALESCE(json_object_agg(ch.id, t.total), '{}')
     FROM unnest(%(charges)s::uuid[]) AS ch(id)
     CROSS JOIN LATERAL (
       SELECT sum(amount) AS total FROM ledger.entries
        WHERE related_entry_id = ch.id AND kind = 'refund'
     ) t
    WHERE t.total IS NOT NULL)
"""
# Every write of a batch in one statement. Rows travel as one JSON document per
# table: building it with the C JSON encoder costs a fifth of adapting one
# Python list per column, and json_populate_recordset types each column from
# the table itself. The two UPDATEs take arrays instead: unnest() of a parameter
# is estimated at a few rows, so they join by primary key, where a JSON record
# set (estimated at 100) would make the planner scan and hash every account.
# Foreign keys and the lines-balance trigger are checked at the end of the
# statement, when every part has run.
WRITE_BATCH = """
WITH new_entries AS (
  INSERT INTO ledger.entries
  SELECT * FROM json_populate_recordset(NULL::ledger.entries, %(entries)s)
), new_lines AS (
  INSERT INTO ledger.lines
  SELECT * FROM json_populate_recordset(NULL::ledger.lines, %(lines)s)
), moved AS (
  UPDATE ledger.accounts AS a
     SET balance = a.balance + c.delta,
         audit_seq = COALESCE(c.seq, a.audit_seq),
         audit_head = COALESCE(c.head, a.audit_head)
    FROM unnest(%(ids)s::bigint[], %(deltas)s::bigint[], %(seqs)s::bigint[], %(heads)s::bytea[])
      AS c(id, delta, seq, head)
   WHERE a.id = c.id
), counted AS (
  INSERT INTO ledger.monthly_counters AS c (owner_id, month, transfers)
  SELECT owner_id, month, transfers
    FROM json_to_recordset(%(counters)s) AS x(owner_id uuid, month date, transfers integer)
  ON CONFLICT (owner_id, month) DO UPDATE SET transfers = c.transfers + EXCLUDED.transfers
), audited AS (
  INSERT INTO ledger.audit_log
  SELECT * FROM json_populate_recordset(NULL::ledger.audit_log, %(audit)s)
), tiered AS (
  UPDATE ledger.holders AS h SET tier = t.tier, updated_at = %(now)s
    FROM unnest(%(tier_owners)s::uuid[], %(tiers)s::text[]) AS t(owner_id, tier)
   WHERE h.owner_id = t.owner_id
)
SELECT 1
"""
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


async def lock_and_load(
    conn: psycopg.AsyncConnection[Any],
    owners: Collection[uuid.UUID],
    refs: Collection[AccountRef],
    keys: Collection[tuple[str, str]],
    charge_ids: Collection[uuid.UUID],
    month: date,
) -> Loaded:
    """One round trip: lock the holders (ascending owner_id), then read under the locks."""
    owner_list = sorted(owners)
    refs = list(refs)
    async with conn.pipeline():
        locked = await conn.execute(LOCK_HOLDERS, {"owners": owner_list})
        loaded = await conn.execute(
            LOAD_UNDER_LOCKS,
            {
                "owners": owner_list,
                "r_owner": [r.owner_id for r in refs],
                "r_name": [r.name for r in refs],
                "r_asset": [r.asset for r in refs],
                "month": month,
                "scopes": [k[0] for k in keys],
                "keys": [k[1] for k in keys],
                "charges": list(charge_ids),
            },
        )
        holders = await locked.fetchall()
        row = await loaded.fetchone()
    assert row is not None
    accounts, counts, entries, refunded = row
    return Loaded(
        holders=holders,
        counts={uuid.UUID(k): int(v) for k, v in counts.items()},
        accounts=[
            (a[0], uuid.UUID(a[1]), a[2], a[3], a[4], a[5], bytes.fromhex(a[6]) if a[6] else None)
            for a in accounts
        ],
        entries=[_entry_from_json(e) for e in entries],
        refunded={uuid.UUID(k): int(v) for k, v in refunded.items()},
    )


_UUID_COLUMNS = ("id", "payer_owner_id", "payee_owner_id", "related_entry_id")


def _entry_from_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry as to_json renders it, back to the row's Python types."""
    row = dict(entry)
    for col in _UUID_COLUMNS:
        if row[col] is not None:
            row[col] = uuid.UUID(row[col])
    row["request_hash"] = bytes.fromhex(row["request_hash"].removeprefix("\\x"))
    row["created_at"] = datetime.fromisoformat(row["created_at"])
    return row


async def write_and_commit(conn: psycopg.AsyncConnection[Any], writes: Any, now: datetime) -> None:
    """One round trip: every write of the batch in one statement, then COMMIT."""
    lines = [
        {"entry_id": e, "line_no": n, "account_id": a, "amount": v} for e, n, a, v in writes.lines
    ]
    counters = [
        {"owner_id": owner, "month": month, "transfers": n}
        for (owner, month), n in writes.counters.items()
    ]
    changes = _account_changes(writes.balance_deltas, writes.audit_heads)
    async with conn.pipeline():
        await conn.execute(
            WRITE_BATCH,
            {
                "entries": _json(writes.entries),
                "lines": _json(lines),
                "counters": _json(counters),
                "audit": _json(writes.audit_rows),
                "now": now,
                "tier_owners": list(writes.tiers),
                "tiers": [t.value for t in writes.tiers.values()],
                **changes,
            },
        )
        await conn.commit()


def _account_changes(
    deltas: dict[int, int], heads: dict[int, tuple[int, bytes]]
) -> dict[str, list[Any]]:
    ids = sorted(set(deltas) | set(heads))
    return {
        "ids": ids,
        "deltas": [deltas.get(i, 0) for i in ids],
        "seqs": [heads[i][0] if i in heads else None for i in ids],
        "heads": [heads[i][1] if i in heads else None for i in ids],
    }


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


async def platform_account_id(
    conn: psycopg.AsyncConnection[Any], name: str, asset: str
) -> int | None:
    cur = await conn.execute(PLATFORM_ACCOUNT_ID, {"name": name, "asset": asset})
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def insert_platform_account(
    conn: psycopg.AsyncConnection[Any], name: str, asset: str, now: datetime
) -> int | None:
    """The new account's id, or None when it already exists (the insert waited for it)."""
    cur = await conn.execute(INSERT_PLATFORM_ACCOUNT, {"name": name, "asset": asset, "now": now})
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def get_entry(
    conn: psycopg.AsyncConnection[Any], entry_id: uuid.UUID
) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(GET_ENTRY, {"id": entry_id})
        return await cur.fetchone()
