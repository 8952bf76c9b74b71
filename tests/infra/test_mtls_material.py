"""The mTLS material: extensions, names, file modes, and that real verifiers accept it.

Chains are checked with cryptography's RFC 5280 verifier (x509.verification)
and, end to end, with an OpenSSL mutual-TLS handshake through Python's ssl.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import ssl
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

REPO = Path(__file__).resolve().parents[2]
GEN_MTLS = REPO / "scripts" / "gen-mtls.py"


def _load_library() -> ModuleType:
    """scripts/ is not on the test path (and gen-mtls.py has a dash): load by file."""
    spec = importlib.util.spec_from_file_location(
        "mtls_material", REPO / "scripts" / "mtls_material.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


mtls = _load_library()


@pytest.fixture(scope="module")
def material() -> dict[str, mtls.Issued]:
    return mtls.generate_all()


def _policy(ca: mtls.Issued, at: datetime | None = None) -> PolicyBuilder:
    return PolicyBuilder().store(Store([ca.certificate])).time(at or datetime.now(UTC))


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def run_gen_mtls(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GEN_MTLS), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- extensions and names ---------------------------------------------------------------


def test_ca_may_sign_leaves_only(material):
    ca = material["ca"].certificate
    constraints = _ext(ca, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0
    usage = _ext(ca, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert ca.issuer == ca.subject


def test_server_certificate_is_for_tls_servers_with_default_names(material):
    server = material["server"].certificate
    assert _ext(server, x509.BasicConstraints).value.ca is False
    assert list(_ext(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = _ext(server, x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    sans = _ext(server, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["payment-tee", "localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert server.issuer == material["ca"].certificate.subject


def test_client_certificate_names_the_gateway(material):
    client = material["client"].certificate
    assert list(_ext(client, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cn = client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "sealpay-gateway"
    assert _ext(client, x509.BasicConstraints).value.ca is False


def test_keys_are_p256_and_validity_defaults_to_825_days(material):
    for issued in material.values():
        assert isinstance(issued.private_key.curve, ec.SECP256R1)
        cert = issued.certificate
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=825)
        assert cert.not_valid_before_utc <= datetime.now(UTC)


def test_server_names_are_configurable():
    ca = mtls.new_ca()
    server = mtls.issue_server(ca, dns_names=["tee.internal"], ip_addresses=["203.0.113.7", "::1"])
    sans = _ext(server.certificate, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["tee.internal"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("203.0.113.7"),
        ipaddress.ip_address("::1"),
    ]


def test_bad_server_ip_is_a_clear_error():
    with pytest.raises(mtls.MaterialError, match="bad --server-ip"):
        mtls.issue_server(mtls.new_ca(), ip_addresses=["not-an-ip"])


# --- verification with cryptography's RFC 5280 verifier --------------------------------


def test_server_certificate_verifies_for_each_of_its_names(material):
    ca, server = material["ca"], material["server"].certificate
    for subject in (
        DNSName("payment-tee"),
        DNSName("localhost"),
        IPAddress(ipaddress.ip_address("127.0.0.1")),
    ):
        chain = _policy(ca).build_server_verifier(subject).verify(server, [])
        assert chain[-1] == ca.certificate


def test_server_certificate_does_not_verify_for_other_names(material):
    verifier = _policy(material["ca"]).build_server_verifier(DNSName("evil.example"))
    with pytest.raises(VerificationError):
        verifier.verify(material["server"].certificate, [])


def test_client_certificate_verifies_against_the_ca(material):
    verified = (
        _policy(material["ca"]).build_client_verifier().verify(material["client"].certificate, [])
    )
    assert verified.chain[-1] == material["ca"].certificate
    assert x509.DNSName("sealpay-gateway") in (verified.subjects or [])


def test_certificates_are_not_interchangeable_between_roles(material):
    ca = material["ca"]
    with pytest.raises(VerificationError):
        _policy(ca).build_client_verifier().verify(material["server"].certificate, [])
    with pytest.raises(VerificationError):
        _policy(ca).build_server_verifier(DNSName("sealpay-gateway")).verify(
            material["client"].certificate, []
        )


def test_expired_client_certificate_is_rejected(material):
    ca = material["ca"]
    now = datetime.now(UTC)
    expired = mtls.issue_client(
        ca, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    with pytest.raises(VerificationError):
        _policy(ca, at=now).build_client_verifier().verify(expired.certificate, [])


def test_certificate_from_a_foreign_ca_is_rejected(material):
    foreign = mtls.issue_client(mtls.new_ca("someone else's CA"))
    with pytest.raises(VerificationError):
        _policy(material["ca"]).build_client_verifier().verify(foreign.certificate, [])


def test_ca_cannot_sign_an_intermediate_that_is_trusted():
    """pathlen 0: a CA certificate issued by our CA must not extend the chain."""
    ca = mtls.new_ca()
    rogue_ca = mtls.new_ca("rogue")
    # Re-sign the rogue CA's certificate with our CA key, as a stolen-leaf attacker cannot,
    # but as a mis-issuance would: the verifier must still refuse the chain.
    rogue_cert = (
        x509.CertificateBuilder()
        .subject_name(rogue_ca.certificate.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(rogue_ca.private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(rogue_ca.private_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    leaf = mtls.issue_client(mtls.Issued(rogue_cert, rogue_ca.private_key))
    with pytest.raises(VerificationError):
        _policy(ca).build_client_verifier().verify(leaf.certificate, [rogue_cert])


# --- a real mutual-TLS handshake ----------------------------------------------------------


def _handshake(
    tmp_path: Path, ca: mtls.Issued, server: mtls.Issued, client: mtls.Issued
) -> str | None:
    """Run an OpenSSL mTLS handshake over a socket pair; None on success, else the error."""
    files = mtls.write_material(
        tmp_path, {"ca": ca, "server": server, "client": client}, force=True
    )
    assert len(files) == 6
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server_ctx.load_verify_locations(tmp_path / "ca.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(tmp_path / "client.pem", tmp_path / "client.key")
    client_ctx.load_verify_locations(tmp_path / "ca.pem")

    left, right = socket.socketpair()
    errors: list[str] = []

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(left, server_side=True) as tls:
                tls.sendall(tls.recv(5))
        except (ssl.SSLError, OSError) as exc:
            errors.append(f"server: {exc}")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(right, server_hostname="payment-tee") as tls:
            tls.sendall(b"hello")
            if tls.recv(5) != b"hello":
                errors.append("client: echo mismatch")
    except (ssl.SSLError, OSError) as exc:
        errors.append(f"client: {exc}")
    finally:
        right.close()
        thread.join(timeout=10)
        left.close()
    return "; ".join(errors) or None


def test_generated_material_completes_a_mutual_tls_handshake(tmp_path, material):
    assert _handshake(tmp_path, material["ca"], material["server"], material["client"]) is None


def test_handshake_fails_with_a_client_certificate_from_another_ca(tmp_path, material):
    foreign_client = mtls.issue_client(mtls.new_ca("another CA"))
    error = _handshake(tmp_path, material["ca"], material["server"], foreign_client)
    assert error is not None


# --- files on disk --------------------------------------------------------------------------


def test_write_material_sets_modes(tmp_path, material):
    out = tmp_path / "mtls"
    mtls.write_material(out, material, force=False)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in ("ca.key", "server.key", "client.key"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    for name in ("ca.pem", "server.pem", "client.pem"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
    assert sorted(p.name for p in out.iterdir()) == sorted(mtls.ALL_FILES)


def test_write_material_refuses_to_overwrite_without_force(tmp_path, material):
    mtls.write_material(tmp_path, material, force=False)
    before = (tmp_path / "ca.key").read_bytes()
    with pytest.raises(mtls.MaterialError, match="refusing to overwrite"):
        mtls.write_material(tmp_path, mtls.generate_all(), force=False)
    assert (tmp_path / "ca.key").read_bytes() == before


def test_load_ca_rejects_a_mismatched_key(tmp_path, material):
    mtls.write_material(tmp_path, material, force=False)
    with pytest.raises(mtls.MaterialError, match="not the private key"):
        mtls.load_ca(tmp_path / "ca.pem", tmp_path / "server.key")


def test_load_ca_rejects_a_leaf(tmp_path, material):
    mtls.write_material(tmp_path, material, force=False)
    with pytest.raises(mtls.MaterialError, match="not a CA"):
        mtls.load_ca(tmp_path / "server.pem", tmp_path / "server.key")


def test_load_ca_rejects_an_expired_ca(tmp_path):
    now = datetime.now(UTC)
    old = mtls.new_ca(not_before=now - timedelta(days=10), not_after=now - timedelta(days=1))
    mtls.write_material(tmp_path, {"ca": old}, force=False)
    with pytest.raises(mtls.MaterialError, match="expired"):
        mtls.load_ca(tmp_path / "ca.pem", tmp_path / "ca.key", now=now)


# --- the command line ---------------------------------------------------------------------


def test_cli_writes_the_six_files_with_safe_modes(tmp_path):
    out = tmp_path / "mtls"
    result = run_gen_mtls("--out", out, "--server-dns", "payment-tee", "--server-ip", "203.0.113.9")
    assert result.returncode == 0, result.stderr
    assert "wrote 6 files" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(mtls.ALL_FILES)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(
        stat.S_IMODE((out / k).stat().st_mode) == 0o600
        for k in mtls.ALL_FILES
        if k.endswith(".key")
    )
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    sans = _ext(server, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["payment-tee"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("203.0.113.9")]


def test_cli_refuses_to_overwrite_and_changes_nothing(tmp_path):
    out = tmp_path / "mtls"
    assert run_gen_mtls("--out", out).returncode == 0
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run_gen_mtls("--out", out)
    assert result.returncode == 1
    assert "refusing to overwrite" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot
    forced = run_gen_mtls("--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "ca.pem").read_bytes() != snapshot["ca.pem"]


def test_cli_client_only_issues_from_the_existing_ca(tmp_path):
    out = tmp_path / "mtls"
    assert run_gen_mtls("--out", out).returncode == 0
    ca_pem = (out / "ca.pem").read_bytes()
    rotated = tmp_path / "rotated"
    result = run_gen_mtls("--client-only", "--ca-dir", out, "--out", rotated)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in rotated.iterdir()) == ["client.key", "client.pem"]
    assert (out / "ca.pem").read_bytes() == ca_pem  # the CA is untouched
    ca = mtls.load_ca(out / "ca.pem", out / "ca.key")
    new_client = x509.load_pem_x509_certificate((rotated / "client.pem").read_bytes())
    old_client = x509.load_pem_x509_certificate((out / "client.pem").read_bytes())
    assert new_client.serial_number != old_client.serial_number
    _policy(ca).build_client_verifier().verify(new_client, [])


def test_cli_client_only_into_the_ca_directory_needs_force(tmp_path):
    out = tmp_path / "mtls"
    assert run_gen_mtls("--out", out).returncode == 0
    assert run_gen_mtls("--client-only", "--out", out).returncode == 1
    assert run_gen_mtls("--client-only", "--out", out, "--force").returncode == 0


def test_cli_server_only_reissues_the_server_certificate(tmp_path):
    out = tmp_path / "mtls"
    assert run_gen_mtls("--out", out).returncode == 0
    result = run_gen_mtls("--server-only", "--out", out, "--force", "--server-ip", "198.51.100.4")
    assert result.returncode == 0, result.stderr
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    ca = mtls.load_ca(out / "ca.pem", out / "ca.key")
    _policy(ca).build_server_verifier(IPAddress(ipaddress.ip_address("198.51.100.4"))).verify(
        server, []
    )


def test_cli_client_only_without_a_ca_is_a_clear_error(tmp_path):
    result = run_gen_mtls("--client-only", "--out", tmp_path / "empty")
    assert result.returncode == 1
    assert "no CA material" in result.stderr
