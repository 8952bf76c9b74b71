"""``verify_tee=True``: attest the payment core first, then accept only receipts it signed.

The gateway's ``/v2/tee/attestation`` endpoint and its TEE dispatch are being
built separately. Until they land, the ``tee`` transport (conftest
``SimulatedTee``) wraps the real gateway: it answers the attestation endpoint
with a simulated SEV-SNP document and re-signs the real receipts as the
confidential payment core will. An end-to-end test against the real TEE path
(gateway with PAYMENT_VIA_TEE on, payment_tee with its simulated report
provider) will be added by the TEE work.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sealpay import SealpayClient, TEEVerificationError
from sealpay.attestation.errors import MeasurementNotAllowedError, NonceMismatchError

OTHER_MEASUREMENT = bytes.fromhex("b2" * 48)


def test_receipts_from_the_attested_tee_are_accepted(party, tee, tee_options):
    alice, bob = party("alice", 100_000, **tee_options), party("bob")

    receipt = alice.client.pay("bob", 10_000)

    assert receipt.signer == "tee" and (receipt.amount, receipt.net) == (10_000, 9_970)
    attested = alice.client.attestation()
    assert receipt.signing_key_raw == attested.receipt_public_key
    assert (attested.mode, attested.measurement) == ("simulated", tee.measurement)
    assert next(alice.client.iter_payments()).payment_id == receipt.payment_id
    assert alice.client.payment(receipt.payment_id) == receipt
    assert bob.client.balance().available == 9_970


def test_a_disallowed_measurement_refuses_before_anything_moves(party, tee, tee_options):
    alice, _ = party("alice", 100_000), party("bob")
    options = {**tee_options, "expected_measurements": [OTHER_MEASUREMENT.hex()]}
    with pytest.raises(TEEVerificationError) as caught:
        alice.connect(**options).pay("bob", 10_000)

    error = caught.value
    assert error.code == "measurement_not_allowed" and error.receipt is None
    assert isinstance(error.attestation_error, MeasurementNotAllowedError)
    assert isinstance(error.__cause__, MeasurementNotAllowedError)
    assert alice.client.balance().available == 100_000


def test_a_document_for_another_nonce_is_a_replay_and_refused(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options), party("bob")
    tee.nonce_override = bytes(32)

    with pytest.raises(TEEVerificationError) as caught:
        alice.client.pay("bob", 10_000)

    assert caught.value.code == "nonce_mismatch" and caught.value.receipt is None
    assert isinstance(caught.value.attestation_error, NonceMismatchError)
    tee.nonce_override = None
    assert alice.client.balance().available == 100_000


def test_a_gateway_signed_receipt_is_refused_but_handed_over(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options), party("bob")
    tee.resign = False  # the gateway posted through its in-process fallback

    with pytest.raises(TEEVerificationError) as caught:
        alice.client.pay("bob", 10_000, idempotency_key="fallback-payment-1")

    error = caught.value
    assert error.code == "receipt_not_from_tee"
    assert error.receipt is not None and error.receipt.signer == "gateway"
    assert error.receipt.amount == 10_000 and error.idempotency_key == "fallback-payment-1"
    # It happened: the receipt is what the caller reconciles with.
    tee.resign = True
    assert alice.client.balance().available == 90_000
    assert alice.client.payment(error.receipt.payment_id).payment_id == error.receipt.payment_id


def test_a_tee_receipt_signed_by_an_unattested_key_is_refused(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options), party("bob")
    tee.forger = Ed25519PrivateKey.generate()  # "tee" on the label, not the attested key

    with pytest.raises(TEEVerificationError) as caught:
        alice.client.pay("bob", 1_000)

    error = caught.value
    assert error.code == "receipt_key_not_attested" and error.receipt is not None
    assert error.receipt.signer == "tee" and error.receipt.amount == 1_000
    assert tee.attestations == 2  # an unknown key earns one fresh attestation, no more


def test_a_restarted_tee_with_a_new_key_is_attested_again(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options), party("bob")
    before = alice.client.pay("bob", 1_000)
    tee.receipt_key = Ed25519PrivateKey.generate()  # a new boot, a new receipt key

    after = alice.client.pay("bob", 1_000)

    assert tee.attestations == 2 and after.signing_key != before.signing_key
    assert alice.client.attestation().receipt_public_key == after.signing_key_raw


def test_the_attestation_is_cached_within_the_ttl(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options), party("bob")
    for _ in range(3):
        alice.client.pay("bob", 1_000)
    alice.client.payments()
    assert tee.attestations == 1


def test_the_attestation_is_refreshed_after_the_ttl(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options, attestation_ttl=0.2), party("bob")
    alice.client.pay("bob", 1_000)
    time.sleep(0.3)
    alice.client.pay("bob", 1_000)
    assert tee.attestations == 2
    alice.client.attestation(refresh=True)
    assert tee.attestations == 3


def test_concurrent_first_calls_attest_once(party, tee, tee_options):
    alice, _ = party("alice", 1_000_000, **tee_options), party("bob")
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(lambda _: alice.client.pay("bob", 1_000), range(16)))
    assert len({r.payment_id for r in receipts}) == 16
    assert tee.attestations == 1


def test_a_failed_attestation_is_not_cached(party, tee, tee_options):
    alice, _ = party("alice", 100_000, **tee_options), party("bob")
    tee.nonce_override = bytes(32)
    with pytest.raises(TEEVerificationError):
        alice.client.pay("bob", 1_000)
    tee.nonce_override = None
    assert alice.client.pay("bob", 1_000).signer == "tee"
    assert tee.attestations == 2


def test_a_gateway_without_a_tee_fails_closed(party, amd_chain):
    # The real gateway, in-process core: /v2/tee/attestation has no TEE to ask
    # (503 attestation_unavailable, or 404 on a gateway that predates the endpoint).
    alice, _ = party("alice", 100_000), party("bob")
    options = {
        "verify_tee": True,
        "expected_measurements": [bytes(48)],
        "simulated_ark": amd_chain.ark_pem,
    }
    with pytest.raises(TEEVerificationError) as caught:
        alice.connect(**options).pay("bob", 1_000)
    assert caught.value.code == "attestation_unavailable" and caught.value.receipt is None
    assert alice.client.balance().available == 100_000


def test_verify_tee_needs_expected_measurements(gateway):
    with pytest.raises(ValueError, match="expected_measurements"):
        SealpayClient(gateway.url, "sk_x", verify_tee=True)
    with pytest.raises(ValueError, match="48 bytes"):
        SealpayClient(gateway.url, "sk_x", verify_tee=True, expected_measurements=[b"short"])
