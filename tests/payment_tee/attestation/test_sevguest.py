"""SNP_GET_EXT_REPORT: struct layouts byte for byte, and the ioctl protocol with a stand-in kernel.

The real ioctl needs an SEV-SNP guest. ``FakeSevGuest`` is injected in its
place and does what the kernel's get_ext_report does, on the very memory the
provider hands over: it follows ``req_data``/``resp_data``/``certs_address``
with ctypes, answers "buffer too small" (EIO, vmm_error INVALID_LEN, the
needed ``certs_len`` written back) or copies the certificate table and a
report signed by the simulated chip. The layouts are also checked against
ctypes structures declared field by field like the C header, so the struct
formats are not merely checked against themselves.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import uuid
from pathlib import Path

import pytest
from sealpay.attestation.abi import REPORT_SIZE, Report
from sealpay.attestation.certs import certificate_der
from sealpay.attestation.simulate import SimulatedAmdChain, build_report

from services.payment_tee.attestation.certtable import (
    ARK_GUID,
    ASK_GUID,
    VCEK_GUID,
    encode_cert_table,
)
from services.payment_tee.attestation.errors import SevGuestIoctlError
from services.payment_tee.attestation.kds import KdsCertSource
from services.payment_tee.attestation.sevguest import (
    EXT_REPORT_REQ,
    EXT_REPORT_REQ_CERTS_LEN_OFFSET,
    GUEST_REQUEST,
    PAGE_SIZE,
    REPORT_RESP_HEADER,
    SEV_RET_NO_FW_CALL,
    SNP_GET_EXT_REPORT,
    SNP_GUEST_VMM_ERR_INVALID_LEN,
    SevGuestIoctlProvider,
    next_certs_len,
    pack_ext_report_req,
    pack_guest_request,
    parse_report_response,
    unpack_certs_len,
    unpack_exitinfo2,
)

MEASUREMENT = bytes.fromhex("5e" * 48)


class SnpReportReq(ctypes.Structure):
    _fields_ = (
        ("user_data", ctypes.c_uint8 * 64),
        ("vmpl", ctypes.c_uint32),
        ("rsvd", ctypes.c_uint8 * 28),
    )


class SnpExtReportReq(ctypes.Structure):
    _fields_ = (
        ("data", SnpReportReq),
        ("certs_address", ctypes.c_uint64),
        ("certs_len", ctypes.c_uint32),
    )


class SnpGuestRequestIoctl(ctypes.Structure):
    _fields_ = (
        ("msg_version", ctypes.c_uint8),
        ("req_data", ctypes.c_uint64),
        ("resp_data", ctypes.c_uint64),
        ("exitinfo2", ctypes.c_uint64),
    )


def test_ioctl_number_is_iowr_s_2_of_the_32_byte_request() -> None:
    assert SNP_GET_EXT_REPORT == 0xC0205302


def test_struct_sizes_and_offsets_match_the_c_layout() -> None:
    assert ctypes.sizeof(SnpReportReq) == 96
    assert EXT_REPORT_REQ.size == ctypes.sizeof(SnpExtReportReq) == 112
    assert SnpExtReportReq.certs_address.offset == 96
    assert SnpExtReportReq.certs_len.offset == EXT_REPORT_REQ_CERTS_LEN_OFFSET == 104
    assert GUEST_REQUEST.size == ctypes.sizeof(SnpGuestRequestIoctl) == 32
    assert SnpGuestRequestIoctl.req_data.offset == 8
    assert SnpGuestRequestIoctl.exitinfo2.offset == 24
    assert REPORT_RESP_HEADER.size == 0x20


def test_ext_report_req_bytes() -> None:
    user_data = bytes(range(64))

    packed = pack_ext_report_req(user_data, 2, 0x1122334455667788, 0x4000)

    assert packed == (
        user_data
        + b"\x02\x00\x00\x00"
        + bytes(28)
        + bytes.fromhex("8877665544332211")
        + b"\x00\x40\x00\x00"
        + bytes(4)
    )
    native = SnpExtReportReq.from_buffer_copy(packed)
    assert (native.data.vmpl, native.certs_address, native.certs_len) == (
        2,
        0x1122334455667788,
        0x4000,
    )
    assert unpack_certs_len(packed) == 0x4000


def test_ext_report_req_refuses_short_user_data() -> None:
    with pytest.raises(ValueError):
        pack_ext_report_req(bytes(63), 0, 0, PAGE_SIZE)


def test_guest_request_bytes_and_exitinfo2_halves() -> None:
    packed = pack_guest_request(0xAAAA, 0xBBBB)

    assert packed == b"\x01" + bytes(7) + (0xAAAA).to_bytes(8, "little") + (0xBBBB).to_bytes(
        8, "little"
    ) + bytes(8)
    answered = bytearray(packed)
    struct.pack_into("<Q", answered, 24, (SNP_GUEST_VMM_ERR_INVALID_LEN << 32) | 0x16)
    assert unpack_exitinfo2(bytes(answered)) == (0x16, SNP_GUEST_VMM_ERR_INVALID_LEN)


def test_report_response_parsing() -> None:
    report = bytes(range(256)) * 4 + bytes(REPORT_SIZE - 1024)
    response = REPORT_RESP_HEADER.pack(0, REPORT_SIZE) + report
    response += bytes(4000 - len(response))

    assert parse_report_response(response) == report
    with pytest.raises(SevGuestIoctlError, match="invalid parameters"):
        parse_report_response(REPORT_RESP_HEADER.pack(0x16, 0) + bytes(3968))
    with pytest.raises(SevGuestIoctlError, match="1000-byte"):
        parse_report_response(REPORT_RESP_HEADER.pack(0, 1000) + bytes(3968))


def test_next_certs_len_rounds_up_to_pages_and_must_grow() -> None:
    assert next_certs_len(PAGE_SIZE, PAGE_SIZE + 1) == 2 * PAGE_SIZE
    assert next_certs_len(PAGE_SIZE, 3 * PAGE_SIZE) == 3 * PAGE_SIZE
    with pytest.raises(SevGuestIoctlError):
        next_certs_len(2 * PAGE_SIZE, 2 * PAGE_SIZE)


class FakeSevGuest:
    """The kernel's SNP_GET_EXT_REPORT, acting on the caller's buffers through their addresses."""

    def __init__(
        self, chain: SimulatedAmdChain, cert_table: bytes, *, fail_with: int | None = None
    ) -> None:
        self.chain = chain
        self.cert_table = cert_table
        self.fail_with = fail_with
        self.certs_lens: list[int] = []
        self.user_data: list[bytes] = []

    @property
    def needed(self) -> int:
        return -(-len(self.cert_table) // PAGE_SIZE) * PAGE_SIZE

    def __call__(self, fd: int, request: int, argument: bytearray) -> None:
        assert request == SNP_GET_EXT_REPORT
        os.fstat(fd)  # a real, open descriptor
        version, req_address, resp_address, exitinfo2 = GUEST_REQUEST.unpack(argument)
        assert (version, exitinfo2) == (1, 0)
        request_bytes = ctypes.string_at(req_address, EXT_REPORT_REQ.size)
        user_data, vmpl, certs_address, certs_len = EXT_REPORT_REQ.unpack(request_bytes)
        self.certs_lens.append(certs_len)
        self.user_data.append(user_data)
        if self.fail_with is not None:
            struct.pack_into("<Q", argument, 24, self.fail_with)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        if certs_len < self.needed:
            ctypes.memmove(
                req_address + EXT_REPORT_REQ_CERTS_LEN_OFFSET, struct.pack("<I", self.needed), 4
            )
            struct.pack_into("<Q", argument, 24, SNP_GUEST_VMM_ERR_INVALID_LEN << 32)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        ctypes.memmove(certs_address, self.cert_table, len(self.cert_table))
        report = self.chain.sign_report(
            build_report(user_data, MEASUREMENT, self.chain.chip_id, self.chain.tcb, vmpl=vmpl)
        )
        response = REPORT_RESP_HEADER.pack(0, len(report)) + report
        ctypes.memmove(resp_address, response, len(response))


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "sev-guest"
    path.write_bytes(b"")
    return path


def _full_table(chain: SimulatedAmdChain, padding: int = 0) -> bytes:
    """VCEK, ASK, ARK as DER, plus ``padding`` bytes of another blob to make the table bigger."""
    entries = {
        VCEK_GUID: certificate_der(chain.vcek),
        ASK_GUID: certificate_der(chain.ask),
        ARK_GUID: certificate_der(chain.ark),
    }
    if padding:
        entries[uuid.UUID(int=1)] = b"\xff" * padding
    return encode_cert_table(entries)


def test_too_small_certificate_buffer_is_retried_with_the_kernels_length(
    device: Path, amd_chain: SimulatedAmdChain, report_data: bytes
) -> None:
    kernel = FakeSevGuest(amd_chain, _full_table(amd_chain, padding=PAGE_SIZE))
    provider = SevGuestIoctlProvider(device, ioctl=kernel, certs_len=PAGE_SIZE)

    raw = provider.get_report(report_data)

    assert kernel.certs_lens == [PAGE_SIZE, kernel.needed]
    assert kernel.user_data == [report_data, report_data]
    assert raw.mode == "snp"
    assert Report.from_bytes(raw.report).report_data == report_data
    assert Report.from_bytes(raw.report).vmpl == 0
    assert raw.certs == amd_chain.pem_bundle()


def test_buffer_that_fits_needs_one_call(
    device: Path, amd_chain: SimulatedAmdChain, report_data: bytes
) -> None:
    kernel = FakeSevGuest(amd_chain, _full_table(amd_chain))

    SevGuestIoctlProvider(device, ioctl=kernel).get_report(report_data)

    assert kernel.certs_lens == [4 * PAGE_SIZE]


def test_a_kernel_that_keeps_asking_for_more_is_an_error(
    device: Path, amd_chain: SimulatedAmdChain, report_data: bytes
) -> None:
    kernel = FakeSevGuest(amd_chain, _full_table(amd_chain, padding=3 * PAGE_SIZE))
    provider = SevGuestIoctlProvider(device, ioctl=kernel, certs_len=PAGE_SIZE, max_attempts=1)

    with pytest.raises(SevGuestIoctlError, match="too small"):
        provider.get_report(report_data)


def test_host_without_certificates_falls_back_to_kds(
    device: Path, amd_chain: SimulatedAmdChain, report_data: bytes, kds
) -> None:
    kernel = FakeSevGuest(amd_chain, cert_table=b"")
    provider = SevGuestIoctlProvider(device, KdsCertSource(kds.url), ioctl=kernel)

    raw = provider.get_report(report_data)

    assert raw.certs == amd_chain.pem_bundle()
    assert [path.split("?")[0].rsplit("/", 1)[-1] for path in kds.requests] == [
        amd_chain.chip_id.hex(),
        "cert_chain",
    ]


@pytest.mark.parametrize(
    ("exitinfo2", "message"),
    [
        (0x16, "fw_error=0x16"),
        (2 << 32, "busy"),
        (SEV_RET_NO_FW_CALL, "before calling the firmware"),
    ],
)
def test_firmware_and_kernel_failures_are_errors(
    device: Path, amd_chain: SimulatedAmdChain, report_data: bytes, exitinfo2: int, message: str
) -> None:
    kernel = FakeSevGuest(amd_chain, _full_table(amd_chain), fail_with=exitinfo2)

    with pytest.raises(SevGuestIoctlError, match=message):
        SevGuestIoctlProvider(device, ioctl=kernel).get_report(report_data)

    assert len(kernel.certs_lens) == 1


def test_missing_device_is_an_error(tmp_path: Path, report_data: bytes) -> None:
    with pytest.raises(SevGuestIoctlError, match="cannot open"):
        SevGuestIoctlProvider(tmp_path / "sev-guest").get_report(report_data)
