"""The locked view of the ledger a batch decides against, and the writes it produces.

A batch locks every holder its operations touch, reads their accounts, this
month's counters and any journal entries already under their idempotency keys,
then decides each operation in order against this in-memory view. Because the
holder rows stay locked until commit, the view is authoritative: a decision
made here cannot be invalidated by another transaction. Each decided posting
updates the view (balances, counters, audit heads) so the next operation in
the batch sees its effect.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.common.ids import uuid7
from services.payment_tee.core import audit
from services.payment_tee.core.errors import IdempotencyKeyReused, UnknownAccount, UnknownHolder
from services.payment_tee.core.ledger import PostingContext, PostingResult, receipt_from_row
from services.payment_tee.core.receipts import Receipt, idempotency_key_digest
from services.payment_tee.core.records import AccountRef, Line
from services.payment_tee.core.tiers import Tier


@dataclass
class AccountState:
    id: int
    owner_id: uuid.UUID
    name: str
    asset: str
    balance: int
    audit_seq: int
    audit_head: bytes | None

    @property
    def ref(self) -> AccountRef:
        return AccountRef(self.owner_id, self.name, self.asset)


@dataclass
class HolderState:
    owner_id: uuid.UUID
    tier: Tier
    transfers_this_month: int
    created_at: datetime


@dataclass
class Writes:
    entries: list[dict[str, Any]] = field(default_factory=list)
    lines: list[tuple[uuid.UUID, int, int, int]] = field(default_factory=list)
    balance_deltas: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    audit_heads: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    counters: dict[tuple[uuid.UUID, date], int] = field(default_factory=lambda: defaultdict(int))
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    tiers: dict[uuid.UUID, Tier] = field(default_factory=dict)
    cancelled_charges: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries or self.audit_rows or self.cancelled_charges)


@dataclass
class EntryDraft:
    """A journal entry as decided, before it gets its id, time and signature."""

    kind: str
    scope: str
    idempotency_key: str
    request_hash: bytes
    asset: str
    amount: int
    fee: int
    fee_bps: int
    debit_account_id: int
    credit_account_id: int
    from_label: str
    to_label: str
    from_account: str
    to_account: str
    payer_owner_id: uuid.UUID | None = None
    payee_owner_id: uuid.UUID | None = None
    memo: str | None = None
    related_entry_id: uuid.UUID | None = None


class BatchState:
    def __init__(self, ctx: PostingContext, now: datetime, month: date) -> None:
        self.ctx = ctx
        self.now = now
        self.month = month
        self.holders: dict[uuid.UUID, HolderState] = {}
        self.accounts: dict[AccountRef, AccountState] = {}
        self._by_id: dict[int, AccountState] = {}
        self.entries_by_key: dict[tuple[str, str], dict[str, Any]] = {}
        self.entries_by_id: dict[uuid.UUID, dict[str, Any]] = {}
        self.refunded: dict[uuid.UUID, int] = {}
        self.cancelled_keys: set[tuple[str, str]] = set()
        self.writes = Writes()

    # --- loading ---------------------------------------------------------------------------

    def add_account(self, account: AccountState) -> None:
        self.accounts[account.ref] = account
        self._by_id[account.id] = account

    def add_entry(self, row: dict[str, Any]) -> None:
        self.entries_by_key[(row["idempotency_scope"], row["idempotency_key"])] = row
        self.entries_by_id[row["id"]] = row

    # --- deciding ----------------------------------------------------------------------------

    def account(self, ref: AccountRef, side: str) -> AccountState:
        found = self.accounts.get(ref)
        if found is None:
            raise UnknownAccount(
                f"the {side} has no account named {ref.name!r} in {ref.asset}",
                side=side,
                account=ref.name,
            )
        return found

    def holder(self, owner_id: uuid.UUID) -> HolderState:
        found = self.holders.get(owner_id)
        if found is None:
            raise UnknownHolder(f"no ledger holder {owner_id}")
        return found

    def replay(self, scope: str, key: str, fingerprint: bytes) -> PostingResult | None:
        """The original result when the key was already used, before any business check."""
        existing = self.entries_by_key.get((scope, key))
        if existing is None:
            return None
        if bytes(existing["request_hash"]) != fingerprint:
            raise IdempotencyKeyReused(
                "this idempotency key was already used with different parameters",
                payment_id=str(existing["id"]),
            )
        return PostingResult(receipt_from_row(existing), replayed=True)

    def post(
        self,
        draft: EntryDraft,
        lines: list[Line],
        audit_account: AccountState,
        action: str,
        actor: str,
        details: dict[str, Any],
    ) -> PostingResult:
        """Record a decided posting: entry, lines, balances and audit row.

        Callers run every check first; nothing here can refuse, so the view
        never holds half a posting.
        """
        if sum(line.amount for line in lines) != 0:
            raise AssertionError(f"posting does not balance: {lines}")
        row, receipt = self._entry_row(draft)
        self.writes.entries.append(row)
        self.add_entry(row)
        for line_no, line in enumerate(lines, start=1):
            self.writes.lines.append((row["id"], line_no, line.account_id, line.amount))
            agent_account = self._by_id.get(line.account_id)
            if agent_account is not None:
                agent_account.balance += line.amount
                self.writes.balance_deltas[line.account_id] += line.amount
        event = audit.AuditEvent(action, actor, row["id"], details, self.now)
        self.append_audit(audit_account, event)
        return PostingResult(receipt, replayed=False)

    def append_audit(self, account: AccountState, event: audit.AuditEvent) -> None:
        seq = account.audit_seq + 1
        digest = audit.row_hmac(self.ctx.audit_key, account.id, seq, account.audit_head, event)
        self.writes.audit_rows.append(
            audit.row_for_insert(account.id, seq, account.audit_head, digest, event)
        )
        account.audit_seq, account.audit_head = seq, digest
        self.writes.audit_heads[account.id] = (seq, digest)

    def cancel_charge(self, scope: str, key: str, account: AccountState, actor: str) -> None:
        """Record that no charge may ever post under this key (it has not posted)."""
        if (scope, key) in self.cancelled_keys:
            return
        self.cancelled_keys.add((scope, key))
        self.writes.cancelled_charges.append(
            {
                "idempotency_scope": scope,
                "idempotency_key": key,
                "account_id": account.id,
                "actor": actor,
                "cancelled_at": self.now,
            }
        )
        details = {"idempotency_scope": scope, "idempotency_key": key}
        self.append_audit(
            account, audit.AuditEvent("charge.cancelled", actor, None, details, self.now)
        )

    def count_transfer(self, holder: HolderState) -> None:
        holder.transfers_this_month += 1
        self.writes.counters[(holder.owner_id, self.month)] += 1

    def _entry_row(self, draft: EntryDraft) -> tuple[dict[str, Any], Receipt]:
        """The entry as it will be inserted, and its signed receipt."""
        row: dict[str, Any] = {
            "id": uuid7(),
            "kind": draft.kind,
            "idempotency_scope": draft.scope,
            "idempotency_key": draft.idempotency_key,
            "request_hash": draft.request_hash,
            "asset": draft.asset,
            "amount": draft.amount,
            "fee": draft.fee,
            "fee_bps": draft.fee_bps,
            "debit_account_id": draft.debit_account_id,
            "credit_account_id": draft.credit_account_id,
            "payer_owner_id": draft.payer_owner_id,
            "payee_owner_id": draft.payee_owner_id,
            "from_label": draft.from_label,
            "to_label": draft.to_label,
            "from_account": draft.from_account,
            "to_account": draft.to_account,
            "memo": draft.memo,
            "related_entry_id": draft.related_entry_id,
            "created_at": self.now,
            "signer": "",
            "signing_key": "",
            "signature": "",
            "idempotency_key_sha256": idempotency_key_digest(draft.idempotency_key),
        }
        receipt = self.ctx.signer.sign(receipt_from_row(row))
        row.update(
            signer=receipt.signer, signing_key=receipt.signing_key, signature=receipt.signature
        )
        return row, receipt
