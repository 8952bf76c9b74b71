"""What the client does when the answer cannot be trusted or is not an API answer at all.

A ``relay`` sits between the client and the real gateway and alters requests
or answers, as a man in the middle (or a broken proxy) would.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from sealpay import (
    ConnectionFailed,
    PaymentCoreUnavailable,
    ReceiptMismatchError,
    ReceiptSignatureError,
    SealpayClient,
    ServerError,
    UnexpectedResponseError,
)
from support.servers import free_port

from services.payment_tee.core.receipts import Receipt as CoreReceipt
from services.payment_tee.core.receipts import ReceiptSigner


def _on_receipts(change: dict[str, Any]):
    def edit(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if "signature" in body:
            return {**body, **change}
        if isinstance(body.get("data"), list):
            return {**body, "data": [{**r, **change} for r in body["data"]]}
        return body

    return edit


@pytest.mark.parametrize(
    "change",
    [
        {"net": 10_000},
        {"to": "00000000-0000-0000-0000-000000000000"},
        {"signer": "tee"},
        {"memo": None},
        {"extra": "slipped in"},
        {"signature": "AAAA"},
    ],
    ids=["net", "to", "signer", "memo", "added-member", "bad-signature"],
)
def test_a_tampered_receipt_raises_receipt_signature_error(party, relay, change):
    alice, _ = party("alice", 100_000), party("bob")
    tampering = relay(edit_response=_on_receipts(change))
    with pytest.raises(ReceiptSignatureError) as caught:
        alice.connect(transport=tampering).pay(
            "bob", 10_000, memo="dataset", idempotency_key="order-2026-0001"
        )

    error = caught.value
    assert error.idempotency_key == "order-2026-0001"
    assert all(error.receipt_data[k] == v for k, v in change.items())
    # The payment did happen: replaying the key over an honest path reconciles it.
    assert alice.client.balance().available == 90_000
    honest = alice.client.pay("bob", 10_000, memo="dataset", idempotency_key="order-2026-0001")
    assert honest.replayed and honest.payment_id == error.receipt_data["payment_id"]


def test_a_receipt_without_signature_is_refused(party, relay):
    alice, _ = party("alice", 100_000), party("bob")
    strip = relay(
        edit_response=lambda path, body: {k: v for k, v in body.items() if k != "signature"}
    )
    with pytest.raises(ReceiptSignatureError, match="signature"):
        alice.connect(transport=strip).pay("bob", 1_000)


def test_tampered_receipts_in_history_are_refused(party, relay):
    alice, _ = party("alice", 100_000), party("bob")
    alice.client.pay("bob", 1_000)
    tampering = relay(edit_response=_on_receipts({"amount": 1}))
    client = alice.connect(transport=tampering)
    with pytest.raises(ReceiptSignatureError):
        client.payments()
    with pytest.raises(ReceiptSignatureError):
        next(client.iter_payments())


def test_a_relay_that_changes_the_amount_is_caught_by_the_receipt(party, relay):
    def inflate(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "amount": 9_000} if path.endswith("/hub-routing") else body

    alice, _ = party("alice", 100_000), party("bob")
    inflating = relay(edit_request=inflate)
    with pytest.raises(ReceiptMismatchError, match="amount") as caught:
        alice.connect(transport=inflating).pay("bob", 1_000, idempotency_key="small-payment-001")

    assert caught.value.receipt.amount == 9_000
    assert caught.value.idempotency_key == "small-payment-001"


def test_a_relay_that_changes_the_payee_is_caught_when_paying_by_id(party, relay):
    alice, bob = party("alice", 100_000), party("bob")
    mallory = party("mallory")

    def redirect(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("/hub-routing"):
            return {**body, "to_agent": mallory.registration.agent_id}
        return body

    redirecting = alice.connect(transport=relay(edit_request=redirect))
    with pytest.raises(ReceiptMismatchError, match=r"\(to\)") as caught:
        redirecting.pay(bob.registration.agent_id, 1_000, idempotency_key="pay-bob-by-id-01")
    assert caught.value.receipt.to == mallory.registration.agent_id


def test_a_relay_that_turns_a_payment_into_another_kind_is_caught(party, relay):
    alice = party("alice", 100_000)
    party("bob")
    alice.client.open_account("savings")

    def to_savings(path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The same amount, but sent to the caller's own savings: a different payment."""
        if path.endswith("/hub-routing"):
            return {"from_account": "main", "to_account": "savings", "amount": body["amount"]}
        return body

    def reroute(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/hub-routing"):
            return None
        body = to_savings(request.url.path, json.loads(request.content))
        moved = httpx.Request(
            "POST",
            request.url.copy_with(path="/v2/payments/internal-transfer"),
            headers=[(k, v) for k, v in request.headers.items() if k.lower() != "content-length"],
            json=body,
        )
        return inner.handle_request(moved)

    inner = httpx.HTTPTransport()
    try:
        with pytest.raises(ReceiptMismatchError, match="kind") as caught:
            alice.connect(transport=relay(answer=reroute)).pay(
                "bob", 1_000, idempotency_key="pay-bob-not-me-01"
            )
    finally:
        inner.close()
    assert caught.value.receipt.kind == "internal_transfer"


def test_a_lookup_answered_with_another_payment_is_refused(party, relay):
    alice, _ = party("alice", 100_000), party("bob")
    first = alice.client.pay("bob", 1_000)
    second = alice.client.pay("bob", 2_000)

    def swap(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(second.wire) if path.endswith(first.payment_id) else body

    with pytest.raises(ReceiptMismatchError, match=first.payment_id) as caught:
        alice.connect(transport=relay(edit_response=swap)).payment(first.payment_id)
    assert caught.value.receipt == second
    assert alice.client.payment(first.payment_id) == first


def test_a_new_payment_answered_with_an_older_genuine_receipt_is_refused(party, relay):
    alice, _ = party("alice", 100_000), party("bob")
    older = alice.client.pay("bob", 1_000, memo="tea", idempotency_key="tea-order-0001")
    assert older.idempotency_key_sha256 == hashlib.sha256(b"tea-order-0001").hexdigest()

    def replay_older(request: httpx.Request) -> httpx.Response | None:
        """Never forwards the new payment; answers with the old, correctly signed receipt."""
        if not request.url.path.endswith("/hub-routing"):
            return None
        return httpx.Response(201, json=dict(older.wire))

    with pytest.raises(ReceiptMismatchError, match="idempotency_key_sha256") as caught:
        alice.connect(transport=relay(answer=replay_older)).pay(
            "bob", 1_000, memo="tea", idempotency_key="tea-order-0002"
        )
    assert caught.value.receipt == older
    assert alice.client.balance().available == 100_000 - 1_000  # the second never happened


def test_a_receipt_signed_before_key_digests_existed_is_still_accepted(party, relay):
    """A replay of a payment posted before receipts carried the key's digest
    answers with that older receipt: it is genuine, so it must not be refused."""
    alice, bob = party("alice", 100_000), party("bob")
    posted = alice.client.pay(bob.registration.agent_id, 1_000, idempotency_key="pre-digest-01")
    older = _pre_digest(posted)

    def replay_older(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/hub-routing"):
            return None
        return httpx.Response(201, json=older, headers={"Idempotent-Replayed": "true"})

    again = alice.connect(transport=relay(answer=replay_older)).pay(
        bob.registration.agent_id, 1_000, idempotency_key="pre-digest-01"
    )
    assert again.payment_id == posted.payment_id and again.idempotency_key_sha256 is None


def _pre_digest(posted) -> dict[str, Any]:
    """`posted` as the core signed receipts before they carried the key's digest."""
    return ReceiptSigner("gateway").sign(
        CoreReceipt(
            posted.payment_id, posted.kind, posted.from_, posted.to, posted.from_account,
            posted.to_account, posted.asset, posted.amount, posted.fee, posted.fee_bps,
            posted.net, posted.memo, posted.status, posted.created_at,
        )
    ).to_wire()  # fmt: skip


@pytest.mark.parametrize(
    ("replayed", "own_key"),
    [(False, False), (True, True)],
    ids=["answered-as-new", "replay-of-a-key-made-for-this-call"],
)
def test_an_older_receipt_without_the_key_digest_cannot_answer_a_new_payment(
    party, relay, replayed, own_key
):
    """Only a replay of a payment that old can lack the digest: a relay answering a
    new payment with such a receipt is refused, whether it calls the answer new or
    a replay of a key the client made for this very call (nothing can replay it)."""
    alice, bob = party("alice", 100_000), party("bob")
    posted = alice.client.pay(bob.registration.agent_id, 1_000, idempotency_key="pre-digest-02")
    older = _pre_digest(posted)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}

    def answer_with_older(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/hub-routing"):
            return None
        return httpx.Response(201, json=older, headers=headers)

    key = None if own_key else "pre-digest-03"
    with pytest.raises(ReceiptMismatchError, match="idempotency_key_sha256"):
        alice.connect(transport=relay(answer=answer_with_older)).pay(
            bob.registration.agent_id, 1_000, idempotency_key=key
        )
    assert alice.client.balance().available == 100_000 - 1_000  # nothing more moved


def test_a_credit_answered_with_a_transfer_receipt_is_refused(party, relay):
    """An operator's credit checks the receipt's kind too, not only amount and account."""
    alice, bob = party("alice", 100_000), party("bob")
    transfer = alice.client.pay(bob.registration.agent_id, 1_000, idempotency_key="kind-swap-01")

    def answer_with_transfer(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/admin/credits"):
            return None
        return httpx.Response(201, json=dict(transfer.wire))

    operator = alice.connect(transport=relay(answer=answer_with_transfer))
    with pytest.raises(ReceiptMismatchError, match="kind"):
        operator.credit(bob.registration.agent_id, 1_000, memo=None, idempotency_key="kind-swap-01")


def _answer(
    status: int,
    body: bytes,
    content_type: str,
    path: str = "/v2/payments/hub-routing",
    **headers: str,
):
    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != path:
            return None
        return httpx.Response(
            status, content=body, headers={"content-type": content_type, **headers}
        )

    return answer


def test_payment_core_unavailable_is_its_own_server_error(party, relay):
    problem = (
        b'{"type":"https://docs.sealpay.dev/errors/payment_core_unavailable","status":503,'
        b'"title":"payment core unavailable","detail":"the payment core cannot be reached",'
        b'"code":"payment_core_unavailable"}'
    )
    unavailable = relay(
        answer=_answer(503, problem, "application/problem+json", **{"retry-after": "1"})
    )
    alice, _ = party("alice", 100_000, transport=unavailable), party("bob")

    with pytest.raises(PaymentCoreUnavailable) as caught:
        alice.client.pay("bob", 1_000, idempotency_key="retry-me-later-1")

    error = caught.value
    assert isinstance(error, ServerError)
    assert (error.status, error.code, error.idempotency_key) == (
        503,
        "payment_core_unavailable",
        "retry-me-later-1",
    )
    assert error.retry_after == 1.0


def test_a_proxy_error_page_is_an_unexpected_response(party, relay):
    html = relay(answer=_answer(502, b"<html><body>Bad Gateway</body></html>", "text/html"))
    alice, _ = party("alice", 100_000, transport=html), party("bob")

    with pytest.raises(UnexpectedResponseError, match="502") as caught:
        alice.client.pay("bob", 1_000)

    assert caught.value.status == 502 and "Bad Gateway" in caught.value.body
    assert caught.value.idempotency_key


def test_a_success_without_json_is_an_unexpected_response(party, relay):
    empty = relay(answer=_answer(200, b"ok", "text/plain", path="/v2/me/balance"))
    alice = party("alice", transport=empty)
    with pytest.raises(UnexpectedResponseError, match="JSON"):
        alice.client.balance()


def test_no_server_is_connection_failed_with_the_key_to_retry():
    nobody = f"http://127.0.0.1:{free_port()}"
    with (
        SealpayClient(nobody, "sk_whatever", timeout=2) as client,
        pytest.raises(ConnectionFailed) as caught,
    ):
        client.pay("bob", 1_000, idempotency_key="unknown-outcome-1")
    assert caught.value.idempotency_key == "unknown-outcome-1"
