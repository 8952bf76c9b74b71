"""Settings for reaching the payment core; mixed into each service's settings.

Env names are DESIGN.md's (PAYMENT_VIA_TEE, PAYMENT_TEE_FALLBACK,
PAYMENT_TEE_TARGET) plus the mTLS files and the attestation gate.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from services.common.settings import CommonSettings


class PaymentClientSettings(CommonSettings):
    # Money movement: in-process core (false) or the payment_tee over mTLS gRPC (true).
    payment_via_tee: bool = False
    payment_tee_fallback: bool = True
    payment_tee_target: str = "127.0.0.1:50051"
    # mTLS to the payment TEE: the CA that signed its server certificate, and
    # this service's client certificate and key (scripts/gen-mtls.py).
    payment_tee_ca: Path | None = None
    payment_tee_client_cert: Path | None = None
    payment_tee_client_key: Path | None = None
    payment_tee_server_name: str = "payment-tee"
    payment_tee_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Attestation checked before sending money to the TEE: comma-separated hex
    # SNP measurements accepted; empty = not checked (development).
    tee_expected_measurements: str = ""
    # Development only: trust a simulated AMD root (PEM file) for that check.
    tee_simulated_ark: Path | None = None
    tee_health_interval_seconds: float = Field(default=5.0, gt=0)
    tee_attestation_interval_seconds: float = Field(default=300.0, gt=0)
    # The in-process core's audit-log HMAC key (>= 32 chars); must equal the
    # payment_tee's, since both append to the same ledger.
    ledger_audit_key: str | None = None
    ledger_default_asset: str = "XMR"

    @model_validator(mode="after")
    def _attested_in_production(self) -> PaymentClientSettings:
        """In production money goes only to a TEE that proves what it runs: the
        measurement check cannot be left off, nor rooted in a simulated AMD key."""
        if self.is_production and self.payment_via_tee:
            if not self.expected_measurements():
                raise ValueError("TEE_EXPECTED_MEASUREMENTS is required in production")
            if self.tee_simulated_ark is not None:
                raise ValueError("TEE_SIMULATED_ARK is for development; not allowed in production")
        return self

    def expected_measurements(self) -> frozenset[bytes]:
        values = [v.strip() for v in self.tee_expected_measurements.split(",") if v.strip()]
        return frozenset(bytes.fromhex(v) for v in values)
