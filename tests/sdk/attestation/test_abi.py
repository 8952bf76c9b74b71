"""Report bytes <-> fields: exact round trips and strict refusals."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sealpay.attestation.abi import (
    REPORT_SIZE,
    SIGNED_SIZE,
    GuestPolicy,
    Report,
    SignerInfo,
    TcbVersion,
    policy_abi_version,
    policy_allows_debug,
    policy_allows_migrate_ma,
    policy_allows_smt,
    signed_bytes,
)
from sealpay.attestation.errors import ReportLayoutError, UnsupportedVersionError
from sealpay.attestation.simulate import SimulatedAmdChain, build_report

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)
component = st.integers(0, (1 << 576) - 1)


def exactly(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


policies = st.builds(
    GuestPolicy,
    abi_minor=u8,
    abi_major=u8,
    smt=st.booleans(),
    migrate_ma=st.booleans(),
    debug=st.booleans(),
    single_socket=st.booleans(),
    cxl_allow=st.booleans(),
    mem_aes_256_xts=st.booleans(),
    rapl_dis=st.booleans(),
    ciphertext_hiding_dram=st.booleans(),
    page_swap_disable=st.booleans(),
).map(GuestPolicy.to_int)

signer_infos = st.builds(
    SignerInfo,
    signing_key=st.sampled_from([0, 1, 7]),
    mask_chip_key=st.booleans(),
    author_key_en=st.booleans(),
).map(SignerInfo.to_int)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    version = draw(st.sampled_from([2, 3]))
    cpuid = (draw(u8), draw(u8), draw(u8)) if version == 3 else (0, 0, 0)
    return Report(
        version=version,
        guest_svn=draw(u32),
        policy=draw(policies),
        family_id=draw(exactly(16)),
        image_id=draw(exactly(16)),
        vmpl=draw(u32),
        signature_algo=draw(u32),
        current_tcb=draw(u64),
        platform_info=draw(u64),
        signer_info=draw(signer_infos),
        report_data=draw(exactly(64)),
        measurement=draw(exactly(48)),
        host_data=draw(exactly(32)),
        id_key_digest=draw(exactly(48)),
        author_key_digest=draw(exactly(48)),
        report_id=draw(exactly(32)),
        report_id_ma=draw(exactly(32)),
        reported_tcb=draw(u64),
        cpuid_fam_id=cpuid[0],
        cpuid_mod_id=cpuid[1],
        cpuid_step=cpuid[2],
        chip_id=draw(exactly(64)),
        committed_tcb=draw(u64),
        current_build=draw(u8),
        current_minor=draw(u8),
        current_major=draw(u8),
        committed_build=draw(u8),
        committed_minor=draw(u8),
        committed_major=draw(u8),
        launch_tcb=draw(u64),
        signature_r=draw(component),
        signature_s=draw(component),
    )


@given(reports())
def test_every_valid_report_round_trips_through_its_bytes(report: Report) -> None:
    raw = report.to_bytes()

    assert len(raw) == REPORT_SIZE
    assert Report.from_bytes(raw) == report
    assert Report.from_bytes(raw).to_bytes() == raw


@given(exactly(REPORT_SIZE))
def test_arbitrary_bytes_either_parse_exactly_or_raise_a_layout_error(raw: bytes) -> None:
    try:
        report = Report.from_bytes(raw)
    except (ReportLayoutError, UnsupportedVersionError):
        return
    assert report.to_bytes() == raw


def test_simulated_signed_report_round_trips(amd_chain: SimulatedAmdChain) -> None:
    report = build_report(b"\x07" * 64, b"\x08" * 48, amd_chain.chip_id, amd_chain.tcb)

    raw = amd_chain.sign_report(report)

    parsed = Report.from_bytes(raw)
    assert parsed.to_bytes() == raw
    assert parsed.signature_r and parsed.signature_s
    assert replace(parsed, signature_r=0, signature_s=0) == report


@pytest.mark.parametrize("size", [0, REPORT_SIZE - 1, REPORT_SIZE + 1, 2 * REPORT_SIZE])
def test_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(ReportLayoutError) as raised:
        Report.from_bytes(bytes(size))

    assert raised.value.code == "report_layout"


@pytest.mark.parametrize("version", [0, 1, 4, 5, 0xFFFF_FFFF])
def test_unsupported_version_is_refused(version: int) -> None:
    raw = bytearray(Report().to_bytes())
    struct.pack_into("<I", raw, 0, version)

    with pytest.raises(UnsupportedVersionError) as raised:
        Report.from_bytes(bytes(raw))

    assert raised.value.code == "unsupported_version"


@pytest.mark.parametrize(
    ("version", "offset"),
    [
        (2, 0x4C),
        (2, 0x4F),
        (2, 0x188),  # CPUID family: reserved before version 3
        (2, 0x18A),
        (3, 0x18B),
        (2, 0x19F),
        (2, 0x1EB),
        (2, 0x1EF),
        (2, 0x1F8),
        (2, 0x29F),
        (2, 0x2A0 + 144),  # after R and S
        (2, REPORT_SIZE - 1),
    ],
)
def test_non_zero_reserved_byte_is_refused(version: int, offset: int) -> None:
    raw = bytearray(Report(version=version).to_bytes())
    raw[offset] = 0x01

    with pytest.raises(ReportLayoutError, match="reserved"):
        Report.from_bytes(bytes(raw))


def test_cpuid_bytes_are_fields_in_version_3() -> None:
    raw = bytearray(Report(version=3).to_bytes())
    raw[0x188:0x18B] = bytes([0x19, 0x11, 0x01])

    report = Report.from_bytes(bytes(raw))

    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x11, 0x01)


@pytest.mark.parametrize(
    "policy",
    [0x0, 1 << 16, (1 << 17) | (1 << 26), (1 << 17) | (1 << 63)],
    ids=["all_zero", "bit17_clear", "bit26_set", "bit63_set"],
)
def test_malformed_guest_policy_is_refused(policy: int) -> None:
    raw = bytearray(Report().to_bytes())
    struct.pack_into("<Q", raw, 0x08, policy)

    with pytest.raises(ReportLayoutError, match="policy"):
        Report.from_bytes(bytes(raw))


@pytest.mark.parametrize("signer_info", [1 << 5, 1 << 31, 2 << 2, 6 << 2])
def test_reserved_signer_info_is_refused(signer_info: int) -> None:
    raw = bytearray(Report().to_bytes())
    struct.pack_into("<I", raw, 0x48, signer_info)

    with pytest.raises(ReportLayoutError, match=r"signer_info|signing_key"):
        Report.from_bytes(bytes(raw))


@pytest.mark.parametrize(
    "changes",
    [
        {"measurement": bytes(47)},
        {"report_data": bytes(65)},
        {"chip_id": "00" * 64},
        {"vmpl": -1},
        {"vmpl": 1 << 32},
        {"current_build": 256},
        {"policy": True},
        {"signature_r": 1 << 576},
        {"version": 2, "cpuid_fam_id": 1},
    ],
)
def test_report_refuses_fields_that_do_not_fit_the_layout(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Report(**changes)  # type: ignore[arg-type]


def test_signed_bytes_are_everything_before_the_signature() -> None:
    raw = Report(signature_r=5, signature_s=7).to_bytes()

    assert signed_bytes(raw) == raw[:SIGNED_SIZE]
    assert SIGNED_SIZE == 0x2A0
    with pytest.raises(ReportLayoutError):
        signed_bytes(raw[:-1])


def test_signature_components_are_little_endian_and_zero_padded() -> None:
    raw = Report(signature_r=0x0102, signature_s=0x0304).to_bytes()

    assert raw[0x2A0:0x2A2] == b"\x02\x01"
    assert raw[0x2A2:0x2E8] == bytes(70)
    assert raw[0x2E8:0x2EA] == b"\x04\x03"


@given(u64)
def test_tcb_version_round_trips(raw: int) -> None:
    assert TcbVersion.from_int(raw).to_int() == raw


def test_tcb_version_uses_milan_genoa_byte_positions() -> None:
    tcb = TcbVersion.from_int(0x4405_0000_0000_0002)

    assert (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode) == (2, 0, 5, 0x44)
    assert TcbVersion(bootloader=2, snp=5, microcode=0x44).to_int() == 0x4405_0000_0000_0002


def test_tcb_version_refuses_out_of_range_parts() -> None:
    with pytest.raises(ValueError):
        TcbVersion(snp=256)
    with pytest.raises(ValueError):
        TcbVersion.from_int(1 << 64)


def test_policy_helpers_read_the_documented_bits() -> None:
    policy = 0xB0000  # the real vector's policy: SMT, reserved bit 17, debug

    assert policy_allows_smt(policy)
    assert policy_allows_debug(policy)
    assert not policy_allows_migrate_ma(policy)
    assert policy_allows_migrate_ma(1 << 18)
    assert policy_abi_version(0x0000_0000_0003_0105 | (1 << 17)) == (1, 5)


@given(policies)
def test_guest_policy_round_trips(policy: int) -> None:
    assert GuestPolicy.from_int(policy).to_int() == policy


def test_default_guest_policy_forbids_debug_and_migration() -> None:
    policy = GuestPolicy()

    assert policy.to_int() == 0x30000
    assert not policy.debug and not policy.migrate_ma
