"""Mutual-TLS material for the gateway ↔ payment_tee link (library; `cryptography` only).

One private CA signs both ends:

* the **server** certificate of the payment TEE (gRPC on 50051 and HTTPS
  attestation on 8443), EKU serverAuth, SANs for the names the gateway
  verifies (`PAYMENT_TEE_SERVER_NAME`, default `payment-tee`) and the
  addresses operators connect to;
* the **client** certificate of the gateway, EKU clientAuth, CN
  `sealpay-gateway`, which the TEE requires on every gRPC call.

The CA is `pathlen:0` (it can sign leaves, never another CA) and key usage
keyCertSign/cRLSign only, so a stolen leaf key cannot mint certificates and a
CA cert cannot pose as a TLS endpoint. There is no revocation (no CRL, no
OCSP): rotating away from a leaked *leaf* key means a new CA. Keys are ECDSA
P-256; signatures SHA-256.

`scripts/gen-mtls.py` is the command-line front end; tests use these
functions directly, e.g. to build an expired certificate or one from a
foreign CA.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 825  # the longest validity browsers ever accepted; rotate well before
DEFAULT_SERVER_DNS = ("payment-tee", "localhost")
DEFAULT_SERVER_IPS = ("127.0.0.1",)
SERVER_COMMON_NAME = "payment-tee"
CLIENT_COMMON_NAME = "sealpay-gateway"
CA_COMMON_NAME = "Sealpay payment TEE CA"
ORGANIZATION = "Sealpay"
# Certificates start a little in the past so a peer whose clock runs behind
# ours does not reject a certificate issued a moment ago.
CLOCK_SKEW = timedelta(minutes=5)

CA_FILES = ("ca.pem", "ca.key")
SERVER_FILES = ("server.pem", "server.key")
CLIENT_FILES = ("client.pem", "client.key")
ALL_FILES = (*CA_FILES, *SERVER_FILES, *CLIENT_FILES)


class MaterialError(RuntimeError):
    """The material cannot be produced as asked (existing files, broken CA, ...)."""


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        # Unencrypted PKCS#8: the files are protected by mode 0600 and, in
        # production, live only in Secret Manager and on tmpfs.
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint_sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _validity(
    not_before: datetime | None, not_after: datetime | None, days: int
) -> tuple[datetime, datetime]:
    start = not_before if not_before is not None else datetime.now(UTC) - CLOCK_SKEW
    end = not_after if not_after is not None else start + timedelta(days=days)
    if end <= start:
        raise MaterialError("not_after must be later than not_before")
    return start, end


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_ca(
    common_name: str = CA_COMMON_NAME,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> Issued:
    """A self-signed CA that may sign leaf certificates only (pathlen 0)."""
    key = _new_key()
    start, end = _validity(not_before, not_after, days)
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def _leaf(
    ca: Issued,
    *,
    common_name: str,
    usage: x509.ObjectIdentifier,
    alt_names: list[x509.GeneralName],
    not_before: datetime | None,
    not_after: datetime | None,
    days: int,
) -> Issued:
    key = _new_key()
    start, end = _validity(not_before, not_after, days)
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,  # ECDHE + ECDSA: the key only ever signs
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return Issued(certificate, key)


def issue_server(
    ca: Issued,
    *,
    dns_names: Iterable[str] = DEFAULT_SERVER_DNS,
    ip_addresses: Iterable[str] = DEFAULT_SERVER_IPS,
    common_name: str = SERVER_COMMON_NAME,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> Issued:
    """The payment TEE's certificate (serverAuth) with the given DNS and IP SANs."""
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dict.fromkeys(dns_names)]
    try:
        alt_names += [
            x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ip_addresses)
        ]
    except ValueError as exc:
        raise MaterialError(f"bad --server-ip: {exc}") from None
    if not alt_names:
        raise MaterialError("a server certificate needs at least one DNS name or IP address")
    return _leaf(
        ca,
        common_name=common_name,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        alt_names=alt_names,
        not_before=not_before,
        not_after=not_after,
        days=days,
    )


