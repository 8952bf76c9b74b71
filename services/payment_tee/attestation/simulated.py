"""Simulated reports, for development machines without SEV-SNP.

The report is laid out and signed exactly as an AMD-SP would (same builder
and signer the SDK's tests use), so everything downstream, document building
and client verification included, runs for real. What a simulated report
cannot fake is its root: it chains to a simulated ARK that a client trusts
only when told to, and the document says ``"mode": "simulated"``. This
provider is therefore only ever chosen by name, never as a fallback.

Imports: stdlib, ``cryptography`` and ``sealpay.attestation`` only (import guard).
"""

from __future__ import annotations

from pathlib import Path

from sealpay.attestation.abi import MEASUREMENT_SIZE
from sealpay.attestation.document import Mode
from sealpay.attestation.simulate import (
    AMD_RSA_KEY_SIZE,
    DEFAULT_GUEST_POLICY,
    STORE_FILES,
    SimulatedAmdChain,
    build_report,
)

from services.payment_tee.attestation.base import (
    PAYMENT_CORE_VMPL,
    RawAttestation,
    require_report_data,
)


class SimulatedProvider:
    """Signs reports for ``measurement`` with a simulated AMD chain."""

    mode: Mode = "simulated"

    def __init__(
        self,
        chain: SimulatedAmdChain,
        measurement: bytes,
        policy: int = DEFAULT_GUEST_POLICY,
        vmpl: int = PAYMENT_CORE_VMPL,
    ) -> None:
        if len(measurement) != MEASUREMENT_SIZE:
            raise ValueError(f"measurement must be {MEASUREMENT_SIZE} bytes")
        self.chain = chain
        self.measurement = measurement
        self.policy = policy
        self.vmpl = vmpl

    def get_report(self, report_data: bytes) -> RawAttestation:
        require_report_data(report_data)
        report = build_report(
            report_data,
            self.measurement,
            self.chain.chip_id,
            self.chain.tcb,
            policy=self.policy,
            vmpl=self.vmpl,
        )
        return RawAttestation(
            mode=self.mode, report=self.chain.sign_report(report), certs=self.chain.pem_bundle()
        )


def load_or_create_simulated_chain(
    directory: Path, *, rsa_key_size: int = AMD_RSA_KEY_SIZE
) -> SimulatedAmdChain:
    """The chain saved in ``directory``, or a new one saved there if the directory holds none.

    Only a directory without any chain file gets a new chain: a partial or
    damaged one raises ``SimulatedChainStoreError`` rather than being replaced,
    because replacing it would silently change the ARK every client pinned.
    """
    if not any((directory / name).exists() for name in STORE_FILES):
        chain = SimulatedAmdChain.generate(rsa_key_size=rsa_key_size)
        chain.save(directory)
        return chain
    return SimulatedAmdChain.load(directory)
