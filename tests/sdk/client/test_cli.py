"""``python -m sealpay attest`` against real HTTPS (and HTTP) servers on free ports.

The payment core's HTTPS ``/attestation`` endpoint is being built by the TEE
work; here a small stdlib HTTPS server serves simulated-SEV-SNP documents
that bind its own TLS certificate, so the CLI's peer-certificate check runs
over a real TLS connection.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.document import build_attestation_document
from sealpay.attestation.simulate import SimulatedAmdChain, build_report
from sealpay.cli import main

MEASUREMENT = bytes.fromhex("c3" * 48)
OTHER_MEASUREMENT = bytes.fromhex("d4" * 48)


@dataclass(frozen=True)
class Pki:
    """A certificate and its key, as objects and as PEM files."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path
    key_file: Path

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def issue(directory: Path, name: str, issuer: Pki | None = None, *, ca: bool = False) -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    )
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(certificate, key, cert_file, key_file)


@dataclass
class AttestingServer:
    """Serves ``<path>?nonce=`` with a simulated document binding ``bound_certificate_pem``."""

    chain: SimulatedAmdChain
    bound_certificate_pem: str
    path: str
    measurement: bytes = MEASUREMENT
    receipt_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def document(self, nonce: bytes) -> dict[str, object]:
        receipt_public_key = self.receipt_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        report_data = expected_report_data(self.bound_certificate_pem, receipt_public_key, nonce)
        report = build_report(report_data, self.measurement, self.chain.chip_id, self.chain.tcb)
        return dict(
            build_attestation_document(
                mode="simulated",
                report=self.chain.sign_report(report),
                certs=self.chain.pem_bundle(),
                tls_certificate=self.bound_certificate_pem,
                receipt_public_key=receipt_public_key,
                nonce=nonce,
            )
        )


@contextmanager
def running(server: AttestingServer, tls: ssl.SSLContext | None) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != server.path:
                self.send_error(404)
                return
            nonce = bytes.fromhex(parse_qs(parts.query)["nonce"][0])
            body = json.dumps(server.document(nonce)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Pki]:
    client_ca = issue(tmp_path, "client-ca", ca=True)
    return {
        "tee": issue(tmp_path, "tee"),
        "impostor": issue(tmp_path, "impostor"),
        "client-ca": client_ca,
        "client": issue(tmp_path, "client", client_ca),
    }


@pytest.fixture
def ark_file(tmp_path: Path, amd_chain: SimulatedAmdChain) -> Path:
    path = tmp_path / "simulated-ark.pem"
    path.write_text(amd_chain.ark_pem)
    return path


def server_tls(identity: Pki, client_ca: Pki | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(identity.cert_file, identity.key_file)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(client_ca.cert_file))
    return context


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], ark_file: Path) -> Run:
    def invoke(url: str, *extra: str, measurement: bytes = MEASUREMENT) -> tuple[int, str, str]:
        out = StringIO()
        argv = ["attest", "--url", url, "--expected-measurement", measurement.hex()]
        argv += ["--simulated-ark", str(ark_file), *extra]
        status = main(argv, stdout=out)
        return status, out.getvalue(), capsys.readouterr().err

    return invoke


def fingerprint(pki: Pki) -> str:
    return pki.certificate.fingerprint(hashes.SHA256()).hex()


def test_verifies_the_tee_and_its_tls_binding(amd_chain, pki, run):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/attestation")
    with running(server, server_tls(pki["tee"])) as url:
        status, out, err = run(url, "--expected-measurement", OTHER_MEASUREMENT.hex())

    assert status == 0, err
    assert "mode:                   simulated" in out
    assert f"measurement:            {MEASUREMENT.hex()}" in out
    assert amd_chain.chip_id.hex() in out
    assert fingerprint(pki["tee"]) in out
    assert "checked against the certificate this connection presented" in out


def test_a_document_binding_another_tls_key_fails(amd_chain, pki, run):
    # An impostor terminates TLS and relays the real guest's document.
    server = AttestingServer(amd_chain, pki["tee"].pem, "/attestation")
    with running(server, server_tls(pki["impostor"])) as url:
        status, out, err = run(url)
    assert status == 1 and out == ""
    assert "attestation failed: tls_certificate_mismatch" in err


def test_an_unexpected_measurement_fails_with_its_code(amd_chain, pki, run):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/attestation")
    with running(server, server_tls(pki["tee"])) as url:
        status, _, err = run(url, measurement=OTHER_MEASUREMENT)
    assert status == 1 and "measurement_not_allowed" in err


def test_ca_pins_the_server_certificate(amd_chain, pki, run):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/attestation")
    with running(server, server_tls(pki["tee"])) as url:
        assert run(url, "--ca", str(pki["tee"].cert_file))[0] == 0
        status, _, err = run(url, "--ca", str(pki["impostor"].cert_file))
    assert status == 1 and "fetch_failed" in err


def test_client_certificates_for_an_mtls_endpoint(amd_chain, pki, run):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/attestation")
    with running(server, server_tls(pki["tee"], client_ca=pki["client-ca"])) as url:
        client = pki["client"]
        status, _, err = run(
            url, "--client-cert", str(client.cert_file), "--client-key", str(client.key_file)
        )
        assert status == 0, err
        assert run(url)[0] == 1


def test_the_tee_endpoint_must_be_https(amd_chain, pki, run):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/attestation")
    with running(server, None) as url:
        status, _, err = run(url)
    assert status == 1 and "fetch_failed" in err and "HTTPS" in err


def test_through_the_gateway_the_tls_binding_is_not_claimed(amd_chain, pki, run):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/v2/tee/attestation")
    with running(server, None) as url:
        status, out, err = run(url, "--gateway")
    assert status == 0, err
    assert fingerprint(pki["tee"]) in out
    assert "not checked (fetched through the gateway" in out


def test_the_real_gateway_is_not_trusted_blindly(gateway, run):
    # In-process core: the gateway has no TEE to ask (503), so nothing verifies.
    status, out, err = run(gateway.url, "--gateway")
    assert status == 1 and out == "" and err.startswith("attestation failed: ")


def test_python_dash_m_sealpay(amd_chain, pki, ark_file):
    server = AttestingServer(amd_chain, pki["tee"].pem, "/v2/tee/attestation")
    with running(server, None) as url:
        argv = ["attest", "--url", url, "--gateway", "--expected-measurement", MEASUREMENT.hex()]
        ok = subprocess.run(
            [sys.executable, "-m", "sealpay", *argv, "--simulated-ark", str(ark_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        refused = subprocess.run(
            [sys.executable, "-m", "sealpay", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert ok.returncode == 0, ok.stderr
    assert "verified:               yes" in ok.stdout
    assert refused.returncode == 1 and "untrusted_root" in refused.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "sealpay", "attest", "--url", "https://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert usage.returncode == 2
