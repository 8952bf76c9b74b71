"""uvicorn's httptools protocol, with each response leaving in one write.

uvicorn writes a response's head and its body with two `transport.write`
calls, and uvloop sends each at once: two `send` syscalls and two TCP
segments per response. On loopback the kernel also delivers each segment to
the reader inside the writer's syscall, so on the benchmark machine those two
writes were about a tenth of the gateway's CPU per payment
(scripts/bench/transfers.py, py-spy).

`CorkedTransport` holds what is written during one turn of the event loop and
sends it as one write at the end of that turn. A Starlette response sends its
head and body in one task step (nothing in between suspends), so they share
a write; nothing waits longer than the current turn, so a streamed response
or an interim "100 Continue" still goes out as soon as the writer yields.
Closing, aborting and ending the stream send what is held first (abort drops
it, as abort drops everything unsent).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CorkedTransport:
    """A transport proxy whose writes in one loop turn leave as one write."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """Pass as `uvicorn.run(..., http=CorkedHttpToolsProtocol)`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = CorkedTransport(transport, self.loop)
        super().connection_made(corked)  # type: ignore[arg-type]
