"""Signature and chain checks in isolation: what exactly is required of AMD's certificates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given
from hypothesis import strategies as st
from sealpay.attestation.abi import SIGNED_SIZE, Report, SignerInfo
from sealpay.attestation.errors import (
    ChipIdMismatchError,
    ReportSignatureError,
    SignatureAlgorithmError,
    VcekChainError,
)
from sealpay.attestation.kds import encode_vcek_extensions
from sealpay.attestation.simulate import DEFAULT_TCB, SimulatedAmdChain, build_report
from sealpay.attestation.trust import trusted_roots
from sealpay.attestation.verify import (
    AMD_CERTIFICATE_PADDING,
    CertificateChain,
    vcek_extensions,
    verify_certificate_chain,
    verify_report,
    verify_report_signature,
    verify_tcb,
)

VERIFY_AT = datetime(2026, 6, 1, tzinfo=UTC)
SIGNATURE_ALGO_BYTES = range(0x34, 0x38)


@pytest.fixture(scope="module")
def signed(amd_chain: SimulatedAmdChain) -> bytes:
    report = build_report(b"\x11" * 64, b"\x22" * 48, amd_chain.chip_id, amd_chain.tcb)
    return amd_chain.sign_report(report)


def _chain(amd_chain: SimulatedAmdChain) -> CertificateChain:
    return CertificateChain(vcek=amd_chain.vcek, ask=amd_chain.ask, ark=amd_chain.ark)


def test_simulated_report_verifies(amd_chain: SimulatedAmdChain, signed: bytes) -> None:
    verified = verify_report(
        signed, _chain(amd_chain), trusted_roots=trusted_roots(amd_chain.ark), now=VERIFY_AT
    )

    assert verified.root.simulated
    assert verified.vcek_extensions.tcb == amd_chain.tcb.to_int()


@given(
    index=st.integers(0, SIGNED_SIZE - 1),
    mask=st.integers(1, 0xFF),
)
def test_any_flipped_signed_bit_breaks_the_signature(
    amd_chain: SimulatedAmdChain, signed: bytes, index: int, mask: int
) -> None:
    tampered = bytearray(signed)
    tampered[index] ^= mask
    expected = SignatureAlgorithmError if index in SIGNATURE_ALGO_BYTES else ReportSignatureError

    with pytest.raises(expected):
        verify_report_signature(bytes(tampered), amd_chain.vcek)


def test_zero_signature_is_refused(amd_chain: SimulatedAmdChain, signed: bytes) -> None:
    unsigned = replace(Report.from_bytes(signed), signature_r=0, signature_s=0).to_bytes()

    with pytest.raises(ReportSignatureError):
        verify_report_signature(unsigned, amd_chain.vcek)


def test_naive_now_is_a_caller_error(amd_chain: SimulatedAmdChain) -> None:
    with pytest.raises(ValueError, match="timezone"):
        verify_certificate_chain(
            _chain(amd_chain),
            trusted_roots=trusted_roots(amd_chain.ark),
            now=datetime(2026, 1, 1),
        )


def test_masked_chip_id_skips_the_hwid_comparison(amd_chain: SimulatedAmdChain) -> None:
    report = build_report(bytes(64), bytes(48), bytes(64), amd_chain.tcb)
    masked = replace(report, signer_info=SignerInfo(mask_chip_key=True).to_int())
    extensions = vcek_extensions(amd_chain.vcek)

    verify_tcb(masked, extensions)
    with pytest.raises(ChipIdMismatchError):
        verify_tcb(report, extensions)


# --- certificates that look like AMD's but break one rule each ---------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    issuer: str,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    rsa_padding: padding.PSS | padding.PKCS1v15 = AMD_CERTIFICATE_PADDING,
    algorithm: hashes.SHA256 | hashes.SHA384 | None = None,
    extensions: list[x509.UnrecognizedExtension] | None = None,
) -> x509.Certificate:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    for extension in extensions or []:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, algorithm or hashes.SHA384(), rsa_padding=rsa_padding)


Keys = tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP384R1()),
    )


def _custom_chain(
    keys: Keys,
    *,
    vcek_padding: padding.PSS | padding.PKCS1v15 = AMD_CERTIFICATE_PADDING,
    vcek_hash: hashes.SHA256 | hashes.SHA384 | None = None,
    vcek_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = None,
    ask_is_ca: bool = True,
    ark_issuer: str = "ARK",
) -> CertificateChain:
    ark_key, ask_key, ec_key = keys
    extensions = encode_vcek_extensions(product_name="Milan-B0", tcb=DEFAULT_TCB, hwid=None)
    ark = _issue("ARK", ark_key.public_key(), ark_issuer, ark_key, ca=True)
    ask = _issue("ASK", ask_key.public_key(), "ARK", ark_key, ca=ask_is_ca)
    vcek = _issue(
        "VCEK",
        vcek_key or ec_key.public_key(),
        "ASK",
        ask_key,
        ca=False,
        rsa_padding=vcek_padding,
        algorithm=vcek_hash,
        extensions=extensions,
    )
    return CertificateChain(vcek=vcek, ask=ask, ark=ark)


def test_custom_chain_baseline_verifies(keys: Keys) -> None:
    chain = _custom_chain(keys)

    root = verify_certificate_chain(chain, trusted_roots=trusted_roots(chain.ark), now=VERIFY_AT)

    assert root.simulated


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"vcek_padding": padding.PKCS1v15()}, "RSASSA-PSS"),
        (
            {"vcek_padding": padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=32)},
            "does not verify",
        ),
        ({"vcek_hash": hashes.SHA256()}, "SHA-384"),
        ({"ask_is_ca": False}, "CA"),
        ({"ark_issuer": "Someone else"}, "issuer"),
    ],
    ids=["pkcs1v15", "salt_32", "sha256", "ask_not_ca", "ark_not_self_issued"],
)
def test_chain_breaking_one_amd_rule_is_refused(
    keys: Keys,
    changes: dict[str, object],
    message: str,
) -> None:
    chain = _custom_chain(keys, **changes)  # type: ignore[arg-type]

    with pytest.raises(VcekChainError, match=message):
        verify_certificate_chain(chain, trusted_roots=trusted_roots(chain.ark), now=VERIFY_AT)


def test_vcek_with_a_non_p384_key_cannot_verify_reports(keys: Keys, signed: bytes) -> None:
    chain = _custom_chain(keys, vcek_key=ec.generate_private_key(ec.SECP256R1()).public_key())

    with pytest.raises(VcekChainError, match="P-384"):
        verify_report_signature(signed, chain.vcek)
