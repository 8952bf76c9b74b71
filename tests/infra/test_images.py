"""The two images: the payment TEE's (infra/gcp/payment_tee/Dockerfile) and the gateway's (root).

No Docker engine here, so the Dockerfiles are read as data: every file they
COPY exists relative to the repository root (the build context), the TEE's
context allowlist lets those files through, the runtime stages are non-root,
and the TEE image installs nothing its import guard would refuse. The
gateway's entrypoint script and the TEE's prune step are run for real.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEE_DOCKERFILE = REPO / "infra" / "gcp" / "payment_tee" / "Dockerfile"
TEE_DOCKERIGNORE = REPO / "infra" / "gcp" / "payment_tee" / "Dockerfile.dockerignore"
GATEWAY_DOCKERFILE = REPO / "Dockerfile"
ENTRYPOINT = REPO / "infra" / "railway" / "gateway-entrypoint.sh"
PRUNE = REPO / "infra" / "gcp" / "payment_tee" / "prune_to_boundary.py"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage:
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def copy_sources(path: Path) -> list[str]:
    sources = []
    for keyword, args in instructions(path):
        if keyword != "COPY" or "--from=" in args:
            continue
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        sources += words[:-1]
    return sources


def final(path: Path, keyword: str) -> str:
    return [args for kw, args in stages(path)[-1] if kw == keyword][-1]


@pytest.mark.parametrize("dockerfile", [TEE_DOCKERFILE, GATEWAY_DOCKERFILE], ids=["tee", "gateway"])
def test_image_builds_from_the_repository_root(dockerfile):
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"{dockerfile.relative_to(REPO)} copies missing {source}"


@pytest.mark.parametrize("dockerfile", [TEE_DOCKERFILE, GATEWAY_DOCKERFILE], ids=["tee", "gateway"])
def test_image_is_multi_stage_pinned_and_non_root(dockerfile):
    text = dockerfile.read_text()
    assert len(stages(dockerfile)) >= 2
    assert "COPY --from=build" in text
    assert "-c constraints.txt" in text
    user = final(dockerfile, "USER")
    name = user.split(":")[0]
    assert name not in ("root", "0"), user
    assert name.isdigit() and int(name) >= 1000, "a numeric uid lets runtimes check runAsNonRoot"


def test_tee_image_environment_ports_and_command():
    runtime = stages(TEE_DOCKERFILE)[-1]
    env = env_of(runtime)
    assert env["TEE_ENFORCE_BOUNDARY"] == "1"
    assert env["SEALPAY_ENV"] == "production"
    assert env["PAYMENT_TEE_HOST"] == "0.0.0.0"
    assert env["TEE_ATTESTATION_PROVIDER"] == "auto"
    # Read-only root FS: every path the process may write is under the /tmp tmpfs.
    assert env["HOME"] == "/tmp"
    assert env["TMPDIR"] == "/tmp"
    assert env["TEE_KDS_CACHE_DIR"].startswith("/tmp/")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert final(TEE_DOCKERFILE, "EXPOSE").split() == ["50051", "8443"]
    assert json.loads(final(TEE_DOCKERFILE, "CMD")) == ["python", "-m", "services.payment_tee"]
    assert "TEE_SIMULATED_DIR" not in TEE_DOCKERFILE.read_text()


def test_tee_image_build_checks_the_import_boundary():
    text = TEE_DOCKERFILE.read_text()
    assert "prune_to_boundary.py" in text
    assert "guard.enforce()" in text
    assert "compileall" in text  # no bytecode writes at run time


def _tee_distributions() -> list[str]:
    for keyword, args in stages(TEE_DOCKERFILE)[0]:
        if keyword == "ARG" and args.startswith("TEE_DISTRIBUTIONS="):
            return " ".join(shlex.split(args.split("=", 1)[1])).split()
    raise AssertionError("no ARG TEE_DISTRIBUTIONS in the build stage")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_tee_image_installs_only_what_the_import_guard_admits():
    from services.payment_tee.guard import ALLOWED_THIRD_PARTY

    tops_by_dist: dict[str, set[str]] = {}
    for top, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            tops_by_dist.setdefault(_normalize(dist), set()).add(top)
    for dist in _tee_distributions():
        tops = tops_by_dist.get(_normalize(dist))
        assert tops, f"{dist} is not installed in the development environment"
        assert tops <= ALLOWED_THIRD_PARTY, f"{dist} provides {tops - ALLOWED_THIRD_PARTY}"


def test_tee_distributions_are_pinned_by_the_constraints():
    pinned = {
        _normalize(line.split("==")[0])
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for dist in _tee_distributions():
        assert _normalize(dist) in pinned, dist


def test_tee_build_context_lets_every_copied_file_through_and_keeps_secrets_out():
    patterns = [
        line.strip()
        for line in TEE_DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allowlist: everything is excluded unless re-included"
    included = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for source in copy_sources(TEE_DOCKERFILE):
        assert any(source == inc or source.startswith(inc + "/") for inc in included), source
    assert not any(inc.startswith((".data", ".venv")) for inc in included)


def test_gateway_image_runs_the_gateway_through_the_entrypoint():
    runtime = stages(GATEWAY_DOCKERFILE)[-1]
    env = env_of(runtime)
    assert env["SEALPAY_ENV"] == "production"
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    assert json.loads(final(GATEWAY_DOCKERFILE, "CMD")) == ["python", "-m", "services.gateway"]
    entrypoint = json.loads(final(GATEWAY_DOCKERFILE, "ENTRYPOINT"))
    assert entrypoint[-1].endswith("gateway-entrypoint.sh")
    assert "infra/railway/gateway-entrypoint.sh" in copy_sources(GATEWAY_DOCKERFILE)


# --- the gateway entrypoint ---------------------------------------------------------------

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


def run_entrypoint(tmp_path: Path, **env: str) -> dict[str, str]:
    result = subprocess.run(
        [
            "sh",
            str(ENTRYPOINT),
            sys.executable,
            "-c",
            "import json, os; print(json.dumps(dict(os.environ)))",
        ],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path), **env},
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def test_entrypoint_writes_pem_variables_to_private_files(tmp_path):
    key = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----"
    env = run_entrypoint(tmp_path, PAYMENT_TEE_CA=PEM, PAYMENT_TEE_CLIENT_KEY=key)
    ca_path, key_path = Path(env["PAYMENT_TEE_CA"]), Path(env["PAYMENT_TEE_CLIENT_KEY"])
    assert ca_path.read_text() == PEM + "\n"
    assert key_path.read_text() == key + "\n"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert key_path.parent.parent == tmp_path


def test_entrypoint_accepts_a_pem_pasted_on_one_line(tmp_path):
    env = run_entrypoint(tmp_path, PAYMENT_TEE_CLIENT_CERT=PEM.replace("\n", "\\n"))
    assert Path(env["PAYMENT_TEE_CLIENT_CERT"]).read_text() == PEM + "\n"


def test_entrypoint_leaves_paths_alone_and_maps_railway_port(tmp_path):
    env = run_entrypoint(
        tmp_path, PAYMENT_TEE_CA="/run/secrets/ca.pem", PORT="4242", GATEWAY_PORT="8000"
    )
    assert env["PAYMENT_TEE_CA"] == "/run/secrets/ca.pem"
    assert env["GATEWAY_PORT"] == "4242"
    assert not (tmp_path / "sealpay-tee-mtls").exists()


def test_entrypoint_keeps_gateway_port_without_railway(tmp_path):
    assert run_entrypoint(tmp_path, GATEWAY_PORT="8000")["GATEWAY_PORT"] == "8000"


# --- pruning the TEE image to the import boundary -----------------------------------------


@pytest.fixture
def pruned_site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "services", site / "services", ignore=ignore)
    shutil.copytree(REPO / "sdk" / "sealpay", site / "sealpay", ignore=ignore)
    subprocess.run(
        [sys.executable, str(PRUNE), str(site)], check=True, capture_output=True, timeout=60
    )
    return site


def test_prune_keeps_the_payment_core_and_drops_everything_else(pruned_site):
    kept = {p.relative_to(pruned_site).as_posix() for p in pruned_site.rglob("*.py")}
    assert "services/payment_tee/__main__.py" in kept
    assert "services/payment_tee/guard.py" in kept
    assert "services/common/errors.py" in kept
    assert "sealpay/attestation/verify.py" in kept
    assert "sealpay/__init__.py" in kept
    for gone in (
        "services/gateway",
        "services/devserver",
        "services/common/settings.py",
        "sealpay/client.py",
        "sealpay/cli.py",
    ):
        assert not (pruned_site / gone).exists(), gone


def test_pruned_tree_still_imports_the_server(pruned_site, tmp_path):
    """What the image keeps is enough to import the server (run from outside the repo)."""
    code = (
        "import services, services.payment_tee.__main__, services.payment_tee.server.app; "
        "print(services.__path__[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(pruned_site)},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(pruned_site / "services")
