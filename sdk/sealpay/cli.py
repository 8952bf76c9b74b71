"""``python -m sealpay attest``: fetch a payment core's attestation with a fresh nonce, verify it.

The command's help text (``_ATTEST_DESCRIPTION``) says what is checked. The
CLI uses argparse rather than typer so that ``pip install sealpay`` stays at
three dependencies; the TEE fetch uses the standard library's ``ssl`` and
``http.client`` because the certificate must come from the very connection
that delivered the document.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import secrets
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes

from sealpay.attestation.document import AttestationResult, verify_attestation_document
from sealpay.attestation.errors import AttestationError
from sealpay.tee import MEASUREMENT_SIZE, NONCE_SIZE

_ATTEST_DESCRIPTION = """\
Fetch an attestation document with a fresh 32-byte nonce and verify it.

Directly (default): GET <url>/attestation?nonce=<hex> on the payment core's
own HTTPS endpoint. The certificate this TLS connection presented is checked
against the one the report binds, so a verified answer proves the connection
ends inside the attested guest. Without --ca no PKI check is made: the
attestation is what authenticates the key. --ca adds one (chain, host name).

Through the gateway (--gateway): GET <url>/v2/tee/attestation. The gateway
terminates TLS, so the TLS binding is not checked here (the gateway checks it
on its own mTLS connection); the receipt key and the nonce still are.

Prints mode, measurement, chip id, receipt public key and the TLS
certificate's SHA-256 fingerprint. Exit status: 0 verified, 1 failed (with
the error code), 2 bad arguments.
"""

EXIT_VERIFIED = 0
EXIT_FAILED = 1


class FetchError(Exception):
    """The document could not be obtained (network, TLS, HTTP status, not JSON)."""

    code = "fetch_failed"


@dataclass(frozen=True)
class Fetched:
    document: Mapping[str, object]
    presented_certificate: bytes | None
    """DER of the certificate the connection presented; None through the gateway."""


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    args = _parser().parse_args(argv)
    return int(args.run(args, out))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sealpay", description="Sealpay SDK tools")
    commands = parser.add_subparsers(dest="command", required=True)
    attest = commands.add_parser(
        "attest",
        help="fetch and verify a payment core's SEV-SNP attestation",
        description=_ATTEST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    attest.add_argument("--url", required=True, help="the payment core's (or gateway's) base URL")
    attest.add_argument(
        "--gateway",
        action="store_true",
        help="ask the gateway (/v2/tee/attestation) instead of the TEE (/attestation)",
    )
    attest.add_argument(
        "--expected-measurement",
        dest="measurements",
        action="append",
        required=True,
        type=_measurement,
        metavar="HEX",
        help="an allowed launch measurement (96 hex digits); repeat for several",
    )
    attest.add_argument(
        "--simulated-ark",
        type=Path,
        metavar="PEM",
        help="also trust this simulated AMD root (tests and machines without SEV-SNP)",
    )
    attest.add_argument("--ca", type=Path, metavar="PEM", help="verify the server against this CA")
    attest.add_argument("--client-cert", type=Path, metavar="PEM", help="client certificate (mTLS)")
    attest.add_argument("--client-key", type=Path, metavar="PEM", help="its private key")
    attest.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    attest.set_defaults(run=_attest)
    return parser


def _measurement(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {value!r}") from None
    if len(raw) != MEASUREMENT_SIZE:
        raise argparse.ArgumentTypeError(f"a measurement is {MEASUREMENT_SIZE} bytes")
    return raw


def _attest(args: argparse.Namespace, out: TextIO) -> int:
    if (args.client_cert is None) != (args.client_key is None):
        print("error: --client-cert and --client-key go together", file=sys.stderr)
        return 2
    nonce = secrets.token_bytes(NONCE_SIZE)
    try:
        context = _tls_context(args)
        simulated_ark = args.simulated_ark.read_bytes() if args.simulated_ark else None
        if args.gateway:
            fetched = _fetch_through_gateway(args.url, nonce, context, args.timeout)
        else:
            fetched = _fetch_from_tee(args.url, nonce, context, args.timeout)
        result = verify_attestation_document(
            fetched.document,
            nonce=nonce,
            presented_tls_certificate=fetched.presented_certificate,
            allow_unbound_tls=fetched.presented_certificate is None,
            expected_measurements=args.measurements,
            simulated_ark=simulated_ark,
            now=datetime.now(UTC),
        )
    except (AttestationError, FetchError) as exc:
        print(f"attestation failed: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, ValueError) as exc:
        print(f"attestation failed: {FetchError.code}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _report(result, bound=fetched.presented_certificate is not None, out=out)
    return EXIT_VERIFIED


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext:
    """System CAs through the gateway; for the TEE, the attestation authenticates its key.

    ``--ca`` replaces either with that CA (chain and host name checked).
    """
    if args.ca is not None:
        context = ssl.create_default_context(cafile=str(args.ca))
    elif args.gateway:
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if args.client_cert is not None:
        context.load_cert_chain(str(args.client_cert), str(args.client_key))
    return context


def _fetch_from_tee(url: str, nonce: bytes, context: ssl.SSLContext, timeout: float) -> Fetched:
    """GET /attestation on one TLS connection, keeping the certificate that connection presented."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise FetchError("the TEE endpoint is HTTPS: its TLS key is what the report binds")
    path = f"{parts.path.rstrip('/')}/attestation?{urlencode({'nonce': nonce.hex()})}"
    connection = http.client.HTTPSConnection(
        parts.hostname, parts.port or 443, context=context, timeout=timeout
    )
    try:
        connection.connect()
        sock = connection.sock
        presented = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        if not presented:
            raise FetchError("the server presented no TLS certificate")
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
        status = response.status
    finally:
        connection.close()
    return Fetched(_document(status, body, f"{url} /attestation"), presented)


def _fetch_through_gateway(
    url: str, nonce: bytes, context: ssl.SSLContext, timeout: float
) -> Fetched:
    with httpx.Client(verify=context, timeout=timeout) as client:
        try:
            response = client.get(
                f"{url.rstrip('/')}/v2/tee/attestation", params={"nonce": nonce.hex()}
            )
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {exc!r}") from exc
    return Fetched(_document(response.status_code, response.content, f"{url}"), None)


def _document(status: int, body: bytes, where: str) -> Mapping[str, object]:
    if status != 200:
        raise FetchError(f"{where} answered HTTP {status}: {body[:200]!r}")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise FetchError(f"{where} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise FetchError(f"{where} answered JSON that is not an object")
    return document


def _report(result: AttestationResult, *, bound: bool, out: TextIO) -> None:
    fingerprint = result.tls_certificate.fingerprint(hashes.SHA256()).hex()
    binding = (
        "checked against the certificate this connection presented"
        if bound
        else "not checked (fetched through the gateway, which terminates TLS)"
    )
    lines = [
        ("verified", "yes"),
        ("mode", result.mode),
        ("measurement", result.measurement.hex()),
        ("chip id", result.chip_id.hex()),
        ("receipt public key", base64.b64encode(result.receipt_public_key).decode("ascii")),
        ("tls certificate sha256", fingerprint),
        ("tls binding", binding),
    ]
    for name, value in lines:
        print(f"{name + ':':<24}{value}", file=out)
