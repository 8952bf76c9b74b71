"""Report providers, and the one function that picks one from settings.

    tsm        configfs-tsm (``ConfigfsTsmProvider``), Linux 6.7+
    sev-guest  the SNP_GET_EXT_REPORT ioctl (``SevGuestIoctlProvider``)
    simulated  a simulated AMD chain (``SimulatedProvider``), development only
    auto       configfs-tsm if present, else /dev/sev-guest, else refuse to start

``auto`` never falls back to ``simulated``: a payment core that silently
served simulated reports on a machine that lost its TEE would look healthy
while proving nothing. Simulated runs only when configured by name. The real
providers fetch certificates from AMD's KDS when the host hands over none.

Imports: stdlib, ``cryptography``, ``sealpay.attestation`` and this package only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sealpay.attestation.abi import MEASUREMENT_SIZE
from sealpay.attestation.simulate import SimulatedAmdChain

from services.payment_tee.attestation.base import CertSource, RawAttestation, ReportProvider
from services.payment_tee.attestation.configfs import DEFAULT_TSM_ROOT, ConfigfsTsmProvider
from services.payment_tee.attestation.errors import NoTeeAvailableError, ProviderConfigError
from services.payment_tee.attestation.kds import KdsCertSource
from services.payment_tee.attestation.sevguest import DEFAULT_DEVICE, SevGuestIoctlProvider
from services.payment_tee.attestation.simulated import (
    SimulatedProvider,
    load_or_create_simulated_chain,
)

__all__ = [
    "PROVIDER_NAMES",
    "CertSource",
    "ConfigfsTsmProvider",
    "KdsCertSource",
    "RawAttestation",
    "ReportProvider",
    "SevGuestIoctlProvider",
    "SimulatedProvider",
    "load_or_create_simulated_chain",
    "provider_from_settings",
]

PROVIDER_NAMES: Final = ("auto", "tsm", "sev-guest", "simulated")


def provider_from_settings(
    name: str,
    *,
    simulated_dir: Path | None,
    simulated_measurement: bytes | None,
    kds_base_url: str,
    kds_cache_dir: Path | None,
    product: str,
    tsm_root: Path = DEFAULT_TSM_ROOT,
    sev_guest_device: Path = DEFAULT_DEVICE,
) -> ReportProvider:
    """The provider ``name`` asks for, checked to be usable here; raises at boot otherwise.

    ``simulated_dir`` keeps the simulated chain across restarts; without it
    each start makes a new chain (and clients must pin a new ARK).
    ``tsm_root`` and ``sev_guest_device`` exist to point ``auto`` elsewhere
    in tests; production leaves the kernel's paths.
    """
    if name == "simulated":
        return _simulated(simulated_dir, simulated_measurement)
    if name not in PROVIDER_NAMES:
        raise ProviderConfigError(
            f"unknown attestation provider {name!r}; expected one of {', '.join(PROVIDER_NAMES)}"
        )
    try:
        kds = KdsCertSource(kds_base_url, kds_cache_dir, product=product)
    except ValueError as exc:
        raise ProviderConfigError(f"KDS settings: {exc}") from exc
    if name == "auto":
        name = _detect(tsm_root, sev_guest_device)
    if name == "tsm":
        if not tsm_root.is_dir():
            raise ProviderConfigError(f"configfs-tsm is not available: {tsm_root} does not exist")
        return ConfigfsTsmProvider(tsm_root, kds)
    if not sev_guest_device.exists():
        raise ProviderConfigError(f"{sev_guest_device} does not exist: not an SEV-SNP guest")
    return SevGuestIoctlProvider(sev_guest_device, kds)


def _detect(tsm_root: Path, sev_guest_device: Path) -> str:
    if tsm_root.is_dir():
        return "tsm"
    if sev_guest_device.exists():
        return "sev-guest"
    raise NoTeeAvailableError(
        f"no SEV-SNP interface found ({tsm_root}, {sev_guest_device}); refusing to start. "
        "Set the provider to 'simulated' explicitly on a development machine."
    )


def _simulated(directory: Path | None, measurement: bytes | None) -> SimulatedProvider:
    if measurement is None or len(measurement) != MEASUREMENT_SIZE:
        raise ProviderConfigError(
            f"the simulated provider needs a {MEASUREMENT_SIZE}-byte launch measurement"
        )
    try:
        chain = (
            SimulatedAmdChain.generate()
            if directory is None
            else load_or_create_simulated_chain(directory)
        )
    except (ValueError, OSError) as exc:
        raise ProviderConfigError(f"simulated AMD chain in {directory}: {exc}") from exc
    return SimulatedProvider(chain, measurement)
