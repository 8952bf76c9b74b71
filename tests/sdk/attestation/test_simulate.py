"""The simulated hierarchy has the shape of AMD's, so simulated runs exercise real checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID
from sealpay.attestation.abi import Report
from sealpay.attestation.certs import load_certificate
from sealpay.attestation.simulate import SIMULATED_ORGANIZATION, SimulatedAmdChain, build_report


def test_ark_and_ask_are_rsa_4096_and_everything_is_pss_sha384(
    amd_chain: SimulatedAmdChain,
) -> None:
    assert isinstance(amd_chain.ark.public_key(), rsa.RSAPublicKey)
    assert amd_chain.ark_key.key_size == 4096
    assert amd_chain.ask_key.key_size == 4096
    for certificate in (amd_chain.ark, amd_chain.ask, amd_chain.vcek):
        assert certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS
        assert isinstance(certificate.signature_hash_algorithm, hashes.SHA384)
        assert isinstance(certificate.signature_algorithm_parameters, padding.PSS)


def test_vcek_is_p384_and_names_say_simulated(amd_chain: SimulatedAmdChain) -> None:
    key = amd_chain.vcek.public_key()

    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP384R1)
    assert amd_chain.vcek.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == (
        "SEV-VCEK"
    )
    organization = amd_chain.ark.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert organization[0].value == SIMULATED_ORGANIZATION


def test_pem_bundle_holds_the_three_certificates(amd_chain: SimulatedAmdChain) -> None:
    bundle = amd_chain.pem_bundle()

    assert load_certificate(bundle["vcek"]) == amd_chain.vcek
    assert load_certificate(bundle["ask"]) == amd_chain.ask
    assert load_certificate(bundle["ark"]) == amd_chain.ark
    assert load_certificate(amd_chain.ark_pem) == amd_chain.ark


def test_sign_report_sets_the_algorithm_and_a_laid_out_signature(
    amd_chain: SimulatedAmdChain,
) -> None:
    report = replace(
        build_report(bytes(64), bytes(48), amd_chain.chip_id, amd_chain.tcb), signature_algo=0
    )

    signed = Report.from_bytes(amd_chain.sign_report(report))

    assert signed.signature_algo == 1
    assert 0 < signed.signature_r < 1 << 384
    assert 0 < signed.signature_s < 1 << 384


def test_generate_takes_its_validity_start_from_now() -> None:
    start = datetime(2030, 3, 1, tzinfo=UTC)

    chain = SimulatedAmdChain.generate(now=start, rsa_key_size=2048)

    assert chain.vcek.not_valid_before_utc == start
    assert chain.ark.not_valid_after_utc.year == 2055


@pytest.mark.parametrize(
    "arguments",
    [{"rsa_key_size": 1024}, {"product_name": "Turin-B0"}, {"chip_id": bytes(8)}],
)
def test_generate_refuses_what_it_cannot_simulate_faithfully(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatedAmdChain.generate(**arguments)  # type: ignore[arg-type]
