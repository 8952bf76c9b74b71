"""Signature and certificate-chain checks for SEV-SNP reports (go-sev-guest's ``verify``).

What is proven here, and nothing more: the report bytes were signed by a
VCEK; the VCEK was issued by an ASK, the ASK by an ARK, each with RSA-PSS
SHA-384 (salt 48, MGF1 SHA-384) exactly as AMD signs; the ARK is self-signed
and is one of the caller's trusted roots; every certificate is within its
validity period at the caller's ``now``; and the VCEK was issued for the TCB
(and chip) the report claims. Whether the *contents* of the report are
acceptable (measurement, debug, VMPL, REPORT_DATA) is ``validate``'s job.

Every check is a pure function of its arguments: no clock, no network (AMD's
KDS is not consulted; the VCEK comes with the document), no globals. Each
failure raises its own ``AttestationError`` subclass.

Imports only the standard library and ``cryptography``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import SignatureAlgorithmOID

from sealpay.attestation.abi import (
    ECDSA_COMPONENT_SIZE,
    SIGN_ECDSA_P384_SHA384,
    SIGNATURE_OFFSET,
    SIGNING_KEY_VCEK,
    Report,
    signed_bytes,
)
from sealpay.attestation.certs import load_certificate
from sealpay.attestation.errors import (
    CertificateExpiredError,
    ChipIdMismatchError,
    ReportSignatureError,
    SignatureAlgorithmError,
    SigningKeyError,
    TcbMismatchError,
    UntrustedRootError,
    VcekChainError,
)
from sealpay.attestation.kds import VcekExtensions, parse_vcek_extensions
from sealpay.attestation.trust import TrustedRoot, TrustStore

AMD_PSS_SALT_LENGTH: Final = 48
AMD_CERTIFICATE_PADDING: Final = padding.PSS(
    mgf=padding.MGF1(hashes.SHA384()), salt_length=AMD_PSS_SALT_LENGTH
)
"""How AMD signs ARK, ASK and VCEK certificates: RSASSA-PSS, SHA-384, MGF1 SHA-384, salt 48."""

MIN_AMD_RSA_KEY_SIZE: Final = 2048
_SIGNATURE_ALGO_OFFSET: Final = 0x34


@dataclass(frozen=True)
class CertificateChain:
    """The VCEK that signed a report and the ASK and ARK above it."""

    vcek: x509.Certificate
    ask: x509.Certificate
    ark: x509.Certificate

    @classmethod
    def load(
        cls,
        *,
        vcek: bytes | str | x509.Certificate,
        ask: bytes | str | x509.Certificate,
        ark: bytes | str | x509.Certificate,
    ) -> CertificateChain:
        """Load each certificate from PEM or DER; ``VcekChainError`` if one does not parse."""
        try:
            return cls(load_certificate(vcek), load_certificate(ask), load_certificate(ark))
        except ValueError as exc:
            raise VcekChainError(f"certificate does not parse: {exc}") from exc


@dataclass(frozen=True)
class VerifiedReport:
    """A report whose signature, chain and TCB checked out, and the root it chains to."""

    report: Report
    root: TrustedRoot
    vcek_extensions: VcekExtensions


def verify_report(
    report_bytes: bytes,
    chain: CertificateChain,
    *,
    trusted_roots: TrustStore,
    now: datetime,
) -> VerifiedReport:
    """All of this module's checks, in order: layout, signer, chain, signature, TCB."""
    report = Report.from_bytes(report_bytes)
    if report.signer.signing_key != SIGNING_KEY_VCEK:
        raise SigningKeyError(
            f"report signing_key is {report.signer.signing_key}; only VCEK signatures are accepted"
        )
    root = verify_certificate_chain(chain, trusted_roots=trusted_roots, now=now)
    verify_report_signature(report_bytes, chain.vcek)
    extensions = vcek_extensions(chain.vcek)
    verify_tcb(report, extensions)
    return VerifiedReport(report=report, root=root, vcek_extensions=extensions)


