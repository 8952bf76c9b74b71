"""The attestation document: what the payment core serves, and the one call that checks it.

Wire format (JSON object, DESIGN.md "Contracts shared across services")::

    {"mode": "snp" | "simulated",
     "report": base64 of the 1184-byte ATTESTATION_REPORT,
     "certs": {"vcek": PEM, "ask": PEM, "ark": PEM},
     "tls_certificate": PEM,
     "receipt_public_key": base64 of the raw 32-byte Ed25519 key,
     "nonce": hex}

``verify_attestation_document`` trusts nothing the document says about
*what was presented*: the nonce must be the caller's own, the TLS key must be
the one the caller's connection actually presented, and REPORT_DATA is
recomputed from those, so a document copied from another connection or an
earlier nonce fails. Only the receipt key comes from the document, because
the point of the check is to learn it.

Imports only the standard library and ``cryptography``.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypedDict

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sealpay.attestation.abi import Report
from sealpay.attestation.binding import RECEIPT_PUBLIC_KEY_SIZE, expected_report_data
from sealpay.attestation.certs import CertPemBundle, certificate_pem, load_certificate, spki_der
from sealpay.attestation.errors import (
    DocumentFormatError,
    ModeMismatchError,
    NonceMismatchError,
    TlsCertificateMismatchError,
)
from sealpay.attestation.trust import AMD_TRUST_STORE, TrustedRoot, TrustStore
from sealpay.attestation.validate import ValidationPolicy, validate_report
from sealpay.attestation.verify import CertificateChain, verify_report

Mode = Literal["snp", "simulated"]
MODES: Final[frozenset[str]] = frozenset({"snp", "simulated"})
MIN_NONCE_SIZE: Final = 16
"""A verifier's nonce must be unpredictable; 16 random bytes make a replayed report hopeless."""

_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")


class AttestationDocument(TypedDict):
    """The JSON object served at ``/attestation`` and ``/v2/tee/attestation``."""

    mode: Mode
    report: str
    certs: CertPemBundle
    tls_certificate: str
    receipt_public_key: str
    nonce: str


@dataclass(frozen=True)
class AttestationResult:
    """What a verified document establishes about the payment core the caller is talking to."""

    mode: Mode
    measurement: bytes
    receipt_public_key: bytes
    tls_certificate: x509.Certificate
    report: Report
    chip_id: bytes
    root: TrustedRoot


@dataclass(frozen=True)
class _ParsedDocument:
    mode: Mode
    report: bytes
    chain: CertificateChain
    tls_certificate: x509.Certificate
    receipt_public_key: bytes
    nonce: bytes


def build_attestation_document(
    *,
    mode: Mode,
    report: bytes,
    certs: CertPemBundle,
    tls_certificate: bytes | str | x509.Certificate,
    receipt_public_key: bytes,
    nonce: bytes,
) -> AttestationDocument:
    """Serialise the document exactly as ``verify_attestation_document`` reads it."""
    return AttestationDocument(
        mode=mode,
        report=base64.b64encode(report).decode("ascii"),
        certs=CertPemBundle(vcek=certs["vcek"], ask=certs["ask"], ark=certs["ark"]),
        tls_certificate=certificate_pem(load_certificate(tls_certificate)),
        receipt_public_key=base64.b64encode(receipt_public_key).decode("ascii"),
        nonce=nonce.hex(),
    )


