"""A simulated AMD key hierarchy that signs reports the way a real AMD-SP does.

Used by tests and by the payment core's "simulated" report provider (a
machine without SEV-SNP). Everything real verification looks at is
reproduced: an RSA ARK self-signed with RSA-PSS SHA-384, an ASK signed by it,
an ECDSA P-384 VCEK signed by the ASK carrying the KDS TCB and hwID
extensions encoded as AMD encodes them, and reports whose signature sits at
0x2A0 as little-endian R and S. The only difference from AMD is the root:
a simulated ARK is trusted only by a caller who passes it explicitly, and the
organisation name says "simulated". ``save`` and ``load`` persist a chain so
a development TEE keeps the same simulated ARK (which clients pin) across
restarts.

Imports only the standard library and ``cryptography``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from sealpay.attestation.abi import (
    CHIP_ID_SIZE,
    SIGN_ECDSA_P384_SHA384,
    GuestPolicy,
    Report,
    TcbVersion,
    signed_bytes,
)
from sealpay.attestation.certs import CertPemBundle, certificate_pem, load_certificate, spki_der
from sealpay.attestation.errors import AttestationError
from sealpay.attestation.kds import encode_vcek_extensions, parse_vcek_extensions
from sealpay.attestation.trust import TrustStore
from sealpay.attestation.verify import (
    AMD_CERTIFICATE_PADDING,
    CertificateChain,
    verify_certificate_chain,
)

SIMULATED_ORGANIZATION: Final = "Sealpay simulated AMD (not Advanced Micro Devices)"
DEFAULT_PRODUCT_NAME: Final = "Milan-B0"
DEFAULT_TCB: Final = TcbVersion(bootloader=3, tee=0, snp=8, microcode=115)
DEFAULT_GUEST_POLICY: Final = GuestPolicy().to_int()
"""SMT allowed, debug and migration agent forbidden, ABI 0.0: what a payment guest launches with."""

AMD_RSA_KEY_SIZE: Final = 4096
ROOT_VALIDITY: Final = timedelta(days=25 * 365)
VCEK_VALIDITY: Final = timedelta(days=7 * 365)
"""AMD's lifetimes: 25 years for ARK and ASK, 7 for a VCEK."""

_SIMULATED_FIRMWARE: Final = (3, 49, 1)
"""(build, minor, major) firmware a simulated report claims: 1.49 build 3, like the vector."""

STORE_FORMAT: Final = 1
_MANIFEST: Final = "chain.json"
_ARK_KEY: Final = "ark.key.pem"
_ASK_KEY: Final = "ask.key.pem"
_VCEK_KEY: Final = "vcek.key.pem"
_ARK_CERT: Final = "ark.pem"
_ASK_CERT: Final = "ask.pem"
_VCEK_CERT: Final = "vcek.pem"
STORE_FILES: Final = (_ARK_KEY, _ASK_KEY, _VCEK_KEY, _ARK_CERT, _ASK_CERT, _VCEK_CERT, _MANIFEST)
"""What ``save`` writes; ``load`` needs every one of them."""


class SimulatedChainStoreError(ValueError):
    """A saved simulated chain cannot be written, or read back whole and consistent."""


