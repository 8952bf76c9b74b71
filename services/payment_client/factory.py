"""Build a service's payment dispatcher (and its TEE checker) from settings."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from services.common.clock import Clock
from services.payment_client.attestation_gate import TeeChecker
from services.payment_client.base import PaymentDispatcher
from services.payment_client.grpc_client import GrpcDispatcher, client_credentials
from services.payment_client.local import LocalDispatcher, in_process_core
from services.payment_client.settings import PaymentClientSettings
from services.payment_client.switching import SwitchingDispatcher
from services.payment_tee.core.keys import audit_key_from_settings

log = logging.getLogger("sealpay.payment_client")


def build_dispatcher(
    settings: PaymentClientSettings, engine: Engine, clock: Clock
) -> PaymentDispatcher:
    """In-process core, or the TEE with (unless forbidden) the in-process fallback."""
    local: LocalDispatcher | None = None
    if not settings.payment_via_tee or settings.payment_tee_fallback:
        audit_key = audit_key_from_settings(settings.ledger_audit_key, settings.sealpay_env)
        local = LocalDispatcher(
            in_process_core(engine, audit_key, clock, settings.ledger_default_asset)
        )
    if not settings.payment_via_tee:
        assert local is not None
        return local
    tee = GrpcDispatcher(
        settings.payment_tee_target,
        client_credentials(
            settings.payment_tee_ca,
            settings.payment_tee_client_cert,
            settings.payment_tee_client_key,
        ),
        server_name=settings.payment_tee_server_name,
        timeout=settings.payment_tee_timeout_seconds,
        default_asset=settings.ledger_default_asset,
    )
    return SwitchingDispatcher(tee, local)


def tee_checker(
    settings: PaymentClientSettings, dispatcher: PaymentDispatcher
) -> TeeChecker | None:
    """The health and attestation poller, when money goes to a TEE."""
    if not isinstance(dispatcher, SwitchingDispatcher):
        return None
    assert settings.payment_tee_ca and settings.payment_tee_client_cert
    assert settings.payment_tee_client_key
    expected = settings.expected_measurements()
    if not expected:
        log.warning(
            "tee.attestation.not_checked", extra={"why": "TEE_EXPECTED_MEASUREMENTS is empty"}
        )
    else:
        dispatcher.tee_trusted = False  # until the first attestation verifies
    return TeeChecker(
        dispatcher,
        ca=settings.payment_tee_ca,
        client_cert=settings.payment_tee_client_cert,
        client_key=settings.payment_tee_client_key,
        expected_measurements=expected,
        simulated_ark=settings.tee_simulated_ark,
        health_interval=settings.tee_health_interval_seconds,
        attestation_interval=settings.tee_attestation_interval_seconds,
    )
