"""KdsCertSource against a real local HTTP server answering as AMD's KDS would."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sealpay.attestation.abi import Report, SignerInfo, TcbVersion
from sealpay.attestation.simulate import SimulatedAmdChain
from sealpay.attestation.trust import TrustStore
from sealpay.attestation.verify import CertificateChain, verify_report

from services.payment_tee.attestation.errors import (
    KdsError,
    KdsHttpError,
    KdsLookupError,
    KdsNotFoundError,
    KdsResponseError,
    KdsUnreachableError,
)
from services.payment_tee.attestation.kds import KdsCertSource, cert_chain_url, vcek_url

VERIFY_AT = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def report(sign_report, report_data: bytes) -> Report:
    return Report.from_bytes(sign_report(report_data))


def test_vcek_url_carries_chip_id_and_reported_tcb(report: Report) -> None:
    tcb = report.reported_tcb_version

    url = vcek_url("https://kdsintf.amd.com/", "Genoa", report)

    assert url == (
        f"https://kdsintf.amd.com/vcek/v1/Genoa/{report.chip_id.hex()}"
        f"?blSPL={tcb.bootloader}&teeSPL={tcb.tee}&snpSPL={tcb.snp}&ucodeSPL={tcb.microcode}"
    )
    assert cert_chain_url("https://kdsintf.amd.com", "Milan") == (
        "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain"
    )


def test_fetches_vcek_and_chain_that_verify_the_report(
    kds, amd_chain: SimulatedAmdChain, report: Report, sign_report, report_data: bytes
) -> None:
    bundle = KdsCertSource(kds.url).certificates(report)

    assert kds.requests == [
        f"/vcek/v1/Milan/{amd_chain.chip_id.hex()}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115",
        "/vcek/v1/Milan/cert_chain",
    ]
    assert bundle == amd_chain.pem_bundle()
    verified = verify_report(
        sign_report(report_data),
        CertificateChain.load(**bundle),
        trusted_roots=TrustStore(()).with_simulated_root(amd_chain.ark),
        now=VERIFY_AT,
    )
    assert verified.report.report_data == report_data


def test_cache_answers_the_second_request_without_http(kds, report: Report, tmp_path: Path) -> None:
    first = KdsCertSource(kds.url, tmp_path / "kds").certificates(report)
    requests_after_first = len(kds.requests)

    second = KdsCertSource(kds.url, tmp_path / "kds").certificates(report)

    assert requests_after_first == 2
    assert len(kds.requests) == 2
    assert second == first


def test_without_cache_every_call_asks_kds(kds, report: Report) -> None:
    source = KdsCertSource(kds.url)

    source.certificates(report)
    source.certificates(report)

    assert len(kds.requests) == 4


def test_cache_is_keyed_by_tcb(kds, report: Report, tmp_path: Path) -> None:
    source = KdsCertSource(kds.url, tmp_path)
    source.certificates(report)
    newer = TcbVersion.from_int(report.reported_tcb)
    updated = replace(report, reported_tcb=replace(newer, snp=newer.snp + 1).to_int())

    with pytest.raises(KdsResponseError, match="TCB"):
        source.certificates(updated)

    assert "snpSPL=9" in kds.requests[-1]


def test_damaged_cache_entry_is_refetched(kds, report: Report, tmp_path: Path) -> None:
    KdsCertSource(kds.url, tmp_path).certificates(report)
    for entry in tmp_path.glob("vcek-*.der"):
        entry.write_bytes(b"garbage")

    KdsCertSource(kds.url, tmp_path).certificates(report)

    assert len(kds.requests) == 3


def test_not_found_is_its_own_error(kds, report: Report, amd_chain: SimulatedAmdChain) -> None:
    del kds.responses[f"/vcek/v1/Milan/{amd_chain.chip_id.hex()}"]

    with pytest.raises(KdsNotFoundError):
        KdsCertSource(kds.url).certificates(report)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_other_statuses_are_http_errors(
    kds, report: Report, amd_chain: SimulatedAmdChain, status: int
) -> None:
    kds.responses[f"/vcek/v1/Milan/{amd_chain.chip_id.hex()}"] = (status, b"slow down")

    with pytest.raises(KdsHttpError, match=str(status)):
        KdsCertSource(kds.url).certificates(report)


def test_bad_der_is_refused_and_not_cached(
    kds, report: Report, amd_chain: SimulatedAmdChain, tmp_path: Path
) -> None:
    kds.responses[f"/vcek/v1/Milan/{amd_chain.chip_id.hex()}"] = (200, b"\x30\x82not a cert")

    with pytest.raises(KdsResponseError):
        KdsCertSource(kds.url, tmp_path).certificates(report)

    assert list(tmp_path.iterdir()) == []


def test_vcek_of_another_chip_is_refused(kds, report: Report) -> None:
    other = SimulatedAmdChain.generate(rsa_key_size=2048)
    kds.serve_chain(other)
    kds.responses[f"/vcek/v1/Milan/{report.chip_id.hex()}"] = kds.responses[
        f"/vcek/v1/Milan/{other.chip_id.hex()}"
    ]

    with pytest.raises(KdsResponseError, match="another chip"):
        KdsCertSource(kds.url).certificates(report)


@pytest.mark.parametrize(
    "chain_body",
    [b"", b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"],
    ids=["empty", "garbled"],
)
def test_bad_cert_chain_is_refused(kds, report: Report, chain_body: bytes) -> None:
    kds.responses["/vcek/v1/Milan/cert_chain"] = (200, chain_body)

    with pytest.raises(KdsResponseError):
        KdsCertSource(kds.url).certificates(report)


def test_chain_in_the_wrong_order_is_refused(
    kds, report: Report, amd_chain: SimulatedAmdChain
) -> None:
    bundle = amd_chain.pem_bundle()
    kds.responses["/vcek/v1/Milan/cert_chain"] = (200, (bundle["ark"] + bundle["ask"]).encode())

    with pytest.raises(KdsResponseError, match="ASK followed by"):
        KdsCertSource(kds.url).certificates(report)


def test_unreachable_kds(report: Report) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(KdsUnreachableError):
        KdsCertSource(f"http://127.0.0.1:{port}", timeout=2).certificates(report)


def test_masked_chip_id_cannot_be_looked_up(kds, report: Report) -> None:
    masked = replace(report, chip_id=bytes(64), signer_info=SignerInfo(mask_chip_key=True).to_int())

    with pytest.raises(KdsLookupError):
        KdsCertSource(kds.url).certificates(masked)

    assert kds.requests == []


@pytest.mark.parametrize(
    "arguments", [{"base_url": "file:///etc/passwd"}, {"product": "Turin"}, {"product": "milan"}]
)
def test_constructor_refuses_what_it_cannot_serve(arguments: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        KdsCertSource(**arguments)


def test_every_kds_failure_is_a_kds_error() -> None:
    for error in (KdsNotFoundError, KdsHttpError, KdsResponseError, KdsUnreachableError):
        assert issubclass(error, KdsError)
