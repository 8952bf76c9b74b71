"""The gateway's own view of the TEE: is it up, and does it prove what it is?

A background task polls the gRPC health service (`sealpay_tee_up`) and, when
TEE_EXPECTED_MEASUREMENTS is set, verifies a fresh attestation against the
TLS certificate the TEE presents to this gateway (`sealpay_tee_attested`). Any
failure to verify (a refusal, an error, an answer it cannot parse) stops money
from going to the TEE until a verification passes, and so does the TEE going
down: what answers at its address afterwards attests again before it is trusted.
A restart too quick for the poll to see is caught by the new instance's receipt
key, which the attestation did not vouch for (SwitchingDispatcher._check_signer).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import Counter, Gauge
from sealpay.attestation import verify_attestation_document

from services.payment_client.switching import SwitchingDispatcher

log = logging.getLogger("sealpay.gateway.tee")

TEE_UP = Gauge("sealpay_tee_up", "1 when the payment TEE answers its health check.")
TEE_ATTESTED = Gauge(
    "sealpay_tee_attested", "1 when the TEE's latest attestation verified (or is not checked)."
)
TEE_ATTESTATION_CHECKS = Counter(
    "sealpay_tee_attestation_checks_total", "Attestation checks by result.", ["result"]
)


def presented_certificate(
    target: str, server_name: str, ca: Path, client_cert: Path, client_key: Path, timeout: float = 5
) -> bytes:
    """DER of the certificate the TEE presents on its gRPC port (a TLS handshake,
    with our client certificate, since the port requires one)."""
    host, _, port = target.rpartition(":")
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(client_cert), str(client_key))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("the TEE presented no certificate")
    return der


class TeeChecker:
    def __init__(
        self,
        dispatcher: SwitchingDispatcher,
        *,
        ca: Path,
        client_cert: Path,
        client_key: Path,
        expected_measurements: frozenset[bytes],
        simulated_ark: Path | None,
        health_interval: float,
        attestation_interval: float,
    ) -> None:
        self.dispatcher = dispatcher
        self.ca, self.client_cert, self.client_key = ca, client_cert, client_key
        self.expected = expected_measurements
        self.simulated_ark = simulated_ark.read_text() if simulated_ark else None
        self.health_interval = health_interval
        self.attestation_interval = attestation_interval
        self._task: asyncio.Task[None] | None = None
        dispatcher.distrust = self._distrust  # a receipt signed by an unattested key
        TEE_ATTESTED.set(1 if not self.expected else 0)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tee-checker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        last_attestation = float("-inf")
        loop = asyncio.get_running_loop()
        was_up = False
        while True:
            up = await self._serving()
            TEE_UP.set(1 if up else 0)
            self.dispatcher.tee_serving = up
            if self.expected and was_up and not up:
                # Whatever answers at the address next may be another instance
                # (a restart, or an impostor): it must attest before it gets money.
                self._distrust()
            if up and self.expected and loop.time() - last_attestation >= self._attestation_due():
                await self.check_attestation()
                last_attestation = loop.time()
            was_up = up
            await asyncio.sleep(self.health_interval)

    async def _serving(self) -> bool:
        try:
            return await self.dispatcher.tee.serving()
        except Exception as exc:  # a probe that breaks counts as down; the poller lives on
            log.error("tee.health.failed", extra={"error": repr(exc)[:300]})
            return False

    def _distrust(self) -> None:
        self.dispatcher.tee_trusted = False
        TEE_ATTESTED.set(0)

    def _attestation_due(self) -> float:
        # Retry quickly while untrusted; otherwise on the configured interval.
        return self.attestation_interval if self.dispatcher.tee_trusted else self.health_interval

    async def check_attestation(self) -> bool:
        nonce = os.urandom(32)
        try:
            document = await self.dispatcher.tee.attestation_document(nonce)
            presented = await asyncio.to_thread(
                presented_certificate,
                self.dispatcher.tee.target,
                self.dispatcher.tee.server_name,
                self.ca,
                self.client_cert,
                self.client_key,
            )
            result = verify_attestation_document(
                document,
                nonce=nonce,
                presented_tls_certificate=presented,
                expected_measurements=self.expected,
                simulated_ark=self.simulated_ark,
                now=datetime.now(UTC),
            )
        except Exception as exc:  # fail closed: whatever went wrong, nothing was proven
            self._distrust()
            TEE_ATTESTATION_CHECKS.labels("failed").inc()
            code = getattr(exc, "code", type(exc).__name__)
            log.error("tee.attestation.failed", extra={"code": code, "error": str(exc)[:300]})
            return False
        self.dispatcher.attested_receipt_key = base64.b64encode(result.receipt_public_key).decode()
        self.dispatcher.tee_trusted = True
        TEE_ATTESTED.set(1)
        TEE_ATTESTATION_CHECKS.labels("verified").inc()
        log.info(
            "tee.attestation.verified",
            extra={"mode": result.mode, "measurement": result.measurement.hex()},
        )
        return True
