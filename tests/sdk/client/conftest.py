"""A real gateway over real HTTP for the SDK client, and transports that stand in front of it.

The gateway is built as tests/gateway/conftest.py builds it (in-process
payment core, real PostgreSQL, a fixed clock) and served by uvicorn on a free
port. ``Relay`` wraps httpx's real transport to play a man in the middle
(alter a request or an answer, or answer itself); ``SimulatedTee`` plays the
payment core inside a simulated SEV-SNP guest.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from sealpay import Registration, SealpayClient
from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.document import AttestationDocument, build_attestation_document
from sealpay.attestation.simulate import SimulatedAmdChain, build_report
from support.factories import AUDIT_KEY, MARCH_15, SERVICE_TOKEN
from support.servers import serve

from services.common.clock import FixedClock
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

ADMIN_TOKEN = "test-admin-token-0123456789"
MEASUREMENT = bytes.fromhex("a1" * 48)
OTHER_MEASUREMENT = bytes.fromhex("b2" * 48)

EditBody = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Gateway:
    url: str
    clock: FixedClock
    admin_token: str = ADMIN_TOKEN

    def client(self, api_key: str | None = None, **options: Any) -> SealpayClient:
        """A client for an agent (``api_key``) that also holds the operator token."""
        return SealpayClient(self.url, api_key, admin_token=self.admin_token, **options)


@dataclass
class Party:
    """A registered agent, a client holding its API key, and ``connect`` for more clients."""

    registration: Registration
    client: SealpayClient
    connect: Callable[..., SealpayClient]
    """``connect(**client_options)``: another client for this agent, closed after the test."""

    @property
    def agent_id(self) -> str:
        return self.registration.agent_id

    @property
    def name(self) -> str:
        return self.registration.name


@pytest.fixture
def gateway(db, database_url: str, billing_url: str) -> Iterator[Gateway]:
    settings = GatewaySettings(
        sealpay_env="test",
        database_url=database_url,
        sealpay_admin_token=ADMIN_TOKEN,
        sealpay_service_token=SERVICE_TOKEN,
        billing_url=billing_url,
        ledger_audit_key=AUDIT_KEY.decode(),
        auth_cache_seconds=0,
    )
    clock = FixedClock(MARCH_15)
    with serve(create_app(settings, engine=db, clock=clock)) as url:
        yield Gateway(url, clock)


@pytest.fixture
def operator(gateway: Gateway) -> Iterator[SealpayClient]:
    """A client holding only the operator token."""
    with gateway.client() as client:
        yield client


@pytest.fixture
def party(gateway: Gateway, operator: SealpayClient) -> Iterator[Callable[..., Party]]:
    """``party(name, balance=0, **client_options)``: register and fund an agent, with a client."""
    clients: list[SealpayClient] = []

    def make(name: str, balance: int = 0, **options: Any) -> Party:
        registration = operator.register_agent(name)
        if balance:
            operator.credit(registration.agent_id, balance)

        def connect(**options: Any) -> SealpayClient:
            clients.append(gateway.client(registration.api_key, **options))
            return clients[-1]

        return Party(registration, connect(**options), connect)

    yield make
    for client in clients:
        client.close()


class Relay(httpx.BaseTransport):
    """The real HTTP transport with a man in the middle.

    ``edit_request(path, body)`` rewrites JSON request bodies on the way out,
    ``edit_response(path, body)`` rewrites JSON answers on the way back, and
    ``answer(request)`` may answer instead of the gateway (return None to
    pass the request on). ``requests`` counts what reached the gateway.
    """

    def __init__(
        self,
        *,
        edit_request: EditBody | None = None,
        edit_response: EditBody | None = None,
        answer: Callable[[httpx.Request], httpx.Response | None] | None = None,
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.edit_request = edit_request
        self.edit_response = edit_response
        self.answer = answer
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        own = self.answer(request) if self.answer else None
        if own is not None:
            return own
        if self.edit_request is not None and request.content:
            body = self.edit_request(request.url.path, json.loads(request.content))
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
            request = httpx.Request(request.method, request.url, headers=headers, json=body)
        self.requests += 1
        response = self.inner.handle_request(request)
        if self.edit_response is None:
            return response
        response.read()
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response
        body = self.edit_response(request.url.path, response.json())
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, json=body)

    def close(self) -> None:
        self.inner.close()


def tls_certificate_pem(common_name: str = "payment-tee.sealpay.test") -> str:
    """A self-signed P-256 certificate standing in for the payment core's TLS certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_receipt(receipt: dict[str, Any], key: Ed25519PrivateKey, signer: str) -> dict[str, Any]:
    """The receipt as ``signer`` holding ``key`` would have signed it (RFC 8785 + Ed25519)."""
    unsigned = {k: v for k, v in receipt.items() if k != "signature"}
    unsigned.update(signer=signer, signing_key=base64.b64encode(raw_public_key(key)).decode())
    signature = key.sign(rfc8785.dumps(unsigned))
    return {**unsigned, "signature": base64.b64encode(signature).decode()}


