"""The batch engine's SQL, on a plain psycopg connection, one driver call per round trip.

This is the hot path and measured as such (scripts/bench). A batch of postings
needs exactly two network round trips: one that sends BEGIN, the holder locks
and every read together, and one that sends every write and COMMIT together.
PostgreSQL runs the statements of a round trip in order, each with a snapshot
of its own, so the reads run after the locks are granted and see the latest
committed rows.

How the round trips are sent matters as much as what they say. Each statement
is prepared once per connection (`prepare_session`) and a round trip is one
simple-protocol query of `EXECUTE name(literal, ...)` statements, its
arguments written by `sql_literals` (quoted, typed, never interpolated raw).
On this machine one psycopg driver call costs ~0.2 ms of client CPU, a
pipelined parameterised round trip ~1 ms with its parameter adaptation; the
whole batch used to spend more in the driver than in deciding the postings.
Each batcher owns one connection (autocommit: the transaction is ours, BEGIN
to COMMIT): no pool checkout or reset per batch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.payment_tee.core import sql_literals as lit
from services.payment_tee.core.records import AccountRef

ENTRY_COLUMNS = (
    "id", "kind", "idempotency_scope", "idempotency_key", "request_hash", "asset", "amount",
    "fee", "fee_bps", "debit_account_id", "credit_account_id", "payer_owner_id",
    "payee_owner_id", "from_label", "to_label", "from_account", "to_account", "memo",
    "related_entry_id", "created_at", "signer", "signing_key", "signature",
    "idempotency_key_sha256",
)  # fmt: skip
_ENTRY_SELECT = ", ".join(ENTRY_COLUMNS)


@dataclass(frozen=True)
class Prepared:
    """A statement prepared once per batch connection and called by name.

    `body` names its parameters `%(name)s`; `params` gives their order and SQL
    types. `call` takes each argument already written as a SQL literal.
    """

    name: str
    params: tuple[tuple[str, str], ...]
    body: str

    def prepare_sql(self) -> str:
        order = [name for name, _ in self.params]
        body = re.sub(r"%\((\w+)\)s", lambda m: f"${order.index(m.group(1)) + 1}", self.body)
        types = ", ".join(sql_type for _, sql_type in self.params)
        return f"PREPARE {self.name}({types}) AS {body}"

    def call(self, literals: dict[str, str]) -> str:
        return f"EXECUTE {self.name}({', '.join(literals[name] for name, _ in self.params)})"


LOCK_HOLDERS = Prepared(
    "sealpay_lock_holders",
    (("owners", "uuid[]"),),
    "SELECT owner_id, tier, created_at FROM ledger.holders "
    "WHERE owner_id = ANY(%(owners)s) ORDER BY owner_id FOR UPDATE",
)
# Everything a batch reads under its locks, in one statement and one row of
# JSON (one statement costs less than four, on both sides of the wire). Each
# part walks the request's keys and looks every one up through LATERAL, so the
# plan is an index probe per key whatever the planner guesses about the key
# counts: a prepared (generic) plan would otherwise hash-join against a full
# scan of accounts, entries or counters, which grows with the ledger. (A
# LATERAL subquery this simple is flattened into a plain join, which the
# planner may then hash; OFFSET 0 keeps each one a per-key probe.) The batch
# connection also runs with enable_seqscan=off (api.py), and
# tests/payment_tee/test_batch_plans.py fails when any plan here scans a table.
LOAD_UNDER_LOCKS = Prepared(
    "sealpay_load_under_locks",
    (
        ("refs", "json"),
        ("owners", "uuid[]"),
        ("month", "date"),
        ("keys", "json"),
        ("charges", "uuid[]"),
        ("cancel_keys", "json"),
    ),
    """