def issue_client(
    ca: Issued,
    *,
    common_name: str = CLIENT_COMMON_NAME,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> Issued:
    """The gateway's certificate (clientAuth); its CN is repeated as a DNS SAN.

    Verifiers that follow RFC 6125 read identities from the SAN, not the CN,
    so the name the TEE may authorise is in both.
    """
    return _leaf(
        ca,
        common_name=common_name,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        alt_names=[x509.DNSName(common_name)],
        not_before=not_before,
        not_after=not_after,
        days=days,
    )


def load_ca(cert_path: Path, key_path: Path, *, now: datetime | None = None) -> Issued:
    """An existing CA from PEM files, checked to be a usable CA for issuing today."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise MaterialError(f"no CA material: {exc.filename} does not exist") from None
    except ValueError as exc:
        raise MaterialError(f"cannot read the CA: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise MaterialError(f"{key_path} is not an EC private key")
    if _spki(key.public_key()) != _spki(certificate.public_key()):
        raise MaterialError(f"{key_path} is not the private key of {cert_path}")
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not constraints.ca:
        raise MaterialError(f"{cert_path} is not a CA certificate")
    moment = now or datetime.now(UTC)
    if certificate.not_valid_after_utc <= moment:
        raise MaterialError(f"the CA expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    return Issued(certificate, key)


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_all(
    *,
    server_dns: Iterable[str] = DEFAULT_SERVER_DNS,
    server_ips: Iterable[str] = DEFAULT_SERVER_IPS,
    client_common_name: str = CLIENT_COMMON_NAME,
    days: int = DEFAULT_DAYS,
) -> dict[str, Issued]:
    """A fresh CA and the server and client certificates it signs, keyed by file stem."""
    ca = new_ca(days=days)
    return {
        "ca": ca,
        "server": issue_server(ca, dns_names=server_dns, ip_addresses=server_ips, days=days),
        "client": issue_client(ca, common_name=client_common_name, days=days),
    }


def existing_files(out_dir: Path, stems: Iterable[str]) -> list[Path]:
    """Which of `<stem>.pem` / `<stem>.key` already exist in out_dir."""
    paths = [out_dir / f"{stem}{suffix}" for stem in stems for suffix in (".pem", ".key")]
    return [p for p in paths if p.exists()]


def write_material(out_dir: Path, material: Mapping[str, Issued], *, force: bool) -> list[Path]:
    """Write `<stem>.pem` (0644) and `<stem>.key` (0600) for each entry, in a 0700 directory.

    Refuses, before writing anything, when any target exists and `force` is
    false: overwriting a CA silently would cut off every peer holding
    certificates from the old one. Each file is written to a temporary name
    and renamed, so a crash never leaves half a key behind.
    """
    existing = existing_files(out_dir, material)
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise MaterialError(f"refusing to overwrite existing material: {names} (use --force)")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    written: list[Path] = []
    for stem, issued in material.items():
        written.append(_write_atomic(out_dir / f"{stem}.pem", issued.certificate_pem(), 0o644))
        written.append(_write_atomic(out_dir / f"{stem}.key", issued.private_key_pem(), 0o600))
    return written


def _write_atomic(path: Path, data: bytes, mode: int) -> Path:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)  # mkstemp creates 0600; set the final mode before any byte lands
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def describe(issued: Issued) -> str:
    """One line for humans: subject, SANs, expiry and fingerprint."""
    cert = issued.certificate
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [f"DNS:{n}" for n in sans.get_values_for_type(x509.DNSName)]
        names += [f"IP:{ip}" for ip in sans.get_values_for_type(x509.IPAddress)]
        san_text = f" SAN={','.join(names)}"
    except x509.ExtensionNotFound:
        san_text = ""
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return (
        f"CN={cn!s}{san_text} valid until {cert.not_valid_after_utc:%Y-%m-%d} "
        f"sha256={issued.fingerprint_sha256}"
    )