def verify_report_signature(report_bytes: bytes, vcek: x509.Certificate) -> None:
    """Check the ECDSA P-384/SHA-384 signature over bytes [0, 0x2A0) with the VCEK's key.

    Works on raw bytes, not a parsed ``Report``, so that what is verified is
    exactly what was received.
    """
    signed = signed_bytes(report_bytes)
    algorithm = struct.unpack_from("<I", report_bytes, _SIGNATURE_ALGO_OFFSET)[0]
    if algorithm != SIGN_ECDSA_P384_SHA384:
        raise SignatureAlgorithmError(
            f"signature_algo is {algorithm}, expected {SIGN_ECDSA_P384_SHA384} (ECDSA P-384)"
        )
    public_key = vcek.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP384R1
    ):
        raise VcekChainError("VCEK public key is not ECDSA P-384")
    signature = report_bytes[SIGNATURE_OFFSET:]
    r = int.from_bytes(signature[:ECDSA_COMPONENT_SIZE], "little")
    s = int.from_bytes(signature[ECDSA_COMPONENT_SIZE : 2 * ECDSA_COMPONENT_SIZE], "little")
    try:
        public_key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature as exc:
        raise ReportSignatureError("report signature does not verify with the VCEK") from exc


def verify_certificate_chain(
    chain: CertificateChain, *, trusted_roots: TrustStore, now: datetime
) -> TrustedRoot:
    """Check VCEK <- ASK <- ARK (self-signed, trusted) and validity at ``now``; return the root.

    ``now`` must be timezone-aware: certificate dates are UTC instants.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    root = trusted_roots.find(chain.ark)
    if root is None:
        raise UntrustedRootError(
            f"ARK {chain.ark.subject.rfc4514_string()!r} is not a trusted root"
        )
    _verify_issued_by(chain.ark, chain.ark, role="ARK")
    _verify_issued_by(chain.ask, chain.ark, role="ASK")
    _require_ca(chain.ask, role="ASK")
    _verify_issued_by(chain.vcek, chain.ask, role="VCEK")
    for certificate, role in ((chain.ark, "ARK"), (chain.ask, "ASK"), (chain.vcek, "VCEK")):
        _check_validity(certificate, role=role, now=now)
    return root


def vcek_extensions(vcek: x509.Certificate) -> VcekExtensions:
    """The VCEK's KDS extensions; ``VcekChainError`` if they are missing or malformed."""
    try:
        return parse_vcek_extensions(vcek)
    except ValueError as exc:
        raise VcekChainError(f"VCEK extensions: {exc}") from exc


def verify_tcb(report: Report, extensions: VcekExtensions) -> None:
    """REPORTED_TCB must be the TCB the VCEK was issued for, and CHIP_ID its hwID.

    A VCEK is derived from the chip's secrets *and* its firmware TCB; a
    report claiming another TCB than its VCEK certifies is lying about the
    firmware it ran on. The chip id is skipped when the host masked it
    (SIGNER_INFO.MASK_CHIP_KEY), in which case CHIP_ID is all zeros.
    """
    if extensions.tcb != report.reported_tcb:
        raise TcbMismatchError(
            f"REPORTED_TCB {report.reported_tcb:#018x} differs from the VCEK's TCB "
            f"{extensions.tcb:#018x}"
        )
    hwid = extensions.hwid
    if hwid is None or report.signer.mask_chip_key:
        return
    if report.chip_id[: len(hwid)] != hwid:
        raise ChipIdMismatchError("CHIP_ID differs from the VCEK's hwID")


def _verify_issued_by(
    certificate: x509.Certificate, issuer: x509.Certificate, *, role: str
) -> None:
    if certificate.issuer != issuer.subject:
        raise VcekChainError(f"{role} issuer is not the subject of the certificate above it")
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS:
        raise VcekChainError(f"{role} is not signed with RSASSA-PSS")
    if not isinstance(certificate.signature_hash_algorithm, hashes.SHA384):
        raise VcekChainError(f"{role} signature does not use SHA-384")
    issuer_key = issuer.public_key()
    if not isinstance(issuer_key, rsa.RSAPublicKey) or issuer_key.key_size < MIN_AMD_RSA_KEY_SIZE:
        raise VcekChainError(f"{role} issuer key is not an RSA key of at least 2048 bits")
    try:
        issuer_key.verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            AMD_CERTIFICATE_PADDING,
            hashes.SHA384(),
        )
    except InvalidSignature as exc:
        raise VcekChainError(f"{role} signature does not verify") from exc


def _require_ca(certificate: x509.Certificate, *, role: str) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound as exc:
        raise VcekChainError(f"{role} has no basic constraints, so it is not a CA") from exc
    if not constraints.value.ca:
        raise VcekChainError(f"{role} is not a CA certificate")


def _check_validity(certificate: x509.Certificate, *, role: str, now: datetime) -> None:
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if now < not_before:
        raise CertificateExpiredError(f"{role} is not valid before {not_before.isoformat()}")
    if now > not_after:
        raise CertificateExpiredError(f"{role} expired at {not_after.isoformat()}")
