"""Which AMD root keys (ARKs) an attestation may chain to.

Roots are pinned by the SHA-256 of their DER encoding. A chain whose ARK is
self-signed and verifies perfectly is still worthless unless that exact ARK
is one we chose to trust: anyone can make a self-signed "ARK-Milan".

By default only AMD's Milan, Genoa and Turin ARKs are trusted. A simulated
ARK (``simulate.SimulatedAmdChain``) is trusted only when a caller adds it
explicitly with ``TrustStore.with_simulated_root``, and the root it matched
stays marked ``simulated`` so a simulated report can never pass as a real one.

Imports only the standard library and ``cryptography``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from cryptography import x509

from sealpay.attestation import amd_roots
from sealpay.attestation.certs import load_certificate, sha256_fingerprint

MILAN_ARK_SHA256: Final = bytes.fromhex(
    "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
)
GENOA_ARK_SHA256: Final = bytes.fromhex(
    "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
)
TURIN_ARK_SHA256: Final = bytes.fromhex(
    "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
)


@dataclass(frozen=True)
class AmdProductRoots:
    """AMD's ARK and ASK for one product line, with the ARK's pinned fingerprint."""

    product_line: str
    ark_pem: str
    ask_pem: str
    ark_sha256: bytes


AMD_PRODUCT_ROOTS: Final[Mapping[str, AmdProductRoots]] = MappingProxyType(
    {
        "Milan": AmdProductRoots(
            "Milan", amd_roots.MILAN_ARK_PEM, amd_roots.MILAN_ASK_PEM, MILAN_ARK_SHA256
        ),
        "Genoa": AmdProductRoots(
            "Genoa", amd_roots.GENOA_ARK_PEM, amd_roots.GENOA_ASK_PEM, GENOA_ARK_SHA256
        ),
        "Turin": AmdProductRoots(
            "Turin", amd_roots.TURIN_ARK_PEM, amd_roots.TURIN_ASK_PEM, TURIN_ARK_SHA256
        ),
    }
)


@dataclass(frozen=True)
class TrustedRoot:
    """One acceptable ARK, by DER SHA-256; ``simulated`` roots only vouch for simulated reports."""

    name: str
    sha256: bytes
    simulated: bool = False


@dataclass(frozen=True)
class TrustStore:
    """An immutable set of acceptable ARKs. Build on ``TrustStore.amd()``."""

    roots: tuple[TrustedRoot, ...]

    @classmethod
    def amd(cls) -> TrustStore:
        """AMD's pinned ARKs and nothing else: the default everywhere."""
        return cls(
            tuple(
                TrustedRoot(f"AMD ARK-{product.product_line}", product.ark_sha256)
                for product in AMD_PRODUCT_ROOTS.values()
            )
        )

    def with_simulated_root(
        self, ark: bytes | str | x509.Certificate, name: str = "simulated ARK"
    ) -> TrustStore:
        """A copy that also trusts this simulated ARK (PEM, DER or certificate), as simulated."""
        fingerprint = sha256_fingerprint(load_certificate(ark))
        return TrustStore((*self.roots, TrustedRoot(name, fingerprint, simulated=True)))

    def find(self, ark: x509.Certificate) -> TrustedRoot | None:
        """The root pinned to exactly this certificate, if any (pinned AMD roots win ties)."""
        fingerprint = sha256_fingerprint(ark)
        return next((root for root in self.roots if root.sha256 == fingerprint), None)


AMD_TRUST_STORE: Final = TrustStore.amd()
"""The default trust: AMD's Milan, Genoa and Turin ARKs."""


def trusted_roots(simulated_ark: bytes | str | x509.Certificate | None = None) -> TrustStore:
    """AMD's pinned roots, plus a simulated ARK only if the caller passes one."""
    if simulated_ark is None:
        return AMD_TRUST_STORE
    return AMD_TRUST_STORE.with_simulated_root(simulated_ark)
