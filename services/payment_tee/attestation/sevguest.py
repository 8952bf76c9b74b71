"""SEV-SNP reports through the SNP_GET_EXT_REPORT ioctl on /dev/sev-guest.

For kernels without configfs-tsm (before 6.7). The structures are those of
linux ``include/uapi/linux/sev-guest.h`` on x86-64::

    struct snp_report_req          { u8 user_data[64]; u32 vmpl; u8 rsvd[28]; }       96 bytes
    struct snp_ext_report_req      { struct snp_report_req data;
                                     u64 certs_address; u32 certs_len; }  112 bytes (padded)
    struct snp_report_resp         { u8 data[4000]; }  = u32 status, u32 report_size,
                                                         u8 reserved[24], report...
    struct snp_guest_request_ioctl { u8 msg_version; u64 req_data; u64 resp_data;
                                     union { u64 exitinfo2;
                                             struct { u32 fw_error; u32 vmm_error; }; }; }
                                                                                      32 bytes
    SNP_GET_EXT_REPORT = _IOWR('S', 0x2, struct snp_guest_request_ioctl) = 0xC0205302

The certificate buffer must be a whole number of pages. When the host's
certificates do not fit, the kernel fails the ioctl (EIO) with
``vmm_error = SNP_GUEST_VMM_ERR_INVALID_LEN`` and writes the length it needs
into ``certs_len``; we retry once with a buffer that large. The kernel copies
``snp_guest_request_ioctl`` back only when ``exitinfo2`` is non-zero, so a
zeroed ``exitinfo2`` after the call means no error was reported.

Packing and unpacking are pure functions over bytes (unit-tested byte for
byte). The ioctl itself is injected: ``kernel_ioctl`` needs a real SEV-SNP
guest and cannot run on a development machine or in CI, where tests pass a
function that plays the kernel's part on the same ctypes buffers.

Imports: stdlib, ``sealpay.attestation`` and this package only (import guard).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sealpay.attestation.abi import REPORT_DATA_SIZE, REPORT_SIZE
from sealpay.attestation.document import Mode

from services.payment_tee.attestation.base import (
    PAYMENT_CORE_VMPL,
    CertSource,
    RawAttestation,
    checked_report,
    platform_certificates,
    require_report_data,
)
from services.payment_tee.attestation.certtable import parse_cert_table
from services.payment_tee.attestation.errors import SevGuestIoctlError

DEFAULT_DEVICE: Final = Path("/dev/sev-guest")

_IOC_WRITE: Final = 1
_IOC_READ: Final = 2

GUEST_REQUEST: Final = struct.Struct("<B7xQQQ")
"""snp_guest_request_ioctl: msg_version, req_data, resp_data, exitinfo2."""
EXT_REPORT_REQ: Final = struct.Struct("<64sI28xQI4x")
"""snp_ext_report_req: user_data, vmpl, rsvd, certs_address, certs_len, tail padding."""
EXT_REPORT_REQ_CERTS_LEN_OFFSET: Final = 104
REPORT_RESP_SIZE: Final = 4000
REPORT_RESP_HEADER: Final = struct.Struct("<II24x")
"""status, report_size, reserved: the MSG_REPORT_RSP header before the report."""

SNP_GUEST_MSG_VERSION: Final = 1
SNP_GUEST_VMM_ERR_INVALID_LEN: Final = 1
SNP_GUEST_VMM_ERR_BUSY: Final = 2
SEV_RET_NO_FW_CALL: Final = (1 << 64) - 1
"""exitinfo2 when the kernel refused the request before it reached the firmware."""
MSG_REPORT_RSP_INVALID_PARAM: Final = 0x16

PAGE_SIZE: Final = 4096
DEFAULT_CERTS_LEN: Final = 4 * PAGE_SIZE
"""SEV_FW_BLOB_MAX_SIZE: the most the kernel accepts, and room for VCEK + ASK + ARK."""
DEFAULT_MAX_ATTEMPTS: Final = 2


def iowr(ioctl_type: int, number: int, size: int) -> int:
    """Linux's ``_IOWR`` on x86-64: direction(2) | size(14) | type(8) | number(8)."""
    return ((_IOC_READ | _IOC_WRITE) << 30) | (size << 16) | (ioctl_type << 8) | number