def verify_attestation_document(
    document: Mapping[str, object],
    *,
    nonce: bytes,
    presented_tls_certificate: bytes | str | x509.Certificate | None,
    expected_measurements: Iterable[bytes],
    now: datetime,
    trusted_roots: TrustStore | None = None,
    simulated_ark: bytes | str | x509.Certificate | None = None,
    allow_unbound_tls: bool = False,
    max_vmpl: int = 0,
    allow_debug: bool = False,
    allow_migrate_ma: bool = False,
) -> AttestationResult:
    """Verify a document end to end, or raise the specific ``AttestationError``.

    - ``nonce``: the bytes this caller sent (at least 16, fresh per request).
    - ``presented_tls_certificate``: PEM or DER of the certificate the
      caller's TLS connection presented. ``None`` is accepted only with
      ``allow_unbound_tls=True``, and then the binding is checked against the
      document's own certificate: it proves the guest holds that key, not
      that this connection reaches it.
    - ``expected_measurements``: allowed launch measurements; empty refuses all.
    - ``trusted_roots``: defaults to AMD's pinned ARKs only.
    - ``simulated_ark``: a simulated root to trust in addition; only then is
      a ``"simulated"`` document acceptable.
    - ``now``: the instant certificate validity is judged at (timezone-aware).
    """
    if len(nonce) < MIN_NONCE_SIZE:
        raise ValueError(f"nonce must be at least {MIN_NONCE_SIZE} bytes")
    if presented_tls_certificate is None and not allow_unbound_tls:
        raise ValueError(
            "presented_tls_certificate is required; pass allow_unbound_tls=True to opt out"
        )
    parsed = _parse_document(document)
    if not hmac.compare_digest(parsed.nonce, nonce):
        raise NonceMismatchError("document answers a different nonce than the one sent")
    bound_certificate = _bound_tls_certificate(parsed.tls_certificate, presented_tls_certificate)
    store = AMD_TRUST_STORE if trusted_roots is None else trusted_roots
    if simulated_ark is not None:
        store = store.with_simulated_root(simulated_ark)
    verified = verify_report(parsed.report, parsed.chain, trusted_roots=store, now=now)
    _check_mode(parsed.mode, verified.root)
    policy = ValidationPolicy(
        allowed_measurements=frozenset(expected_measurements),
        max_vmpl=max_vmpl,
        allow_debug=allow_debug,
        allow_migrate_ma=allow_migrate_ma,
        expected_report_data=expected_report_data(
            bound_certificate, parsed.receipt_public_key, nonce
        ),
    )
    validate_report(verified.report, policy)
    return AttestationResult(
        mode=parsed.mode,
        measurement=verified.report.measurement,
        receipt_public_key=parsed.receipt_public_key,
        tls_certificate=bound_certificate,
        report=verified.report,
        chip_id=verified.report.chip_id,
        root=verified.root,
    )


def _parse_document(document: Mapping[str, object]) -> _ParsedDocument:
    """Decode every member strictly; ``DocumentFormatError`` names the first bad one."""
    mode = _member(document, "mode")
    if mode not in MODES:
        raise DocumentFormatError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    certs = document.get("certs")
    if not isinstance(certs, Mapping):
        raise DocumentFormatError("certs must be an object with vcek, ask and ark")
    chain = CertificateChain.load(
        vcek=_member(certs, "vcek", "certs."),
        ask=_member(certs, "ask", "certs."),
        ark=_member(certs, "ark", "certs."),
    )
    return _ParsedDocument(
        mode="snp" if mode == "snp" else "simulated",
        report=_base64(document, "report"),
        chain=chain,
        tls_certificate=_certificate(document, "tls_certificate"),
        receipt_public_key=_receipt_key(document),
        nonce=_nonce(document),
    )


def _bound_tls_certificate(
    claimed: x509.Certificate, presented: bytes | str | x509.Certificate | None
) -> x509.Certificate:
    """What REPORT_DATA must bind: the presented certificate, if it has the document's key."""
    if presented is None:
        return claimed
    presented_certificate = load_certificate(presented)
    if not hmac.compare_digest(spki_der(claimed), spki_der(presented_certificate)):
        raise TlsCertificateMismatchError(
            "the document's TLS key is not the key this connection presented"
        )
    return presented_certificate


def _check_mode(mode: Mode, root: TrustedRoot) -> None:
    if root.simulated and mode != "simulated":
        raise ModeMismatchError("document claims real SEV-SNP but chains to a simulated root")
    if not root.simulated and mode != "snp":
        raise ModeMismatchError("document claims to be simulated but chains to an AMD root")


def _member(document: Mapping[str, object], name: str, prefix: str = "") -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise DocumentFormatError(f"{prefix}{name} must be a string")
    return value


def _base64(document: Mapping[str, object], name: str) -> bytes:
    try:
        return base64.b64decode(_member(document, name), validate=True)
    except ValueError as exc:
        raise DocumentFormatError(f"{name} is not valid base64") from exc


def _certificate(document: Mapping[str, object], name: str) -> x509.Certificate:
    try:
        return load_certificate(_member(document, name))
    except ValueError as exc:
        raise DocumentFormatError(f"{name} is not a PEM certificate: {exc}") from exc


def _receipt_key(document: Mapping[str, object]) -> bytes:
    raw = _base64(document, "receipt_public_key")
    if len(raw) != RECEIPT_PUBLIC_KEY_SIZE:
        raise DocumentFormatError(f"receipt_public_key must be {RECEIPT_PUBLIC_KEY_SIZE} bytes")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise DocumentFormatError("receipt_public_key is not an Ed25519 public key") from exc
    return raw


def _nonce(document: Mapping[str, object]) -> bytes:
    value = _member(document, "nonce")
    if not _HEX.fullmatch(value):
        raise DocumentFormatError("nonce must be hex")
    return bytes.fromhex(value)
