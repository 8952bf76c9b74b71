"""``verify_tee``: learn the payment core's receipt key by attestation, then hold receipts to it.

Trust boundary. The SDK talks to the gateway, which terminates TLS; the
payment core (a SEV-SNP confidential VM) sits behind it, reached by the
gateway over its own mutual-TLS connection. The SDK therefore cannot check
the attestation's TLS binding end to end: the certificate its connection
sees is the gateway's, not the guest's. What it *can* check, and does:

- the report is signed by an AMD chip (VCEK <- ASK <- ARK, pinned roots, or
  the explicitly passed ``simulated_ark``), with an allowed launch
  measurement and a safe guest policy;
- REPORT_DATA binds the document's receipt public key and *this client's*
  fresh 32-byte nonce, so the document was produced for this request by that
  guest, not replayed from an earlier one;
- afterwards, every receipt is signed (``signer == "tee"``) by a key learned
  that way.

Receipts are what money depends on, and the receipt key never leaves the
guest, so a receipt that verifies under an attested key was produced by the
attested code, whatever the gateway in between did. What the gateway *can*
still do is refuse service, or post through its in-process fallback instead
of the TEE; the latter produces a ``signer == "gateway"`` receipt, which this
module refuses (after the fact: the payment has happened, and the error
carries the receipt for reconciliation). The TLS binding itself is checked by
the gateway on its mTLS connection, and by ``python -m sealpay attest``
against the TEE's own HTTPS endpoint.

Results are cached per verifier (one per client) for ``ttl`` seconds; every
receipt key attested during the verifier's life stays trusted, so receipts
signed before a payment-core restart remain acceptable. Thread-safe: one
lock serialises attestation, so concurrent first calls fetch once.

No httpx here: the client passes the function that fetches the document.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Final

from cryptography import x509

from sealpay.attestation.document import AttestationResult, verify_attestation_document
from sealpay.attestation.errors import AttestationError
from sealpay.errors import SealpayError, TEEVerificationError
from sealpay.receipts import SIGNER_TEE, Receipt

NONCE_SIZE: Final = 32
MEASUREMENT_SIZE: Final = 48

FetchDocument = Callable[[bytes], Mapping[str, object]]
"""Given the nonce, return the attestation document the server answered with."""


def parse_measurements(values: Iterable[bytes | str]) -> frozenset[bytes]:
    """Launch measurements as raw bytes; hex strings are accepted. Each is 48 bytes (SHA-384)."""
    measurements: set[bytes] = set()
    for value in values:
        raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
        if len(raw) != MEASUREMENT_SIZE:
            raise ValueError(f"a launch measurement is {MEASUREMENT_SIZE} bytes, got {len(raw)}")
        measurements.add(raw)
    return frozenset(measurements)


class TeeVerifier:
    """A cache of this client's verified attestation, and the receipt check built on it."""

    def __init__(
        self,
        fetch: FetchDocument,
        *,
        expected_measurements: frozenset[bytes],
        simulated_ark: bytes | str | x509.Certificate | None,
        ttl: float,
    ) -> None:
        if ttl < 0:
            raise ValueError("attestation_ttl must not be negative")
        self._fetch = fetch
        self._expected_measurements = expected_measurements
        self._simulated_ark = simulated_ark
        self._ttl = ttl
        self._lock = threading.Lock()
        self._current: AttestationResult | None = None
        self._verified_at = 0.0
        self._attested_keys: set[bytes] = set()

    def attest(self, *, refresh: bool = False) -> AttestationResult:
        """The cached result while younger than ``ttl``, else a freshly fetched and verified one.

        Raises :class:`TEEVerificationError` (``receipt`` unset) when the
        document cannot be fetched or does not verify; the cache keeps no
        failure, so the next call tries again.
        """
        with self._lock:
            current = self._current
            fresh = time.monotonic() - self._verified_at < self._ttl
            if current is not None and fresh and not refresh:
                return current
            result = self._fetch_and_verify()
            self._current = result
            self._verified_at = time.monotonic()
            self._attested_keys.add(result.receipt_public_key)
            return result

    def check_receipt(self, receipt: Receipt, *, idempotency_key: str | None = None) -> None:
        """Accept only receipts signed by the TEE with an attested key.

        An unknown TEE key triggers one fresh attestation (the payment core
        may have restarted with a new key) before the receipt is refused.
        """
        if receipt.signer != SIGNER_TEE:
            raise TEEVerificationError(
                f"receipt {receipt.payment_id} was signed by {receipt.signer!r}, not the "
                "attested TEE (e.g. the gateway's in-process fallback posted it); "
                "the payment may have happened",
                code="receipt_not_from_tee",
                receipt=receipt,
                idempotency_key=idempotency_key,
            )
        key = receipt.signing_key_raw
        if self._is_attested(key):
            return
        try:
            self.attest(refresh=True)
        except TEEVerificationError as exc:
            raise TEEVerificationError(
                f"receipt {receipt.payment_id} is signed by a key not attested yet, and "
                f"re-attesting failed ({exc.code}); the payment may have happened",
                code=exc.code,
                receipt=receipt,
                attestation_error=exc.attestation_error,
                idempotency_key=idempotency_key,
            ) from exc
        if not self._is_attested(key):
            raise TEEVerificationError(
                f"receipt {receipt.payment_id} is signed by a key the attested TEE does not "
                "hold; the payment may have happened",
                code="receipt_key_not_attested",
                receipt=receipt,
                idempotency_key=idempotency_key,
            )

    def _is_attested(self, key: bytes) -> bool:
        with self._lock:
            return key in self._attested_keys

    def _fetch_and_verify(self) -> AttestationResult:
        nonce = secrets.token_bytes(NONCE_SIZE)
        try:
            document = self._fetch(nonce)
        except SealpayError as exc:
            raise TEEVerificationError(
                f"could not fetch the attestation document: {exc}",
                code="attestation_unavailable",
            ) from exc
        try:
            return verify_attestation_document(
                document,
                nonce=nonce,
                presented_tls_certificate=None,
                allow_unbound_tls=True,
                expected_measurements=self._expected_measurements,
                simulated_ark=self._simulated_ark,
                now=datetime.now(UTC),
            )
        except AttestationError as exc:
            raise TEEVerificationError(
                f"attestation failed ({exc.code}): {exc}", code=exc.code, attestation_error=exc
            ) from exc
