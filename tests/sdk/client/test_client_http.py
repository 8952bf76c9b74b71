"""The SDK client against the real gateway over real HTTP, on a real database."""

from __future__ import annotations

import uuid

import pytest
from sealpay import (
    ApiError,
    Conflict,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    Receipt,
    SealpayClient,
    TierLimitReached,
    Unauthorized,
    UnknownRecipient,
    verify_receipt,
)
from support.factories import books


def test_register_then_read_me_and_balance(gateway, operator):
    registration = operator.register_agent("alice")
    assert registration.name == "alice" and registration.tier == "free"
    assert registration.api_key.startswith("sk_")
    assert registration.api_key not in repr(registration)
    with SealpayClient(gateway.url, registration.api_key) as alice:
        me = alice.me()
        assert (me.agent_id, me.name, me.tier) == (registration.agent_id, "alice", "free")
        assert me.created_at.tzinfo is not None
        balance = alice.balance()
        assert (balance.asset, balance.available, balance.pending) == ("XMR", 0, 0)
        assert balance.account("main").available == 0


def test_credit_then_pay_takes_the_tier_commission(party, operator, db):
    alice, bob = party("alice"), party("bob")
    credit = operator.credit(alice.agent_id, 1_000_000, memo="deposit stand-in")
    assert (credit.to, credit.to_account, credit.amount) == (alice.agent_id, "main", 1_000_000)

    receipt = alice.client.pay("bob", 10_000, memo="for the dataset")

    assert isinstance(receipt, Receipt)
    assert (receipt.from_, receipt.to) == (alice.agent_id, bob.agent_id)
    assert (receipt.amount, receipt.fee, receipt.fee_bps, receipt.net) == (10_000, 30, 30, 9_970)
    assert (receipt.kind, receipt.status, receipt.signer) == ("hub_routing", "posted", "gateway")
    assert receipt.memo == "for the dataset" and not receipt.replayed
    assert receipt.created.tzinfo is not None
    assert alice.client.balance().available == 990_000
    assert bob.client.balance().available == 9_970
    books(db).assert_balanced()


def test_replay_returns_the_original_receipt_flagged_replayed(party):
    alice, _ = party("alice", 100_000), party("bob")

    first = alice.client.pay("bob", 1_000, idempotency_key="invoice-77-payment")
    again = alice.client.pay("bob", 1_000, idempotency_key="invoice-77-payment")

    assert again.replayed and not first.replayed
    assert again == first and dict(again.wire) == dict(first.wire)
    assert alice.client.balance().available == 99_000


def test_each_call_without_a_key_gets_a_fresh_one(party):
    alice, _ = party("alice", 100_000), party("bob")
    first, second = alice.client.pay("bob", 1_000), alice.client.pay("bob", 1_000)
    assert first.payment_id != second.payment_id and not second.replayed
    assert alice.client.balance().available == 98_000


def test_same_key_with_other_parameters_is_idempotency_key_reused(party):
    alice, _ = party("alice", 100_000), party("bob")
    original = alice.client.pay("bob", 1_000, idempotency_key="invoice-78-payment")

    with pytest.raises(IdempotencyKeyReused) as caught:
        alice.client.pay("bob", 2_000, idempotency_key="invoice-78-payment")

    error = caught.value
    assert (error.status, error.code) == (409, "idempotency_key_reused")
    assert error.payment_id == original.payment_id
    assert error.idempotency_key == "invoice-78-payment"
    assert isinstance(error, Conflict) and isinstance(error, ApiError)


def test_insufficient_funds_is_402_with_the_numbers_and_moves_nothing(party):
    alice, _ = party("alice", 5_000), party("bob")

    with pytest.raises(InsufficientFunds) as caught:
        alice.client.pay("bob", 5_001)

    error = caught.value
    assert (error.status, error.code, error.available, error.amount) == (
        402,
        "insufficient_funds",
        5_000,
        5_001,
    )
    assert error.detail and error.problem["instance"] == "/v2/payments/hub-routing"
    assert error.request_id
    assert alice.client.balance().available == 5_000


