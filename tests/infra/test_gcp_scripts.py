"""infra/gcp/setup-vm.sh and teardown-vm.sh: their plans, their idempotency, their refusals.

Nothing here reaches Google Cloud. Dry runs are checked by parsing the printed
"+ gcloud ..." plan, with recording stand-ins for gcloud and the usual suspects
(docker, curl, ...) first on PATH to show nothing ran. Real runs use
tests/infra/fake_gcloud.py, a gcloud that keeps resources in a JSON file.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GCP = REPO / "infra" / "gcp"
SETUP = GCP / "setup-vm.sh"
TEARDOWN = GCP / "teardown-vm.sh"
STARTUP = GCP / "startup.sh"
FAKE_GCLOUD = Path(__file__).with_name("fake_gcloud.py")

PROJECT = "sealpay-test-1"
IMAGE = "us-central1-docker.pkg.dev/sealpay-test-1/sealpay/payment-tee@sha256:" + "ab" * 32
GATEWAY_CIDR = "203.0.113.7/32"
INSTANCE = "sealpay-payment-tee"
SA_EMAIL = f"{INSTANCE}@{PROJECT}.iam.gserviceaccount.com"
SECRETS = [
    f"{INSTANCE}-{suffix}"
    for suffix in ("tls-cert", "tls-key", "client-ca", "database-url", "ledger-audit-key")
]
# Verbs that change something; a converged run issues none of them.
CHANGING = {
    "create",
    "delete",
    "enable",
    "update",
    "add-metadata",
    "add-iam-policy-binding",
    "remove-iam-policy-binding",
}
# Programs neither script may start (a dry run does not even start gcloud).
SENTINELS = ("docker", "curl", "ssh", "scp", "railway", "openssl", "python3", "kubectl")


@dataclass
class Env:
    """A sandbox: input files, a PATH with stand-ins, the fake's state and log."""

    tmp: Path
    bin: Path
    state: Path
    log: Path
    files: dict[str, Path]

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env['PATH']}",
            FAKE_GCLOUD_STATE=str(self.state),
            FAKE_GCLOUD_LOG=str(self.log),
            SENTINEL_LOG=str(self.tmp / "sentinels.log"),
        )
        return env

    def run(self, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(script), *args],
            capture_output=True,
            text=True,
            env=self.environ(),
            cwd=self.tmp,
            timeout=120,
            check=False,
        )

    def setup_args(self, **overrides: str) -> list[str]:
        values = {
            "--project": PROJECT,
            "--image-url": IMAGE,
            "--gateway-cidr": GATEWAY_CIDR,
            "--database-url-file": str(self.files["database_url"]),
            "--audit-key-file": str(self.files["audit_key"]),
            "--tls-cert": str(self.files["tls_cert"]),
            "--tls-key": str(self.files["tls_key"]),
            "--client-ca": str(self.files["client_ca"]),
            **overrides,
        }
        return [f"{flag}={value}" for flag, value in values.items() if value is not None]

    def gcloud_calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def sentinel_calls(self) -> list[str]:
        path = self.tmp / "sentinels.log"
        return path.read_text().splitlines() if path.exists() else []

    def reset_log(self) -> None:
        self.log.unlink(missing_ok=True)

    def resources(self) -> dict[str, dict]:
        return json.loads(self.state.read_text())["resources"] if self.state.exists() else {}


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def sandbox(tmp_path: Path) -> Env:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "gcloud", f"#!{sys.executable}\n" + FAKE_GCLOUD.read_text())
    for name in SENTINELS:
        _executable(bin_dir / name, f'#!/bin/sh\necho "{name} $*" >>"$SENTINEL_LOG"\nexit 97\n')
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    files = {
        "database_url": inputs / "database-url",
        "audit_key": inputs / "ledger-audit-key",
        "tls_cert": inputs / "server.pem",
        "tls_key": inputs / "server.key",
        "client_ca": inputs / "ca.pem",
    }
    files["database_url"].write_text("postgresql://tee:secret@db.example:5432/sealpay")
    files["audit_key"].write_text("k" * 48)
    for key in ("tls_cert", "tls_key", "client_ca"):
        files[key].write_text(f"-----BEGIN {key}-----\nAAAA\n-----END {key}-----\n")
    return Env(tmp_path, bin_dir, tmp_path / "gcloud-state.json", tmp_path / "gcloud.log", files)


