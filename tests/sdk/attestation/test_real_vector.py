"""A real Milan report, VCEK and AMD chain from go-sev-guest, verified against the pinned ARK.

The files live beside the project checkout in ``../shared/vectors/sev-snp/``
(they are Apache-2.0 data from google/go-sev-guest and are not copied into
this repository); the tests skip where that folder is absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from sealpay.attestation.abi import Report, TcbVersion
from sealpay.attestation.errors import (
    CertificateExpiredError,
    ReportSignatureError,
    UntrustedRootError,
)
from sealpay.attestation.trust import AMD_TRUST_STORE, MILAN_ARK_SHA256, TrustStore
from sealpay.attestation.verify import CertificateChain, verify_report

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "sev-snp"
# AMD issues VCEKs with serial number 0, which cryptography warns about on load. The library
# silences that warning for its own loads, but pytest resets warning filters per test.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning"
)

# Inside every certificate's validity: the VCEK is valid 2022-09-24 .. 2029-09-24,
# the Milan ASK and ARK 2020-10-22 .. 2045-10-22.
FIXED_CLOCK = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def vectors() -> Path:
    if not (VECTORS / "attestation.bin").is_file():
        pytest.skip(f"real SEV-SNP vectors not found at {VECTORS} (they live beside the checkout)")
    return VECTORS


@pytest.fixture(scope="module")
def report_bytes(vectors: Path) -> bytes:
    return (vectors / "attestation.bin").read_bytes()


@pytest.fixture(scope="module")
def chain(vectors: Path) -> CertificateChain:
    ask, ark = x509.load_pem_x509_certificates((vectors / "ask_ark_milan.pem").read_bytes())
    return CertificateChain.load(vcek=(vectors / "vcek.testcer").read_bytes(), ask=ask, ark=ark)


def test_real_report_parses_and_round_trips(report_bytes: bytes) -> None:
    report = Report.from_bytes(report_bytes)

    assert report.to_bytes() == report_bytes
    assert report.version == 2
    assert report.policy == 0xB0000
    assert report.signature_algo == 1
    assert report.report_data[:5] == bytes([1, 2, 3, 4, 5])
    assert report.reported_tcb_version == TcbVersion(bootloader=2, tee=0, snp=5, microcode=0x44)


def test_real_report_verifies_against_the_pinned_milan_ark(
    report_bytes: bytes, chain: CertificateChain
) -> None:
    verified = verify_report(report_bytes, chain, trusted_roots=AMD_TRUST_STORE, now=FIXED_CLOCK)

    assert verified.root.sha256 == MILAN_ARK_SHA256
    assert not verified.root.simulated
    assert verified.vcek_extensions.product_name == "Milan-B0"
    assert verified.vcek_extensions.tcb == verified.report.reported_tcb
    assert verified.vcek_extensions.hwid == verified.report.chip_id


@pytest.mark.parametrize("offset", [0x04, 0x40, 0x50, 0x90, 0x180, 0x1A0])
def test_flipped_byte_in_real_report_fails(
    report_bytes: bytes, chain: CertificateChain, offset: int
) -> None:
    tampered = bytearray(report_bytes)
    tampered[offset] ^= 0x01

    with pytest.raises(ReportSignatureError):
        verify_report(bytes(tampered), chain, trusted_roots=AMD_TRUST_STORE, now=FIXED_CLOCK)


def test_real_chain_is_refused_when_milan_is_not_trusted(
    report_bytes: bytes, chain: CertificateChain
) -> None:
    genoa_only = TrustStore(tuple(r for r in AMD_TRUST_STORE.roots if r.sha256 != MILAN_ARK_SHA256))

    with pytest.raises(UntrustedRootError):
        verify_report(report_bytes, chain, trusted_roots=genoa_only, now=FIXED_CLOCK)


def test_real_vcek_is_refused_after_it_expires(
    report_bytes: bytes, chain: CertificateChain
) -> None:
    with pytest.raises(CertificateExpiredError):
        verify_report(
            report_bytes,
            chain,
            trusted_roots=AMD_TRUST_STORE,
            now=datetime(2030, 1, 1, tzinfo=UTC),
        )
