"""The payment TEE for `make run`: mTLS material, a simulated AMD chain, the process.

Development stand-ins, kept under .data/ and reused between runs: the mTLS CA
and certificates (`.data/mtls/`, from scripts/gen-mtls.py's library) and the
simulated AMD key hierarchy (`.data/tee-simulated/`), so a pinned simulated
ARK keeps verifying after a restart. The TEE runs with the import guard on,
exactly as in its image; attestation is simulated and says so (mode
"simulated"), and the gateway checks it before sending any money.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from services.devserver.supervisor import ServiceProcess
from services.payment_tee.settings import DEFAULT_SIMULATED_MEASUREMENT


@dataclass(frozen=True)
class LocalTee:
    mtls_dir: Path
    simulated_dir: Path
    grpc_port: int
    attestation_port: int

    @classmethod
    def prepare(cls, data_dir: Path) -> LocalTee:
        from scripts import mtls_material
        from services.payment_tee.attestation.providers import load_or_create_simulated_chain

        mtls_dir = data_dir / "mtls"
        if not (mtls_dir / "ca.pem").exists():
            mtls_material.write_material(mtls_dir, mtls_material.generate_all(), force=False)
        simulated_dir = data_dir / "tee-simulated"
        load_or_create_simulated_chain(simulated_dir)
        return cls(
            mtls_dir,
            simulated_dir,
            int(os.environ.get("PAYMENT_TEE_PORT", "50051")),
            int(os.environ.get("ATTESTATION_PORT", "8443")),
        )

    def process(self, common: dict[str, str]) -> ServiceProcess:
        _refuse_busy_port(self.grpc_port, "PAYMENT_TEE_PORT")
        _refuse_busy_port(self.attestation_port, "ATTESTATION_PORT")
        return ServiceProcess(
            name="payment_tee",
            module="services.payment_tee",
            env={
                **common,
                "PAYMENT_TEE_HOST": "127.0.0.1",
                "PAYMENT_TEE_PORT": str(self.grpc_port),
                "ATTESTATION_PORT": str(self.attestation_port),
                "TEE_TLS_CERT": str(self.mtls_dir / "server.pem"),
                "TEE_TLS_KEY": str(self.mtls_dir / "server.key"),
                "TEE_CLIENT_CA": str(self.mtls_dir / "ca.pem"),
                "TEE_ATTESTATION_PROVIDER": "simulated",
                "TEE_SIMULATED_DIR": str(self.simulated_dir),
                "TEE_ENFORCE_BOUNDARY": "1",
            },
            ready_url=f"https://127.0.0.1:{self.attestation_port}/healthz",
            verify=str(self.mtls_dir / "ca.pem"),
        )

    def client_env(self) -> dict[str, str]:
        """How a local service reaches this TEE (same client certificate for all)."""
        return {
            "PAYMENT_VIA_TEE": "true",
            "PAYMENT_TEE_TARGET": f"127.0.0.1:{self.grpc_port}",
            "PAYMENT_TEE_CA": str(self.mtls_dir / "ca.pem"),
            "PAYMENT_TEE_CLIENT_CERT": str(self.mtls_dir / "client.pem"),
            "PAYMENT_TEE_CLIENT_KEY": str(self.mtls_dir / "client.key"),
            "TEE_EXPECTED_MEASUREMENTS": DEFAULT_SIMULATED_MEASUREMENT,
            "TEE_SIMULATED_ARK": str(self.simulated_dir / "ark.pem"),
        }

    def print_summary(self, console: Console) -> None:
        console.print(
            f"payment TEE: gRPC mTLS on 127.0.0.1:{self.grpc_port}, attestation "
            f"https://127.0.0.1:{self.attestation_port}/attestation (mode: [bold]simulated[/])"
        )
        console.print(
            f"  simulated AMD root (pass it to the SDK): {self.simulated_dir / 'ark.pem'}"
        )
        console.print(f"  simulated measurement: {DEFAULT_SIMULATED_MEASUREMENT}")
        console.print(f"  mTLS material: {self.mtls_dir}/ (ca.pem, server.*, client.*)\n")


def _refuse_busy_port(port: int, name: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} ({name}) is already in use; set {name} to another port")
