"""Settings of the payment TEE process, read from the environment.

Plain dataclass over os.environ: pydantic is outside the import boundary.
Names follow DESIGN.md's Contracts table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ConfigError

PROVIDERS = ("auto", "tsm", "sev-guest", "simulated")
DEFAULT_SIMULATED_MEASUREMENT = "5ea1ba7e" + "00" * 44  # "sealpay" firmware, simulated only


@dataclass(frozen=True)
class TeeSettings:
    env: str
    database_url: str | None
    audit_key: str | None
    host: str
    port: int
    attestation_port: int
    tls_cert: Path
    tls_key: Path
    client_ca: Path
    provider: str
    enforce_boundary: bool
    simulated_dir: Path | None
    simulated_measurement: bytes
    kds_base_url: str
    kds_cache_dir: Path | None
    product: str
    default_asset: str
    log_level: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> TeeSettings:
        env = dict(os.environ if environ is None else environ)
        provider = env.get("TEE_ATTESTATION_PROVIDER", "auto")
        if provider not in PROVIDERS:
            raise ConfigError(f"TEE_ATTESTATION_PROVIDER must be one of {', '.join(PROVIDERS)}")
        return cls(
            env=env.get("SEALPAY_ENV", "development"),
            database_url=env.get("DATABASE_URL"),
            audit_key=env.get("LEDGER_AUDIT_KEY"),
            host=env.get("PAYMENT_TEE_HOST", "127.0.0.1"),
            port=_port(env, "PAYMENT_TEE_PORT", 50051),
            attestation_port=_port(env, "ATTESTATION_PORT", 8443),
            tls_cert=_path(env, "TEE_TLS_CERT"),
            tls_key=_path(env, "TEE_TLS_KEY"),
            client_ca=_path(env, "TEE_CLIENT_CA"),
            provider=provider,
            enforce_boundary=env.get("TEE_ENFORCE_BOUNDARY", "0") == "1",
            simulated_dir=Path(env["TEE_SIMULATED_DIR"]) if env.get("TEE_SIMULATED_DIR") else None,
            simulated_measurement=_hex(
                env.get("TEE_SIMULATED_MEASUREMENT", DEFAULT_SIMULATED_MEASUREMENT),
                "TEE_SIMULATED_MEASUREMENT",
                48,
            ),
            kds_base_url=env.get("TEE_KDS_URL", "https://kdsintf.amd.com"),
            kds_cache_dir=Path(env["TEE_KDS_CACHE_DIR"]) if env.get("TEE_KDS_CACHE_DIR") else None,
            product=env.get("TEE_SNP_PRODUCT", "Milan"),
            default_asset=env.get("LEDGER_DEFAULT_ASSET", "XMR"),
            log_level=env.get("LOG_LEVEL", "INFO"),
        )


def _port(env: dict[str, str], name: str, default: int) -> int:
    try:
        port = int(env.get(name, str(default)))
    except ValueError:
        raise ConfigError(f"{name} must be a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name} must be a port number")
    return port


def _path(env: dict[str, str], name: str) -> Path:
    value = env.get(name)
    if not value:
        raise ConfigError(f"{name} is required (a PEM file; scripts/gen-mtls.py makes them)")
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name}: no such file {path}")
    return path


def _hex(value: str, name: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(f"{name} must be hex") from None
    if len(raw) != size:
        raise ConfigError(f"{name} must be {size} bytes ({2 * size} hex digits)")
    return raw
