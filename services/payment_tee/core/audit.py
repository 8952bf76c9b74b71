"""The tamper-evident audit log.

Every money movement and admin action appends a row whose HMAC covers the row
and the previous row's HMAC. There is one chain per agent account, not one
global chain: a global chain head would be a single row every posting must
lock, which serialises the whole system. The row goes on the chain of the
account the action primarily affects (the debited agent account of a transfer,
the credited one of a credit, the main account for a tier change). That account
is already row-locked by the posting, so chaining costs no extra contention.
The account row stores the chain head (`audit_seq`, `audit_head`), so dropping
the newest rows is detected as well as editing any row.

Verification then holds the journal to the chains: every entry must be
described by exactly the posting row the core wrote for it, every entry's lines
must be the ones its amounts imply, and every cached balance the sum of its
lines, and every holder's tier the one its last `tier.set` row set. An entry
inserted, or a line, balance or tier changed, outside the core is reported even
though no audit row was touched.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from services.common.clock import rfc3339
from services.payment_tee.core import repository as repo
from services.payment_tee.core.canonical import canonical_json


@dataclass(frozen=True)
class AuditEvent:
    action: str
    actor: str
    entry_id: uuid.UUID | None
    details: dict[str, Any]
    at: datetime


def row_hmac(key: bytes, account_id: int, seq: int, prev: bytes | None, event: AuditEvent) -> bytes:
    payload = {
        "account_id": account_id,
        "seq": seq,
        "prev": prev.hex() if prev else None,
        "action": event.action,
        "actor": event.actor,
        "entry_id": str(event.entry_id) if event.entry_id else None,
        "details": event.details,
        "at": rfc3339(event.at),
    }
    return hmac.new(key, canonical_json(payload), hashlib.sha256).digest()


def row_for_insert(
    account_id: int, seq: int, prev: bytes | None, digest: bytes, event: AuditEvent
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "seq": seq,
        "action": event.action,
        "actor": event.actor,
        "entry_id": event.entry_id,
        "details": event.details,
        "at": event.at,
        "prev_hmac": prev,
        "hmac": digest,
    }


@dataclass
class AuditVerification:
    chains: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit_chain(conn: Connection, key: bytes) -> AuditVerification:
    """Recompute every chain; report each broken link, gap, or moved head.

    Reads one snapshot (its own read-only REPEATABLE READ transaction, so `conn`
    must have none begun): postings committed while it reads, on a live
    system, would otherwise show as heads ahead of their chains."""
    with conn.begin():
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        return _verify(conn, key)


def _verify(conn: Connection, key: bytes) -> AuditVerification:
    result = AuditVerification()
    heads = repo.audit_heads(conn)
    tails: dict[int, tuple[int, bytes]] = {}
    for row in repo.iter_audit_rows(conn):
        account_id, seq = row["account_id"], row["seq"]
        prev_seq, prev_hmac = tails.get(account_id, (0, None))
        if account_id not in tails:
            result.chains += 1
        result.rows += 1
        _check_row(result, key, row, prev_seq, prev_hmac)
        tails[account_id] = (seq, bytes(row["hmac"]))
    for account_id, (head_seq, head) in heads.items():
        tail_seq, tail = tails.get(account_id, (0, None))
        if (head_seq, head and bytes(head)) != (tail_seq, tail):
            result.problems.append(
                f"account {account_id}: head at seq {head_seq} but chain ends at seq {tail_seq}"
            )
    _check_journal(conn, result)
    return result


# Rows listed per kind of problem; one is enough to fail, the count says how widespread.
PROBLEMS_LISTED = 100


def _check_journal(conn: Connection, result: AuditVerification) -> None:
    """The journal against the chains (module docstring); run in the same snapshot."""
    for row in repo.entries_unlike_their_audit_rows(conn, PROBLEMS_LISTED):
        if row["entry_id"] is None:
            result.problems.append(
                f"account {row['account_id']} seq {row['seq']}: audit row names entry "
                f"{row['audit_entry_id']}, which is not in the journal"
            )
        elif row["audit_entry_id"] is None:
            result.problems.append(
                f"entry {row['entry_id']}: no audit row (posted outside the payment core)"
            )
        else:
            result.problems.append(
                f"entry {row['entry_id']}: does not match its audit row "
                f"(account {row['account_id']} seq {row['seq']})"
            )
    for row in repo.entries_with_wrong_lines(conn, PROBLEMS_LISTED):
        result.problems.append(
            f"entry {row['entry_id']}: its {row['lines']} lines do not match its amounts"
        )
    for row in repo.lines_without_entries(conn, PROBLEMS_LISTED):
        result.problems.append(
            f"line {row['line_no']} of entry {row['entry_id']}: no such entry in the journal"
        )
    for row in repo.holders_off_their_tier_rows(conn, PROBLEMS_LISTED):
        result.problems.append(
            f"holder {row['owner_id']}: tier {row['tier']} "
            f"but its audit chain last set {row['audited_tier']}"
        )
    for row in repo.cached_balances_off_their_lines(conn, PROBLEMS_LISTED):
        result.problems.append(
            f"account {row['account_id']}: balance {row['balance']} "
            f"but its lines sum to {row['lines_total']}"
        )


def _check_row(
    result: AuditVerification, key: bytes, row: Any, prev_seq: int, prev_hmac: bytes | None
) -> None:
    account_id, seq = row["account_id"], row["seq"]
    where = f"account {account_id} seq {seq}"
    if seq != prev_seq + 1:
        result.problems.append(f"{where}: expected seq {prev_seq + 1}")
    stored_prev = bytes(row["prev_hmac"]) if row["prev_hmac"] is not None else None
    if stored_prev != prev_hmac:
        result.problems.append(f"{where}: prev_hmac does not match the previous row")
    event = AuditEvent(row["action"], row["actor"], row["entry_id"], row["details"], row["at"])
    expected = row_hmac(key, account_id, seq, stored_prev, event)
    if not hmac.compare_digest(expected, bytes(row["hmac"])):
        result.problems.append(f"{where}: hmac mismatch (row altered)")
