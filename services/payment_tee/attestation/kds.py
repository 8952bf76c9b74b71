"""Certificates from AMD's Key Distribution Service, for hosts that hand over none (GCE).

Two requests (AMD document 57230, "VCEK Certificate and KDS Interface"):

    GET {base}/vcek/v1/{product}/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
        -> the VCEK, DER. hwid is CHIP_ID in lowercase hex; the SPLs are the
           report's REPORTED_TCB bytes in decimal (as go-sev-guest's
           ``kds.VCEKCertURL`` writes them).
    GET {base}/vcek/v1/{product}/cert_chain
        -> PEM, the ASK then the ARK.

Answers are checked before use or caching: the VCEK must parse and carry the
TCB and hwID the report claims, the chain must be two certificates with the
ASK issued by the ARK's name. Whether AMD really signed them is the
verifier's job (against pinned roots); this module only refuses to pass on
something that cannot be the right answer, so a bad response never sits in
the cache. A VCEK is immutable for (product, chip, TCB), so it is cached on
disk by exactly that key when ``cache_dir`` is set: KDS rate-limits, and a
restarted TEE should not depend on AMD being up.

HTTP goes through urllib (the import guard admits no third-party HTTP client).

Imports: stdlib, ``cryptography`` (via ``sealpay.attestation``) and this package.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Final

from cryptography import x509
from sealpay.attestation.abi import Report
from sealpay.attestation.certs import CertPemBundle, certificate_pem, load_certificate
from sealpay.attestation.kds import parse_vcek_extensions

from services.payment_tee.attestation.errors import (
    KdsCacheError,
    KdsHttpError,
    KdsLookupError,
    KdsNotFoundError,
    KdsResponseError,
    KdsUnreachableError,
)

DEFAULT_KDS_URL: Final = "https://kdsintf.amd.com"
DEFAULT_PRODUCT: Final = "Milan"
PRODUCTS: Final = frozenset({"Milan", "Genoa"})
"""Product lines whose TCB layout and 64-byte hwID this module knows (Turin differs)."""
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
USER_AGENT: Final = "sealpay-payment-tee"
MAX_RESPONSE_BYTES: Final = 64 * 1024
"""A VCEK is ~1.3 KB and the chain ~4 KB; anything near this is not a certificate."""


def vcek_url(base_url: str, product: str, report: Report) -> str:
    """The VCEK request for the report's chip and REPORTED_TCB."""
    tcb = report.reported_tcb_version
    query = urllib.parse.urlencode(
        {"blSPL": tcb.bootloader, "teeSPL": tcb.tee, "snpSPL": tcb.snp, "ucodeSPL": tcb.microcode}
    )
    return f"{base_url.rstrip('/')}/vcek/v1/{product}/{report.chip_id.hex()}?{query}"


def cert_chain_url(base_url: str, product: str) -> str:
    return f"{base_url.rstrip('/')}/vcek/v1/{product}/cert_chain"


def check_vcek(der: bytes, report: Report) -> x509.Certificate:
    """The KDS answer as a certificate issued for this chip and TCB, or ``KdsResponseError``."""
    try:
        vcek = load_certificate(der)
        extensions = parse_vcek_extensions(vcek)
    except ValueError as exc:
        raise KdsResponseError(f"KDS VCEK response is not a VCEK certificate: {exc}") from exc
    if extensions.tcb != report.reported_tcb:
        raise KdsResponseError(
            f"KDS VCEK is for TCB {extensions.tcb:#018x}, "
            f"the report has {report.reported_tcb:#018x}"
        )
    if extensions.hwid is not None and extensions.hwid != report.chip_id:
        raise KdsResponseError("KDS VCEK is for another chip than the report's CHIP_ID")
    return vcek


def check_cert_chain(pem: bytes) -> tuple[x509.Certificate, x509.Certificate]:
    """(ASK, ARK) from the cert_chain answer, or ``KdsResponseError``."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise KdsResponseError(f"KDS cert_chain is not PEM certificates: {exc}") from exc
    if len(certificates) != 2:
        raise KdsResponseError(f"KDS cert_chain holds {len(certificates)} certificates, not 2")
    ask, ark = certificates
    if ask.issuer != ark.subject or ark.issuer != ark.subject:
        raise KdsResponseError("KDS cert_chain is not an ASK followed by its self-issued ARK")
    return ask, ark


class KdsCertSource:
    """Fetches (and optionally caches) VCEK, ASK and ARK for a report from AMD's KDS."""

    def __init__(
        self,
        base_url: str = DEFAULT_KDS_URL,
        cache_dir: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        product: str = DEFAULT_PRODUCT,
    ) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("https", "http"):
            raise ValueError(f"KDS base URL must be http(s), got {base_url!r}")
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {sorted(PRODUCTS)}, got {product!r}")
        self.base_url = base_url
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.product = product

    def certificates(self, report: Report) -> CertPemBundle:
        if not any(report.chip_id) or report.signer.mask_chip_key:
            raise KdsLookupError("the report's CHIP_ID is masked: the KDS cannot look up its VCEK")
        vcek = self._vcek(report)
        ask, ark = self._cert_chain()
        return CertPemBundle(
            vcek=certificate_pem(vcek), ask=certificate_pem(ask), ark=certificate_pem(ark)
        )

    def _vcek(self, report: Report) -> x509.Certificate:
        name = f"vcek-{self.product}-{report.chip_id.hex()}-{report.reported_tcb:016x}.der"
        cached = self._cached(name)
        if cached is not None:
            try:
                return check_vcek(cached, report)
            except KdsResponseError:
                pass  # a damaged cache entry is refetched and overwritten below
        der = self._get(vcek_url(self.base_url, self.product, report))
        vcek = check_vcek(der, report)
        self._store(name, der)
        return vcek

    def _cert_chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        name = f"cert_chain-{self.product}.pem"
        cached = self._cached(name)
        if cached is not None:
            try:
                return check_cert_chain(cached)
            except KdsResponseError:
                pass  # as for the VCEK: refetch
        pem = self._get(cert_chain_url(self.base_url, self.product))
        chain = check_cert_chain(pem)
        self._store(name, pem)
        return chain

    def _get(self, url: str) -> bytes:
        # S310: the scheme is checked to be http(s) in __init__, so no file:// or custom opener.
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise KdsNotFoundError(f"KDS has no certificate at {url}") from exc
            raise KdsHttpError(f"KDS answered HTTP {exc.code} for {url}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise KdsUnreachableError(f"KDS unreachable at {url}: {exc}") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise KdsResponseError(f"KDS response from {url} exceeds {MAX_RESPONSE_BYTES} bytes")
        return body

    def _cached(self, name: str) -> bytes | None:
        if self.cache_dir is None:
            return None
        try:
            return (self.cache_dir / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KdsCacheError(f"cannot read KDS cache entry {name}: {exc}") from exc

    def _store(self, name: str, data: bytes) -> None:
        """Write-then-rename, so a concurrent reader sees the old file or the new, never half."""
        if self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{name}.")
        except OSError as exc:
            raise KdsCacheError(f"cannot write to KDS cache {self.cache_dir}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, self.cache_dir / name)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise KdsCacheError(f"cannot write KDS cache entry {name}: {exc}") from exc
