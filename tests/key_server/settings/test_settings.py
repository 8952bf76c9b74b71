"""Secrets at startup: production refuses to start without them, development generates
them once into dev-secrets; vault keys are checked to be Fernet keys."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.common.errors import ConfigError
from services.key_server.app import create_app
from services.key_server.settings import KeyServerSettings, resolve_vault_keys

REPO = Path(__file__).resolve().parents[3]
PRODUCTION = {
    "sealpay_env": "production",
    "database_url": "postgresql://nobody@127.0.0.1:1/none",
    "sealpay_service_token": "svc_production-token-0123456789",
    "sealpay_admin_token": "production-admin-token-0123456789",
    "sealpay_callback_secret": "production-callback-secret-0123456789abc",
    "key_server_vault_keys": Fernet.generate_key().decode(),
}


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("key_server_vault_keys", "KEY_SERVER_VAULT_KEYS is required"),
        ("sealpay_service_token", "SEALPAY_SERVICE_TOKEN is required"),
        ("sealpay_admin_token", "SEALPAY_ADMIN_TOKEN is required"),
        ("sealpay_callback_secret", "SEALPAY_CALLBACK_SECRET is required"),
    ],
)
def test_production_refuses_to_start_without_each_secret(missing, message):
    settings = KeyServerSettings(**{**PRODUCTION, missing: None})
    with pytest.raises(ConfigError, match=message):
        create_app(settings)


def test_vault_keys_are_checked():
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert resolve_vault_keys(f" {first} , {second} ", "production") == (first, second)
    for value, message in [
        ("not-a-key", "key 1 is not a Fernet key"),
        (f"{first},{first[:-2]}", "key 2 is not a Fernet key"),
        (f"{first},{first}", "the same key twice"),
    ]:
        with pytest.raises(ConfigError, match=message):
            resolve_vault_keys(value, "production")


def test_development_generates_a_vault_key_once_into_dev_secrets(tmp_path):
    env = {**os.environ, "SEALPAY_DATA_DIR": str(tmp_path)}
    env.pop("KEY_SERVER_VAULT_KEYS", None)
    script = (
        "from services.key_server.settings import resolve_vault_keys; "
        "print(resolve_vault_keys(None, 'development')[0])"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    keys = [run.stdout.strip() for run in runs]
    assert runs[0].returncode == 0, runs[0].stderr
    assert keys[0] == keys[1]
    Fernet(keys[0].encode())  # a valid key
    stored = json.loads((tmp_path / "dev-secrets.json").read_text())
    assert stored["key_server_vault_key"] + "=" == keys[0]


def test_the_server_command_refuses_to_start_with_a_clear_error():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEY_SERVER_", "SEALPAY_"))}
    env.update(
        {
            "SEALPAY_ENV": "production",
            "DATABASE_URL": PRODUCTION["database_url"],
            "SEALPAY_SERVICE_TOKEN": PRODUCTION["sealpay_service_token"],
            "SEALPAY_ADMIN_TOKEN": PRODUCTION["sealpay_admin_token"],
            "SEALPAY_CALLBACK_SECRET": PRODUCTION["sealpay_callback_secret"],
        }
    )
    run = subprocess.run(
        [sys.executable, "-m", "services.key_server"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: KEY_SERVER_VAULT_KEYS is required")
    assert "Traceback" not in run.stderr
