"""KDS extension encoding: the simulator writes what AMD writes, the parser reads both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from sealpay.attestation.abi import TcbVersion
from sealpay.attestation.kds import (
    OID_BL_SPL,
    OID_HWID,
    OID_PRODUCT_NAME,
    OID_SNP_SPL,
    OID_UCODE_SPL,
    VcekExtensions,
    decode_der_u8,
    encode_der_u8,
    encode_vcek_extensions,
    parse_vcek_extensions,
)
from sealpay.attestation.simulate import SimulatedAmdChain

# The extension values of the real Milan VCEK in go-sev-guest's verify/testdata/vcek.testcer.
REAL_VCEK_EXTENSION_VALUES = {
    OID_PRODUCT_NAME: bytes.fromhex("16084d696c616e2d4230"),
    OID_BL_SPL: bytes.fromhex("020102"),
    OID_SNP_SPL: bytes.fromhex("020105"),
    OID_UCODE_SPL: bytes.fromhex("020144"),
}


@given(st.integers(0, 0xFF))
def test_der_u8_round_trips(value: int) -> None:
    assert decode_der_u8(encode_der_u8(value)) == value


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, "020100"), (5, "020105"), (0x7F, "02017f"), (0x80, "02020080")]
)
def test_der_u8_is_minimal_der(value: int, encoded: str) -> None:
    assert encode_der_u8(value).hex() == encoded


@pytest.mark.parametrize(
    "encoded",
    ["", "0201", "030100", "020200", "02020005", "020180", "0202ff00", "0203010000", "02010000"],
)
def test_malformed_der_integers_are_refused(encoded: str) -> None:
    with pytest.raises(ValueError):
        decode_der_u8(bytes.fromhex(encoded))


def test_simulated_vcek_encodes_like_the_real_one() -> None:
    tcb = TcbVersion(bootloader=2, tee=0, snp=5, microcode=0x44)
    chip_id = bytes(range(64))

    values = {
        extension.oid: extension.value
        for extension in encode_vcek_extensions(product_name="Milan-B0", tcb=tcb, hwid=chip_id)
    }

    for oid, expected in REAL_VCEK_EXTENSION_VALUES.items():
        assert values[oid] == expected
    assert values[OID_HWID] == chip_id  # raw, without an OCTET STRING tag, as AMD does


def test_simulated_vcek_extensions_parse_back(amd_chain: SimulatedAmdChain) -> None:
    extensions = parse_vcek_extensions(amd_chain.vcek)

    assert extensions.product_name == "Milan-B0"
    assert extensions.hwid == amd_chain.chip_id
    assert extensions.tcb == amd_chain.tcb.to_int()


def _vcek_with(extensions: list[x509.UnrecognizedExtension]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "SEV-VCEK")])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA384())


def test_tagged_hwid_is_accepted_too() -> None:
    chip_id = bytes(range(64))
    base = encode_vcek_extensions(product_name="Genoa-B1", tcb=TcbVersion(), hwid=None)
    tagged = x509.UnrecognizedExtension(OID_HWID, bytes([0x04, 64]) + chip_id)

    assert parse_vcek_extensions(_vcek_with([*base, tagged])).hwid == chip_id


@pytest.mark.parametrize("missing", [OID_BL_SPL, OID_SNP_SPL, OID_UCODE_SPL, OID_PRODUCT_NAME])
def test_missing_tcb_extension_is_refused(missing: x509.ObjectIdentifier) -> None:
    extensions = encode_vcek_extensions(product_name="Milan-B0", tcb=TcbVersion(), hwid=None)
    kept = [extension for extension in extensions if extension.oid != missing]

    with pytest.raises(ValueError, match=missing.dotted_string):
        parse_vcek_extensions(_vcek_with(kept))


def test_turin_tcb_uses_the_turin_layout() -> None:
    extensions = VcekExtensions(
        struct_version=0,
        product_name="Turin-B0",
        fmc_spl=1,
        bl_spl=2,
        tee_spl=3,
        snp_spl=4,
        ucode_spl=5,
    )

    assert extensions.tcb == 0x0500_0000_0403_0201
