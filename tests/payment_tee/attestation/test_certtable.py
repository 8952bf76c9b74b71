"""The host's certificate table: go-sev-guest's layout, parsed strictly."""

from __future__ import annotations

import struct
import uuid

import pytest
from sealpay.attestation.certs import certificate_der, load_certificate
from sealpay.attestation.simulate import SimulatedAmdChain

from services.payment_tee.attestation.certtable import (
    ARK_GUID,
    ASK_GUID,
    ENTRY_SIZE,
    VCEK_GUID,
    VLEK_GUID,
    bundle_from_table,
    encode_cert_table,
    parse_cert_table,
)
from services.payment_tee.attestation.errors import CertTableError


def _go_sev_guest_table() -> bytes:
    """The table of go-sev-guest's abi_test.go TestCertTableProto, built the way it builds it.

    Headers ARK, ASK, VCEK, VLEK, extra, then the zero terminator (6 x 24
    bytes); GUID bytes from ``uuid.Parse`` (RFC 4122 order); blobs "ark",
    "ask", "vcek", "vlek", "extra" back to back after the headers.
    """
    entries = [
        ("c0b406a4-a803-4952-9743-3fb6014cd0ae", b"ark"),
        ("4ab7b379-bbac-4fe4-a02f-05aef327c782", b"ask"),
        ("63da758d-e664-4564-adc5-f4b93be8accd", b"vcek"),
        ("a8074bc2-a25a-483e-aae6-39c045a0b8a1", b"vlek"),
        ("00000000-0000-c0de-0000-000000000000", b"extra"),
    ]
    offset = 6 * 24
    headers = b""
    for text, blob in entries:
        headers += bytes.fromhex(text.replace("-", "")) + struct.pack("<II", offset, len(blob))
        offset += len(blob)
    return headers + bytes(24) + b"".join(blob for _, blob in entries)


def test_parses_go_sev_guest_table_with_guids_in_string_order() -> None:
    table = parse_cert_table(_go_sev_guest_table())

    assert table == {
        ARK_GUID: b"ark",
        ASK_GUID: b"ask",
        VCEK_GUID: b"vcek",
        VLEK_GUID: b"vlek",
        uuid.UUID("00000000-0000-c0de-0000-000000000000"): b"extra",
    }


def test_encodes_exactly_as_go_sev_guest_marshals() -> None:
    entries = {
        ARK_GUID: b"ark",
        ASK_GUID: b"ask",
        VCEK_GUID: b"vcek",
        VLEK_GUID: b"vlek",
        uuid.UUID("00000000-0000-c0de-0000-000000000000"): b"extra",
    }

    assert encode_cert_table(entries) == _go_sev_guest_table()


def test_vcek_guid_starts_with_its_first_string_digits_not_mixed_endian() -> None:
    encoded = encode_cert_table({VCEK_GUID: b"x"})

    assert encoded[:4] == bytes.fromhex("63da758d")
    assert encoded[:16] != VCEK_GUID.bytes_le


def test_round_trip_and_der_certificates_become_pem(amd_chain: SimulatedAmdChain) -> None:
    entries = {
        VCEK_GUID: certificate_der(amd_chain.vcek),
        ASK_GUID: certificate_der(amd_chain.ask),
        ARK_GUID: certificate_der(amd_chain.ark),
    }

    table = parse_cert_table(encode_cert_table(entries) + bytes(4096))
    bundle = bundle_from_table(table)

    assert table == entries
    assert bundle == amd_chain.pem_bundle()
    assert load_certificate(bundle["vcek"]) == amd_chain.vcek


@pytest.mark.parametrize("data", [b"", bytes(ENTRY_SIZE), bytes(4 * 4096)])
def test_empty_or_zeroed_table_holds_no_certificates(data: bytes) -> None:
    assert parse_cert_table(data) == {}
    assert bundle_from_table(parse_cert_table(data)) is None


def test_table_without_vcek_yields_no_bundle(amd_chain: SimulatedAmdChain) -> None:
    table = parse_cert_table(
        encode_cert_table(
            {ASK_GUID: certificate_der(amd_chain.ask), ARK_GUID: certificate_der(amd_chain.ark)}
        )
    )

    assert bundle_from_table(table) is None


def _entry(guid: uuid.UUID, offset: int, length: int) -> bytes:
    return guid.bytes + struct.pack("<II", offset, length)


MALFORMED = {
    "no terminator": _entry(VCEK_GUID, 48, 4) + b"vcek",
    "truncated entry": _entry(VCEK_GUID, 48, 4)[:20],
    "points into header": _entry(VCEK_GUID, 24, 4) + bytes(24) + b"vcek",
    "past the end": _entry(VCEK_GUID, 48, 100) + bytes(24) + b"vcek",
    "empty entry": _entry(VCEK_GUID, 48, 0) + bytes(24) + b"vcek",
    "zero guid with data": _entry(uuid.UUID(int=0), 48, 4) + bytes(24) + b"vcek",
    "duplicate guid": _entry(VCEK_GUID, 72, 1) + _entry(VCEK_GUID, 73, 1) + bytes(24) + b"ab",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_tables_are_refused(data: bytes) -> None:
    with pytest.raises(CertTableError):
        parse_cert_table(data)


def test_a_blob_that_is_not_a_certificate_is_refused(amd_chain: SimulatedAmdChain) -> None:
    table = {
        VCEK_GUID: b"definitely not DER",
        ASK_GUID: certificate_der(amd_chain.ask),
        ARK_GUID: certificate_der(amd_chain.ark),
    }

    with pytest.raises(CertTableError, match="VCEK"):
        bundle_from_table(table)


def test_error_code_is_stable() -> None:
    assert CertTableError.code == "cert_table"
