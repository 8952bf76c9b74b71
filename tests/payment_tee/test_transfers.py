"""post_transfer through the payment core, against real PostgreSQL."""

import base64

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from support.factories import books, fee_revenue, fund, main, new_holder, pay

from services.payment_tee.core.commands import TransferCommand, TransferKind
from services.payment_tee.core.errors import (
    AssetMismatch,
    FeeExceedsAmount,
    InsufficientFunds,
    InvalidRequest,
    SelfTransfer,
    UnknownAccount,
)
from services.payment_tee.core.records import AccountRef
from services.payment_tee.core.tiers import Tier


def test_transfer_moves_amount_minus_fee_and_books_the_fee(db, core):
    alice = new_holder(core, balance=1_000_000)
    bob = new_holder(core)
    result = pay(core, alice, bob, 10_000, memo="thanks")
    r = result.receipt
    assert (r.amount, r.fee, r.fee_bps, r.net) == (10_000, 30, 30, 9_970)
    assert (r.from_, r.to, r.memo, r.status, r.kind) == (
        str(alice),
        str(bob),
        "thanks",
        "posted",
        "hub_routing",
    )
    assert core.balance(alice).available == 990_000
    assert core.balance(bob).available == 9_970
    assert fee_revenue(db) == 30
    books(db).assert_balanced()


def test_paid_tiers_pay_ten_bps(db, core):
    alice = new_holder(core, balance=1_000_000, tier=Tier.PRO)
    bob = new_holder(core)
    assert pay(core, alice, bob, 10_000).receipt.fee == 10
    assert core.balance(bob).available == 9_990


def test_overdraft_is_refused_and_nothing_moves(db, core):
    alice = new_holder(core, balance=5_000)
    bob = new_holder(core)
    with pytest.raises(InsufficientFunds) as refused:
        pay(core, alice, bob, 5_001)
    assert refused.value.details == {"available": 5_000, "amount": 5_001}
    assert core.balance(alice).available == 5_000
    assert core.balance(bob).available == 0
    assert books(db).entries == 1  # only the funding credit


def test_paying_exactly_the_balance_empties_it(db, core):
    alice = new_holder(core, balance=5_000)
    bob = new_holder(core)
    pay(core, alice, bob, 5_000)
    assert core.balance(alice).available == 0
    books(db).assert_balanced()


def test_unknown_payee_account_is_named_as_the_payee(db, core):
    alice = new_holder(core, balance=5_000)
    import uuid

    with pytest.raises(UnknownAccount) as refused:
        pay(core, alice, uuid.uuid4(), 100)
    assert refused.value.details["side"] == "payee"


def test_self_payment_and_fee_eating_amounts_are_refused(db, core):
    alice = new_holder(core, balance=5_000)
    bob = new_holder(core)
    with pytest.raises(SelfTransfer):
        pay(core, alice, alice, 100)
    with pytest.raises(FeeExceedsAmount):
        pay(core, alice, bob, 1)
    assert books(db).entries == 1


def test_internal_transfer_is_fee_free_between_own_accounts(db, core):
    alice = new_holder(core, balance=10_000)
    core.open_account(alice, "savings")
    result = core.transfer(
        TransferCommand(
            kind=TransferKind.INTERNAL,
            payer=main(alice),
            payee=AccountRef(alice, "savings", "XMR"),
            amount=4_000,
            idempotency_key="internal-0001",
        )
    )
    assert (result.receipt.fee, result.receipt.net) == (0, 4_000)
    balance = core.balance(alice)
    assert balance.available == 10_000
    assert {a.name: a.available for a in balance.accounts} == {"main": 6_000, "savings": 4_000}
    assert core.usage(alice).transfers == 1  # counts toward the monthly limit
    books(db).assert_balanced()


def test_internal_transfer_cannot_leave_the_agent(db, core):
    alice, bob = new_holder(core, balance=100), new_holder(core)
    with pytest.raises(InvalidRequest):
        core.transfer(
            TransferCommand(TransferKind.INTERNAL, main(alice), main(bob), 10, "internal-0002")
        )


def test_assets_must_match(db, core):
    alice, bob = new_holder(core, balance=100), new_holder(core)
    with pytest.raises(AssetMismatch):
        core.transfer(
            TransferCommand(
                TransferKind.HUB_ROUTING, main(alice), main(bob, "BTC"), 10, "asset-mismatch-1"
            )
        )


def test_receipt_signature_verifies_with_an_independent_jcs_implementation(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    wire = pay(core, alice, bob, 1_000).receipt.to_wire()
    assert wire["signer"] == "gateway"
    unsigned = {k: v for k, v in wire.items() if k != "signature"}
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(wire["signing_key"]))
    key.verify(base64.b64decode(wire["signature"]), rfc8785.dumps(unsigned))
    tampered = {**unsigned, "amount": 1_001}
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidSignature
        key.verify(base64.b64decode(wire["signature"]), rfc8785.dumps(tampered))


def test_credits_fund_accounts_from_a_platform_account(db, core):
    alice = new_holder(core)
    result = fund(core, alice, 42)
    assert result.receipt.kind == "credit"
    assert result.receipt.from_ == "platform:credits:manual"
    assert core.balance(alice).available == 42
    b = books(db)
    b.assert_balanced()
    assert b.agent_total == 42


@pytest.mark.parametrize(
    "payer_account, asset", [("main\n", "XMR"), ("main", "XMR\n"), ("Main", "XMR"), ("main", "xmr")]
)
def test_account_names_and_assets_must_match_their_rule_whole(db, core, payer_account, asset):
    """`re.match` with `$` accepts a trailing newline; the core's checks match the whole value."""
    alice, bob = new_holder(core, balance=10_000), new_holder(core)
    cmd = TransferCommand(
        kind=TransferKind.HUB_ROUTING,
        payer=AccountRef(alice, payer_account, asset),
        payee=main(bob),
        amount=1_000,
        idempotency_key="order-newline-1",
    )
    with pytest.raises(InvalidRequest):
        core.transfer(cmd)
    assert core.balance(alice).available == 10_000