def test_unknown_recipient_and_unknown_payment_are_not_found(party):
    alice = party("alice", 5_000)
    with pytest.raises(UnknownRecipient) as caught:
        alice.client.pay("nobody", 100)
    assert (caught.value.status, caught.value.code) == (404, "unknown_recipient")
    with pytest.raises(NotFound) as caught_payment:
        alice.client.payment(uuid.uuid4())
    assert caught_payment.value.code == "not_found"


def test_a_receipt_is_only_readable_by_its_parties(party):
    alice, bob, carol = party("alice", 10_000), party("bob"), party("carol")
    receipt = alice.client.pay("bob", 1_000)
    assert alice.client.payment(receipt.payment_id) == receipt
    assert bob.client.payment(uuid.UUID(receipt.payment_id)) == receipt
    with pytest.raises(NotFound):
        carol.client.payment(receipt.payment_id)


def test_validation_refusals_are_invalid_request(party, operator):
    alice, _ = party("alice", 10_000), party("bob")
    with pytest.raises(InvalidRequest) as self_pay:
        alice.client.pay("alice", 100)
    assert (self_pay.value.status, self_pay.value.code) == (422, "self_transfer")
    with pytest.raises(InvalidRequest) as bad_name:
        alice.client.open_account("Not A Name")
    assert bad_name.value.code == "validation_error" and bad_name.value.errors
    with pytest.raises(InvalidRequest) as bad_tier:
        operator.set_tier(alice.agent_id, "gold")
    assert bad_tier.value.code == "unknown_tier"
    with pytest.raises(InvalidRequest) as bad_cursor:
        alice.client.payments(cursor="garbage")
    assert bad_cursor.value.code == "validation_error"


def test_name_taken_is_a_conflict(operator):
    operator.register_agent("alice")
    with pytest.raises(Conflict) as caught:
        operator.register_agent("ALICE")
    assert caught.value.code == "agent_name_taken"


def test_bad_or_missing_credentials_are_unauthorized(gateway, party):
    alice = party("alice")
    with SealpayClient(gateway.url, "sk_not-a-real-key") as stranger:
        with pytest.raises(Unauthorized) as caught:
            stranger.balance()
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    impostor = SealpayClient(gateway.url, admin_token="wrong-operator-token")
    agent_as_operator = SealpayClient(gateway.url, admin_token=alice.registration.api_key)
    agent_only = SealpayClient(gateway.url, alice.registration.api_key)
    anonymous = SealpayClient(gateway.url)
    with impostor, agent_as_operator, agent_only, anonymous:
        with pytest.raises(Unauthorized):
            impostor.credit(alice.agent_id, 1_000)
        with pytest.raises(Unauthorized):
            agent_as_operator.set_tier(alice.agent_id, "pro")
        with pytest.raises(ValueError, match="admin_token"):
            agent_only.set_tier(alice.agent_id, "pro")
        with pytest.raises(ValueError, match="api_key"):
            anonymous.balance()
    assert alice.client.balance().available == 0
    assert alice.client.me().tier == "free"


def test_the_101st_transfer_is_tier_limit_reached_with_an_upgrade_hint(party):
    alice, _ = party("alice", 10**9), party("bob")
    for _ in range(100):
        alice.client.pay("bob", 1_000)

    with pytest.raises(TierLimitReached) as caught:
        alice.client.pay("bob", 1_000)

    error = caught.value
    assert (error.status, error.code, error.current_count, error.limit) == (
        429,
        "tier_limit_reached",
        100,
        100,
    )
    assert (error.tier, error.upgrade_url) == ("free", "/v2/me/upgrade")


def test_set_tier_changes_the_commission(party, operator):
    alice, _ = party("alice", 100_000), party("bob")
    change = operator.set_tier(alice.agent_id, "PRO")
    assert (change.agent_id, change.tier) == (alice.agent_id, "pro")
    assert alice.client.me().tier == "pro"
    assert alice.client.pay("bob", 10_000).fee == 10


