"""Reading receipts back: one by id (for its payer or payee only) and paged history."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from services.common.clock import parse_rfc3339, rfc3339
from services.payment_tee.core import batch_repository as batch_repo
from services.payment_tee.core import read_repository as reads
from services.payment_tee.core.errors import InvalidRequest, ReceiptNotFound
from services.payment_tee.core.ledger import receipt_from_row
from services.payment_tee.core.receipts import Receipt

MAX_PAGE = 100


@dataclass(frozen=True)
class ReceiptPage:
    receipts: tuple[Receipt, ...]
    next_cursor: str | None


async def get_receipt(
    conn: psycopg.AsyncConnection[Any], owner_id: uuid.UUID, payment_id: uuid.UUID
) -> Receipt:
    row = await batch_repo.get_entry(conn, payment_id)
    # Someone else's receipt is "not found", not "forbidden": ids are not an oracle.
    if row is None or owner_id not in (row["payer_owner_id"], row["payee_owner_id"]):
        raise ReceiptNotFound(f"no payment {payment_id}")
    return receipt_from_row(row)


async def list_receipts(
    conn: psycopg.AsyncConnection[Any], owner_id: uuid.UUID, limit: int, cursor: str | None
) -> ReceiptPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    before = decode_cursor(cursor) if cursor else None
    rows = await reads.history_page(conn, owner_id, limit + 1, before)
    receipts = tuple(receipt_from_row(r) for r in rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return ReceiptPage(receipts, next_cursor)


def encode_cursor(created_at: datetime, entry_id: uuid.UUID) -> str:
    raw = f"{rfc3339(created_at)}|{entry_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, entry_id = raw.split("|")
        return parse_rfc3339(at), uuid.UUID(entry_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        # OverflowError: a well-formed time that falls outside datetime's range in UTC.
        raise InvalidRequest("cursor is not one this API issued", field="cursor") from None
