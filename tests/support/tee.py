"""A real payment TEE for tests: mTLS material, the service as a process, a gateway
configured to use it, and a TCP proxy that can lose answers."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from scripts import mtls_material
from services.payment_tee.settings import DEFAULT_SIMULATED_MEASUREMENT
from support.factories import AUDIT_KEY
from support.processes import ServiceProcess, spawn
from support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
SIMULATED_MEASUREMENT = bytes.fromhex(DEFAULT_SIMULATED_MEASUREMENT)


@dataclass(frozen=True)
class Mtls:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.dir / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.dir / "client.key"


def make_mtls(directory: Path) -> Mtls:
    mtls_material.write_material(directory, mtls_material.generate_all(), force=False)
    return Mtls(directory)


@dataclass
class TeeProcess(ServiceProcess):
    grpc_port: int = 0
    attestation_port: int = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def start_tee(
    database_url: str,
    mtls: Mtls,
    simulated_dir: Path,
    log_dir: Path,
    *,
    enforce_boundary: bool = True,
    extra_env: dict[str, str] | None = None,
) -> TeeProcess:
    grpc_port, attestation_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEALPAY_ENV": "test",
        "LEDGER_AUDIT_KEY": AUDIT_KEY.decode(),
        "PAYMENT_TEE_HOST": "127.0.0.1",
        "PAYMENT_TEE_PORT": str(grpc_port),
        "ATTESTATION_PORT": str(attestation_port),
        "TEE_TLS_CERT": str(mtls.server_cert),
        "TEE_TLS_KEY": str(mtls.server_key),
        "TEE_CLIENT_CA": str(mtls.ca),
        "TEE_ATTESTATION_PROVIDER": "simulated",
        "TEE_SIMULATED_DIR": str(simulated_dir),
        "TEE_ENFORCE_BOUNDARY": "1" if enforce_boundary else "0",
        **(extra_env or {}),
    }
    log = log_dir / f"tee-{grpc_port}.log"
    process = spawn(["services.payment_tee"], env, log)
    tee = TeeProcess(process, log, grpc_port, attestation_port)
    _wait_https(tee, mtls.ca)
    return tee


def _wait_https(tee: TeeProcess, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))

    def handshakes() -> bool:
        try:
            with (
                socket.create_connection(("127.0.0.1", tee.attestation_port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="payment-tee"),
            ):
                return True
        except OSError:
            return False

    tee.wait_until(handshakes, "the payment TEE", timeout=60)


class LossyProxy:
    """A TCP proxy in front of the TEE that can stop delivering its answers.

    TLS passes through untouched (it only copies bytes). While `holding`, bytes
    from the TEE are swallowed: the request still arrives and commits, the
    answer never reaches the gateway, exactly as when the TEE dies after its
    commit and before its reply.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.holding = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:  # the TEE is gone: so is this connection
                client.close()
                continue
            self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_tee: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_tee and self.holding.is_set():
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection (the gateway sees the transport fail)."""
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass
        self._conns.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


@contextmanager
def running_tee(
    database_url: str, mtls: Mtls, simulated_dir: Path, log_dir: Path
) -> Iterator[TeeProcess]:
    tee = start_tee(database_url, mtls, simulated_dir, log_dir)
    try:
        yield tee
    finally:
        tee.stop()


def payment_via_tee(mtls: Mtls, target: str, timeout: float = 3) -> dict[str, object]:
    """Settings overrides for a service whose payment core is only the TEE at
    `target` (no in-process fallback); an unused port makes it unreachable."""
    return {
        "payment_via_tee": True,
        "payment_tee_fallback": False,
        "payment_tee_target": target,
        "payment_tee_ca": str(mtls.ca),
        "payment_tee_client_cert": str(mtls.client_cert),
        "payment_tee_client_key": str(mtls.client_key),
        "payment_tee_timeout_seconds": timeout,
    }
