"""The payment TEE process: PaymentCore behind gRPC over mutual TLS.

Boot order: settings -> database engine -> receipt key (generated here, in
memory, never written anywhere) -> attestation provider -> gRPC server with
client-certificate authentication required -> the HTTPS attestation endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from services.common.clock import SystemClock
from services.common.database import create_db_engine, resolve_database_url
from services.payment_tee.attestation.providers import provider_from_settings
from services.payment_tee.core.api import PaymentCore
from services.payment_tee.core.keys import audit_key_from_settings
from services.payment_tee.core.ledger import PostingContext
from services.payment_tee.core.receipts import ReceiptSigner
from services.payment_tee.server.attestor import Attestor
from services.payment_tee.server.https import AttestationHttpsServer
from services.payment_tee.server.metrics import TeeMetrics
from services.payment_tee.server.servicers import AttestationServicer, PaymentsServicer
from services.payment_tee.settings import TeeSettings
from services.protos.sealpay.payments.v1 import payments_pb2_grpc as pb_grpc

log = logging.getLogger("sealpay.payment_tee")

PAYMENTS_SERVICE = "sealpay.payments.v1.Payments"
ATTESTATION_SERVICE = "sealpay.payments.v1.Attestation"


@dataclass
class RunningTee:
    server: grpc.aio.Server
    https: AttestationHttpsServer
    core: PaymentCore
    health: HealthServicer
    grpc_port: int

    async def stop(self, grace: float = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.core.aclose()
        self.https.stop()
        self.core.engine.dispose()


def server_credentials(settings: TeeSettings) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
        root_certificates=settings.client_ca.read_bytes(),
        require_client_auth=True,
    )


async def start(settings: TeeSettings) -> RunningTee:
    engine = create_db_engine(
        resolve_database_url(settings.database_url, env=settings.env),
        application_name="sealpay-payment-tee",
    )
    metrics = TeeMetrics()
    signer = ReceiptSigner("tee")
    ctx = PostingContext(
        signer=signer,
        audit_key=audit_key_from_settings(settings.audit_key, settings.env),
        clock=SystemClock(),
    )
    core = PaymentCore(
        engine, ctx, default_asset=settings.default_asset, batch_observer=metrics.batch
    )
    provider = provider_from_settings(
        settings.provider,
        simulated_dir=settings.simulated_dir,
        simulated_measurement=settings.simulated_measurement,
        kds_base_url=settings.kds_base_url,
        kds_cache_dir=settings.kds_cache_dir,
        product=settings.product,
    )
    attestor = Attestor(provider, settings.tls_cert.read_bytes(), signer.public_key_raw)

    server = grpc.aio.server()
    pb_grpc.add_PaymentsServicer_to_server(PaymentsServicer(core, metrics), server)
    pb_grpc.add_AttestationServicer_to_server(AttestationServicer(attestor, metrics), server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_secure_port(f"{settings.host}:{settings.port}", server_credentials(settings))
    await server.start()
    for service in ("", PAYMENTS_SERVICE, ATTESTATION_SERVICE):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)

    https = AttestationHttpsServer(
        settings.host,
        settings.attestation_port,
        settings.tls_cert,
        settings.tls_key,
        attestor,
        metrics,
    )
    https.start()
    log.info(
        "payment_tee.started",
        extra={
            "grpc_port": port,
            "attestation_port": https.port,
            "attestation_mode": provider.mode,
            "receipt_public_key": signer.public_key_b64,
        },
    )
    return RunningTee(server, https, core, health, port)


async def serve(settings: TeeSettings) -> None:
    running = await start(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("payment_tee.stopping")
    await running.stop()