def plan(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    """The dry-run plan: every stdout line is a gcloud command; returns their argv."""
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    assert all(line.startswith("+ gcloud ") for line in lines), result.stdout
    return [shlex.split(line)[2:] for line in lines]


def find(commands: list[list[str]], *words: str) -> list[list[str]]:
    """Commands whose leading positional words are `words`."""
    return [c for c in commands if c[: len(words)] == list(words)]


def flag(command: list[str], name: str) -> str | None:
    for arg in command:
        if arg == name:
            return ""
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def verb(command: list[str]) -> str:
    positionals = [a for a in command if not a.startswith("-")]
    for word in positionals:
        if word in CHANGING or word in {"describe", "list", "access", "get-iam-policy"}:
            return word
    return positionals[-1]


def changing_calls(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if verb(c) in CHANGING or c[:3] == ["secrets", "versions", "add"]]


# --- dry runs ----------------------------------------------------------------------------


def test_setup_dry_run_prints_only_gcloud_and_runs_nothing(sandbox):
    result = sandbox.run(SETUP, "--dry-run", *sandbox.setup_args())
    assert result.returncode == 0, result.stderr
    commands = plan(result)
    assert len(commands) > 20
    assert sandbox.gcloud_calls() == []
    assert sandbox.sentinel_calls() == []


def test_setup_dry_run_creates_an_snp_confidential_vm(sandbox):
    commands = plan(sandbox.run(SETUP, "--dry-run", *sandbox.setup_args()))
    [create] = find(commands, "compute", "instances", "create")
    assert create[3] == INSTANCE
    expected = {
        "--confidential-compute-type": "SEV_SNP",
        "--min-cpu-platform": "AMD Milan",
        "--maintenance-policy": "TERMINATE",
        "--machine-type": "n2d-standard-2",
        "--image-family": "ubuntu-2404-lts-amd64",
        "--image-project": "ubuntu-os-cloud",
        "--zone": "us-central1-a",
        "--project": PROJECT,
        "--address": f"{INSTANCE}-ip",
        "--tags": "sealpay-payment-tee",
        "--service-account": SA_EMAIL,
    }
    for name, value in expected.items():
        assert flag(create, name) == value, name
    for shielded in (
        "--shielded-secure-boot",
        "--shielded-vtpm",
        "--shielded-integrity-monitoring",
    ):
        assert flag(create, shielded) == "", shielded
    assert flag(create, "--metadata-from-file") == f"startup-script={STARTUP}"
    assert f"sealpay-image={IMAGE}" in flag(create, "--metadata").split(",")


def test_setup_dry_run_reserves_a_static_ip_and_opens_only_the_gateway(sandbox):
    commands = plan(sandbox.run(SETUP, "--dry-run", *sandbox.setup_args()))
    [address] = find(commands, "compute", "addresses", "create")
    assert address[3] == f"{INSTANCE}-ip"
    assert flag(address, "--region") == "us-central1"
    [rule] = find(commands, "compute", "firewall-rules", "create")
    assert flag(rule, "--rules") == "tcp:50051,tcp:8443"
    assert flag(rule, "--source-ranges") == GATEWAY_CIDR
    assert flag(rule, "--direction") == "INGRESS"
    [create] = find(commands, "compute", "instances", "create")
    assert flag(rule, "--target-tags") == flag(create, "--tags")
    assert flag(rule, "--network") == "sealpay-tee-net"
    assert find(commands, "compute", "networks", "create")
    assert find(commands, "compute", "networks", "subnets", "create")


def test_setup_dry_run_puts_every_secret_in_secret_manager(sandbox):
    commands = plan(sandbox.run(SETUP, "--dry-run", *sandbox.setup_args()))
    assert [c[2] for c in find(commands, "secrets", "create")] == SECRETS
    added = {c[3]: flag(c, "--data-file") for c in find(commands, "secrets", "versions", "add")}
    files = sandbox.files
    assert added == {
        f"{INSTANCE}-tls-cert": str(files["tls_cert"]),
        f"{INSTANCE}-tls-key": str(files["tls_key"]),
        f"{INSTANCE}-client-ca": str(files["client_ca"]),
        f"{INSTANCE}-database-url": str(files["database_url"]),
        f"{INSTANCE}-ledger-audit-key": str(files["audit_key"]),
    }
    grants = find(commands, "secrets", "add-iam-policy-binding")
    assert sorted(c[2] for c in grants) == sorted(SECRETS)
    assert {flag(c, "--member") for c in grants} == {f"serviceAccount:{SA_EMAIL}"}
    assert {flag(c, "--role") for c in grants} == {"roles/secretmanager.secretAccessor"}


def test_setup_dry_run_scopes_every_command_to_the_project(sandbox):
    commands = plan(sandbox.run(SETUP, "--dry-run", *sandbox.setup_args()))
    for command in commands:
        if command[:3] == ["compute", "images", "describe-from-family"]:
            assert flag(command, "--project") == "ubuntu-os-cloud"
        else:
            assert flag(command, "--project") == PROJECT, command


def test_setup_dry_run_optional_operator_and_iap_rules(sandbox):
    args = [*sandbox.setup_args(), "--operator-cidr=198.51.100.0/24", "--allow-iap-ssh"]
    rules = find(
        plan(sandbox.run(SETUP, "--dry-run", *args)), "compute", "firewall-rules", "create"
    )
    by_name = {r[3]: r for r in rules}
    operator = by_name[f"{INSTANCE}-allow-operator"]
    assert flag(operator, "--rules") == "tcp:8443"
    assert flag(operator, "--source-ranges") == "198.51.100.0/24"
    iap = by_name[f"{INSTANCE}-allow-iap-ssh"]
    assert flag(iap, "--rules") == "tcp:22"
    assert flag(iap, "--source-ranges") == "35.235.240.0/20"


def test_teardown_dry_run_deletes_everything_setup_creates(sandbox):
    result = sandbox.run(TEARDOWN, "--dry-run", f"--project={PROJECT}", f"--image-url={IMAGE}")
    assert result.returncode == 0, result.stderr
    commands = plan(result)
    assert sandbox.gcloud_calls() == []
    assert sandbox.sentinel_calls() == []
    deletes = [c for c in commands if "delete" in c or "remove-iam-policy-binding" in c]
    assert all(flag(c, "--quiet") == "" for c in deletes if "delete" in c)
    assert not [c for c in commands if "create" in c]
    assert find(commands, "compute", "instances", "delete")
    assert [c[3] for c in find(commands, "compute", "addresses", "delete")] == [f"{INSTANCE}-ip"]
    assert [c[2] for c in find(commands, "secrets", "delete")] == SECRETS
    assert find(commands, "compute", "networks", "subnets", "delete")
    assert find(commands, "iam", "service-accounts", "delete")
    assert find(commands, "artifacts", "repositories", "remove-iam-policy-binding")


# --- real runs against the fake gcloud ----------------------------------------------------


def test_setup_creates_everything_then_a_second_run_changes_nothing(sandbox):
    first = sandbox.run(SETUP, *sandbox.setup_args())
    assert first.returncode == 0, first.stderr
    resources = sandbox.resources()
    assert f"compute|instances|{INSTANCE}" in resources
    assert f"compute|addresses|{INSTANCE}-ip" in resources
    assert f"iam|service-accounts|{SA_EMAIL}" in resources
    assert {f"secrets|{s}" for s in SECRETS} <= resources.keys()
    assert "PAYMENT_TEE_TARGET=203.0.113.10:50051" in first.stderr
    assert sandbox.sentinel_calls() == []

    sandbox.reset_log()
    second = sandbox.run(SETUP, *sandbox.setup_args())
    assert second.returncode == 0, second.stderr
    assert changing_calls(sandbox.gcloud_calls()) == []
    assert sandbox.resources() == resources


def test_setup_converges_a_changed_cidr_image_and_secret_only(sandbox):
    assert sandbox.run(SETUP, *sandbox.setup_args()).returncode == 0
    sandbox.files["audit_key"].write_text("n" * 48)
    sandbox.reset_log()
    new_image = IMAGE.replace("ab" * 32, "cd" * 32)
    result = sandbox.run(
        SETUP,
        *sandbox.setup_args(**{"--gateway-cidr": "198.51.100.9/32", "--image-url": new_image}),
    )
    assert result.returncode == 0, result.stderr
    changed = changing_calls(sandbox.gcloud_calls())
    assert sorted(c[:3] for c in changed) == [
        ["compute", "firewall-rules", "update"],
        ["compute", "instances", "add-metadata"],
        ["secrets", "versions", "add"],
    ]
    [version_add] = find(changed, "secrets", "versions", "add")
    assert version_add[3] == f"{INSTANCE}-ledger-audit-key"
    resources = sandbox.resources()
    assert resources[f"compute|firewall-rules|{INSTANCE}-allow-gateway"]["--source-ranges"] == (
        "198.51.100.9/32"
    )
    assert f"sealpay-image={new_image}" in resources[f"compute|instances|{INSTANCE}"]["--metadata"]


def test_teardown_on_an_empty_project_deletes_nothing(sandbox):
    result = sandbox.run(TEARDOWN, f"--project={PROJECT}", f"--image-url={IMAGE}", "--yes")
    assert result.returncode == 0, result.stderr
    calls = sandbox.gcloud_calls()
    assert calls, "teardown should have looked"
    assert changing_calls(calls) == []


def test_teardown_removes_what_setup_created_and_is_idempotent(sandbox):
    assert sandbox.run(SETUP, *sandbox.setup_args()).returncode == 0
    result = sandbox.run(TEARDOWN, f"--project={PROJECT}", f"--image-url={IMAGE}", "--yes")
    assert result.returncode == 0, result.stderr
    assert sandbox.resources() == {}
    assert json.loads(sandbox.state.read_text())["bindings"] == []
    sandbox.reset_log()
    again = sandbox.run(TEARDOWN, f"--project={PROJECT}", f"--image-url={IMAGE}", "--yes")
    assert again.returncode == 0, again.stderr
    assert changing_calls(sandbox.gcloud_calls()) == []


def test_setup_refuses_a_boot_image_without_snp(sandbox):
    sandbox.state.write_text(
        json.dumps(
            {
                "resources": {},
                "enabled_apis": [],
                "bindings": [],
                "versions": {},
                "image_features": "UEFI_COMPATIBLE",
            }
        )
    )
    result = sandbox.run(SETUP, *sandbox.setup_args())
    assert result.returncode != 0
    assert "not SEV_SNP_CAPABLE" in result.stderr
    assert f"compute|instances|{INSTANCE}" not in sandbox.resources()


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("--project", "--project is required"),
        ("--image-url", "--image-url is required"),
        ("--gateway-cidr", "--gateway-cidr is required"),
        ("--database-url-file", "--database-url-file is required"),
        ("--audit-key-file", "--audit-key-file is required"),
    ],
)
def test_setup_without_a_required_flag_fails_clearly(sandbox, missing, message):
    result = sandbox.run(SETUP, "--dry-run", *sandbox.setup_args(**{missing: None}))
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""
    assert sandbox.gcloud_calls() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"--gateway-cidr": "0.0.0.0/0"}, "broader than /16"),
        ({"--gateway-cidr": "203.0.113.7"}, "not an IPv4 CIDR"),
        ({"--gateway-cidr": "300.0.113.7/32"}, "not an IPv4 CIDR"),
        ({"--zone": "europe-west4-a"}, "is not in --region"),
        ({"--project": "Bad_Project"}, "is not a GCP project id"),
        ({"--tls-key": "/nonexistent/server.key"}, "cannot read"),
        ({"--image-url": "gcr.io/x/y:1,evil=1"}, "must not contain spaces or commas"),
    ],
)
def test_setup_rejects_bad_values(sandbox, overrides, message):
    result = sandbox.run(SETUP, "--dry-run", *sandbox.setup_args(**overrides))
    assert result.returncode != 0
    assert message in result.stderr


