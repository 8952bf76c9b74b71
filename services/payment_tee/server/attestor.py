"""Attestation documents: a fresh SEV-SNP report binding this service's keys
to the caller's nonce.

REPORT_DATA = SHA-512("sealpay-attest-v1" || SHA-256(DER SPKI of the TLS
certificate) || SHA-256(raw receipt public key) || nonce): the report then says
"the guest holding this TLS key and this receipt-signing key answered this
nonce", which is what ties the hardware report to the running service.
"""

from __future__ import annotations

from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.document import AttestationDocument, build_attestation_document

from services.payment_tee.attestation.providers import ReportProvider

MIN_NONCE = 16
MAX_NONCE = 64


class NonceError(ValueError):
    """The caller's nonce is missing, not hex, or of the wrong size."""


class Attestor:
    def __init__(
        self, provider: ReportProvider, tls_certificate_pem: bytes, receipt_public_key: bytes
    ) -> None:
        self.provider = provider
        self.tls_certificate_pem = tls_certificate_pem
        self.receipt_public_key = receipt_public_key

    @property
    def mode(self) -> str:
        return self.provider.mode

    def document(self, nonce: bytes) -> AttestationDocument:
        """Blocking (the providers talk to the kernel or sign): call from a thread."""
        if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
            raise NonceError(f"nonce must be {MIN_NONCE} to {MAX_NONCE} bytes")
        report_data = expected_report_data(self.tls_certificate_pem, self.receipt_public_key, nonce)
        raw = self.provider.get_report(report_data)
        return build_attestation_document(
            mode=raw.mode,
            report=raw.report,
            certs=raw.certs,
            tls_certificate=self.tls_certificate_pem,
            receipt_public_key=self.receipt_public_key,
            nonce=nonce,
        )


def parse_nonce_hex(text: str | None) -> bytes:
    if not text:
        raise NonceError("nonce is required (hex)")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NonceError("nonce must be hex") from None
