"""The certificate table a host attaches to an extended SEV-SNP report.

Layout (GHCB specification, "SNP Extended Guest Request"; what configfs-tsm
returns as ``auxblob`` and SNP_GET_EXT_REPORT writes to ``certs_address``)::

    entry*  : GUID (16 bytes) | offset (u32 LE) | length (u32 LE)
    entry   : 24 zero bytes, the terminator
    blobs   : certificates (DER) at the offsets, relative to the table start

The GUID bytes are in RFC 4122 order, i.e. the order of the hex digits in
the GUID's string form: google/go-sev-guest's ``abi.CertTable`` compares the
raw 16 bytes with ``uuid.Parse(VcekGUID)`` and builds its test tables the
same way, and virtee/sev uses ``Uuid::as_bytes``. (Not the mixed-endian
Microsoft GUID layout, which would put ``8d75da63`` first for the VCEK.)

The parser is strict: a table without its terminator, an entry pointing into
the header or past the end, an empty or duplicated entry is refused with
``CertTableError`` rather than guessed at. Bytes after the last blob are
ignored: the ioctl interface hands over whole pages, zero-filled.

Stdlib, ``cryptography`` (via ``sealpay.attestation.certs``) and this package only.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from typing import Final

from sealpay.attestation.certs import CertPemBundle, certificate_pem, load_certificate

from services.payment_tee.attestation.errors import CertTableError

VCEK_GUID: Final = uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd")
ASK_GUID: Final = uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782")
ARK_GUID: Final = uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae")
VLEK_GUID: Final = uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1")

_ENTRY: Final = struct.Struct("<16sII")
ENTRY_SIZE: Final = _ENTRY.size
_TERMINATOR: Final = bytes(ENTRY_SIZE)

CertTable = Mapping[uuid.UUID, bytes]
"""GUID -> raw blob, in table order."""


def parse_cert_table(data: bytes) -> dict[uuid.UUID, bytes]:
    """Decode a certificate table; empty input (no certificates) is an empty table."""
    if not data:
        return {}
    headers = _read_headers(data)
    header_end = (len(headers) + 1) * ENTRY_SIZE
    table: dict[uuid.UUID, bytes] = {}
    for index, (guid, offset, length) in enumerate(headers):
        _check_range(index, offset, length, header_end, len(data))
        if guid in table:
            raise CertTableError(f"certificate table lists GUID {guid} twice")
        table[guid] = data[offset : offset + length]
    return table


def encode_cert_table(entries: Mapping[uuid.UUID, bytes]) -> bytes:
    """The table layout the host writes: headers, terminator, then the blobs in order."""
    offset = (len(entries) + 1) * ENTRY_SIZE
    headers = bytearray()
    for guid, blob in entries.items():
        if not blob:
            raise ValueError(f"certificate for {guid} is empty")
        headers += _ENTRY.pack(guid.bytes, offset, len(blob))
        offset += len(blob)
    return bytes(headers) + _TERMINATOR + b"".join(entries.values())


def bundle_from_table(table: CertTable) -> CertPemBundle | None:
    """VCEK, ASK and ARK as PEM if the table holds all three, else ``None``.

    Each blob must be one certificate (AMD's tables carry DER; PEM is
    tolerated); a blob that is not is a ``CertTableError``, never skipped.
    """
    vcek, ask, ark = (table.get(guid) for guid in (VCEK_GUID, ASK_GUID, ARK_GUID))
    if vcek is None or ask is None or ark is None:
        return None
    return CertPemBundle(vcek=_pem("VCEK", vcek), ask=_pem("ASK", ask), ark=_pem("ARK", ark))


def _read_headers(data: bytes) -> list[tuple[uuid.UUID, int, int]]:
    headers: list[tuple[uuid.UUID, int, int]] = []
    for position in range(0, len(data), ENTRY_SIZE):
        chunk = data[position : position + ENTRY_SIZE]
        if chunk == _TERMINATOR:
            return headers
        if len(chunk) < ENTRY_SIZE:
            break
        raw_guid, offset, length = _ENTRY.unpack(chunk)
        if not any(raw_guid):
            raise CertTableError(f"certificate table entry {len(headers)} has a zero GUID")
        headers.append((uuid.UUID(bytes=raw_guid), offset, length))
    raise CertTableError("certificate table ends before its all-zero terminator entry")


def _check_range(index: int, offset: int, length: int, header_end: int, size: int) -> None:
    if length == 0:
        raise CertTableError(f"certificate table entry {index} is empty")
    if offset < header_end:
        raise CertTableError(
            f"certificate table entry {index} points into the table header (offset {offset})"
        )
    if offset + length > size:
        raise CertTableError(
            f"certificate table entry {index} runs past the data ({offset}+{length} > {size})"
        )


def _pem(role: str, blob: bytes) -> str:
    try:
        return certificate_pem(load_certificate(blob))
    except ValueError as exc:
        raise CertTableError(
            f"{role} in the certificate table is not a certificate: {exc}"
        ) from exc
