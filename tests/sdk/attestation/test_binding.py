"""REPORT_DATA binding: fixed vectors computed outside this code, and what it is sensitive to."""

from __future__ import annotations

import hashlib

import pytest
from sealpay.attestation.binding import BINDING_DOMAIN, expected_report_data
from sealpay.attestation.certs import certificate_der, load_certificate

# A self-signed P-256 certificate made with openssl; its SPKI hash below was
# computed with `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`.
FIXED_TLS_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBiDCCAS+gAwIBAgICEjQwCgYIKoZIzj0EAwIwIzEhMB8GA1UEAwwYcGF5bWVu
dC10ZWUuc2VhbHBheS50ZXN0MB4XDTI2MTEyMzExMzY0M1oXDTM2MTEyMDExMzY0
M1owIzEhMB8GA1UEAwwYcGF5bWVudC10ZWUuc2VhbHBheS50ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEGymqHqOEVCxJwgydn9gs13CB23t8jwsEmtYQJIvu
8LcIXqTvm5oyDl7gYRYIrUF3y36eIca7rXkG/w0Qfx5NFKNTMFEwHQYDVR0OBBYE
FHFXVjjBFMVGvWCYBxFT1E9zwExhMB8GA1UdIwQYMBaAFHFXVjjBFMVGvWCYBxFT
1E9zwExhMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgbKBGA5aG
gy44cU9DMmQScksD+kZfpewT8707NzGZtR8CIF4trwAZnCQJ30G7gxfMrnLWteO7
zg/fNsfhbqky5Zd/
-----END CERTIFICATE-----
"""
FIXED_SPKI_SHA256 = bytes.fromhex(
    "d7cd8bc4d6f7f26fa528a62b7f24948aefd0fe6cae3b524654462e7cba9245d7"
)
FIXED_RECEIPT_KEY = bytes(range(32))
FIXED_NONCE = bytes.fromhex("00112233445566778899aabbccddeeff")
FIXED_REPORT_DATA = bytes.fromhex(
    "3abc12849fad48e5a9bab8593b518fa538b02ae41743373c1e6aef4feaa4ad7e"
    "19c6cdf64b2092584e0f3355bf7688de98560e8e730cb753e5aefeb4552be936"
)


def test_binding_matches_the_hand_computed_digest() -> None:
    by_hand = hashlib.sha512(
        b"sealpay-attest-v1"
        + FIXED_SPKI_SHA256
        + hashlib.sha256(FIXED_RECEIPT_KEY).digest()
        + FIXED_NONCE
    ).digest()

    computed = expected_report_data(FIXED_TLS_CERTIFICATE, FIXED_RECEIPT_KEY, FIXED_NONCE)

    assert computed == by_hand == FIXED_REPORT_DATA
    assert len(computed) == 64
    assert BINDING_DOMAIN == b"sealpay-attest-v1"


def test_pem_text_pem_bytes_and_der_bind_identically() -> None:
    der = certificate_der(load_certificate(FIXED_TLS_CERTIFICATE))

    for form in (FIXED_TLS_CERTIFICATE, FIXED_TLS_CERTIFICATE.encode(), der):
        assert expected_report_data(form, FIXED_RECEIPT_KEY, FIXED_NONCE) == FIXED_REPORT_DATA


@pytest.mark.parametrize(
    ("receipt_key", "nonce"),
    [
        (bytes(32), FIXED_NONCE),
        (FIXED_RECEIPT_KEY, FIXED_NONCE[:-1]),
        (FIXED_RECEIPT_KEY, FIXED_NONCE + b"\x00"),
        (FIXED_RECEIPT_KEY, b""),
    ],
)
def test_any_change_of_key_or_nonce_changes_the_binding(receipt_key: bytes, nonce: bytes) -> None:
    assert expected_report_data(FIXED_TLS_CERTIFICATE, receipt_key, nonce) != FIXED_REPORT_DATA


def test_another_tls_key_changes_the_binding(other_tls_certificate_pem: str) -> None:
    changed = expected_report_data(other_tls_certificate_pem, FIXED_RECEIPT_KEY, FIXED_NONCE)

    assert changed != FIXED_REPORT_DATA


@pytest.mark.parametrize("size", [0, 31, 33, 44])
def test_receipt_key_must_be_32_raw_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32"):
        expected_report_data(FIXED_TLS_CERTIFICATE, bytes(size), FIXED_NONCE)


def test_unparsable_certificate_is_refused() -> None:
    with pytest.raises(ValueError):
        expected_report_data(b"not a certificate", FIXED_RECEIPT_KEY, FIXED_NONCE)


def test_a_bundle_where_one_certificate_belongs_is_refused() -> None:
    with pytest.raises(ValueError, match="one PEM certificate"):
        expected_report_data(FIXED_TLS_CERTIFICATE * 2, FIXED_RECEIPT_KEY, FIXED_NONCE)
