"""The gateway's HTTP protocol: one write per response, nothing held past a loop turn.

Served by real uvicorn on a real socket; the write counts come from watching
the real transport underneath the corked one.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from support.servers import serve
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.common.http_protocol import CorkedHttpToolsProtocol, CorkedTransport

# Writes that reached the real transports of the servers below, in order.
WRITES: list[bytes] = []


class _Watched:
    """A real transport that records what is written to it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class WatchedCorked(CorkedHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Watched(transport))  # type: ignore[arg-type]


class WatchedPlain(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Watched(transport))  # type: ignore[arg-type]


RELEASE = threading.Event()


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"got": await request.json()}, status_code=201)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first\n"
            while not RELEASE.is_set():  # the client must see "first" before this ends
                await asyncio.sleep(0.01)
            yield b"second\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


@pytest.fixture(autouse=True)
def _fresh() -> None:
    WRITES.clear()
    RELEASE.clear()


def test_a_response_leaves_in_one_write_where_plain_uvicorn_needs_two() -> None:
    for protocol, writes_per_response in ((WatchedCorked, 1), (WatchedPlain, 2)):
        WRITES.clear()
        with serve(_app(), http=protocol) as url, httpx.Client(base_url=url) as client:
            for n in range(3):  # keep-alive: each response its own write(s)
                response = client.post("/echo", json={"n": n})
                assert response.status_code == 201
                assert response.json() == {"got": {"n": n}}
        assert len(WRITES) == 3 * writes_per_response, protocol
    # The corked writes are whole responses: head and body together.
    WRITES.clear()
    with serve(_app(), http=WatchedCorked) as url:
        httpx.post(f"{url}/echo", json={"n": 7})
    (only,) = WRITES
    assert only.startswith(b"HTTP/1.1 201 Created\r\n")
    assert only.endswith(b'\r\n\r\n{"got":{"n":7}}')


def test_a_streamed_chunk_is_not_held_while_the_stream_waits() -> None:
    with (
        serve(_app()) as url,
        httpx.Client(base_url=url, timeout=10) as client,
        client.stream("GET", "/stream") as response,
    ):
        chunks = response.iter_raw()
        first = next(chunks)  # arrives while the generator is still waiting
        assert first == b"first\n"
        RELEASE.set()
        assert b"".join(chunks) == b"second\n"


def test_an_interim_100_continue_is_sent_before_the_body_is() -> None:
    with serve(_app()) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            body = b'{"n": 1}'
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            # The server must answer "go on" while it still has no body to read.
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(body)
            reply = b""
            while not reply.endswith(b"}}"):
                chunk = sock.recv(4096)
                assert chunk, f"connection closed early: {reply!r}"
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 201 Created\r\n")
            assert reply.endswith(b'{"got":{"n":1}}')


def test_connection_close_sends_the_whole_response_then_closes() -> None:
    with serve(_app()) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            body = b'{"n": 2}'
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            reply = b""
            while chunk := sock.recv(4096):  # ends at the server's close
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"connection: close\r\n" in reply
    assert reply.endswith(b'{"got":{"n":2}}')


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_in_one_turn_join_and_close_sends_what_is_held() -> None:
    asyncio.run(_writes_in_one_turn_join())


async def _writes_in_one_turn_join() -> None:
    real = _Recorder()
    corked = CorkedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"head\r\n\r\n")
    corked.write(memoryview(b"body"))
    corked.write(b"")
    assert real.writes == [] and corked.get_write_buffer_size() == 12
    await asyncio.sleep(0)  # the turn ends
    assert real.writes == [b"head\r\n\r\nbody"]
    corked.write(b"next")
    await asyncio.sleep(0)
    corked.write(b"last")
    corked.close()  # sent before the close, not dropped
    assert real.writes == [b"head\r\n\r\nbody", b"next", b"last"] and real.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert len(real.writes) == 3


def test_abort_drops_what_is_held_and_a_closed_peer_gets_nothing() -> None:
    asyncio.run(_abort_and_closed_peer())


async def _abort_and_closed_peer() -> None:
    real = _Recorder()
    corked = CorkedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"unsent")
    corked.abort()
    await asyncio.sleep(0)
    assert real.writes == [] and real.aborted
    other = _Recorder()
    corked = CorkedTransport(other, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"late")
    other.closed = True  # the peer went away within the turn
    await asyncio.sleep(0)
    assert other.writes == []
