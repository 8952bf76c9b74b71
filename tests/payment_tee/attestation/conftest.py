"""Fixtures for the report providers: a simulated AMD chip, and a fake AMD KDS over real HTTP.

The simulated hierarchy uses 2048-bit RSA for speed (the verifier accepts it;
the layout and padding are AMD's). The KDS stand-in is a real HTTP server on
a free local port, so ``KdsCertSource`` runs its real urllib code; it is the
only external service faked, and only at the HTTP boundary.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from sealpay.attestation.certs import certificate_der
from sealpay.attestation.simulate import SimulatedAmdChain, build_report

CHAIN_START = datetime(2025, 1, 1, tzinfo=UTC)
VERIFY_AT = datetime(2026, 6, 1, tzinfo=UTC)
MEASUREMENT = bytes.fromhex("5e" * 48)


@pytest.fixture(scope="session")
def amd_chain() -> SimulatedAmdChain:
    return SimulatedAmdChain.generate(now=CHAIN_START, rsa_key_size=2048)


@pytest.fixture
def sign_report(amd_chain: SimulatedAmdChain):
    """What the AMD-SP would return for this REPORT_DATA on the simulated chip."""

    def sign(report_data: bytes, *, vmpl: int = 0) -> bytes:
        report = build_report(report_data, MEASUREMENT, amd_chain.chip_id, amd_chain.tcb, vmpl=vmpl)
        return amd_chain.sign_report(report)

    return sign


@pytest.fixture
def report_data() -> bytes:
    return os.urandom(64)


@pytest.fixture(scope="session")
def tls_certificate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payment-tee.sealpay.test")])
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


@pytest.fixture(scope="session")
def receipt_public_key() -> bytes:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


@dataclass
class FakeKds:
    """AMD's KDS as far as the providers use it: canned answers by path, and a request log."""

    url: str
    responses: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve_chain(self, chain: SimulatedAmdChain, product: str = "Milan") -> None:
        """Answer for this chip as AMD would: the VCEK in DER, ASK then ARK in PEM."""
        self.responses[f"/vcek/v1/{product}/{chain.chip_id.hex()}"] = (
            200,
            certificate_der(chain.vcek),
        )
        bundle = chain.pem_bundle()
        self.responses[f"/vcek/v1/{product}/cert_chain"] = (
            200,
            (bundle["ask"] + bundle["ark"]).encode("ascii"),
        )


@pytest.fixture
def kds(amd_chain: SimulatedAmdChain) -> Iterator[FakeKds]:
    fake = FakeKds(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append(self.path)
            status, body = fake.responses.get(self.path.split("?", 1)[0], (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    fake.serve_chain(amd_chain)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
