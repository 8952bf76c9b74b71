"""REPORT_DATA: what ties an SEV-SNP report to one TLS key, one receipt key and one nonce.

    REPORT_DATA = SHA-512(b"sealpay-attest-v1"
                          || SHA-256(DER SubjectPublicKeyInfo of the TLS certificate)
                          || SHA-256(raw 32-byte Ed25519 receipt public key)
                          || nonce)

The payment core puts this value in its report; a client recomputes it from
the certificate *its own connection* presented, the receipt key it will trust
and the nonce *it* chose. Equality proves that the attested guest holds that
TLS key (so the connection ends inside it), signs receipts with that key, and
produced the report after the nonce existed (so it is not a replay).

The TLS key enters through its SubjectPublicKeyInfo, not the whole
certificate, so the guest may renew its certificate without a new report
binding. The two hashes are fixed-length and the nonce comes last, so the
concatenation is unambiguous. The domain prefix keeps the digest from meaning
anything in another protocol.

Imports only the standard library and ``cryptography`` (the payment core
computes the same value under its import guard).
"""

from __future__ import annotations

import hashlib
from typing import Final

from cryptography import x509

from sealpay.attestation.certs import load_certificate, spki_der

BINDING_DOMAIN: Final = b"sealpay-attest-v1"
RECEIPT_PUBLIC_KEY_SIZE: Final = 32


def expected_report_data(
    tls_certificate: bytes | str | x509.Certificate,
    receipt_public_key_raw: bytes,
    nonce: bytes,
) -> bytes:
    """The 64 bytes REPORT_DATA must hold for this TLS certificate, receipt key and nonce.

    ``tls_certificate`` is PEM or DER. Raises ``ValueError`` for a certificate
    that does not parse or a receipt key that is not 32 raw bytes.
    """
    if len(receipt_public_key_raw) != RECEIPT_PUBLIC_KEY_SIZE:
        raise ValueError(
            f"receipt public key must be {RECEIPT_PUBLIC_KEY_SIZE} raw Ed25519 bytes, "
            f"got {len(receipt_public_key_raw)}"
        )
    tls_spki = spki_der(load_certificate(tls_certificate))
    digest = hashlib.sha512()
    digest.update(BINDING_DOMAIN)
    digest.update(hashlib.sha256(tls_spki).digest())
    digest.update(hashlib.sha256(receipt_public_key_raw).digest())
    digest.update(nonce)
    return digest.digest()