class SimulatedTee(Relay):
    """The gateway as it will look with PAYMENT_VIA_TEE on, simulated in front of today's gateway.

    The gateway's ``/v2/tee/attestation`` endpoint and the TEE dispatch are
    being built separately; until they land, this transport answers
    ``/v2/tee/attestation?nonce=`` itself with a document from a simulated
    AMD chip (a real report signed by a simulated VCEK, binding a TLS
    certificate, ``receipt_key`` and the caller's nonce), and re-signs the
    real gateway's receipts with ``receipt_key`` and ``signer="tee"``, as the
    confidential payment core will. Knobs let a test play a dishonest or
    degraded server: ``measurement``, ``nonce_override``, ``resign`` (False:
    pass the gateway's own fallback receipts through), ``receipt_key`` (swap
    it to play a restarted guest) and ``forger`` (sign receipts with a key
    the attested guest does not hold).

    TODO(TEE work): an end-to-end test of verify_tee against the real gateway
    and payment_tee (PAYMENT_VIA_TEE=true, simulated report provider) is added
    together with the TEE path; these tests pin the client's side until then.
    """

    def __init__(self, chain: SimulatedAmdChain, measurement: bytes = MEASUREMENT) -> None:
        super().__init__(edit_response=self._resign, answer=self._attest)
        self.chain = chain
        self.measurement = measurement
        self.tls_certificate_pem = tls_certificate_pem()
        self.receipt_key = Ed25519PrivateKey.generate()
        self.forger: Ed25519PrivateKey | None = None
        self.nonce_override: bytes | None = None
        self.resign = True
        self.attestations = 0

    def document(self, nonce: bytes) -> AttestationDocument:
        receipt_public_key = raw_public_key(self.receipt_key)
        report_data = expected_report_data(self.tls_certificate_pem, receipt_public_key, nonce)
        report = build_report(report_data, self.measurement, self.chain.chip_id, self.chain.tcb)
        return build_attestation_document(
            mode="simulated",
            report=self.chain.sign_report(report),
            certs=self.chain.pem_bundle(),
            tls_certificate=self.tls_certificate_pem,
            receipt_public_key=receipt_public_key,
            nonce=nonce if self.nonce_override is None else self.nonce_override,
        )

    def _attest(self, request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/tee/attestation":
            return None
        self.attestations += 1
        document = self.document(bytes.fromhex(request.url.params["nonce"]))
        return httpx.Response(200, json=document)

    def _resign(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.resign:
            return body
        key = self.forger or self.receipt_key
        if "signature" in body:
            return sign_receipt(body, key, "tee")
        if isinstance(body.get("data"), list):
            return {**body, "data": [sign_receipt(r, key, "tee") for r in body["data"]]}
        return body


@pytest.fixture
def relay() -> Iterator[Callable[..., Relay]]:
    """``relay(edit_request=, edit_response=, answer=)``: a man-in-the-middle transport."""
    made: list[Relay] = []

    def make(**hooks: Any) -> Relay:
        made.append(Relay(**hooks))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


@pytest.fixture(scope="session")
def amd_chain() -> SimulatedAmdChain:
    """A simulated AMD hierarchy valid now (the client judges validity by the wall clock).

    2048-bit RSA only to keep the suite fast; the attestation tests cover 4096.
    """
    return SimulatedAmdChain.generate(now=datetime.now(UTC) - timedelta(days=1), rsa_key_size=2048)


@pytest.fixture
def tee(amd_chain: SimulatedAmdChain) -> Iterator[SimulatedTee]:
    transport = SimulatedTee(amd_chain)
    yield transport
    transport.close()


@pytest.fixture
def tee_options(tee: SimulatedTee, amd_chain: SimulatedAmdChain) -> dict[str, Any]:
    """Client options for verify_tee through the simulated TEE."""
    return {
        "verify_tee": True,
        "expected_measurements": [MEASUREMENT],
        "simulated_ark": amd_chain.ark_pem,
        "transport": tee,
    }
