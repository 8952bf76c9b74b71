"""provider_from_settings: explicit names, 'auto' detection that never picks simulated, imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
from sealpay.attestation.certs import sha256_fingerprint
from sealpay.attestation.simulate import SimulatedAmdChain

import services.payment_tee.attestation as package
from services.payment_tee.attestation import errors
from services.payment_tee.attestation.errors import NoTeeAvailableError, ProviderConfigError
from services.payment_tee.attestation.providers import (
    ConfigfsTsmProvider,
    KdsCertSource,
    SevGuestIoctlProvider,
    SimulatedProvider,
    provider_from_settings,
)

MEASUREMENT = bytes.fromhex("5e" * 48)


@pytest.fixture
def platform(tmp_path: Path) -> dict[str, Path]:
    """Where 'auto' looks; nothing exists until a test creates it."""
    return {"tsm_root": tmp_path / "tsm" / "report", "sev_guest_device": tmp_path / "sev-guest"}


def _settings(platform: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "simulated_dir": None,
        "simulated_measurement": MEASUREMENT,
        "kds_base_url": "https://kdsintf.amd.com",
        "kds_cache_dir": None,
        "product": "Milan",
        **platform,
    }
    settings.update(overrides)
    return settings


def test_auto_prefers_configfs_tsm(platform: dict[str, Path]) -> None:
    platform["tsm_root"].mkdir(parents=True)
    platform["sev_guest_device"].touch()

    provider = provider_from_settings("auto", **_settings(platform))

    assert isinstance(provider, ConfigfsTsmProvider)
    assert provider.root == platform["tsm_root"]
    assert isinstance(provider.cert_source, KdsCertSource)
    assert provider.mode == "snp"


def test_auto_uses_sev_guest_without_configfs_tsm(platform: dict[str, Path]) -> None:
    platform["sev_guest_device"].touch()

    provider = provider_from_settings("auto", **_settings(platform))

    assert isinstance(provider, SevGuestIoctlProvider)
    assert provider.device == platform["sev_guest_device"]


def test_auto_never_falls_back_to_simulated(
    platform: dict[str, Path], amd_chain: SimulatedAmdChain, tmp_path: Path
) -> None:
    amd_chain.save(tmp_path / "simulated")

    with pytest.raises(NoTeeAvailableError, match="simulated"):
        provider_from_settings("auto", **_settings(platform, simulated_dir=tmp_path / "simulated"))


@pytest.mark.parametrize("name", ["tsm", "sev-guest"])
def test_explicit_hardware_provider_must_exist_here(platform: dict[str, Path], name: str) -> None:
    with pytest.raises(ProviderConfigError):
        provider_from_settings(name, **_settings(platform))


def test_kds_settings_reach_the_cert_source(platform: dict[str, Path], tmp_path: Path) -> None:
    platform["sev_guest_device"].touch()

    provider = provider_from_settings(
        "sev-guest",
        **_settings(
            platform,
            kds_base_url="http://kds.internal:8080",
            kds_cache_dir=tmp_path / "kds",
            product="Genoa",
        ),
    )

    assert isinstance(provider, SevGuestIoctlProvider)
    source = provider.cert_source
    assert isinstance(source, KdsCertSource)
    assert (source.base_url, source.cache_dir, source.product) == (
        "http://kds.internal:8080",
        tmp_path / "kds",
        "Genoa",
    )


def test_simulated_loads_the_saved_chain(
    platform: dict[str, Path], amd_chain: SimulatedAmdChain, tmp_path: Path
) -> None:
    amd_chain.save(tmp_path / "simulated")

    provider = provider_from_settings(
        "simulated", **_settings(platform, simulated_dir=tmp_path / "simulated")
    )

    assert isinstance(provider, SimulatedProvider)
    assert provider.mode == "simulated"
    assert sha256_fingerprint(provider.chain.ark) == sha256_fingerprint(amd_chain.ark)
    assert provider.measurement == MEASUREMENT


def test_simulated_without_a_directory_makes_a_fresh_amd_sized_chain(
    platform: dict[str, Path],
) -> None:
    provider = provider_from_settings("simulated", **_settings(platform))

    assert isinstance(provider, SimulatedProvider)
    assert provider.chain.ark_key.key_size == 4096


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("sgx", {}),
        ("", {}),
        ("simulated", {"simulated_measurement": None}),
        ("simulated", {"simulated_measurement": bytes(47)}),
        ("tsm", {"product": "Turin"}),
        ("auto", {"kds_base_url": "ftp://kds"}),
    ],
)
def test_bad_settings_are_refused_at_boot(
    platform: dict[str, Path], name: str, overrides: dict[str, Any]
) -> None:
    platform["tsm_root"].mkdir(parents=True)

    with pytest.raises(ProviderConfigError):
        provider_from_settings(name, **_settings(platform, **overrides))


def test_damaged_simulated_directory_is_refused_at_boot(
    platform: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "simulated").mkdir()
    (tmp_path / "simulated" / "ark.pem").write_text("half a chain")

    with pytest.raises(ProviderConfigError, match="simulated"):
        provider_from_settings(
            "simulated", **_settings(platform, simulated_dir=tmp_path / "simulated")
        )


def test_every_error_has_its_own_stable_code() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.ReportProviderError)
    ]
    codes = [cls.code for cls in classes]

    assert len(codes) == len(set(codes))


ALLOWED_OWN = ("cryptography", "sealpay.attestation", "services.payment_tee.attestation")


def test_package_imports_only_what_the_import_guard_allows() -> None:
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name} uses a relative import"
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert _allowed(module), f"{path.name} imports {module}"


def _allowed(module: str) -> bool:
    if module.split(".")[0] in sys.stdlib_module_names:
        return True
    return any(module == name or module.startswith(f"{name}.") for name in ALLOWED_OWN)
