"""Gateway settings; env names are the Contracts table's (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    gateway_workers: int = Field(default=1, ge=1, le=64)
    # Operator token for /v2/admin/*; generated in development when unset.
    sealpay_admin_token: str | None = None
    # Money movement: in-process core (false) or the payment_tee over mTLS gRPC (true).
    payment_via_tee: bool = False
    payment_tee_fallback: bool = True
    payment_tee_target: str = "127.0.0.1:50051"
    # mTLS to the payment TEE: the CA that signed its server certificate, and
    # this gateway's client certificate and key (scripts/gen-mtls.py).
    payment_tee_ca: Path | None = None
    payment_tee_client_cert: Path | None = None
    payment_tee_client_key: Path | None = None
    payment_tee_server_name: str = "payment-tee"
    payment_tee_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Attestation the gateway itself checks before sending money to the TEE:
    # comma-separated hex SNP measurements accepted; empty = not checked (dev).
    tee_expected_measurements: str = ""
    # Development only: trust a simulated AMD root (PEM file) for that check.
    tee_simulated_ark: Path | None = None
    tee_health_interval_seconds: float = Field(default=5.0, gt=0)
    tee_attestation_interval_seconds: float = Field(default=300.0, gt=0)
    # The in-process core's audit-log HMAC key (hex or any string >= 32 chars);
    # must equal the payment_tee's, since both append to the same ledger.
    ledger_audit_key: str | None = None
    ledger_default_asset: str = "XMR"
    # How long an API key lookup is cached in memory (0 disables). A revoked
    # key stops working within this many seconds.
    auth_cache_seconds: float = Field(default=10.0, ge=0, le=300)

    def expected_measurements(self) -> frozenset[bytes]:
        values = [v.strip() for v in self.tee_expected_measurements.split(",") if v.strip()]
        return frozenset(bytes.fromhex(v) for v in values)
