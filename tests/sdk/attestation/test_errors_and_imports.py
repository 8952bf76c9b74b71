"""Stable error codes, and the import rule the payment core's guard depends on."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import sealpay.attestation
from sealpay.attestation import errors

PACKAGE = Path(sealpay.attestation.__file__).parent
ALLOWED_THIRD_PARTY = ("cryptography", "sealpay.attestation")


def _error_classes() -> list[type[errors.AttestationError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.AttestationError)
    ]


def test_every_error_has_its_own_stable_code() -> None:
    classes = _error_classes()
    codes = [cls.code for cls in classes]

    assert len(codes) == len(set(codes))
    assert all(code and code.islower() and " " not in code for code in codes)


def test_documented_codes_exist() -> None:
    codes = {cls.code for cls in _error_classes()}

    assert {
        "report_layout",
        "unsupported_version",
        "signature_algorithm",
        "report_signature",
        "vcek_chain",
        "untrusted_root",
        "certificate_expired",
        "tcb_mismatch",
        "debug_enabled",
        "migration_agent",
        "vmpl",
        "measurement_not_allowed",
        "report_data_mismatch",
    } <= codes


def test_package_imports_only_stdlib_and_cryptography() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name} uses a relative import"
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert _allowed(module), f"{path.name} imports {module}"


def _allowed(module: str) -> bool:
    if module.split(".")[0] in sys.stdlib_module_names:
        return True
    return any(module == name or module.startswith(f"{name}.") for name in ALLOWED_THIRD_PARTY)