def test_an_operator_replaces_a_lost_or_leaked_key(party, operator, gateway):
    alice = party("alice", 5_000)
    issued = operator.issue_api_key(alice.agent_id)
    assert issued.agent_id == alice.agent_id and issued.revoked == 1
    assert issued.prefix == issued.api_key[:7] and issued.api_key not in repr(issued)
    with pytest.raises(Unauthorized):
        alice.client.balance()  # the old key is revoked
    with gateway.client(issued.api_key) as renewed:
        assert renewed.me().agent_id == alice.agent_id
        assert renewed.balance().available == 5_000
        kept = operator.issue_api_key(alice.agent_id, revoke_existing=False)
        assert kept.revoked == 0 and renewed.me().agent_id == alice.agent_id
    with pytest.raises(NotFound):
        operator.issue_api_key(uuid.uuid4())


def test_internal_transfer_between_own_accounts_is_fee_free(party):
    alice = party("alice", 50_000)
    savings = alice.client.open_account("savings")
    assert (savings.name, savings.available) == ("savings", 0)

    receipt = alice.client.internal_transfer("main", "savings", 20_000, memo="put aside")

    assert (receipt.kind, receipt.fee, receipt.net) == ("internal_transfer", 0, 20_000)
    assert (receipt.from_account, receipt.to_account) == ("main", "savings")
    balance = alice.client.balance()
    assert balance.available == 50_000
    assert (balance.account("main").available, balance.account("savings").available) == (
        30_000,
        20_000,
    )
    with pytest.raises(Conflict) as caught:
        alice.client.open_account("savings")
    assert caught.value.code == "account_exists"


def test_iter_payments_follows_the_cursor_newest_first(party):
    alice, bob = party("alice", 100_000), party("bob")
    paid = [alice.client.pay("bob", 100 + i).payment_id for i in range(7)]

    first_page = bob.client.payments(limit=3)
    assert len(first_page.receipts) == 3 and first_page.next_cursor is not None
    seen = [r.payment_id for r in bob.client.iter_payments(page_size=3)]

    assert seen == list(reversed(paid))
    assert [r.payment_id for r in first_page.receipts] == seen[:3]
    # alice's history also holds the operator's credit to her, oldest
    assert len(list(alice.client.iter_payments(page_size=2))) == 8


@pytest.mark.parametrize("amount", [10.0, 10.5, True, "10", 0, -5, 2**53])
def test_non_integer_or_out_of_range_amounts_are_refused_before_sending(party, relay, amount):
    counter = relay()
    alice, _ = party("alice", 100_000, transport=counter), party("bob")
    sent_before = counter.requests

    with pytest.raises(ValueError, match="amount"):
        alice.client.pay("bob", amount)
    with pytest.raises(ValueError, match="amount"):
        alice.client.internal_transfer("main", "main", amount)

    assert counter.requests == sent_before
    assert alice.client.balance().available == 100_000


def test_operator_credit_refuses_floats_too(party, operator):
    alice = party("alice")
    with pytest.raises(ValueError, match="amount"):
        operator.credit(alice.agent_id, 1e6)
    assert alice.client.balance().available == 0


def test_a_malformed_idempotency_key_is_refused_before_sending(party):
    alice, _ = party("alice", 100_000), party("bob")
    for key in ("short", "has a space in it", "é" * 10, "x" * 256):
        with pytest.raises(ValueError, match="idempotency_key"):
            alice.client.pay("bob", 100, idempotency_key=key)
    assert alice.client.balance().available == 100_000


def test_stored_receipts_can_be_verified_again_later(party):
    alice, _ = party("alice", 100_000), party("bob")
    receipt = alice.client.pay("bob", 1_000)
    assert verify_receipt(dict(receipt.wire)) == receipt


def test_client_repr_does_not_show_credentials(gateway):
    with gateway.client("sk_secret-value") as client:
        assert "sk_secret-value" not in repr(client)
        assert gateway.admin_token not in repr(client)
