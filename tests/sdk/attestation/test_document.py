"""verify_attestation_document end to end, on documents from a simulated AMD hierarchy.

The tampering matrix is the heart of it: each way an attacker (or a broken
payment core) can get a document wrong must be refused with its own error
and stable code, never accepted and never a generic exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sealpay.attestation.abi import (
    POLICY_DEBUG_BIT,
    POLICY_MIGRATE_MA_BIT,
    GuestPolicy,
    SignerInfo,
)
from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.certs import certificate_der, certificate_pem, load_certificate
from sealpay.attestation.errors import (
    AttestationError,
    CertificateExpiredError,
    ChipIdMismatchError,
    DebugEnabledError,
    DocumentFormatError,
    MeasurementNotAllowedError,
    MigrationAgentError,
    ModeMismatchError,
    NonceMismatchError,
    ReportDataMismatchError,
    ReportLayoutError,
    ReportSignatureError,
    SignatureAlgorithmError,
    SigningKeyError,
    TcbMismatchError,
    TlsCertificateMismatchError,
    UntrustedRootError,
    VcekChainError,
    VmplError,
)
from sealpay.attestation.simulate import SimulatedAmdChain, build_report
from sealpay.attestation.trust import AMD_TRUST_STORE


@dataclass(frozen=True)
class Parties:
    scenario: Any
    foreign: SimulatedAmdChain
    other_tls_pem: str


Tamper = Callable[[Parties], tuple[dict[str, Any], dict[str, Any]]]


@pytest.fixture
def parties(
    scenario: Any, foreign_chain: SimulatedAmdChain, other_tls_certificate_pem: str
) -> Parties:
    return Parties(scenario, foreign_chain, other_tls_certificate_pem)


def test_honest_document_verifies_and_reports_what_it_binds(scenario: Any) -> None:
    result = scenario.verify(scenario.document())

    assert result.mode == "simulated"
    assert result.measurement == scenario.measurement
    assert result.receipt_public_key == scenario.receipt_public_key
    assert result.chip_id == scenario.chain.chip_id
    assert result.root.simulated
    assert result.report.report_data == expected_report_data(
        scenario.tls_certificate_pem, scenario.receipt_public_key, scenario.nonce
    )


def test_presented_certificate_may_be_der(scenario: Any) -> None:
    der = certificate_der(load_certificate(scenario.tls_certificate_pem))

    result = scenario.verify(scenario.document(), presented_tls_certificate=der)

    assert certificate_der(result.tls_certificate) == der


def _flip_signed_byte(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    document = p.scenario.document()
    raw = bytearray(p.scenario.report_bytes(document))
    raw[0x90] ^= 0x01  # first byte of MEASUREMENT
    return p.scenario.with_report(document, bytes(raw)), {}


def _flip_report_data_byte(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    document = p.scenario.document()
    raw = bytearray(p.scenario.report_bytes(document))
    raw[0x50 + 63] ^= 0x80
    return p.scenario.with_report(document, bytes(raw)), {}


def _flip_signature_byte(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    document = p.scenario.document()
    raw = bytearray(p.scenario.report_bytes(document))
    raw[0x2A0] ^= 0x01
    return p.scenario.with_report(document, bytes(raw)), {}


def _answers_other_nonce(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document()), {"nonce": bytes(32)}


def _replayed_with_rewritten_nonce(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    """An old document whose nonce field is edited to the new nonce: REPORT_DATA gives it away."""
    fresh_nonce = bytes(range(32))
    return dict(p.scenario.document(nonce=fresh_nonce)), {"nonce": fresh_nonce}


def _connection_presented_other_key(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document()), {"presented_tls_certificate": p.other_tls_pem}


def _document_claims_presented_certificate(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    """A man in the middle swaps in its own certificate: the report still binds the real one."""
    report_bytes = p.scenario.report_bytes(p.scenario.document())
    document = p.scenario.document(report_bytes=report_bytes, tls_certificate_pem=p.other_tls_pem)
    return dict(document), {"presented_tls_certificate": p.other_tls_pem}


def _swapped_receipt_key(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    report_bytes = p.scenario.report_bytes(p.scenario.document())
    document = p.scenario.document(report_bytes=report_bytes, receipt_public_key=bytes(32))
    return dict(document), {}


def _debug_policy(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(policy=GuestPolicy(debug=True).to_int())), {}


def _migration_agent_policy(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(policy=GuestPolicy(migrate_ma=True).to_int())), {}


def _vmpl_too_high(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(vmpl=1)), {}


def _unknown_measurement(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(measurement=bytes(48))), {}


def _no_measurement_allowed(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document()), {"expected_measurements": set()}


def _foreign_vcek(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    """Signed by another chip's VCEK, presented under our trusted ASK and ARK."""
    document = dict(p.scenario.document(signer=p.foreign))
    document["certs"] = {**p.foreign.pem_bundle(), **_roots_of(p.scenario.chain)}
    return document, {}


