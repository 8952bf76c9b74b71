"""The AMD Key Distribution Service (KDS) X.509 extensions of a VCEK certificate.

AMD's KDS specification (document 57230) puts the TCB a VCEK was issued for,
and the chip it belongs to, in private extensions under 1.3.6.1.4.1.3704.1:
each security patch level is a DER INTEGER, the product name an IA5String,
and the hwID the raw 64-byte CHIP_ID *without* an ASN.1 tag (go-sev-guest's
``kds`` package accepts a tagged OCTET STRING too, in case AMD adds the tag;
so do we). The verifier compares these with the report; the simulator writes
them the same way so simulated VCEKs exercise the same parser.

Imports only the standard library and ``cryptography``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from sealpay.attestation.abi import TcbVersion

_KDS_PREFIX: Final = "1.3.6.1.4.1.3704.1."

OID_STRUCT_VERSION: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.1")
OID_PRODUCT_NAME: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.2")
OID_BL_SPL: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.1")
OID_TEE_SPL: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.2")
OID_SNP_SPL: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.3")
OID_SPL4: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.4")
OID_SPL5: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.5")
OID_SPL6: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.6")
OID_SPL7: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.7")
OID_UCODE_SPL: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.8")
OID_FMC_SPL: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.3.9")
OID_HWID: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.4")
OID_CSP_ID: Final = ObjectIdentifier("1.3.6.1.4.1.3704.1.5")

_TAG_INTEGER: Final = 0x02
_TAG_OCTET_STRING: Final = 0x04
_TAG_IA5_STRING: Final = 0x16
_HWID_SIZES: Final = frozenset({64, 8})
"""CHIP_ID is 64 bytes; Turin VCEKs carry an 8-byte hwID."""

TURIN_PRODUCT_LINE: Final = "Turin"


@dataclass(frozen=True, kw_only=True)
class VcekExtensions:
    """The KDS extensions of one VCEK certificate."""

    struct_version: int
    product_name: str
    bl_spl: int
    tee_spl: int
    snp_spl: int
    ucode_spl: int
    spl4: int = 0
    spl5: int = 0
    spl6: int = 0
    spl7: int = 0
    fmc_spl: int = 0
    hwid: bytes | None = None

    @property
    def product_line(self) -> str:
        """``Milan`` for ``Milan-B0``: the stepping does not change the layouts."""
        return self.product_name.split("-", 1)[0]

    @property
    def tcb(self) -> int:
        """The raw 64-bit TCB_VERSION this VCEK certifies, in its product line's layout."""
        if self.product_line == TURIN_PRODUCT_LINE:
            parts = (
                self.fmc_spl,
                self.bl_spl,
                self.tee_spl,
                self.snp_spl,
                self.spl5,
                self.spl6,
                self.spl7,
                self.ucode_spl,
            )
            return int.from_bytes(bytes(parts), "little")
        return TcbVersion(
            bootloader=self.bl_spl,
            tee=self.tee_spl,
            snp=self.snp_spl,
            microcode=self.ucode_spl,
            spl4=self.spl4,
            spl5=self.spl5,
            spl6=self.spl6,
            spl7=self.spl7,
        ).to_int()


def parse_vcek_extensions(certificate: x509.Certificate) -> VcekExtensions:
    """Read the KDS extensions; ``ValueError`` if one is missing, malformed or a VLEK's.

    The bootloader, TEE, SNP and microcode SPLs and the product name are
    required: without them the TCB cannot be compared. hwID is optional, as
    in VCEKs requested with a masked chip id.
    """
    raw = _kds_extension_values(certificate)
    if OID_CSP_ID in raw:
        raise ValueError("certificate carries a CSP_ID: it is a VLEK, not a VCEK")
    hwid = raw.get(OID_HWID)
    return VcekExtensions(
        struct_version=_required_u8(raw, OID_STRUCT_VERSION),
        product_name=_decode_ia5_string(_required(raw, OID_PRODUCT_NAME)),
        bl_spl=_required_u8(raw, OID_BL_SPL),
        tee_spl=_required_u8(raw, OID_TEE_SPL),
        snp_spl=_required_u8(raw, OID_SNP_SPL),
        ucode_spl=_required_u8(raw, OID_UCODE_SPL),
        spl4=_optional_u8(raw, OID_SPL4),
        spl5=_optional_u8(raw, OID_SPL5),
        spl6=_optional_u8(raw, OID_SPL6),
        spl7=_optional_u8(raw, OID_SPL7),
        fmc_spl=_optional_u8(raw, OID_FMC_SPL),
        hwid=None if hwid is None else _decode_hwid(hwid),
    )


