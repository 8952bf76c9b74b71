"""infra/gcp/CUTOVER.md only names things that exist.

Every repository path, `make` target, `python -m` module, script flag and
environment variable the runbook tells an operator to use is checked against
the repository, so the runbook cannot drift from the code it drives.

Two entry points are written concurrently with this runbook:
`services/payment_tee/__main__.py` (`python -m services.payment_tee`) and
`sdk/sealpay/__main__.py` (`python -m sealpay attest`). Their checks fail,
rather than skip, while a file is missing: the runbook is not done until they
exist.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "infra" / "gcp" / "CUTOVER.md"

# The configuration names an operator may be told to set (the payment TEE's and
# the gateway's TEE settings). A name outside this list is a typo or a setting
# that does not exist.
OPERATOR_ENV_NAMES = frozenset(
    {
        # payment_tee (python -m services.payment_tee)
        "DATABASE_URL",
        "LEDGER_AUDIT_KEY",
        "PAYMENT_TEE_HOST",
        "PAYMENT_TEE_PORT",
        "ATTESTATION_PORT",
        "TEE_TLS_CERT",
        "TEE_TLS_KEY",
        "TEE_CLIENT_CA",
        "TEE_ATTESTATION_PROVIDER",
        "TEE_ENFORCE_BOUNDARY",
        "TEE_SIMULATED_DIR",
        "SEALPAY_ENV",
        # gateway, TEE path
        "PAYMENT_VIA_TEE",
        "PAYMENT_TEE_FALLBACK",
        "PAYMENT_TEE_TARGET",
        "PAYMENT_TEE_CA",
        "PAYMENT_TEE_CLIENT_CERT",
        "PAYMENT_TEE_CLIENT_KEY",
        "PAYMENT_TEE_SERVER_NAME",
        "TEE_EXPECTED_MEASUREMENTS",
    }
)
# Modules written concurrently: checked by file, failing while absent.
CONCURRENT_ENTRY_POINTS = {
    "services.payment_tee": REPO / "services" / "payment_tee" / "__main__.py",
    "sealpay": REPO / "sdk" / "sealpay" / "__main__.py",
}
# What scripts/gen-mtls.py writes (scripts/mtls_material.py, ALL_FILES).
MTLS_FILES = {"ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key"}

PATH_RE = re.compile(r"(?<![\w./$-])((?:scripts|infra|services|sdk|tests|docs)/[\w./-]*\w)")
ROOT_FILE_RE = re.compile(r"`(Makefile|Dockerfile|constraints\.txt|docker-compose\.yml)`")
MTLS_RE = re.compile(r"\.data/mtls-prod/((?:[\w.-]+/)?[\w-]+\.(?:pem|key))\b")
MAKE_RE = re.compile(r"(?<![\w-])make\s+([a-z][\w-]*)")
PYTHON_M_RE = re.compile(r"python3?\s+-m\s+([A-Za-z_][\w.]*)")
ASSIGNMENT_RE = re.compile(r"(?:^|[\s\"'(])(?:export\s+)?([A-Z][A-Z0-9_]{2,})=")
RAILWAY_RE = re.compile(r"railway\s+variables?\s+(?:set|delete)\s+(.*)")
INLINE_CODE_RE = re.compile(r"`([^`\n]+)`")


def runbook() -> str:
    return RUNBOOK.read_text()


def code_lines() -> list[str]:
    """Lines of the fenced code blocks, shell continuations joined."""
    lines, inside, pending = [], False, ""
    for line in runbook().splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def commands() -> list[str]:
    """Code-block lines and inline code spans: everything an operator might type."""
    return code_lines() + INLINE_CODE_RE.findall(runbook())


def strip_comment(line: str) -> str:
    return line.split(" #", 1)[0]


# --- repository paths ---------------------------------------------------------------------


def test_every_repository_path_exists():
    text = runbook()
    paths = set(PATH_RE.findall(text)) | set(ROOT_FILE_RE.findall(text))
    assert "infra/gcp/setup-vm.sh" in paths  # the regex finds what it should
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"CUTOVER.md names paths that do not exist: {missing}"


def test_mtls_files_are_the_ones_gen_mtls_writes():
    names = MTLS_RE.findall(runbook())
    assert names
    for name in names:
        assert Path(name).name in MTLS_FILES, name


# --- make targets -------------------------------------------------------------------------


def makefile_targets() -> set[str]:
    targets = set()
    for line in (REPO / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+)\s*:(?!=)", line)
        if match:
            targets.add(match.group(1))
    return targets


def test_every_make_target_exists():
    named = {target for line in commands() for target in MAKE_RE.findall(strip_comment(line))}
    assert {"migrate", "verify-audit"} <= named
    missing = sorted(named - makefile_targets())
    assert not missing, f"CUTOVER.md runs make targets the Makefile lacks: {missing}"


# --- python -m modules --------------------------------------------------------------------


def python_modules() -> set[str]:
    return set(PYTHON_M_RE.findall(runbook()))


def test_every_python_module_is_importable_or_present():
    modules = python_modules()
    assert "sealpay" in modules
    for module in sorted(modules - CONCURRENT_ENTRY_POINTS.keys()):
        as_file = REPO / (module.replace(".", "/") + ".py")
        as_package = REPO / module.replace(".", "/") / "__main__.py"
        found = importlib.util.find_spec(module) is not None
        assert found or as_file.exists() or as_package.exists(), module


def test_payment_tee_entry_point_exists():
    """`python -m services.payment_tee` (written concurrently; fails, not skips, while absent)."""
    assert "services.payment_tee" in python_modules()
    path = CONCURRENT_ENTRY_POINTS["services.payment_tee"]
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"


def test_sealpay_cli_entry_point_exists():
    """`python -m sealpay attest` (written concurrently; fails, not skips, while absent)."""
    assert "sealpay" in python_modules()
    path = CONCURRENT_ENTRY_POINTS["sealpay"]
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"


# --- flags of the commands it runs --------------------------------------------------------


def _help(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


HELP = {
    "infra/gcp/setup-vm.sh": ["bash", "infra/gcp/setup-vm.sh", "--help"],
    "infra/gcp/teardown-vm.sh": ["bash", "infra/gcp/teardown-vm.sh", "--help"],
    "scripts/gen-mtls.py": [sys.executable, "scripts/gen-mtls.py", "--help"],
    "-m sealpay attest": [sys.executable, "-m", "sealpay", "attest", "--help"],
}


@pytest.mark.parametrize("command", sorted(HELP))
def test_every_flag_given_to_a_repository_command_exists(command):
    uses = [strip_comment(line) for line in code_lines() if command in line]
    assert uses, f"CUTOVER.md never runs {command}"
    help_text = _help(HELP[command])
    for line in uses:
        tail = line.split(command, 1)[1]
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", tail):
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text), (
                f"{command} has no {flag} (in: {line.strip()})"
            )


# --- environment variables ----------------------------------------------------------------


def env_names_set() -> set[str]:
    """Names assigned in code blocks (`NAME=… cmd`, `export NAME=`, `--set "NAME=…"`),
    given to `railway variable set|delete`, or written as a whole inline span
    (`PAYMENT_TEE_FALLBACK=true`). Inline prose like `CN=… SAN=…` is not a setting."""
    inline = [
        span
        for span in INLINE_CODE_RE.findall(runbook())
        if re.fullmatch(r"[A-Z][A-Z0-9_]+=\S*", span) or "railway variable" in span
    ]
    names = set()
    for line in [*code_lines(), *inline]:
        line = strip_comment(line)
        names.update(ASSIGNMENT_RE.findall(line))
        railway = RAILWAY_RE.search(line)
        if railway:
            for word in shlex.split(railway.group(1).replace("<", " ")):
                match = re.match(r"^([A-Z][A-Z0-9_]+)(=|$)", word)
                if match:
                    names.add(match.group(1))
    return names


def test_every_environment_variable_it_sets_is_a_known_setting():
    names = env_names_set()
    assert {"PAYMENT_VIA_TEE", "PAYMENT_TEE_FALLBACK", "PAYMENT_TEE_CLIENT_KEY"} <= names
    unknown = sorted(names - OPERATOR_ENV_NAMES)
    assert not unknown, f"CUTOVER.md sets variables that are not Sealpay settings: {unknown}"


def test_every_money_service_is_configured_with_fallback_before_it_is_turned_off():
    """Billing and the key server's worker move money too: the cutover switches all
    of them (`$money_services`), or they go on posting in-process, unattested."""
    text = runbook()
    (declared,) = re.findall(r'money_services="([^"]+)"', text)
    assert set(declared.split()) == {"gateway", "billing", "billing-worker", "key-server-worker"}
    fallback_on = text.index('PAYMENT_TEE_FALLBACK=true --service "$service"')
    via_tee_on = text.index('PAYMENT_VIA_TEE=true --service "$service"')
    fallback_off = text.index('PAYMENT_TEE_FALLBACK=false --service "$service"')
    rollback = text.index('PAYMENT_VIA_TEE=false --service "$service"')
    assert fallback_on < via_tee_on < fallback_off < rollback
    for line in code_lines():
        if "railway variable set PAYMENT_" in line or "railway variable delete" in line:
            assert '--service "$service"' in line, f"a TEE setting for one service only: {line}"


def test_runbook_states_what_the_attestation_does_not_prove():
    text = " ".join(runbook().replace("**", "").split())
    assert "not our container image" in text
    assert "OVMF" in text
    assert "Confidential Space" in text
    for metric in ("sealpay_tee_up", "sealpay_tee_dispatch_total", "fallback_unreachable"):
        assert metric in text