def _vcek_of_other_chip(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our chain's certificates, but the report was signed by a foreign key."""
    raw = p.foreign.sign_report(p.scenario.report())
    return dict(p.scenario.document(report_bytes=raw)), {}


def _unpinned_root(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    """A perfectly consistent simulated chain that the caller never chose to trust."""
    return dict(p.scenario.document()), {"simulated_ark": None}


def _foreign_root_while_ours_is_trusted(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(signer=p.foreign)), {}


def _wrong_signature_algorithm(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = p.scenario.chain.sign_report(p.scenario.report(), signature_algo=2)
    return dict(p.scenario.document(report_bytes=raw)), {}


def _tcb_mismatch(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    claimed = p.scenario.chain.tcb.to_int() + (1 << 48)  # one SNP SPL above the VCEK's
    return dict(p.scenario.document(reported_tcb=claimed)), {}


def _chip_id_mismatch(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(chip_id=bytes(64))), {}


def _expired_vcek(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    expiry = p.scenario.chain.vcek.not_valid_after_utc
    return dict(p.scenario.document()), {"now": expiry + timedelta(seconds=1)}


def _not_yet_valid(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    start = p.scenario.chain.ark.not_valid_before_utc
    return dict(p.scenario.document()), {"now": start - timedelta(seconds=1)}


def _claims_real_snp_on_simulated_root(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(p.scenario.document(mode="snp")), {}


def _signed_by_vlek(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    signer_info = SignerInfo(signing_key=1).to_int()
    return dict(p.scenario.document(signer_info=signer_info)), {}


def _truncated_report(p: Parties) -> tuple[dict[str, Any], dict[str, Any]]:
    document = p.scenario.document()
    return p.scenario.with_report(document, p.scenario.report_bytes(document)[:-1]), {}


def _roots_of(chain: SimulatedAmdChain) -> dict[str, str]:
    bundle = chain.pem_bundle()
    return {"ask": bundle["ask"], "ark": bundle["ark"]}


TAMPERING: list[tuple[str, Tamper, type[AttestationError], str]] = [
    ("flipped_measurement_byte", _flip_signed_byte, ReportSignatureError, "report_signature"),
    ("flipped_report_data_byte", _flip_report_data_byte, ReportSignatureError, "report_signature"),
    ("flipped_signature_byte", _flip_signature_byte, ReportSignatureError, "report_signature"),
    ("wrong_nonce", _answers_other_nonce, NonceMismatchError, "nonce_mismatch"),
    (
        "replay_with_rewritten_nonce",
        _replayed_with_rewritten_nonce,
        ReportDataMismatchError,
        "report_data_mismatch",
    ),
    (
        "other_tls_key_presented",
        _connection_presented_other_key,
        TlsCertificateMismatchError,
        "tls_certificate_mismatch",
    ),
    (
        "document_claims_presented_certificate",
        _document_claims_presented_certificate,
        ReportDataMismatchError,
        "report_data_mismatch",
    ),
    ("swapped_receipt_key", _swapped_receipt_key, ReportDataMismatchError, "report_data_mismatch"),
    ("debug_policy", _debug_policy, DebugEnabledError, "debug_enabled"),
    ("migration_agent", _migration_agent_policy, MigrationAgentError, "migration_agent"),
    ("vmpl_too_high", _vmpl_too_high, VmplError, "vmpl"),
    (
        "unknown_measurement",
        _unknown_measurement,
        MeasurementNotAllowedError,
        "measurement_not_allowed",
    ),
    (
        "empty_allow_list",
        _no_measurement_allowed,
        MeasurementNotAllowedError,
        "measurement_not_allowed",
    ),
    ("foreign_vcek", _foreign_vcek, VcekChainError, "vcek_chain"),
    ("report_signed_by_other_chip", _vcek_of_other_chip, ReportSignatureError, "report_signature"),
    ("unpinned_root", _unpinned_root, UntrustedRootError, "untrusted_root"),
    (
        "foreign_root",
        _foreign_root_while_ours_is_trusted,
        UntrustedRootError,
        "untrusted_root",
    ),
    (
        "wrong_signature_algorithm",
        _wrong_signature_algorithm,
        SignatureAlgorithmError,
        "signature_algorithm",
    ),
    ("tcb_mismatch", _tcb_mismatch, TcbMismatchError, "tcb_mismatch"),
    ("chip_id_mismatch", _chip_id_mismatch, ChipIdMismatchError, "chip_id_mismatch"),
    ("expired_vcek", _expired_vcek, CertificateExpiredError, "certificate_expired"),
    ("not_yet_valid", _not_yet_valid, CertificateExpiredError, "certificate_expired"),
    (
        "snp_mode_on_simulated_root",
        _claims_real_snp_on_simulated_root,
        ModeMismatchError,
        "mode_mismatch",
    ),
    ("vlek_signer", _signed_by_vlek, SigningKeyError, "signing_key"),
    ("truncated_report", _truncated_report, ReportLayoutError, "report_layout"),
]


@pytest.mark.parametrize(
    ("tamper", "error", "code"),
    [pytest.param(tamper, error, code, id=name) for name, tamper, error, code in TAMPERING],
)
def test_tampered_document_is_refused_with_its_specific_error(
    parties: Parties, tamper: Tamper, error: type[AttestationError], code: str
) -> None:
    document, overrides = tamper(parties)

    with pytest.raises(error) as raised:
        parties.scenario.verify(document, **overrides)

    assert type(raised.value) is error
    assert raised.value.code == code


def test_debug_and_migration_are_accepted_only_when_explicitly_allowed(scenario: Any) -> None:
    policy = GuestPolicy(debug=True, migrate_ma=True).to_int()
    document = scenario.document(policy=policy)

    result = scenario.verify(document, allow_debug=True, allow_migrate_ma=True)

    assert result.report.policy >> POLICY_DEBUG_BIT & 1
    assert result.report.policy >> POLICY_MIGRATE_MA_BIT & 1


def test_higher_vmpl_is_accepted_only_up_to_max_vmpl(scenario: Any) -> None:
    document = scenario.document(vmpl=2)

    assert scenario.verify(document, max_vmpl=2).report.vmpl == 2
    with pytest.raises(VmplError):
        scenario.verify(document, max_vmpl=1)


def test_default_trust_refuses_simulated_documents(scenario: Any) -> None:
    with pytest.raises(UntrustedRootError):
        scenario.verify(scenario.document(), simulated_ark=None, trusted_roots=AMD_TRUST_STORE)


def test_simulated_root_may_come_from_the_trust_store(scenario: Any) -> None:
    store = AMD_TRUST_STORE.with_simulated_root(scenario.chain.ark_pem)

    result = scenario.verify(scenario.document(), simulated_ark=None, trusted_roots=store)

    assert result.root.simulated


def test_unbound_tls_requires_explicit_opt_out(scenario: Any) -> None:
    document = scenario.document()

    with pytest.raises(ValueError, match="allow_unbound_tls"):
        scenario.verify(document, presented_tls_certificate=None)
    result = scenario.verify(document, presented_tls_certificate=None, allow_unbound_tls=True)

    assert result.receipt_public_key == scenario.receipt_public_key


def test_unbound_tls_still_checks_the_documents_own_certificate(
    scenario: Any, other_tls_certificate_pem: str
) -> None:
    report_bytes = scenario.report_bytes(scenario.document())
    document = scenario.document(
        report_bytes=report_bytes, tls_certificate_pem=other_tls_certificate_pem
    )

    with pytest.raises(ReportDataMismatchError):
        scenario.verify(document, presented_tls_certificate=None, allow_unbound_tls=True)


def test_short_nonce_is_a_caller_error(scenario: Any) -> None:
    with pytest.raises(ValueError, match="nonce"):
        scenario.verify(scenario.document(), nonce=b"\x01" * 8)


def test_renewed_tls_certificate_with_same_key_still_matches(scenario: Any) -> None:
    """The binding is to the key (SPKI), so the presented certificate may be a renewal."""
    original = load_certificate(scenario.tls_certificate_pem)
    signer = ec.generate_private_key(ec.SECP256R1())
    renewed = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc + timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )

    result = scenario.verify(
        scenario.document(), presented_tls_certificate=certificate_pem(renewed)
    )

    assert result.tls_certificate == renewed


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("mode", "sev"),
        ("mode", None),
        ("report", "not base64!"),
        ("report", 1184),
        ("certs", "vcek"),
        ("tls_certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        ("receipt_public_key", "AAAA"),
        ("receipt_public_key", "é"),
        ("nonce", "xyz"),
        ("nonce", "abc"),
    ],
)
def test_malformed_document_member_is_a_format_error(
    scenario: Any, member: str, value: object
) -> None:
    document = {**scenario.document(), member: value}

    with pytest.raises(DocumentFormatError) as raised:
        scenario.verify(document)

    assert raised.value.code == "document_format"


def test_missing_certificate_is_a_format_error(scenario: Any) -> None:
    document = dict(scenario.document())
    document["certs"] = {"vcek": document["certs"]["vcek"], "ask": document["certs"]["ask"]}

    with pytest.raises(DocumentFormatError):
        scenario.verify(document)


def test_unparsable_chain_certificate_is_a_chain_error(scenario: Any) -> None:
    document = dict(scenario.document())
    document["certs"] = {**document["certs"], "vcek": "not a certificate"}

    with pytest.raises(VcekChainError):
        scenario.verify(document)


def test_version_3_reports_verify(scenario: Any) -> None:
    document = scenario.document(version=3, cpuid_fam_id=0x19, cpuid_mod_id=0x01, cpuid_step=1)

    assert scenario.verify(document).report.cpuid_fam_id == 0x19


def test_build_report_helper_fills_all_tcb_fields(amd_chain: SimulatedAmdChain) -> None:
    report = build_report(bytes(64), bytes(48), amd_chain.chip_id, amd_chain.tcb)

    raw_tcb = amd_chain.tcb.to_int()
    assert (report.current_tcb, report.committed_tcb, report.launch_tcb) == (raw_tcb,) * 3
    assert report.reported_tcb == raw_tcb
