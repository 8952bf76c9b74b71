"""docker-compose.yml read as data (no Docker engine here): every service of ours
starts with its configuration complete, agrees with the others on the shared
secrets, and points at services that exist, on the ports they listen on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SHARED_SECRETS = (
    "SEALPAY_ADMIN_TOKEN",
    "SEALPAY_SERVICE_TOKEN",
    "SEALPAY_CALLBACK_SECRET",
    "LEDGER_AUDIT_KEY",
)
# What each service resolves at start, as its app does; run where no development
# secret can be generated (SEALPAY_DATA_DIR is unusable), so a missing setting fails.
STARTUP = {
    "gateway": """
from services.common.settings import resolve_admin_token, resolve_service_token
from services.gateway.settings import GatewaySettings
from services.payment_tee.core.keys import audit_key_from_settings
s = GatewaySettings()
resolve_admin_token(s.sealpay_admin_token, s.sealpay_env)
resolve_service_token(s.sealpay_service_token, s.sealpay_env)
audit_key_from_settings(s.ledger_audit_key, s.sealpay_env)
print(s.billing_url, s.key_server_url, s.payment_tee_target)
""",
    "billing": """
from services.billing.settings import BillingSettings
from services.common.settings import resolve_admin_token
from services.payment_tee.core.keys import audit_key_from_settings
s = BillingSettings()
resolve_admin_token(s.sealpay_admin_token, s.sealpay_env)
s.service_token(); s.callback_secret(); s.secret_keys()
audit_key_from_settings(s.ledger_audit_key, s.sealpay_env)
print(s.key_server_url, s.charge_callback_url(), s.payment_tee_target, s.billing_host)
""",
    "key_server": """
from services.key_server.settings import KeyServerSettings, resolve_secrets
from services.payment_tee.core.keys import audit_key_from_settings
s = KeyServerSettings()
resolve_secrets(s)
audit_key_from_settings(s.ledger_audit_key, s.sealpay_env)
print(s.payment_tee_target, s.key_server_host)
""",
}
PORTS = {"billing": 8002, "key_server": 8003, "gateway": 8000, "payment_tee": 50051}
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def load() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return compose


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment as compose gives it with nothing set outside."""
    env = service.get("environment") or {}
    return {k: _DEFAULTED.sub(lambda m: m.group(2), str(v)) for k, v in env.items()}


def our_services(compose: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (which of our services it runs, its environment)."""
    found = {}
    for name, service in compose["services"].items():
        command = service.get("command") or ["python", "-m", "services.gateway"]
        if service.get("build") != "." or not isinstance(command, list):
            continue  # postgres, the TEE image (tests/infra/test_images.py), mtls
        module = command[2]
        if module.startswith("services.") and module != "services.devserver":
            found[name] = (module.removeprefix("services."), environment(service))
    return found


def test_compose_runs_every_service_and_worker():
    compose = load()
    runs = sorted(
        (module, tuple(compose["services"][name].get("command", [])[3:]))
        for name, (module, _) in our_services(compose).items()
    )
    assert runs == [
        ("billing", ()),
        ("billing", ("worker",)),
        ("gateway", ()),
        ("key_server", ()),
        ("key_server", ("worker",)),
    ]
    assert {"postgres", "mtls", "migrate", "payment_tee"} <= set(compose["services"])


def test_every_service_shares_the_same_secrets():
    compose = load()
    envs = [environment(s) for s in compose["services"].values() if "environment" in s]
    ours = [env for env in envs if "DATABASE_URL" in env]
    assert len(ours) == 7  # migrate, payment_tee, billing x2, key_server x2, gateway
    for secret in SHARED_SECRETS:
        assert len({env[secret] for env in ours}) == 1, secret


@pytest.mark.parametrize(
    "name", ["gateway", "billing", "billing_worker", "key_server", "key_server_worker"]
)
def test_each_service_starts_with_its_settings_complete(name, tmp_path):
    module, env = our_services(load())[name]
    unusable = tmp_path / "file"
    unusable.write_text("")
    result = subprocess.run(
        [sys.executable, "-c", STARTUP[module]],
        env={"PATH": os.environ["PATH"], **env, "SEALPAY_DATA_DIR": str(unusable / "data")},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    addresses = result.stdout.split()
    for address in addresses:
        if address.startswith("http://"):
            parts = urlsplit(address)
            assert parts.hostname in PORTS and parts.port == PORTS[parts.hostname], address
        elif ":" in address:
            host, port = address.split(":")
            assert (host, int(port)) == ("payment_tee", PORTS["payment_tee"])
    if module != "gateway":
        assert addresses[-1] == "0.0.0.0"  # reachable from the other containers


def test_services_reaching_the_tee_have_its_certificates():
    compose = load()
    for name, (_, env) in our_services(compose).items():
        assert env.get("PAYMENT_VIA_TEE") == "true", name
        assert "mtls:/mtls:ro" in compose["services"][name]["volumes"], name
        for var in ("PAYMENT_TEE_CA", "PAYMENT_TEE_CLIENT_CERT", "PAYMENT_TEE_CLIENT_KEY"):
            assert env[var].startswith("/mtls/"), (name, var)
