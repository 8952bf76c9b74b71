"""The attestation endpoint over HTTPS, for operators' curl and the SDK CLI.

A stdlib server on ATTESTATION_PORT with the same certificate and key as the
gRPC port (so the TLS key in REPORT_DATA is the one a client sees here too),
without client authentication: attestation is public by design.

    GET /attestation?nonce=<hex>  -> the attestation document (JSON)
    GET /healthz                  -> {"status": "ok", "mode": ...}
    GET /metrics                  -> Prometheus text
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from services.payment_tee.server.attestor import Attestor, NonceError, parse_nonce_hex
from services.payment_tee.server.metrics import TeeMetrics

log = logging.getLogger("sealpay.payment_tee.https")

IO_TIMEOUT_SECONDS = 10.0


class AttestationHttpsServer:
    def __init__(
        self,
        host: str,
        port: int,
        cert: Path,
        key: Path,
        attestor: Attestor,
        metrics: TeeMetrics,
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
        self.httpd = _TlsHttpServer((host, port), _handler(attestor, metrics), context)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="attestation-https", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _TlsHttpServer(ThreadingHTTPServer):
    """TLS handshakes in each connection's own thread, under a timeout.

    Wrapping the listening socket would run every handshake inside accept(),
    on the one thread that accepts: a client that connects and sends nothing
    would stall attestation for everyone.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(IO_TIMEOUT_SECONDS)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # a failed or abandoned handshake
            log.debug("attestation.https.handshake_failed", extra={"error": str(exc)[:200]})
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def _handler(attestor: Attestor, metrics: TeeMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sealpay-payment-tee"
        timeout = IO_TIMEOUT_SECONDS  # an idle connection holds only its own thread, briefly

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/attestation":
                self._attestation(parse_qs(url.query).get("nonce", [None])[0])
            elif url.path == "/healthz":
                self._json(200, {"status": "ok", "mode": attestor.mode})
            elif url.path == "/metrics":
                self._send(200, metrics.render().encode(), "text/plain; version=0.0.4")
            else:
                self._problem(404, "not_found", "no such endpoint")

        def _attestation(self, nonce_hex: str | None) -> None:
            try:
                document = attestor.document(parse_nonce_hex(nonce_hex))
            except NonceError as exc:
                metrics.attestation("bad_nonce")
                self._problem(400, "validation_error", str(exc))
                return
            except Exception:
                metrics.attestation("error")
                log.exception("attestation.failed")
                self._problem(503, "attestation_unavailable", "attestation report unavailable")
                return
            metrics.attestation("ok")
            self._json(200, dict(document))

        def _problem(self, status: int, code: str, detail: str) -> None:
            body = {
                "type": f"https://docs.sealpay.dev/errors/{code}",
                "title": code.replace("_", " "),
                "status": status,
                "detail": detail,
                "code": code,
            }
            self._send(status, json.dumps(body).encode(), "application/problem+json")

        def _json(self, status: int, body: Any) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("attestation.http", extra={"line": format % args})

    return Handler
