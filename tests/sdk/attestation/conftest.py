"""Fixtures for the attestation tests: simulated AMD hierarchies and a document factory.

RSA-4096 key generation takes about a second per key, so the hierarchies are
session-scoped. The "foreign" hierarchy uses 2048-bit RSA purely for speed;
its only role is to be a *different* signer.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from sealpay.attestation.abi import Report
from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.document import (
    AttestationDocument,
    AttestationResult,
    Mode,
    build_attestation_document,
    verify_attestation_document,
)
from sealpay.attestation.simulate import SimulatedAmdChain, build_report

CHAIN_START = datetime(2025, 1, 1, tzinfo=UTC)
VERIFY_AT = datetime(2026, 6, 1, tzinfo=UTC)
MEASUREMENT = bytes.fromhex("5e" * 48)


def make_tls_certificate_pem(common_name: str = "payment-tee.sealpay.test") -> str:
    """A self-signed P-256 certificate standing in for the payment core's TLS certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(CHAIN_START)
        .not_valid_after(CHAIN_START + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def make_receipt_public_key() -> bytes:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


@dataclass(frozen=True)
class Scenario:
    """A payment core on a simulated chip, and a client that verifies what it serves.

    ``document`` builds what an honest (or, with overrides, a dishonest)
    payment core would serve; ``verify`` is the client's check with the
    client's own nonce, presented certificate and expectations.
    """

    chain: SimulatedAmdChain
    tls_certificate_pem: str
    receipt_public_key: bytes
    nonce: bytes
    measurement: bytes = MEASUREMENT
    now: datetime = VERIFY_AT

    def report(self, **changes: Any) -> Report:
        """The report an honest guest would produce for this scenario, with ``changes`` applied."""
        report_data = expected_report_data(
            self.tls_certificate_pem, self.receipt_public_key, self.nonce
        )
        honest = build_report(report_data, self.measurement, self.chain.chip_id, self.chain.tcb)
        return replace(honest, **changes)

    def document(
        self,
        *,
        report_bytes: bytes | None = None,
        signer: SimulatedAmdChain | None = None,
        mode: Mode = "simulated",
        nonce: bytes | None = None,
        tls_certificate_pem: str | None = None,
        receipt_public_key: bytes | None = None,
        **report_changes: Any,
    ) -> AttestationDocument:
        signing_chain = signer or self.chain
        raw = report_bytes
        if raw is None:
            raw = signing_chain.sign_report(self.report(**report_changes))
        return build_attestation_document(
            mode=mode,
            report=raw,
            certs=signing_chain.pem_bundle(),
            tls_certificate=tls_certificate_pem or self.tls_certificate_pem,
            receipt_public_key=receipt_public_key or self.receipt_public_key,
            nonce=self.nonce if nonce is None else nonce,
        )

    def verify(
        self, document: AttestationDocument | dict[str, Any], **overrides: Any
    ) -> AttestationResult:
        arguments: dict[str, Any] = {
            "nonce": self.nonce,
            "presented_tls_certificate": self.tls_certificate_pem,
            "expected_measurements": {self.measurement},
            "now": self.now,
            "simulated_ark": self.chain.ark_pem,
        }
        arguments.update(overrides)
        return verify_attestation_document(document, **arguments)

    @staticmethod
    def with_report(document: AttestationDocument, raw: bytes) -> dict[str, Any]:
        """The same document carrying other report bytes."""
        return {**document, "report": base64.b64encode(raw).decode("ascii")}

    @staticmethod
    def report_bytes(document: AttestationDocument | dict[str, Any]) -> bytes:
        return base64.b64decode(document["report"])


@pytest.fixture(scope="session")
def amd_chain() -> SimulatedAmdChain:
    return SimulatedAmdChain.generate(now=CHAIN_START)


@pytest.fixture(scope="session")
def foreign_chain() -> SimulatedAmdChain:
    return SimulatedAmdChain.generate(now=CHAIN_START, rsa_key_size=2048)


@pytest.fixture(scope="session")
def scenario(amd_chain: SimulatedAmdChain) -> Scenario:
    return Scenario(
        chain=amd_chain,
        tls_certificate_pem=make_tls_certificate_pem(),
        receipt_public_key=make_receipt_public_key(),
        nonce=os.urandom(32),
    )


@pytest.fixture(scope="session")
def other_tls_certificate_pem() -> str:
    return make_tls_certificate_pem("impostor.sealpay.test")
