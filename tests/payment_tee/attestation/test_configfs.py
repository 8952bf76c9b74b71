"""ConfigfsTsmProvider against a configfs-tsm tree in tmp_path.

No kernel fills ``outblob`` here, so ``FakeTsmKernel`` plays the kernel's two
configfs-specific parts, the only ones the provider delegates: ``mkdir``
(which in configfs creates the entry's attribute files) and ``rmdir``
(which removes an item together with its attributes). Since a plain file
cannot react to being written, the fake pre-writes what the kernel would show
once the provider has written its input: the report for the expected inblob,
the certificate table, and ``generation`` equal to the number of writes a
client makes (plus any writes a simulated racer makes). Everything else, the
provider's writes and reads, runs on the real filesystem, and the fake
records what was written before it removes the entry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sealpay.attestation.abi import Report
from sealpay.attestation.certs import certificate_der
from sealpay.attestation.simulate import SimulatedAmdChain

from services.payment_tee.attestation.certtable import (
    ARK_GUID,
    ASK_GUID,
    VCEK_GUID,
    encode_cert_table,
)
from services.payment_tee.attestation.configfs import ConfigfsTsmProvider, KernelConfigfs
from services.payment_tee.attestation.errors import (
    CertificatesUnavailableError,
    CertTableError,
    ConfigfsTsmError,
    GenerationRaceError,
    ReportMismatchError,
)
from services.payment_tee.attestation.kds import KdsCertSource


class FakeTsmKernel:
    """The kernel side of ``mkdir``/``rmdir`` in /sys/kernel/config/tsm/report."""

    def __init__(
        self,
        outblob: bytes,
        auxblob: bytes = b"",
        *,
        privlevel: bool = True,
        provider: str = "sev_guest",
        foreign_writes: list[int] | None = None,
    ) -> None:
        self.outblob = outblob
        self.auxblob = auxblob
        self.privlevel = privlevel
        self.provider = provider
        self.foreign_writes = list(foreign_writes or [])
        self.created: list[Path] = []
        self.inblobs: list[bytes] = []
        self.privlevels: list[bytes] = []

    def create(self, entry: Path) -> None:
        os.mkdir(entry)
        self.created.append(entry)
        client_writes = 2 if self.privlevel else 1
        racer_writes = self.foreign_writes.pop(0) if self.foreign_writes else 0
        attributes = {
            "inblob": b"",
            "outblob": self.outblob,
            "auxblob": self.auxblob,
            "provider": f"{self.provider}\n".encode(),
            "generation": f"{client_writes + racer_writes}\n".encode(),
        }
        if self.privlevel:
            attributes |= {"privlevel": b"", "privlevel_floor": b"0\n"}
        for name, content in attributes.items():
            (entry / name).write_bytes(content)

    def remove(self, entry: Path) -> None:
        self.inblobs.append((entry / "inblob").read_bytes())
        if self.privlevel:
            self.privlevels.append((entry / "privlevel").read_bytes())
        shutil.rmtree(entry)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "tsm" / "report"
    path.mkdir(parents=True)
    return path


def _table(chain: SimulatedAmdChain) -> bytes:
    return encode_cert_table(
        {
            VCEK_GUID: certificate_der(chain.vcek),
            ASK_GUID: certificate_der(chain.ask),
            ARK_GUID: certificate_der(chain.ark),
        }
    )


def test_writes_inblob_and_privlevel_returns_report_and_host_certs(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), _table(amd_chain))
    provider = ConfigfsTsmProvider(root, entries=kernel)

    raw = provider.get_report(report_data)

    assert kernel.inblobs == [report_data]
    assert kernel.privlevels == [b"0"]
    assert raw.mode == "snp"
    assert raw.report == kernel.outblob
    assert Report.from_bytes(raw.report).report_data == report_data
    assert raw.certs == amd_chain.pem_bundle()
    assert list(root.iterdir()) == []


def test_entry_names_are_unique_per_request(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), _table(amd_chain))
    provider = ConfigfsTsmProvider(root, entries=kernel)

    provider.get_report(report_data)
    provider.get_report(report_data)

    assert len(set(kernel.created)) == 2
    assert all(entry.parent == root for entry in kernel.created)


def test_kernel_without_privlevel_gets_only_inblob(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), _table(amd_chain), privlevel=False)

    ConfigfsTsmProvider(root, entries=kernel).get_report(report_data)

    assert kernel.inblobs == [report_data]
    assert kernel.privlevels == []


def test_generation_race_is_retried_on_a_fresh_entry(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), _table(amd_chain), foreign_writes=[1])

    raw = ConfigfsTsmProvider(root, entries=kernel).get_report(report_data)

    assert len(kernel.created) == 2
    assert kernel.inblobs == [report_data, report_data]
    assert raw.report == kernel.outblob
    assert list(root.iterdir()) == []


def test_racing_on_every_attempt_fails_and_leaves_no_entry(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), _table(amd_chain), foreign_writes=[1, 2, 1])

    with pytest.raises(GenerationRaceError):
        ConfigfsTsmProvider(root, entries=kernel, max_attempts=3).get_report(report_data)

    assert len(kernel.created) == 3
    assert list(root.iterdir()) == []


def test_report_for_another_inblob_is_refused_and_entry_removed(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(bytes(64)), _table(amd_chain))

    with pytest.raises(ReportMismatchError):
        ConfigfsTsmProvider(root, entries=kernel).get_report(report_data)

    assert list(root.iterdir()) == []


def test_a_tsm_that_is_not_sev_snp_is_refused_and_entry_removed(
    root: Path, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), provider="tdx_guest")

    with pytest.raises(ConfigfsTsmError, match="tdx_guest"):
        ConfigfsTsmProvider(root, entries=kernel).get_report(report_data)

    assert kernel.created
    assert list(root.iterdir()) == []


def test_malformed_auxblob_is_refused(root: Path, sign_report, report_data: bytes) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), auxblob=b"\x01" * 30)

    with pytest.raises(CertTableError):
        ConfigfsTsmProvider(root, entries=kernel).get_report(report_data)

    assert list(root.iterdir()) == []


def test_empty_auxblob_fetches_certificates_from_kds(
    root: Path, amd_chain: SimulatedAmdChain, sign_report, report_data: bytes, kds
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data), auxblob=b"")
    provider = ConfigfsTsmProvider(root, KdsCertSource(kds.url), entries=kernel)

    raw = provider.get_report(report_data)

    assert raw.certs == amd_chain.pem_bundle()
    assert len(kds.requests) == 2


def test_empty_auxblob_without_cert_source_is_an_error(
    root: Path, sign_report, report_data: bytes
) -> None:
    kernel = FakeTsmKernel(sign_report(report_data))

    with pytest.raises(CertificatesUnavailableError):
        ConfigfsTsmProvider(root, entries=kernel).get_report(report_data)


def test_report_data_must_be_64_bytes(root: Path, sign_report) -> None:
    kernel = FakeTsmKernel(sign_report(bytes(64)))

    with pytest.raises(ValueError, match="64"):
        ConfigfsTsmProvider(root, entries=kernel).get_report(bytes(32))

    assert kernel.created == []


def test_missing_root_is_a_provider_error(tmp_path: Path, report_data: bytes) -> None:
    provider = ConfigfsTsmProvider(tmp_path / "no-configfs")

    with pytest.raises(ConfigfsTsmError, match="cannot create"):
        provider.get_report(report_data)


def test_kernel_configfs_makes_and_removes_the_entry_directory(root: Path) -> None:
    entry = root / "entry"

    KernelConfigfs().create(entry)
    assert entry.is_dir()
    KernelConfigfs().remove(entry)

    assert not entry.exists()