SNP_GET_EXT_REPORT: Final = iowr(ord("S"), 0x2, GUEST_REQUEST.size)

IoctlFunction = Callable[[int, int, bytearray], object]
"""``(fd, request, argument)``; mutates ``argument`` in place, raises ``OSError`` on failure."""


def kernel_ioctl(fd: int, request: int, argument: bytearray) -> None:
    """The real ioctl; needs an SEV-SNP guest, so it never runs in tests or CI.

    CPython copies the mutated argument back before raising on error, so the
    ``exitinfo2`` the kernel wrote is readable after an EIO.
    """
    fcntl.ioctl(fd, request, argument, True)


def pack_ext_report_req(user_data: bytes, vmpl: int, certs_address: int, certs_len: int) -> bytes:
    if len(user_data) != REPORT_DATA_SIZE:
        raise ValueError(f"user_data must be {REPORT_DATA_SIZE} bytes")
    return EXT_REPORT_REQ.pack(user_data, vmpl, certs_address, certs_len)


def unpack_certs_len(ext_report_req: bytes) -> int:
    """``certs_len`` as the kernel left it (the needed size after INVALID_LEN)."""
    return int(struct.unpack_from("<I", ext_report_req, EXT_REPORT_REQ_CERTS_LEN_OFFSET)[0])


def pack_guest_request(req_address: int, resp_address: int) -> bytes:
    return GUEST_REQUEST.pack(SNP_GUEST_MSG_VERSION, req_address, resp_address, 0)


def unpack_exitinfo2(guest_request: bytes) -> tuple[int, int]:
    """(fw_error, vmm_error): the low and high halves of exitinfo2."""
    exitinfo2 = GUEST_REQUEST.unpack(guest_request)[3]
    return exitinfo2 & 0xFFFFFFFF, exitinfo2 >> 32


def parse_report_response(response: bytes) -> bytes:
    """The report out of snp_report_resp; a non-zero firmware status is an error."""
    status, report_size = REPORT_RESP_HEADER.unpack_from(response)
    if status != 0:
        meaning = " (invalid parameters)" if status == MSG_REPORT_RSP_INVALID_PARAM else ""
        raise SevGuestIoctlError(f"MSG_REPORT_RSP status {status:#x}{meaning}")
    if report_size != REPORT_SIZE:
        raise SevGuestIoctlError(
            f"firmware returned a {report_size}-byte report, not {REPORT_SIZE}"
        )
    start = REPORT_RESP_HEADER.size
    return response[start : start + REPORT_SIZE]