SELECT
  (SELECT COALESCE(json_agg(json_build_array(
            a.id, a.owner_id, a.name, a.asset, a.balance, a.audit_seq,
            encode(a.audit_head, 'hex'))), '[]')
     FROM json_to_recordset(%(refs)s) AS r(owner_id uuid, name text, asset text)
     CROSS JOIN LATERAL (
       SELECT * FROM ledger.accounts a
        WHERE a.owner_id = r.owner_id AND a.asset = r.asset AND a.name = r.name
       OFFSET 0
     ) a),
  (SELECT COALESCE(json_object_agg(c.owner_id, c.transfers), '{}')
     FROM unnest(%(owners)s) AS o(owner_id)
     CROSS JOIN LATERAL (
       SELECT owner_id, transfers FROM ledger.monthly_counters m
        WHERE m.owner_id = o.owner_id AND m.month = %(month)s
       OFFSET 0
     ) c),
  (SELECT COALESCE(json_agg(e), '[]')
     FROM json_to_recordset(%(keys)s) AS k(scope text, key text)
     CROSS JOIN LATERAL (
       SELECT * FROM ledger.entries e
        WHERE e.idempotency_scope = k.scope AND e.idempotency_key = k.key
       OFFSET 0
     ) e),
  (SELECT COALESCE(json_object_agg(ch.id, t.total), '{}')
     FROM unnest(%(charges)s) AS ch(id)
     CROSS JOIN LATERAL (
       SELECT sum(amount) AS total FROM ledger.entries
        WHERE related_entry_id = ch.id AND kind = 'refund'
     ) t
    WHERE t.total IS NOT NULL),
  (SELECT COALESCE(json_agg(json_build_array(c.idempotency_scope, c.idempotency_key)), '[]')
     FROM json_to_recordset(%(cancel_keys)s) AS k(scope text, key text)
     CROSS JOIN LATERAL (
       SELECT idempotency_scope, idempotency_key FROM ledger.cancelled_charges c
        WHERE c.idempotency_scope = k.scope AND c.idempotency_key = k.key
       OFFSET 0
     ) c)
