"""The batch engine: many postings, one transaction, a handful of statements.

Phases of a batch (all in one database transaction):

1. prepare: each operation reads what it needs before locking (a refund's
   original charge; platform account ids).
2. lock and load: lock every holder the batch touches, in owner_id order
   (one global order: batches may wait on each other, never deadlock); then
   read their accounts, this month's transfer counters, journal entries already
   under the batch's idempotency keys, refund totals and cancelled charge keys. Reading after the
   locks are granted (a new statement, READ COMMITTED) sees the latest
   committed state, and the locks keep it true until commit.
3. decide: each operation in arrival order runs its checks against the
   in-memory view and either refuses (a `PaymentError`, affecting nothing) or
   records its posting, which later operations in the batch then see.
4. flush: one statement whose parts write every table (entries, lines,
   balances and audit heads, counters, audit rows, tiers), sent with COMMIT in
   one round trip (batch_repository.py).

The callers learn their outcome only after the commit. This is how the core
scales past one commit per transfer (DESIGN.md, "Scale path").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import psycopg

from services.payment_tee.core import batch_repository as batch_repo
from services.payment_tee.core import limits
from services.payment_tee.core.errors import PaymentError
from services.payment_tee.core.ledger import PostingContext
from services.payment_tee.core.platform import PlatformAccounts
from services.payment_tee.core.records import AccountRef
from services.payment_tee.core.state import AccountState, BatchState, HolderState
from services.payment_tee.core.tiers import Tier


class Operation:
    """One request to the core. Subclasses override what they need."""

    def validate(self) -> None:
        """Refuse malformed requests before they enter a batch."""

    async def prepare(self, conn: psycopg.AsyncConnection[Any], platform: PlatformAccounts) -> None:
        """Reads before locking (nothing here may rely on staying true)."""

    def owners(self) -> set[uuid.UUID]:
        return set()

    def account_refs(self) -> set[AccountRef]:
        return set()

    def idempotency_keys(self) -> set[tuple[str, str]]:
        return set()

    def charge_ids(self) -> set[uuid.UUID]:
        return set()

    def cancellable_keys(self) -> set[tuple[str, str]]:
        """Charge keys whose cancellation this operation must see (charges, cancels)."""
        return set()

    def decide(self, state: BatchState) -> Any:
        raise NotImplementedError


class KeyedCommand(Protocol):
    """A command on one agent account under one idempotency key."""

    @property
    def account(self) -> AccountRef: ...

    @property
    def scope(self) -> str: ...

    @property
    def idempotency_key(self) -> str: ...

    def validate(self) -> None: ...


C = TypeVar("C", bound=KeyedCommand)


class OneAccountOperation(Operation, Generic[C]):
    """Credits, charges and charge cancellations: one account, one key."""

    def __init__(self, cmd: C) -> None:
        self.cmd = cmd

    @property
    def key(self) -> tuple[str, str]:
        return (self.cmd.scope, self.cmd.idempotency_key)

    def validate(self) -> None:
        self.cmd.validate()

    def owners(self) -> set[uuid.UUID]:
        return {self.cmd.account.owner_id}

    def account_refs(self) -> set[AccountRef]:
        return {self.cmd.account}

    def idempotency_keys(self) -> set[tuple[str, str]]:
        return {self.key}


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: PaymentError | None = None


async def run_batch(
    conn: psycopg.AsyncConnection[Any],
    ctx: PostingContext,
    platform: PlatformAccounts,
    ops: list[Operation],
) -> list[Outcome]:
    """Decide and commit one batch; outcomes are final once this returns."""
    now = ctx.clock.now()  # one instant for every posting, counter and audit row in the batch
    state = BatchState(ctx, now, limits.month_of(now))
    outcomes: list[Outcome | None] = [None] * len(ops)
    live: list[int] = []
    for i, op in enumerate(ops):
        try:
            await op.prepare(conn, platform)
            live.append(i)
        except PaymentError as refusal:
            outcomes[i] = Outcome(error=refusal)
    if await _lock_and_load(conn, state, [ops[i] for i in live]):
        for i in live:
            try:
                outcomes[i] = Outcome(value=ops[i].decide(state))
            except PaymentError as refusal:
                outcomes[i] = Outcome(error=refusal)
        await batch_repo.write_and_commit(conn, state.writes, now)
    return [o if o is not None else Outcome() for o in outcomes]


async def _lock_and_load(
    conn: psycopg.AsyncConnection[Any], state: BatchState, ops: list[Operation]
) -> bool:
    """Open the batch's transaction and load its view; False when no operation
    is left to decide (all were refused while preparing)."""
    if not ops:
        return False
    owners: set[uuid.UUID] = set().union(*(op.owners() for op in ops))
    if not owners:  # every operation moves or changes some holder's state
        raise AssertionError(f"operations touching no holder: {ops!r}")
    loaded = await batch_repo.lock_and_load(
        conn,
        owners,
        set().union(*(op.account_refs() for op in ops)),
        set().union(*(op.idempotency_keys() for op in ops)),
        set().union(*(op.charge_ids() for op in ops)),
        set().union(*(op.cancellable_keys() for op in ops)),
        state.month,
    )
    for owner_id, tier, created_at in loaded.holders:
        state.holders[owner_id] = HolderState(
            owner_id, Tier(tier), loaded.counts.get(owner_id, 0), created_at
        )
    for account_id, owner_id, name, asset, balance, audit_seq, audit_head in loaded.accounts:
        state.add_account(
            AccountState(account_id, owner_id, name, asset, balance, audit_seq, audit_head)
        )
    for entry in loaded.entries:
        state.add_entry(entry)
    state.refunded = loaded.refunded
    state.cancelled_keys = loaded.cancelled_keys
    return True