def next_certs_len(current: int, needed: int) -> int:
    """The buffer to retry with: the kernel's answer rounded up to whole pages."""
    if needed <= current:
        raise SevGuestIoctlError(
            f"kernel says the {current}-byte certificate buffer is too small but asks for {needed}"
        )
    return -(-needed // PAGE_SIZE) * PAGE_SIZE


def describe_failure(fw_error: int, vmm_error: int, failure: OSError | None) -> str:
    if (vmm_error << 32 | fw_error) == SEV_RET_NO_FW_CALL:
        cause = "the kernel refused the request before calling the firmware"
    elif vmm_error == SNP_GUEST_VMM_ERR_BUSY:
        cause = "the host is busy (rate limited)"
    else:
        cause = f"fw_error={fw_error:#x} vmm_error={vmm_error:#x}"
    errno_text = "" if failure is None else f" ({failure.strerror or failure})"
    return f"SNP_GET_EXT_REPORT failed: {cause}{errno_text}"


@dataclass(frozen=True)
class ExtReportBuffers:
    """The memory one SNP_GET_EXT_REPORT call works on; pointers refer to these ctypes buffers."""

    request: ctypes.Array[ctypes.c_char]
    response: ctypes.Array[ctypes.c_char]
    certs: ctypes.Array[ctypes.c_char]
    guest_request: bytearray

    @classmethod
    def allocate(cls, user_data: bytes, vmpl: int, certs_len: int) -> ExtReportBuffers:
        if certs_len <= 0 or certs_len % PAGE_SIZE:
            raise ValueError("certs_len must be a positive multiple of the page size")
        certs = ctypes.create_string_buffer(certs_len)
        request = ctypes.create_string_buffer(
            pack_ext_report_req(user_data, vmpl, ctypes.addressof(certs), certs_len),
            EXT_REPORT_REQ.size,
        )
        response = ctypes.create_string_buffer(REPORT_RESP_SIZE)
        guest_request = bytearray(
            pack_guest_request(ctypes.addressof(request), ctypes.addressof(response))
        )
        return cls(request, response, certs, guest_request)


def request_once(ioctl: IoctlFunction, fd: int, buffers: ExtReportBuffers) -> int | None:
    """One ioctl: ``None`` on success, else the certificate length the kernel asks for."""
    failure: OSError | None = None
    try:
        ioctl(fd, SNP_GET_EXT_REPORT, buffers.guest_request)
    except OSError as exc:
        failure = exc
    fw_error, vmm_error = unpack_exitinfo2(bytes(buffers.guest_request))
    if vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN and fw_error == 0:
        return unpack_certs_len(buffers.request.raw)
    if failure is not None or fw_error or vmm_error:
        raise SevGuestIoctlError(describe_failure(fw_error, vmm_error, failure)) from failure
    return None


def get_extended_report(
    fd: int,
    report_data: bytes,
    *,
    ioctl: IoctlFunction = kernel_ioctl,
    vmpl: int = PAYMENT_CORE_VMPL,
    certs_len: int = DEFAULT_CERTS_LEN,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> tuple[bytes, bytes]:
    """(report, certificate table bytes), growing the certificate buffer when told to."""
    for _ in range(max_attempts):
        buffers = ExtReportBuffers.allocate(report_data, vmpl, certs_len)
        needed = request_once(ioctl, fd, buffers)
        if needed is None:
            return parse_report_response(buffers.response.raw), buffers.certs.raw
        certs_len = next_certs_len(certs_len, needed)
    raise SevGuestIoctlError(
        f"certificate buffer still too small after {max_attempts} attempts ({certs_len} bytes)"
    )


class SevGuestIoctlProvider:
    """Reports from /dev/sev-guest; certificates from the host's table or ``cert_source``."""

    mode: Mode = "snp"

    def __init__(
        self,
        device: Path = DEFAULT_DEVICE,
        cert_source: CertSource | None = None,
        *,
        ioctl: IoctlFunction = kernel_ioctl,
        certs_len: int = DEFAULT_CERTS_LEN,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.device = device
        self.cert_source = cert_source
        self.ioctl = ioctl
        self.certs_len = certs_len
        self.max_attempts = max_attempts

    def get_report(self, report_data: bytes) -> RawAttestation:
        require_report_data(report_data)
        raw_report, raw_certs = self.read_extended_report(report_data)
        report = checked_report(raw_report, report_data)
        certs = platform_certificates(report, parse_cert_table(raw_certs), self.cert_source)
        return RawAttestation(mode=self.mode, report=raw_report, certs=certs)

    def read_extended_report(self, report_data: bytes) -> tuple[bytes, bytes]:
        try:
            fd = os.open(self.device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise SevGuestIoctlError(f"cannot open {self.device}: {exc}") from exc
        try:
            return get_extended_report(
                fd,
                report_data,
                ioctl=self.ioctl,
                certs_len=self.certs_len,
                max_attempts=self.max_attempts,
            )
        finally:
            os.close(fd)
