"""SEV-SNP attestation reports for the payment core: the providers that produce them.

``providers.provider_from_settings`` picks one at boot; each provider turns 64
bytes of REPORT_DATA into a ``RawAttestation`` (raw report + VCEK/ASK/ARK PEM)
that ``sealpay.attestation.build_attestation_document`` wraps for clients.
Modules: ``configfs`` (configfs-tsm), ``sevguest`` (/dev/sev-guest ioctl),
``certtable`` (the host's certificate table), ``kds`` (AMD's Key Distribution
Service), ``simulated`` (development), ``errors``.
"""