def test_setup_rejects_unknown_flags_and_missing_values(sandbox):
    unknown = sandbox.run(SETUP, "--dry-run", "--frobnicate", *sandbox.setup_args())
    assert unknown.returncode != 0
    assert "unknown argument: --frobnicate" in unknown.stderr
    no_value = sandbox.run(SETUP, "--dry-run", *sandbox.setup_args(), "--zone")
    assert no_value.returncode != 0
    assert "--zone needs a value" in no_value.stderr


def test_project_may_come_from_the_gcloud_environment(sandbox):
    env = sandbox.environ() | {"CLOUDSDK_CORE_PROJECT": PROJECT}
    result = subprocess.run(
        ["bash", str(SETUP), "--dry-run", *sandbox.setup_args(**{"--project": None})],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert all(flag(c, "--project") in (PROJECT, "ubuntu-os-cloud") for c in plan(result))


def test_teardown_needs_yes_or_dry_run(sandbox):
    result = sandbox.run(TEARDOWN, f"--project={PROJECT}")
    assert result.returncode != 0
    assert "--yes" in result.stderr
    assert sandbox.gcloud_calls() == []


def test_teardown_without_project_fails_clearly(sandbox):
    result = sandbox.run(TEARDOWN, "--dry-run")
    assert result.returncode != 0
    assert "--project is required" in result.stderr


def test_help_exits_zero(sandbox):
    for script in (SETUP, TEARDOWN):
        result = sandbox.run(script, "--help")
        assert result.returncode == 0
        assert "usage:" in result.stdout


# --- the scripts themselves --------------------------------------------------------------


@pytest.mark.parametrize("script", ["setup-vm.sh", "teardown-vm.sh", "startup.sh", "lib.sh"])
def test_scripts_parse_and_are_strict(script):
    path = GCP / script
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)
    if script != "lib.sh":  # lib.sh is sourced by scripts that set the options
        assert "set -euo pipefail" in path.read_text()
        assert os.access(path, os.X_OK)