@dataclass(frozen=True)
class SimulatedAmdChain:
    """Private keys and certificates of a simulated ARK -> ASK -> VCEK hierarchy for one chip."""

    ark_key: rsa.RSAPrivateKey
    ask_key: rsa.RSAPrivateKey
    vcek_key: ec.EllipticCurvePrivateKey
    ark: x509.Certificate
    ask: x509.Certificate
    vcek: x509.Certificate
    chip_id: bytes
    tcb: TcbVersion
    product_name: str

    @classmethod
    def generate(
        cls,
        *,
        now: datetime | None = None,
        chip_id: bytes | None = None,
        tcb: TcbVersion = DEFAULT_TCB,
        product_name: str = DEFAULT_PRODUCT_NAME,
        rsa_key_size: int = AMD_RSA_KEY_SIZE,
        vcek_validity: timedelta = VCEK_VALIDITY,
    ) -> SimulatedAmdChain:
        """Make a fresh hierarchy whose certificates start at ``now`` (default: the current time).

        ``rsa_key_size`` defaults to AMD's 4096 bits; 2048 is accepted only
        to make test suites faster, the padding stays RSA-PSS SHA-384.
        ``product_name`` must be a Milan or Genoa name: the extension layout
        written here is theirs.
        """
        if rsa_key_size not in (2048, AMD_RSA_KEY_SIZE):
            raise ValueError("simulated AMD RSA keys are 4096 bits (or 2048 for fast tests)")
        if product_name.split("-", 1)[0] not in ("Milan", "Genoa"):
            raise ValueError("simulated VCEKs use the Milan/Genoa extension layout")
        chip = os.urandom(CHIP_ID_SIZE) if chip_id is None else chip_id
        if len(chip) != CHIP_ID_SIZE:
            raise ValueError(f"chip_id must be {CHIP_ID_SIZE} bytes")
        start = datetime.now(UTC) if now is None else now
        product_line = product_name.split("-", 1)[0]
        ark_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
        ask_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
        vcek_key = ec.generate_private_key(ec.SECP384R1())
        ark_name = _amd_name(f"ARK-{product_line}")
        ask_name = _amd_name(f"SEV-{product_line}")
        ark = _sign(
            _root_builder(ark_name, ark_name, ark_key.public_key(), start, ROOT_VALIDITY, None),
            ark_key,
        )
        ask = _sign(
            _root_builder(ask_name, ark_name, ask_key.public_key(), start, ROOT_VALIDITY, 0),
            ark_key,
        )
        vcek_builder = _base_builder(
            _amd_name("SEV-VCEK"), ask_name, vcek_key.public_key(), start, vcek_validity
        )
        for extension in encode_vcek_extensions(product_name=product_name, tcb=tcb, hwid=chip):
            vcek_builder = vcek_builder.add_extension(extension, critical=False)
        vcek = _sign(vcek_builder, ask_key)
        return cls(ark_key, ask_key, vcek_key, ark, ask, vcek, chip, tcb, product_name)

    def sign_report(self, report: Report, *, signature_algo: int = SIGN_ECDSA_P384_SHA384) -> bytes:
        """The report's ABI bytes, signed by this VCEK as the AMD-SP would sign them.

        SIGNATURE_ALGO is set to 1 (ECDSA P-384 SHA-384). Passing another
        ``signature_algo`` writes that value into the signed bytes instead;
        it exists so tests can build a correctly signed report that claims a
        different algorithm.
        """
        unsigned = replace(report, signature_algo=signature_algo, signature_r=0, signature_s=0)
        signature = self.vcek_key.sign(signed_bytes(unsigned.to_bytes()), ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(signature)
        return replace(unsigned, signature_r=r, signature_s=s).to_bytes()

    def pem_bundle(self) -> CertPemBundle:
        """VCEK, ASK and ARK as PEM text, the ``certs`` member of an attestation document."""
        return CertPemBundle(
            vcek=certificate_pem(self.vcek),
            ask=certificate_pem(self.ask),
            ark=certificate_pem(self.ark),
        )

    @property
    def ark_pem(self) -> str:
        """The root a verifier must be given explicitly to accept this chain."""
        return certificate_pem(self.ark)

    def save(self, directory: Path) -> None:
        """Persist keys and certificates, so a development TEE keeps its ARK across restarts.

        Clients pin the simulated ARK; a new one at every restart would make
        them re-pin each time. Private keys are written unencrypted with mode
        0600 (the directory is created 0700): this is a development stand-in
        for keys that on real hardware never leave the AMD-SP. Files are
        created exclusively, so an existing chain is never overwritten, and
        the manifest comes last: a crash mid-save leaves a directory that
        ``load`` refuses rather than a half-chain that loads.
        """
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = ((_ARK_KEY, self.ark_key), (_ASK_KEY, self.ask_key), (_VCEK_KEY, self.vcek_key))
        for name, key in keys:
            _write_new(directory / name, _private_pem(key), mode=0o600)
        certificates = ((_ARK_CERT, self.ark), (_ASK_CERT, self.ask), (_VCEK_CERT, self.vcek))
        for name, certificate in certificates:
            _write_new(directory / name, certificate_pem(certificate).encode("ascii"), mode=0o644)
        manifest = {
            "format": STORE_FORMAT,
            "chip_id": self.chip_id.hex(),
            "tcb": self.tcb.to_int(),
            "product_name": self.product_name,
        }
        _write_new(directory / _MANIFEST, json.dumps(manifest, indent=2).encode(), mode=0o644)

    @classmethod
    def load(cls, directory: Path) -> SimulatedAmdChain:
        """Read a chain written by ``save``; ``SimulatedChainStoreError`` unless whole and sound.

        Beyond parsing, each private key must belong to its certificate, the
        chain must verify as ARK -> ASK -> VCEK, and the VCEK must carry the
        manifest's chip id, TCB and product: a chain that loads signs reports
        that verify.
        """
        missing = [name for name in STORE_FILES if not (directory / name).is_file()]
        if missing:
            raise SimulatedChainStoreError(
                f"{directory} is not a saved simulated chain: missing {', '.join(missing)}"
            )
        try:
            chain = cls._read(directory)
        except SimulatedChainStoreError:
            raise
        except (ValueError, TypeError, KeyError, OSError) as exc:
            raise SimulatedChainStoreError(f"{directory}: garbled simulated chain: {exc}") from exc
        chain._check_consistent(directory)
        return chain

    @classmethod
    def _read(cls, directory: Path) -> SimulatedAmdChain:
        manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
            raise SimulatedChainStoreError(f"{directory / _MANIFEST} is not format {STORE_FORMAT}")
        tcb, chip_id, product_name = manifest["tcb"], manifest["chip_id"], manifest["product_name"]
        if not isinstance(tcb, int) or not isinstance(chip_id, str):
            raise SimulatedChainStoreError("manifest tcb must be an integer, chip_id hex text")
        if not isinstance(product_name, str):
            raise SimulatedChainStoreError("manifest product_name must be text")
        chip = bytes.fromhex(chip_id)
        if len(chip) != CHIP_ID_SIZE:
            raise SimulatedChainStoreError(f"manifest chip_id must be {CHIP_ID_SIZE} bytes")
        return cls(
            ark_key=_load_rsa_key(directory / _ARK_KEY),
            ask_key=_load_rsa_key(directory / _ASK_KEY),
            vcek_key=_load_p384_key(directory / _VCEK_KEY),
            ark=_load_certificate(directory / _ARK_CERT),
            ask=_load_certificate(directory / _ASK_CERT),
            vcek=_load_certificate(directory / _VCEK_CERT),
            chip_id=chip,
            tcb=TcbVersion.from_int(tcb),
            product_name=product_name,
        )

    def _check_consistent(self, directory: Path) -> None:
        pairs = (
            ("ARK", self.ark_key, self.ark),
            ("ASK", self.ask_key, self.ask),
            ("VCEK", self.vcek_key, self.vcek),
        )
        for role, key, certificate in pairs:
            if _public_spki(key) != spki_der(certificate):
                raise SimulatedChainStoreError(
                    f"{directory}: {role} key does not match its certificate"
                )
        chain = CertificateChain(vcek=self.vcek, ask=self.ask, ark=self.ark)
        issued_at = max(c.not_valid_before_utc for c in (self.ark, self.ask, self.vcek))
        try:
            verify_certificate_chain(
                chain, trusted_roots=TrustStore(()).with_simulated_root(self.ark), now=issued_at
            )
            extensions = parse_vcek_extensions(self.vcek)
        except (AttestationError, ValueError) as exc:
            raise SimulatedChainStoreError(f"{directory}: chain does not verify: {exc}") from exc
        claimed = (self.tcb.to_int(), self.chip_id, self.product_name)
        if (extensions.tcb, extensions.hwid, extensions.product_name) != claimed:
            raise SimulatedChainStoreError(
                f"{directory}: VCEK extensions disagree with the manifest (TCB, chip id, product)"
            )


def build_report(
    report_data: bytes,
    measurement: bytes,
    chip_id: bytes,
    tcb: TcbVersion,
    *,
    policy: int = DEFAULT_GUEST_POLICY,
    vmpl: int = 0,
    version: int = 2,
    guest_svn: int = 0,
    host_data: bytes = bytes(32),
    report_id: bytes | None = None,
    platform_info: int = 0,
) -> Report:
    """An unsigned report as a guest on this chip and TCB would get it; sign with ``sign_report``.

    All four TCB fields (current, committed, launch, reported) are ``tcb``,
    as on a machine that has not been updated since launch. A random
    REPORT_ID is drawn unless one is given.
    """
    build, minor, major = _SIMULATED_FIRMWARE
    raw_tcb = tcb.to_int()
    return Report(
        version=version,
        guest_svn=guest_svn,
        policy=policy,
        vmpl=vmpl,
        signature_algo=SIGN_ECDSA_P384_SHA384,
        current_tcb=raw_tcb,
        platform_info=platform_info,
        report_data=report_data,
        measurement=measurement,
        host_data=host_data,
        report_id=os.urandom(32) if report_id is None else report_id,
        reported_tcb=raw_tcb,
        chip_id=chip_id,
        committed_tcb=raw_tcb,
        current_build=build,
        current_minor=minor,
        current_major=major,
        committed_build=build,
        committed_minor=minor,
        committed_major=major,
        launch_tcb=raw_tcb,
    )


def _amd_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SIMULATED_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    start: datetime,
    validity: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
    )


def _root_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey,
    start: datetime,
    validity: timedelta,
    path_length: int | None,
) -> x509.CertificateBuilder:
    """ARK and ASK: CA certificates that may only sign certificates, like AMD's."""
    key_usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        _base_builder(subject, issuer, public_key, start, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _sign(builder: x509.CertificateBuilder, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return builder.sign(issuer_key, hashes.SHA384(), rsa_padding=AMD_CERTIFICATE_PADDING)


def _private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode`` (never wider: umask only removes bits); refuse to replace."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise SimulatedChainStoreError(
            f"{path} exists; refusing to overwrite a saved chain"
        ) from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return load_certificate(path.read_bytes())
    except ValueError as exc:
        raise SimulatedChainStoreError(f"{path} is not a PEM certificate: {exc}") from exc


def _load_private_key(path: Path) -> object:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SimulatedChainStoreError(f"{path} is not an unencrypted PEM private key") from exc


def _load_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    key = _load_private_key(path)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SimulatedChainStoreError(f"{path} is not an RSA private key")
    return key


def _load_p384_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = _load_private_key(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
        raise SimulatedChainStoreError(f"{path} is not an ECDSA P-384 private key")
    return key
