"""Real HTTP servers for tests: uvicorn on a free port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from services.common.http_protocol import CorkedHttpToolsProtocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening_socket(port: int) -> socket.socket:
    """Bound here and handed to uvicorn, so no other process can take the port
    between choosing it and serving on it (port 0: the kernel picks one)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def serve(
    app: FastAPI,
    port: int | None = None,
    http: type[asyncio.Protocol] = CorkedHttpToolsProtocol,
) -> Iterator[str]:
    """Serve `app` over real HTTP (on `port`, or a free one); yields its base URL.

    A given port lets a restarted instance keep its URL. The HTTP protocol is
    the gateway's own (one write per response) unless a test asks otherwise."""
    sock = _listening_socket(port or 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server did not start on port {port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
