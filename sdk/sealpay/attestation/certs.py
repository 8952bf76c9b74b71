"""Small X.509 helpers shared by the binding, the trust store and the verifier.

Certificates arrive as PEM text (attestation documents) or DER (AMD's KDS,
TLS stacks); one loader accepts both so no caller guesses. Imports only the
standard library and ``cryptography``.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

# AMD issues every VCEK with serial number 0, which RFC 5280 forbids and
# cryptography reports with a deprecation warning on each load. The warning is
# silenced for loads made by this module only (the filter is keyed on it), so
# verifying real reports does not print it every time. If a future cryptography
# release refuses such certificates outright, the load fails and verification
# fails closed with a chain error.
warnings.filterwarnings(
    "ignore",
    message="Parsed a serial number which wasn't positive",
    category=CryptographyDeprecationWarning,
    module=r"sealpay\.attestation\.certs",
)

_PEM_PREFIX = b"-----BEGIN"


class CertPemBundle(TypedDict):
    """VCEK, ASK and ARK as PEM text: the ``certs`` member of an attestation document."""

    vcek: str
    ask: str
    ark: str


def load_certificate(data: bytes | str | x509.Certificate) -> x509.Certificate:
    """Load exactly one certificate from PEM text or DER bytes.

    A PEM input holding several certificates is refused: a caller who passes a
    bundle where one certificate belongs has mixed something up, and taking
    the first would hide it. Raises ``ValueError`` on anything unparsable.
    """
    if isinstance(data, x509.Certificate):
        return data
    raw = data.encode("ascii") if isinstance(data, str) else data
    if raw.lstrip().startswith(_PEM_PREFIX):
        certificates = x509.load_pem_x509_certificates(raw)
        if len(certificates) != 1:
            raise ValueError(f"expected one PEM certificate, found {len(certificates)}")
        return certificates[0]
    return x509.load_der_x509_certificate(raw)


def certificate_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def sha256_fingerprint(certificate: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's DER: what roots are pinned by."""
    return hashlib.sha256(certificate_der(certificate)).digest()


def spki_der(certificate: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo: identifies the key whatever the certificate around it."""
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
