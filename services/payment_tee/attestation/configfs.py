"""SEV-SNP reports through the kernel's configfs-tsm interface (Linux 6.7+).

The protocol (Documentation/ABI/testing/configfs-tsm; google/go-configfs-tsm's
``report`` package is the reference client):

1. ``mkdir /sys/kernel/config/tsm/report/<name>``: the kernel creates the
   entry's attributes (``inblob``, ``outblob``, ``auxblob``, ``generation``,
   ``provider``, and ``privlevel`` where the TSM has privilege levels).
2. write ``privlevel`` (SEV-SNP's VMPL; 0 for the payment core) and
   ``inblob`` (our 64 bytes of REPORT_DATA).
3. read ``outblob`` (the report) and ``auxblob`` (the certificate table,
   empty when the host supplies none, as on GCE).
4. read ``generation``: the kernel counts every write to the entry, starting
   from 0 at mkdir. Any value other than the number of our own writes means
   another process wrote to the entry and the blobs may answer its input: the
   attempt is discarded and retried on a fresh entry.
5. ``rmdir`` the entry, whatever happened.

Entry names are random, so concurrent requests never share an entry.

Creating and removing the entry are the two steps with kernel-only semantics
(mkdir populates attributes, rmdir of a non-empty item succeeds); they sit
behind ``ConfigfsEntries`` so tests can stand in for the kernel on a plain
directory tree. Every read and write goes through the real filesystem.

Imports: stdlib, ``sealpay.attestation`` and this package only (import guard).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Final, Protocol

from sealpay.attestation.document import Mode

from services.payment_tee.attestation.base import (
    PAYMENT_CORE_VMPL,
    CertSource,
    RawAttestation,
    checked_report,
    platform_certificates,
    require_report_data,
)
from services.payment_tee.attestation.certtable import parse_cert_table
from services.payment_tee.attestation.errors import ConfigfsTsmError, GenerationRaceError

DEFAULT_TSM_ROOT: Final = Path("/sys/kernel/config/tsm/report")
SEV_GUEST_PROVIDER: Final = "sev_guest"
DEFAULT_MAX_ATTEMPTS: Final = 3


class ConfigfsEntries(Protocol):
    """Creating and removing a report entry: the steps only the kernel gives meaning to."""

    def create(self, entry: Path) -> None: ...

    def remove(self, entry: Path) -> None: ...


class KernelConfigfs:
    """The real thing: ``mkdir`` makes the kernel populate the entry, ``rmdir`` releases it."""

    def create(self, entry: Path) -> None:
        os.mkdir(entry)

    def remove(self, entry: Path) -> None:
        os.rmdir(entry)


class ConfigfsTsmProvider:
    """Reports from configfs-tsm; certificates from its auxblob, else from ``cert_source``."""

    mode: Mode = "snp"

    def __init__(
        self,
        root: Path = DEFAULT_TSM_ROOT,
        cert_source: CertSource | None = None,
        *,
        entries: ConfigfsEntries | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.root = root
        self.cert_source = cert_source
        self.entries = KernelConfigfs() if entries is None else entries
        self.max_attempts = max_attempts

    def get_report(self, report_data: bytes) -> RawAttestation:
        require_report_data(report_data)
        outblob, auxblob = self.read_blobs(report_data)
        report = checked_report(outblob, report_data)
        certs = platform_certificates(report, parse_cert_table(auxblob), self.cert_source)
        return RawAttestation(mode=self.mode, report=outblob, certs=certs)

    def read_blobs(self, report_data: bytes) -> tuple[bytes, bytes]:
        """(outblob, auxblob) for ``report_data``, retrying on fresh entries after a race."""
        for _ in range(self.max_attempts):
            blobs = self._attempt(report_data)
            if blobs is not None:
                return blobs
        raise GenerationRaceError(
            f"configfs-tsm entry was written by someone else on all {self.max_attempts} attempts"
        )

    def _attempt(self, report_data: bytes) -> tuple[bytes, bytes] | None:
        entry = self.root / f"sealpay-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            self.entries.create(entry)
        except OSError as exc:
            raise ConfigfsTsmError(f"cannot create configfs-tsm entry {entry}: {exc}") from exc
        try:
            return exchange(entry, report_data)
        finally:
            self._remove(entry)

    def _remove(self, entry: Path) -> None:
        try:
            self.entries.remove(entry)
        except OSError as exc:
            raise ConfigfsTsmError(f"cannot remove configfs-tsm entry {entry}: {exc}") from exc


def exchange(entry: Path, report_data: bytes) -> tuple[bytes, bytes] | None:
    """Steps 2-4 on a freshly created entry; ``None`` if the generation says we raced."""
    provider = _read_optional(entry / "provider")
    if provider is not None and provider.strip() != SEV_GUEST_PROVIDER.encode():
        raise ConfigfsTsmError(
            f"configfs-tsm provider is {provider.strip().decode(errors='replace')!r}, "
            f"not {SEV_GUEST_PROVIDER!r}: this is not an SEV-SNP guest"
        )
    writes = 0
    if (entry / "privlevel").exists():
        _write(entry / "privlevel", str(PAYMENT_CORE_VMPL).encode())
        writes += 1
    _write(entry / "inblob", report_data)
    writes += 1
    outblob = _read(entry / "outblob")
    auxblob = _read_optional(entry / "auxblob") or b""
    if _read_generation(entry) != writes:
        return None
    return outblob, auxblob


def _write(attribute: Path, data: bytes) -> None:
    """One write on an existing attribute: configfs commits a binary attribute on close."""
    try:
        fd = os.open(attribute, os.O_WRONLY)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigfsTsmError(f"writing {attribute.name} failed: {exc}") from exc
    if written != len(data):
        raise ConfigfsTsmError(f"short write to {attribute.name}: {written} of {len(data)} bytes")


def _read(attribute: Path) -> bytes:
    try:
        return attribute.read_bytes()
    except OSError as exc:
        raise ConfigfsTsmError(f"reading {attribute.name} failed: {exc}") from exc


def _read_optional(attribute: Path) -> bytes | None:
    """An attribute some kernels or TSMs lack (``provider``, ``auxblob``)."""
    if not attribute.exists():
        return None
    return _read(attribute)


def _read_generation(entry: Path) -> int:
    text = _read(entry / "generation").strip()
    if not text.isdigit():
        raise ConfigfsTsmError(f"generation is not a counter: {text!r}")
    return int(text)
