"""Pinned AMD roots: the embedded certificates are AMD's, and nothing else is trusted by default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from sealpay.attestation.certs import load_certificate, sha256_fingerprint
from sealpay.attestation.errors import VcekChainError
from sealpay.attestation.simulate import SimulatedAmdChain
from sealpay.attestation.trust import (
    AMD_PRODUCT_ROOTS,
    AMD_TRUST_STORE,
    GENOA_ARK_SHA256,
    MILAN_ARK_SHA256,
    TURIN_ARK_SHA256,
    TrustStore,
    trusted_roots,
)
from sealpay.attestation.verify import CertificateChain, verify_certificate_chain

VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors" / "sev-snp"
FILES = {
    "Milan": "ask_ark_milan.pem",
    "Genoa": "ask_ark_genoa.pem",
    "Turin": "ask_ark_turin_vcek.pem",
}


def test_milan_pin_is_amds_published_fingerprint() -> None:
    assert MILAN_ARK_SHA256.hex() == (
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    )


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_embedded_ark_hashes_to_its_pin_and_names_its_product(product: str) -> None:
    roots = AMD_PRODUCT_ROOTS[product]
    ark = load_certificate(roots.ark_pem)
    ask = load_certificate(roots.ask_pem)

    assert sha256_fingerprint(ark) == roots.ark_sha256
    assert ark.subject.rfc4514_string().startswith(f"CN=ARK-{product},")
    assert ask.subject.rfc4514_string().startswith(f"CN=SEV-{product},")


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_embedded_certificates_equal_the_published_files(product: str) -> None:
    path = VECTORS / FILES[product]
    if not path.is_file():
        pytest.skip(f"AMD chain files not found at {VECTORS}")
    ask, ark = x509.load_pem_x509_certificates(path.read_bytes())

    assert load_certificate(AMD_PRODUCT_ROOTS[product].ask_pem) == ask
    assert load_certificate(AMD_PRODUCT_ROOTS[product].ark_pem) == ark


@pytest.mark.parametrize("product", ["Milan", "Genoa", "Turin"])
def test_embedded_ask_is_signed_by_embedded_ark(product: str) -> None:
    """ASK <- ARK verifies with RSA-PSS SHA-384; only the VCEK check is skipped (ASK as leaf)."""
    roots = AMD_PRODUCT_ROOTS[product]
    ark = load_certificate(roots.ark_pem)
    ask = load_certificate(roots.ask_pem)

    with pytest.raises(VcekChainError, match="VCEK"):
        # The ASK is not issued by itself, so the chain breaks exactly at the VCEK link.
        verify_certificate_chain(
            CertificateChain(vcek=ask, ask=ask, ark=ark),
            trusted_roots=AMD_TRUST_STORE,
            now=datetime(2030, 1, 1, tzinfo=UTC),
        )


def test_default_store_holds_exactly_the_pinned_amd_roots() -> None:
    pins = {root.sha256 for root in AMD_TRUST_STORE.roots}

    assert pins == {MILAN_ARK_SHA256, GENOA_ARK_SHA256, TURIN_ARK_SHA256}
    assert not any(root.simulated for root in AMD_TRUST_STORE.roots)
    assert TrustStore.amd() == AMD_TRUST_STORE
    assert trusted_roots() is AMD_TRUST_STORE


def test_simulated_root_is_trusted_only_when_passed(amd_chain: SimulatedAmdChain) -> None:
    assert AMD_TRUST_STORE.find(amd_chain.ark) is None

    store = trusted_roots(amd_chain.ark_pem)
    root = store.find(amd_chain.ark)

    assert root is not None and root.simulated
    assert AMD_TRUST_STORE.find(amd_chain.ark) is None  # the default was not modified


def test_amd_ark_added_as_simulated_is_still_found_as_amd() -> None:
    milan_ark = AMD_PRODUCT_ROOTS["Milan"].ark_pem

    root = AMD_TRUST_STORE.with_simulated_root(milan_ark).find(load_certificate(milan_ark))

    assert root is not None and not root.simulated
