"""Why the payment core could not produce an attestation report, each with a stable ``code``.

A report provider never degrades quietly: a kernel interface that misbehaves,
a certificate table that does not parse or an AMD KDS that answers nonsense
ends the request with one of these, so the attestation endpoint answers with
an error instead of a document a client would reject anyway (or, worse, one
built from half-read data). ``ProviderConfigError`` is raised at boot, the
others per request.

Stdlib only: this package runs under the payment core's import guard.
"""

from __future__ import annotations

from typing import ClassVar


class ReportProviderError(Exception):
    """The platform did not yield a usable attestation report."""

    code: ClassVar[str] = "report_provider_error"


class ProviderConfigError(ReportProviderError):
    """The configured provider is unknown, incomplete, or absent on this machine."""

    code = "report_provider_config"


class NoTeeAvailableError(ProviderConfigError):
    """``auto`` found neither configfs-tsm nor /dev/sev-guest (it never falls back to simulated)."""

    code = "no_tee_available"


class ConfigfsTsmError(ReportProviderError):
    """The configfs-tsm report interface failed or returned something that is not an SNP report."""

    code = "configfs_tsm"


class GenerationRaceError(ConfigfsTsmError):
    """Another writer touched our configfs-tsm entry on every attempt; the blobs are not ours."""

    code = "configfs_tsm_generation_race"


class SevGuestIoctlError(ReportProviderError):
    """SNP_GET_EXT_REPORT on /dev/sev-guest failed (errno, firmware or VMM error)."""

    code = "sev_guest_ioctl"


class CertTableError(ReportProviderError):
    """The certificate table from the host is malformed (no terminator, bad ranges, bad DER)."""

    code = "cert_table"


class CertificatesUnavailableError(ReportProviderError):
    """The host handed over no VCEK and no certificate source is configured."""

    code = "certificates_unavailable"


class ReportMismatchError(ReportProviderError):
    """The platform's report does not carry the REPORT_DATA we asked for (or does not parse)."""

    code = "report_mismatch"


class KdsError(ReportProviderError):
    """AMD's Key Distribution Service could not supply the certificates."""

    code = "kds_error"


class KdsUnreachableError(KdsError):
    """The KDS could not be reached (DNS, connection, TLS, timeout)."""

    code = "kds_unreachable"


class KdsNotFoundError(KdsError):
    """The KDS has no certificate for this chip and TCB (HTTP 404)."""

    code = "kds_not_found"


class KdsHttpError(KdsError):
    """The KDS answered with an unexpected HTTP status (429 rate limit, 5xx, ...)."""

    code = "kds_http_status"


class KdsResponseError(KdsError):
    """The KDS answered 200 with a body that is not the certificate(s) asked for."""

    code = "kds_bad_response"


class KdsLookupError(KdsError):
    """The report cannot be looked up at the KDS (masked CHIP_ID, unsupported product)."""

    code = "kds_lookup"


class KdsCacheError(KdsError):
    """The on-disk certificate cache cannot be read or written (permissions, full disk)."""

    code = "kds_cache"
