"""Builders for the things tests need: a payment core, holders with money, ledger checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.common.clock import FixedClock
from services.payment_tee.core.api import PaymentCore
from services.payment_tee.core.commands import CreditCommand, TransferCommand, TransferKind
from services.payment_tee.core.ledger import PostingContext, PostingResult
from services.payment_tee.core.receipts import ReceiptSigner
from services.payment_tee.core.records import MAIN_ACCOUNT, AccountRef
from services.payment_tee.core.tiers import Tier

AUDIT_KEY = b"test-audit-key-0123456789abcdef!"
ADMIN_TOKEN = "test-admin-token-0123456789"
SERVICE_TOKEN = "test-service-token-0123456789"
ASSET = "XMR"
MARCH_15 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def make_core(
    engine: Engine, clock: FixedClock | None = None, signer: str = "gateway", **options: Any
) -> PaymentCore:
    """A core as the services build one; `options` go to PaymentCore."""
    clock = clock or FixedClock(MARCH_15)
    ctx = PostingContext(signer=ReceiptSigner(signer), audit_key=AUDIT_KEY, clock=clock)  # type: ignore[arg-type]
    return PaymentCore(engine, ctx, default_asset=ASSET, **options)


@contextmanager
def running_core(engine: Engine, clock: FixedClock | None = None) -> Iterator[PaymentCore]:
    core = make_core(engine, clock)
    try:
        yield core
    finally:
        core.close()


def main(owner: uuid.UUID, asset: str = ASSET) -> AccountRef:
    return AccountRef(owner, MAIN_ACCOUNT, asset)


def new_holder(core: PaymentCore, balance: int = 0, tier: Tier = Tier.FREE) -> uuid.UUID:
    owner = uuid.uuid4()
    core.register_holder(owner)
    if tier is not Tier.FREE:
        core.set_tier(owner, tier, actor="test")
    if balance:
        fund(core, owner, balance)
    return owner


def fund(
    core: PaymentCore, owner: uuid.UUID, amount: int, account: str = MAIN_ACCOUNT
) -> PostingResult:
    return core.credit(
        CreditCommand(
            account=AccountRef(owner, account, ASSET),
            amount=amount,
            idempotency_key=f"fund-{uuid.uuid4()}",
            source="credits:manual",
            scope="admin",
            actor="test",
        )
    )


def transfer_cmd(
    payer: uuid.UUID,
    payee: uuid.UUID,
    amount: int,
    key: str | None = None,
    memo: str | None = None,
) -> TransferCommand:
    return TransferCommand(
        kind=TransferKind.HUB_ROUTING,
        payer=main(payer),
        payee=main(payee),
        amount=amount,
        idempotency_key=key or f"pay-{uuid.uuid4()}",
        memo=memo,
    )


def pay(
    core: PaymentCore,
    payer: uuid.UUID,
    payee: uuid.UUID,
    amount: int,
    key: str | None = None,
    memo: str | None = None,
) -> PostingResult:
    return core.transfer(transfer_cmd(payer, payee, amount, key, memo))


@dataclass(frozen=True)
class Books:
    """The ledger's invariants, read straight from SQL."""

    entries: int
    unbalanced_entries: int
    totals_by_asset: dict[str, int]
    cached_vs_lines_mismatches: int
    negative_agent_balances: int
    agent_total: int

    def assert_balanced(self) -> None:
        assert self.unbalanced_entries == 0, "an entry's lines do not sum to zero"
        assert all(v == 0 for v in self.totals_by_asset.values()), self.totals_by_asset
        assert self.cached_vs_lines_mismatches == 0, "a cached balance differs from its lines"
        assert self.negative_agent_balances == 0, "an agent balance went negative"


def books(engine: Engine) -> Books:
    with engine.connect() as conn:
        q = lambda sql: conn.execute(sa.text(sql)).scalar_one()  # noqa: E731
        totals = dict(
            conn.execute(
                sa.text(
                    "SELECT a.asset, sum(l.amount) FROM ledger.lines l "
                    "JOIN ledger.accounts a ON a.id = l.account_id GROUP BY a.asset"
                )
            ).all()
        )
        return Books(
            entries=q("SELECT count(*) FROM ledger.entries"),
            unbalanced_entries=q(
                "SELECT count(*) FROM (SELECT entry_id FROM ledger.lines GROUP BY entry_id "
                "HAVING sum(amount) <> 0) t"
            ),
            totals_by_asset={k: int(v) for k, v in totals.items()},
            cached_vs_lines_mismatches=q(
                "SELECT count(*) FROM ledger.accounts a WHERE a.kind = 'agent' AND a.balance <> "
                "(SELECT COALESCE(sum(amount), 0) FROM ledger.lines l WHERE l.account_id = a.id)"
            ),
            negative_agent_balances=q(
                "SELECT count(*) FROM ledger.accounts WHERE kind = 'agent' AND balance < 0"
            ),
            agent_total=int(
                q("SELECT COALESCE(sum(balance), 0) FROM ledger.accounts WHERE kind = 'agent'")
            ),
        )


def fee_revenue(engine: Engine, asset: str = ASSET) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT COALESCE(sum(l.amount), 0) FROM ledger.lines l "
                    "JOIN ledger.accounts a ON a.id = l.account_id "
                    "WHERE a.owner_id IS NULL AND a.name = 'fee_revenue' AND a.asset = :a"
                ),
                {"a": asset},
            ).scalar_one()
        )
