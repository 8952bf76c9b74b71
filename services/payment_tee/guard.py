"""The import guard: what may run inside the Confidential VM.

With TEE_ENFORCE_BOUNDARY=1 (set in the payment_tee image) the service checks
at boot that every loaded module is on the allowlist, refusing to start and
naming the offenders otherwise, then installs a meta-path hook so that any
later import outside the list fails. The boundary keeps the money-moving core
small enough to review: no web framework, no HTTP client, no gateway or
billing code can end up in the attested process.

Allowed: the standard library; this package; the generated protos; the
shared stdlib-only helpers it uses; `sealpay.attestation` (report layout and
simulation, stdlib + cryptography); grpc (+ health checking), protobuf,
SQLAlchemy, psycopg, cryptography, and what those import.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

# Our own modules, by exact name or as a package prefix.
ALLOWED_OWN = (
    "services.payment_tee",
    "services.protos",
    "services.common.clock",
    "services.common.database",
    "services.common.devsecrets",
    "services.common.errors",
    "services.common.ids",
    "services.common.logs",
    "services.common.schema",
    "sealpay.attestation",
)
# Top-level names of third-party distributions (and their own dependencies).
ALLOWED_THIRD_PARTY = frozenset(
    {
        "grpc",
        "grpc_health",
        "google",  # protobuf: google.protobuf, google._upb
        "sqlalchemy",
        "psycopg",
        "psycopg_binary",
        "cryptography",
        "_cffi_backend",  # cryptography's FFI helper
        "typing_extensions",  # SQLAlchemy and psycopg
        "greenlet",  # SQLAlchemy, when installed
        "grpc_tools",  # grpc's __init__ probes for these (runtime protos);
        "grpc_reflection",  # absent from the production image
        "_openssl",  # registered by cryptography's Rust bindings
        "cython_runtime",  # grpc's Cython core
    }
)
# Parents that are imported implicitly when a child is.
_PACKAGE_ROOTS = frozenset({"services", "services.common", "sealpay"})
# Loaded by site.py from .pth files before any code of ours runs: editable
# installs' finders (development) and setuptools' distutils shim.
_SITE_MACHINERY_PREFIXES = ("__editable__", "_distutils_hack")
# Modules extension runtimes register under generated names: Cython's shared
# type modules (grpc) and the platform's sysconfig data (stdlib).
_RUNTIME_PREFIXES = ("_cython_", "_sysconfigdata_")


class BoundaryViolation(RuntimeError):
    """A module outside the allowlist is loaded or being imported."""


def is_allowed(name: str) -> bool:
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__main__":
        return True
    if name in _PACKAGE_ROOTS or name.startswith(_SITE_MACHINERY_PREFIXES + _RUNTIME_PREFIXES):
        return True
    if top in ("services", "sealpay"):
        return any(name == own or name.startswith(own + ".") for own in ALLOWED_OWN)
    return top in ALLOWED_THIRD_PARTY


def offenders(modules: Iterable[str]) -> list[str]:
    return sorted(name for name in modules if not is_allowed(name))


class BoundaryFinder(importlib.abc.MetaPathFinder):
    """Refuses, at import time, anything outside the allowlist."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not is_allowed(fullname):
            raise ImportError(f"{fullname!r} is outside the payment TEE import boundary")
        return None  # allowed: let the normal finders load it


def enforce() -> None:
    """Refuse to run with a foreign module loaded; then guard every later import."""
    found = offenders(list(sys.modules))
    if found:
        raise BoundaryViolation(
            "refusing to start: modules outside the payment TEE boundary are loaded: "
            + ", ".join(found)
        )
    if not any(isinstance(f, BoundaryFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, BoundaryFinder())
