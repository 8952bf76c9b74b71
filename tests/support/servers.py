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


@contextmanager
def serve(
    app: FastAPI,
    port: int | None = None,
    http: type[asyncio.Protocol] = CorkedHttpToolsProtocol,
) -> Iterator[str]:
    """Serve `app` over real HTTP (on `port`, or a free one); yields its base URL.

    A given port lets a restarted instance keep its URL. The HTTP protocol is
    the gateway's own (one write per response) unless a test asks otherwise."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, http=http
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
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
