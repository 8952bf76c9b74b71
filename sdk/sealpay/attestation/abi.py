"""SEV-SNP ATTESTATION_REPORT: bytes <-> fields.

The layout is the AMD SEV-SNP ABI specification's ATTESTATION_REPORT structure
(document 56860, "Attestation Report"), read the way google/go-sev-guest's
``abi`` package reads it: 0x4A0 bytes, little-endian integers, the signed part
is bytes [0, 0x2A0) and the signature follows at 0x2A0 as R then S, each 72
bytes little-endian and zero padded.

Parsing is strict on purpose. A report whose reserved bytes are not zero, or
whose guest policy sets reserved bits, was not produced by a firmware we
understand; refusing it early means no later check has to reason about it.
``Report.from_bytes`` and ``Report.to_bytes`` round-trip exactly: every byte
outside a reserved range lives in a field, and reserved ranges must be zero.

Only the standard library is imported here (the payment core's import guard
allows stdlib and ``cryptography`` only).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from sealpay.attestation.errors import ReportLayoutError, UnsupportedVersionError

REPORT_SIZE: Final = 0x4A0
SIGNED_SIZE: Final = 0x2A0
SIGNATURE_OFFSET: Final = SIGNED_SIZE
ECDSA_COMPONENT_SIZE: Final = 72
ECDSA_SIGNATURE_SIZE: Final = 2 * ECDSA_COMPONENT_SIZE

SIGN_ECDSA_P384_SHA384: Final = 1
"""SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only algorithm AMD defines."""

SUPPORTED_VERSIONS: Final = frozenset({2, 3})
"""Report versions whose layout this module knows. Version 3 adds the CPUID fields."""

REPORT_DATA_SIZE: Final = 64
MEASUREMENT_SIZE: Final = 48
CHIP_ID_SIZE: Final = 64

POLICY_SMT_BIT: Final = 16
POLICY_RESERVED_ONE_BIT: Final = 17
POLICY_MIGRATE_MA_BIT: Final = 18
POLICY_DEBUG_BIT: Final = 19
POLICY_SINGLE_SOCKET_BIT: Final = 20
POLICY_CXL_ALLOW_BIT: Final = 21
POLICY_MEM_AES_256_XTS_BIT: Final = 22
POLICY_RAPL_DIS_BIT: Final = 23
POLICY_CIPHERTEXT_HIDING_DRAM_BIT: Final = 24
POLICY_PAGE_SWAP_DISABLE_BIT: Final = 25
_POLICY_FIRST_RESERVED_BIT: Final = 26

SIGNING_KEY_VCEK: Final = 0
SIGNING_KEY_VLEK: Final = 1
SIGNING_KEY_NONE: Final = 7
_SIGNER_INFO_FIRST_RESERVED_BIT: Final = 5

_U8: Final = "<B"
_U32: Final = "<I"
_U64: Final = "<Q"


@dataclass(frozen=True)
class _Field:
    name: str
    offset: int
    fmt: str

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt)


_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("version", 0x00, _U32),
    _Field("guest_svn", 0x04, _U32),
    _Field("policy", 0x08, _U64),
    _Field("family_id", 0x10, "16s"),
    _Field("image_id", 0x20, "16s"),
    _Field("vmpl", 0x30, _U32),
    _Field("signature_algo", 0x34, _U32),
    _Field("current_tcb", 0x38, _U64),
    _Field("platform_info", 0x40, _U64),
    _Field("signer_info", 0x48, _U32),
    _Field("report_data", 0x50, "64s"),
    _Field("measurement", 0x90, "48s"),
    _Field("host_data", 0xC0, "32s"),
    _Field("id_key_digest", 0xE0, "48s"),
    _Field("author_key_digest", 0x110, "48s"),
    _Field("report_id", 0x140, "32s"),
    _Field("report_id_ma", 0x160, "32s"),
    _Field("reported_tcb", 0x180, _U64),
    _Field("cpuid_fam_id", 0x188, _U8),
    _Field("cpuid_mod_id", 0x189, _U8),
    _Field("cpuid_step", 0x18A, _U8),
    _Field("chip_id", 0x1A0, "64s"),
    _Field("committed_tcb", 0x1E0, _U64),
    _Field("current_build", 0x1E8, _U8),
    _Field("current_minor", 0x1E9, _U8),
    _Field("current_major", 0x1EA, _U8),
    _Field("committed_build", 0x1EC, _U8),
    _Field("committed_minor", 0x1ED, _U8),
    _Field("committed_major", 0x1EE, _U8),
    _Field("launch_tcb", 0x1F0, _U64),
)

# Must-be-zero byte ranges, as go-sev-guest's ReportToProto checks them. The
# tail after R and S is included for every SIGNATURE_ALGO (go-sev-guest only
# checks it for algorithm 1) because R and S are all this type stores of the
# signature; any other algorithm is refused later by verification anyway.
_RESERVED_RANGES: Final = (
    (0x4C, 0x50),
    (0x18B, 0x1A0),
    (0x1EB, 0x1EC),
    (0x1EF, 0x1F0),
    (0x1F8, SIGNATURE_OFFSET),
    (SIGNATURE_OFFSET + ECDSA_SIGNATURE_SIZE, REPORT_SIZE),
)
_CPUID_RANGE: Final = (0x188, 0x18B)
"""Reserved in version 2 reports, CPUID family/model/stepping from version 3 on."""


def _bit(value: int, bit: int) -> bool:
    return bool((value >> bit) & 1)


def policy_allows_smt(policy: int) -> bool:
    """Whether the guest may run with simultaneous multithreading (shares cores with others)."""
    return _bit(policy, POLICY_SMT_BIT)


def policy_allows_migrate_ma(policy: int) -> bool:
    """Whether a migration agent may be associated with the guest (it can export memory)."""
    return _bit(policy, POLICY_MIGRATE_MA_BIT)


def policy_allows_debug(policy: int) -> bool:
    """Whether the host may debug the guest, i.e. decrypt its memory: never for money."""
    return _bit(policy, POLICY_DEBUG_BIT)


def policy_abi_version(policy: int) -> tuple[int, int]:
    """The minimum (major, minor) firmware ABI version the guest demanded at launch."""
    return (policy >> 8) & 0xFF, policy & 0xFF


@dataclass(frozen=True, kw_only=True)
class GuestPolicy:
    """The 64-bit guest POLICY as named flags; ``to_int`` sets the must-be-one bit 17."""

    abi_minor: int = 0
    abi_major: int = 0
    smt: bool = True
    migrate_ma: bool = False
    debug: bool = False
    single_socket: bool = False
    cxl_allow: bool = False
    mem_aes_256_xts: bool = False
    rapl_dis: bool = False
    ciphertext_hiding_dram: bool = False
    page_swap_disable: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.abi_minor <= 0xFF and 0 <= self.abi_major <= 0xFF):
            raise ValueError("ABI major and minor versions are single bytes")

    @classmethod
    def from_int(cls, policy: int) -> GuestPolicy:
        """Decode POLICY, refusing a clear bit 17 or any set reserved bit as go-sev-guest does."""
        if not _bit(policy, POLICY_RESERVED_ONE_BIT):
            raise ReportLayoutError(
                f"policy bit {POLICY_RESERVED_ONE_BIT} is reserved and must be 1"
            )
        if policy >> _POLICY_FIRST_RESERVED_BIT:
            raise ReportLayoutError(f"policy sets reserved bits: {policy:#x}")
        major, minor = policy_abi_version(policy)
        return cls(
            abi_minor=minor,
            abi_major=major,
            smt=policy_allows_smt(policy),
            migrate_ma=policy_allows_migrate_ma(policy),
            debug=policy_allows_debug(policy),
            single_socket=_bit(policy, POLICY_SINGLE_SOCKET_BIT),
            cxl_allow=_bit(policy, POLICY_CXL_ALLOW_BIT),
            mem_aes_256_xts=_bit(policy, POLICY_MEM_AES_256_XTS_BIT),
            rapl_dis=_bit(policy, POLICY_RAPL_DIS_BIT),
            ciphertext_hiding_dram=_bit(policy, POLICY_CIPHERTEXT_HIDING_DRAM_BIT),
            page_swap_disable=_bit(policy, POLICY_PAGE_SWAP_DISABLE_BIT),
        )

    def to_int(self) -> int:
        flags = (
            (self.smt, POLICY_SMT_BIT),
            (True, POLICY_RESERVED_ONE_BIT),
            (self.migrate_ma, POLICY_MIGRATE_MA_BIT),
            (self.debug, POLICY_DEBUG_BIT),
            (self.single_socket, POLICY_SINGLE_SOCKET_BIT),
            (self.cxl_allow, POLICY_CXL_ALLOW_BIT),
            (self.mem_aes_256_xts, POLICY_MEM_AES_256_XTS_BIT),
            (self.rapl_dis, POLICY_RAPL_DIS_BIT),
            (self.ciphertext_hiding_dram, POLICY_CIPHERTEXT_HIDING_DRAM_BIT),
            (self.page_swap_disable, POLICY_PAGE_SWAP_DISABLE_BIT),
        )
        value = self.abi_minor | (self.abi_major << 8)
        for enabled, bit in flags:
            value |= int(enabled) << bit
        return value


@dataclass(frozen=True, kw_only=True)
class SignerInfo:
    """SIGNER_INFO (0x48): which key signed, whether CHIP_ID is masked, any author key."""

    signing_key: int = SIGNING_KEY_VCEK
    mask_chip_key: bool = False
    author_key_en: bool = False

    @classmethod
    def from_int(cls, signer_info: int) -> SignerInfo:
        """Decode SIGNER_INFO, refusing reserved bits and the reserved SIGNING_KEY values 2-6."""
        if signer_info >> _SIGNER_INFO_FIRST_RESERVED_BIT:
            raise ReportLayoutError(f"signer_info sets reserved bits: {signer_info:#x}")
        signing_key = (signer_info >> 2) & 0b111
        if SIGNING_KEY_VLEK < signing_key < SIGNING_KEY_NONE:
            raise ReportLayoutError(f"signing_key value {signing_key} is reserved")
        return cls(
            signing_key=signing_key,
            mask_chip_key=_bit(signer_info, 1),
            author_key_en=_bit(signer_info, 0),
        )

    def to_int(self) -> int:
        return (self.signing_key << 2) | (int(self.mask_chip_key) << 1) | int(self.author_key_en)


@dataclass(frozen=True, kw_only=True)
class TcbVersion:
    """A 64-bit TCB_VERSION in the Milan/Genoa layout: one security patch level (SPL) per byte.

    Byte 0 bootloader, 1 TEE, 2-5 reserved (SPL4-SPL7), 6 SNP firmware, 7
    microcode. Turin moved the fields (FMC first); compare Turin TCBs as raw
    integers (see ``kds.VcekExtensions.tcb``) rather than through this type.
    """

    bootloader: int = 0
    tee: int = 0
    snp: int = 0
    microcode: int = 0
    spl4: int = 0
    spl5: int = 0
    spl6: int = 0
    spl7: int = 0

    def __post_init__(self) -> None:
        parts = (self.bootloader, self.tee, self.snp, self.microcode)
        for part in (*parts, self.spl4, self.spl5, self.spl6, self.spl7):
            if not 0 <= part <= 0xFF:
                raise ValueError(f"TCB security patch levels are single bytes, got {part}")

    @classmethod
    def from_int(cls, tcb: int) -> TcbVersion:
        if not 0 <= tcb < 1 << 64:
            raise ValueError("TCB_VERSION is a 64-bit value")
        parts = tcb.to_bytes(8, "little")
        return cls(
            bootloader=parts[0],
            tee=parts[1],
            spl4=parts[2],
            spl5=parts[3],
            spl6=parts[4],
            spl7=parts[5],
            snp=parts[6],
            microcode=parts[7],
        )

    def to_int(self) -> int:
        parts = (
            self.bootloader,
            self.tee,
            self.spl4,
            self.spl5,
            self.spl6,
            self.spl7,
            self.snp,
            self.microcode,
        )
        return int.from_bytes(bytes(parts), "little")


_ZERO_16: Final = bytes(16)
_ZERO_32: Final = bytes(32)
_ZERO_48: Final = bytes(48)
_ZERO_64: Final = bytes(64)
_DEFAULT_POLICY: Final = GuestPolicy().to_int()


@dataclass(frozen=True, kw_only=True)
class Report:
    """Every field of an SEV-SNP ATTESTATION_REPORT (versions 2 and 3).

    Integers are unsigned and range-checked on construction, byte strings
    must have their ABI length, so ``to_bytes`` can never produce a report of
    the wrong shape. Semantic checks (version, policy, signer info) are made
    by ``from_bytes``; a hand-built ``Report`` may hold values that its own
    bytes would fail to parse, which is what negative tests need.
    """

    version: int = 2
    guest_svn: int = 0
    policy: int = _DEFAULT_POLICY
    family_id: bytes = _ZERO_16
    image_id: bytes = _ZERO_16
    vmpl: int = 0
    signature_algo: int = SIGN_ECDSA_P384_SHA384
    current_tcb: int = 0
    platform_info: int = 0
    signer_info: int = 0
    report_data: bytes = _ZERO_64
    measurement: bytes = _ZERO_48
    host_data: bytes = _ZERO_32
    id_key_digest: bytes = _ZERO_48
    author_key_digest: bytes = _ZERO_48
    report_id: bytes = _ZERO_32
    report_id_ma: bytes = _ZERO_32
    reported_tcb: int = 0
    cpuid_fam_id: int = 0
    cpuid_mod_id: int = 0
    cpuid_step: int = 0
    chip_id: bytes = _ZERO_64
    committed_tcb: int = 0
    current_build: int = 0
    current_minor: int = 0
    current_major: int = 0
    committed_build: int = 0
    committed_minor: int = 0
    committed_major: int = 0
    launch_tcb: int = 0
    signature_r: int = field(default=0, repr=False)
    signature_s: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        for spec in _FIELDS:
            _check_field_shape(spec, getattr(self, spec.name))
        for value in (self.signature_r, self.signature_s):
            if not 0 <= value < 1 << (8 * ECDSA_COMPONENT_SIZE):
                raise ValueError("signature components are 72-byte unsigned integers")
        if self.version < 3 and (self.cpuid_fam_id or self.cpuid_mod_id or self.cpuid_step):
            raise ValueError("CPUID fields exist from report version 3 on")

    @classmethod
    def from_bytes(cls, data: bytes) -> Report:
        """Parse a raw report, refusing anything go-sev-guest's ReportToProto would refuse.

        Raises ``ReportLayoutError`` for the wrong size, non-zero reserved
        bytes, reserved policy or signer-info bits, and
        ``UnsupportedVersionError`` for a version other than 2 or 3.
        """
        if len(data) != REPORT_SIZE:
            raise ReportLayoutError(f"report is {len(data)} bytes, expected {REPORT_SIZE}")
        version = struct.unpack_from(_U32, data, 0)[0]
        if version not in SUPPORTED_VERSIONS:
            raise UnsupportedVersionError(f"report version {version} is not supported")
        _check_reserved(data, version)
        values = {spec.name: struct.unpack_from(spec.fmt, data, spec.offset)[0] for spec in _FIELDS}
        # Decoding refuses reserved policy and signer-info bits; the decoded values are not kept.
        GuestPolicy.from_int(values["policy"])
        SignerInfo.from_int(values["signer_info"])
        signature = data[SIGNATURE_OFFSET:]
        return cls(
            **values,
            signature_r=int.from_bytes(signature[:ECDSA_COMPONENT_SIZE], "little"),
            signature_s=int.from_bytes(
                signature[ECDSA_COMPONENT_SIZE:ECDSA_SIGNATURE_SIZE], "little"
            ),
        )

    def to_bytes(self) -> bytes:
        """The exact ABI bytes; reserved ranges are zero."""
        out = bytearray(REPORT_SIZE)
        for spec in _FIELDS:
            struct.pack_into(spec.fmt, out, spec.offset, getattr(self, spec.name))
        r_end = SIGNATURE_OFFSET + ECDSA_COMPONENT_SIZE
        out[SIGNATURE_OFFSET:r_end] = self.signature_r.to_bytes(ECDSA_COMPONENT_SIZE, "little")
        out[r_end : r_end + ECDSA_COMPONENT_SIZE] = self.signature_s.to_bytes(
            ECDSA_COMPONENT_SIZE, "little"
        )
        return bytes(out)

    @property
    def guest_policy(self) -> GuestPolicy:
        """POLICY decoded; raises ``ReportLayoutError`` if reserved bits are set."""
        return GuestPolicy.from_int(self.policy)

    @property
    def signer(self) -> SignerInfo:
        """SIGNER_INFO decoded; raises ``ReportLayoutError`` if reserved bits are set."""
        return SignerInfo.from_int(self.signer_info)

    @property
    def reported_tcb_version(self) -> TcbVersion:
        """REPORTED_TCB in the Milan/Genoa layout (the TCB the VCEK must be issued for)."""
        return TcbVersion.from_int(self.reported_tcb)


def signed_bytes(report_bytes: bytes) -> bytes:
    """The bytes the AMD secure processor signs: everything before the signature."""
    if len(report_bytes) != REPORT_SIZE:
        raise ReportLayoutError(f"report is {len(report_bytes)} bytes, expected {REPORT_SIZE}")
    return report_bytes[:SIGNED_SIZE]


def _check_field_shape(spec: _Field, value: object) -> None:
    if spec.fmt.endswith("s"):
        if not isinstance(value, bytes) or len(value) != spec.size:
            raise ValueError(f"{spec.name} must be {spec.size} bytes")
        return
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 <= value < 1 << (8 * spec.size)
    ):
        raise ValueError(f"{spec.name} must be an unsigned {8 * spec.size}-bit integer")


def _check_reserved(data: bytes, version: int) -> None:
    ranges = _RESERVED_RANGES if version >= 3 else (_CPUID_RANGE, *_RESERVED_RANGES)
    for start, end in ranges:
        if any(data[start:end]):
            raise ReportLayoutError(
                f"reserved bytes [{start:#x}, {end:#x}) are not zero: {data[start:end].hex()}"
            )
