"""SimulatedProvider reports verify end to end; a saved simulated chain keeps its ARK."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sealpay.attestation import build_attestation_document, verify_attestation_document
from sealpay.attestation.abi import Report
from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.certs import sha256_fingerprint
from sealpay.attestation.errors import MeasurementNotAllowedError, UntrustedRootError
from sealpay.attestation.simulate import (
    STORE_FILES,
    SimulatedAmdChain,
    SimulatedChainStoreError,
)

from services.payment_tee.attestation.simulated import (
    SimulatedProvider,
    load_or_create_simulated_chain,
)

VERIFY_AT = datetime(2026, 6, 1, tzinfo=UTC)
MEASUREMENT = bytes.fromhex("5e" * 48)


def _verify(
    provider: SimulatedProvider,
    tls_certificate_pem: str,
    receipt_public_key: bytes,
    *,
    simulated_ark: str,
):
    nonce = os.urandom(32)
    report_data = expected_report_data(tls_certificate_pem, receipt_public_key, nonce)
    raw = provider.get_report(report_data)
    document = build_attestation_document(
        mode=raw.mode,
        report=raw.report,
        certs=raw.certs,
        tls_certificate=tls_certificate_pem,
        receipt_public_key=receipt_public_key,
        nonce=nonce,
    )
    result = verify_attestation_document(
        document,
        nonce=nonce,
        presented_tls_certificate=tls_certificate_pem,
        expected_measurements={MEASUREMENT},
        now=VERIFY_AT,
        simulated_ark=simulated_ark,
    )
    return raw, report_data, result


def test_simulated_reports_verify_and_carry_exactly_the_report_data(
    amd_chain: SimulatedAmdChain, tls_certificate_pem: str, receipt_public_key: bytes
) -> None:
    provider = SimulatedProvider(amd_chain, MEASUREMENT)

    raw, report_data, result = _verify(
        provider, tls_certificate_pem, receipt_public_key, simulated_ark=amd_chain.ark_pem
    )

    assert raw.mode == provider.mode == "simulated"
    assert Report.from_bytes(raw.report).report_data == report_data
    assert result.mode == "simulated"
    assert result.measurement == MEASUREMENT
    assert result.receipt_public_key == receipt_public_key
    assert result.report.vmpl == 0


def test_simulated_reports_are_refused_without_the_simulated_ark(
    amd_chain: SimulatedAmdChain, tls_certificate_pem: str, receipt_public_key: bytes
) -> None:
    other = SimulatedAmdChain.generate(rsa_key_size=2048)

    with pytest.raises(UntrustedRootError):
        _verify(
            SimulatedProvider(amd_chain, MEASUREMENT),
            tls_certificate_pem,
            receipt_public_key,
            simulated_ark=other.ark_pem,
        )


def test_measurement_is_the_configured_one(
    amd_chain: SimulatedAmdChain, tls_certificate_pem: str, receipt_public_key: bytes
) -> None:
    provider = SimulatedProvider(amd_chain, bytes(48))

    with pytest.raises(MeasurementNotAllowedError):
        _verify(provider, tls_certificate_pem, receipt_public_key, simulated_ark=amd_chain.ark_pem)


def test_arguments_are_checked(amd_chain: SimulatedAmdChain) -> None:
    with pytest.raises(ValueError, match="measurement"):
        SimulatedProvider(amd_chain, bytes(32))
    with pytest.raises(ValueError, match="64"):
        SimulatedProvider(amd_chain, MEASUREMENT).get_report(bytes(65))


def test_save_load_round_trip_keeps_the_ark(
    amd_chain: SimulatedAmdChain,
    tmp_path: Path,
    tls_certificate_pem: str,
    receipt_public_key: bytes,
) -> None:
    amd_chain.save(tmp_path / "chain")

    loaded = SimulatedAmdChain.load(tmp_path / "chain")

    assert sha256_fingerprint(loaded.ark) == sha256_fingerprint(amd_chain.ark)
    assert (loaded.chip_id, loaded.tcb, loaded.product_name) == (
        amd_chain.chip_id,
        amd_chain.tcb,
        amd_chain.product_name,
    )
    _verify(
        SimulatedProvider(loaded, MEASUREMENT),
        tls_certificate_pem,
        receipt_public_key,
        simulated_ark=amd_chain.ark_pem,
    )


def test_private_keys_are_written_0600(amd_chain: SimulatedAmdChain, tmp_path: Path) -> None:
    amd_chain.save(tmp_path)

    for name in ("ark.key.pem", "ask.key.pem", "vcek.key.pem"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_save_never_overwrites_a_chain(amd_chain: SimulatedAmdChain, tmp_path: Path) -> None:
    amd_chain.save(tmp_path)

    with pytest.raises(SimulatedChainStoreError, match="refusing to overwrite"):
        amd_chain.save(tmp_path)


def _other_p384_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


DAMAGE = {
    "missing file": lambda path: (path / "ask.pem").unlink(),
    "garbled certificate": lambda path: (path / "vcek.pem").write_text("not a certificate"),
    "garbled key": lambda path: (path / "ark.key.pem").write_text("not a key"),
    "garbled manifest": lambda path: (path / "chain.json").write_text("{"),
    "foreign vcek key": lambda path: (path / "vcek.key.pem").write_bytes(_other_p384_key_pem()),
    "swapped ark and ask": lambda path: (path / "ark.pem").write_bytes(
        (path / "ask.pem").read_bytes()
    ),
    "manifest names another chip": lambda path: _edit_manifest(path, chip_id="ab" * 64),
    "manifest names another TCB": lambda path: _edit_manifest(path, tcb=1),
    "manifest of a future format": lambda path: _edit_manifest(path, format=2),
}


def _edit_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / "chain.json").read_text())
    (path / "chain.json").write_text(json.dumps({**manifest, **changes}))


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_load_refuses_missing_or_garbled_files(
    amd_chain: SimulatedAmdChain, tmp_path: Path, damage
) -> None:
    amd_chain.save(tmp_path)
    damage(tmp_path)

    with pytest.raises(SimulatedChainStoreError):
        SimulatedAmdChain.load(tmp_path)


def test_load_or_create_creates_once_then_loads(tmp_path: Path) -> None:
    directory = tmp_path / "simulated"

    created = load_or_create_simulated_chain(directory, rsa_key_size=2048)
    loaded = load_or_create_simulated_chain(directory, rsa_key_size=2048)

    assert sorted(path.name for path in directory.iterdir()) == sorted(STORE_FILES)
    assert sha256_fingerprint(loaded.ark) == sha256_fingerprint(created.ark)


def test_load_or_create_never_replaces_a_damaged_chain(
    amd_chain: SimulatedAmdChain, tmp_path: Path
) -> None:
    amd_chain.save(tmp_path)
    (tmp_path / "chain.json").unlink()

    with pytest.raises(SimulatedChainStoreError, match=r"chain\.json"):
        load_or_create_simulated_chain(tmp_path, rsa_key_size=2048)