""",
)
# Every write of a batch in one statement. Rows travel as one JSON document per
# table: building it with the C JSON encoder is cheap, and
# json_populate_recordset types each column from the table itself. The two
# UPDATEs take arrays instead: unnest() of an array is estimated at a few rows,
# so they join by primary key, where a JSON record set (estimated at 100) would
# make the planner scan and hash every account. Foreign keys and the
# lines-balance trigger are checked at the end of the statement, when every
# part has run.
WRITE_BATCH = Prepared(
    "sealpay_write_batch",
    (
        ("entries", "json"),
        ("lines", "json"),
        ("ids", "bigint[]"),
        ("deltas", "bigint[]"),
        ("seqs", "bigint[]"),
        ("heads", "text[]"),
        ("counters", "json"),
        ("audit", "json"),
        ("now", "timestamptz"),
        ("tier_owners", "uuid[]"),
        ("tiers", "text[]"),
        ("cancelled", "json"),
    ),
    """
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
         audit_head = COALESCE(decode(c.head, 'hex'), a.audit_head)
    FROM unnest(%(ids)s, %(deltas)s, %(seqs)s, %(heads)s) AS c(id, delta, seq, head)
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
    FROM unnest(%(tier_owners)s, %(tiers)s) AS t(owner_id, tier)
   WHERE h.owner_id = t.owner_id
), cancelled AS (
  INSERT INTO ledger.cancelled_charges
  SELECT * FROM json_populate_recordset(NULL::ledger.cancelled_charges, %(cancelled)s)
)
SELECT 1
""",
)
BATCH_STATEMENTS = (LOCK_HOLDERS, LOAD_UNDER_LOCKS, WRITE_BATCH)

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
    cancelled_keys: set[tuple[str, str]] = field(default_factory=set)


async def prepare_session(conn: psycopg.AsyncConnection[Any]) -> None:
    """Prepare the batch statements on a new connection (they live as long as it)."""
    await conn.execute(";".join(stmt.prepare_sql() for stmt in BATCH_STATEMENTS).encode())


async def lock_and_load(
    conn: psycopg.AsyncConnection[Any],
    owners: Collection[uuid.UUID],
    refs: Collection[AccountRef],
    keys: Collection[tuple[str, str]],
    charge_ids: Collection[uuid.UUID],
    cancel_keys: Collection[tuple[str, str]],
    month: date,
) -> Loaded:
    """One round trip: BEGIN, lock the holders (ascending owner_id), read under the locks."""
    owner_list = lit.uuid_array(sorted(owners))
    lock = LOCK_HOLDERS.call({"owners": owner_list})
    load = LOAD_UNDER_LOCKS.call(
        {
            "refs": lit.text(
                _dumps([{"owner_id": r.owner_id, "name": r.name, "asset": r.asset} for r in refs])
            ),
            "owners": owner_list,
            "month": lit.day(month),
            "keys": lit.text(_dumps([{"scope": k[0], "key": k[1]} for k in keys])),
            "charges": lit.uuid_array(charge_ids),
            "cancel_keys": lit.text(_dumps([{"scope": s, "key": k} for s, k in cancel_keys])),
        }
    )
    key_locks = charge_key_locks(cancel_keys)
    cur = await conn.execute(f"BEGIN;{lock};{key_locks}{load}".encode())
    cur.nextset()
    holders = await cur.fetchall()
    for _ in range(key_locks.count(";")):
        cur.nextset()
    cur.nextset()
    row = await cur.fetchone()
    assert row is not None
    accounts, counts, entries, refunded, cancelled = row
    return Loaded(
        holders=holders,
        counts={uuid.UUID(k): int(v) for k, v in counts.items()},
        accounts=[
            (a[0], uuid.UUID(a[1]), a[2], a[3], a[4], a[5], bytes.fromhex(a[6]) if a[6] else None)
            for a in accounts
        ],
        entries=[_entry_from_json(e) for e in entries],
        refunded={uuid.UUID(k): int(v) for k, v in refunded.items()},
        cancelled_keys={(scope, key) for scope, key in cancelled},
    )


# Advisory locks on charge keys live in the two-int4 key space (never the
# one-bigint space billing uses for agents), under this class id.
CHARGE_KEY_LOCK_CLASS = 0x5EA1C4


def charge_key_locks(keys: Collection[tuple[str, str]]) -> str:
    """Statements locking each charge key, in one global order, after the holder locks.

    A charge and a cancellation of its key lock their own holders; were they to
    name different holders, nothing else would order them, and both could win.
    These locks make them wait for each other whatever holders they name. All
    batches take holder locks first and key locks second, each in ascending
    order, so they may wait on each other but never deadlock. Transfers have no
    such keys: the hot path sends nothing here."""
    ids = sorted({_key_lock_id(scope, key) for scope, key in keys})
    return "".join(f"SELECT pg_advisory_xact_lock({CHARGE_KEY_LOCK_CLASS}, {i});" for i in ids)


def _key_lock_id(scope: str, key: str) -> int:
    """A signed 32-bit id for a key (a collision only makes two keys wait on each other)."""
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


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
    """One round trip: every write of the batch in one statement, then COMMIT.
    A batch that decided nothing to write only commits (releasing its locks)."""
    if not writes and not writes.tiers:
        await conn.execute(b"COMMIT")
        return
    lines = [
        {"entry_id": e, "line_no": n, "account_id": a, "amount": v} for e, n, a, v in writes.lines
    ]
    counters = [
        {"owner_id": owner, "month": month, "transfers": n}
        for (owner, month), n in writes.counters.items()
    ]
    ids = sorted(set(writes.balance_deltas) | set(writes.audit_heads))
    heads = writes.audit_heads
    write = WRITE_BATCH.call(
        {
            "entries": lit.text(_dumps(writes.entries)),
            "lines": lit.text(_dumps(lines)),
            "ids": lit.int_array(ids),
            "deltas": lit.int_array(writes.balance_deltas.get(i, 0) for i in ids),
            "seqs": lit.int_array(heads[i][0] if i in heads else None for i in ids),
            "heads": lit.hex_array(heads[i][1] if i in heads else None for i in ids),
            "counters": lit.text(_dumps(counters)),
            "audit": lit.text(_dumps(writes.audit_rows)),
            "now": lit.instant(now),
            "tier_owners": lit.uuid_array(writes.tiers),
            "tiers": lit.word_array(t.value for t in writes.tiers.values()),
            "cancelled": lit.text(_dumps(writes.cancelled_charges)),
        }
    )
    await conn.execute(f"{write};COMMIT".encode())


async def rollback(conn: psycopg.AsyncConnection[Any]) -> None:
    """End a failed batch's transaction, if one is open."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.execute(b"ROLLBACK")


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


# ASCII-only output (the default ensure_ascii): the literal then holds no
# character but a quote that needs care.
_dumps = functools.partial(json.dumps, default=_pg_json_default, separators=(",", ":"))


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