def test_startup_runs_the_container_read_only_with_the_tee_environment():
    text = STARTUP.read_text()
    for option in (
        "--read-only",
        '--tmpfs "/tmp:',
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges:true",
        '--device="$SEV_DEVICE"',
        "--env-file=",
        "--publish=50051:50051",
        "--publish=8443:8443",
    ):
        assert option in text, option
    for name in (
        "SEALPAY_ENV=production",
        "TEE_ENFORCE_BOUNDARY=1",
        "TEE_ATTESTATION_PROVIDER=auto",
        "PAYMENT_TEE_HOST=0.0.0.0",
        "PAYMENT_TEE_PORT=50051",
        "ATTESTATION_PORT=8443",
        "TEE_TLS_CERT=",
        "TEE_TLS_KEY=",
        "TEE_CLIENT_CA=",
        "DATABASE_URL=",
        "LEDGER_AUDIT_KEY=",
    ):
        assert name in text, name
    # Production attests for real: auto never falls back to simulated, and nothing here asks for it.
    assert "TEE_SIMULATED_DIR" not in text
    assert "TEE_ATTESTATION_PROVIDER=simulated" not in text


def test_startup_reads_the_secrets_setup_writes():
    text = STARTUP.read_text()
    for secret in SECRETS:
        suffix = secret.removeprefix(f"{INSTANCE}-")
        assert f"secret {suffix}" in text, suffix
    lib = (GCP / "lib.sh").read_text()
    assert "SECRET_SUFFIXES=(tls-cert tls-key client-ca database-url ledger-audit-key)" in lib


def test_a_startup_step_that_fails_leaves_a_failed_line(tmp_path):
    """Not only the checks that call `fail`: any command that stops the script (here
    the metadata server unreachable: curl exits 7) is reported as FAILED, with the
    command, so the serial console never ends silently at the last step begun."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "curl").write_text("#!/bin/sh\nexit 7\n")
    (stub / "curl").chmod(0o755)
    result = subprocess.run(
        ["bash", str(STARTUP)],
        env={**os.environ, "PATH": f"{stub}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    failed = [line for line in output.splitlines() if "sealpay-startup: FAILED:" in line]
    assert any("curl" in line and "exit 7" in line for line in failed), output