def encode_vcek_extensions(
    *, product_name: str, tcb: TcbVersion, hwid: bytes | None
) -> list[x509.UnrecognizedExtension]:
    """The KDS extensions of a Milan/Genoa VCEK, encoded exactly as AMD's KDS does.

    Used by the simulator. The hwID is the raw CHIP_ID without a tag, like
    the real certificates.
    """
    values: list[tuple[ObjectIdentifier, bytes]] = [
        (OID_STRUCT_VERSION, encode_der_u8(0)),
        (OID_PRODUCT_NAME, _encode_ia5_string(product_name)),
        (OID_BL_SPL, encode_der_u8(tcb.bootloader)),
        (OID_TEE_SPL, encode_der_u8(tcb.tee)),
        (OID_SPL4, encode_der_u8(tcb.spl4)),
        (OID_SPL5, encode_der_u8(tcb.spl5)),
        (OID_SPL6, encode_der_u8(tcb.spl6)),
        (OID_SPL7, encode_der_u8(tcb.spl7)),
        (OID_SNP_SPL, encode_der_u8(tcb.snp)),
        (OID_UCODE_SPL, encode_der_u8(tcb.microcode)),
    ]
    if hwid is not None:
        values.append((OID_HWID, hwid))
    return [x509.UnrecognizedExtension(oid, value) for oid, value in values]


def encode_der_u8(value: int) -> bytes:
    """DER INTEGER for 0..255: a leading zero byte keeps 128..255 positive."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{value} is not a byte")
    content = bytes([value]) if value < 0x80 else bytes([0, value])
    return bytes([_TAG_INTEGER, len(content)]) + content


def decode_der_u8(encoded: bytes) -> int:
    """Strict DER INTEGER in 0..255 (minimal encoding, non-negative, nothing trailing)."""
    if len(encoded) < 3 or encoded[0] != _TAG_INTEGER or encoded[1] != len(encoded) - 2:
        raise ValueError(f"not a short DER INTEGER: {encoded.hex()}")
    content = encoded[2:]
    if content[0] & 0x80:
        raise ValueError("negative INTEGER where a security patch level belongs")
    if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
        raise ValueError("INTEGER is not minimally encoded")
    value = int.from_bytes(content, "big")
    if value > 0xFF:
        raise ValueError(f"INTEGER {value} does not fit in a byte")
    return value


def _kds_extension_values(certificate: x509.Certificate) -> dict[ObjectIdentifier, bytes]:
    values: dict[ObjectIdentifier, bytes] = {}
    for extension in certificate.extensions:
        if not extension.oid.dotted_string.startswith(_KDS_PREFIX):
            continue
        if not isinstance(extension.value, x509.UnrecognizedExtension):
            raise ValueError(f"unexpected typed extension under the AMD arc: {extension.oid}")
        values[extension.oid] = extension.value.value
    return values


def _required(raw: dict[ObjectIdentifier, bytes], oid: ObjectIdentifier) -> bytes:
    value = raw.get(oid)
    if value is None:
        raise ValueError(f"VCEK lacks the KDS extension {oid.dotted_string}")
    return value


def _required_u8(raw: dict[ObjectIdentifier, bytes], oid: ObjectIdentifier) -> int:
    return decode_der_u8(_required(raw, oid))


def _optional_u8(raw: dict[ObjectIdentifier, bytes], oid: ObjectIdentifier) -> int:
    value = raw.get(oid)
    return 0 if value is None else decode_der_u8(value)


def _encode_ia5_string(text: str) -> bytes:
    content = text.encode("ascii")
    if len(content) >= 0x80:
        raise ValueError("product name too long for a short-form IA5String")
    return bytes([_TAG_IA5_STRING, len(content)]) + content


def _decode_ia5_string(encoded: bytes) -> str:
    if len(encoded) < 2 or encoded[0] != _TAG_IA5_STRING or encoded[1] != len(encoded) - 2:
        raise ValueError(f"not a short IA5String: {encoded.hex()}")
    return encoded[2:].decode("ascii")


def _decode_hwid(encoded: bytes) -> bytes:
    if len(encoded) in _HWID_SIZES:
        return encoded
    tagged = (
        len(encoded) >= 2
        and encoded[0] == _TAG_OCTET_STRING
        and encoded[1] == len(encoded) - 2
        and len(encoded) - 2 in _HWID_SIZES
    )
    if not tagged:
        raise ValueError(
            f"hwID is neither a raw chip id nor an OCTET STRING of one ({len(encoded)} bytes)"
        )
    return encoded[2:]
