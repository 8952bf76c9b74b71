"""The vault: agent secrets over HTTP (hint only, owner-scoped), sealed at rest and bound
to their row, and key rotation (the command, interruption, /readyz, removing old keys)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from support.servers import serve

from services.common.clock import FixedClock
from services.common.sealing import SecretOwner, Vault, VaultError, key_id
from services.key_server.app import create_app
from services.key_server.vault import service
from services.key_server.vault.rotation import rotate_vault

REPO = Path(__file__).resolve().parents[3]
OPENAI_KEY = "sk-proj-" + "A1b2C3d4" * 6 + "wxyz"


def _secrets_url(agent) -> str:
    return f"/internal/agents/{agent}/secrets"


def test_store_list_replace_delete_with_hints_only(key_server):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    http, service_auth = key_server.http, key_server.service
    r = http.post(
        _secrets_url(alice), json={"name": "openai", "value": OPENAI_KEY}, headers=service_auth
    )
    assert r.status_code == 201, r.text
    assert r.json()["hint"] == "wxyz" and OPENAI_KEY not in r.text
    r = http.post(
        _secrets_url(alice), json={"name": "short", "value": "abc123"}, headers=service_auth
    )
    assert r.status_code == 201 and r.json()["hint"] == ""  # too short to hint at
    listed = http.get(_secrets_url(alice), headers=service_auth)
    assert [(s["name"], s["hint"]) for s in listed.json()["secrets"]] == [
        ("openai", "wxyz"),
        ("short", ""),
    ]
    assert OPENAI_KEY not in listed.text
    replaced = http.post(
        _secrets_url(alice),
        json={"name": "openai", "value": OPENAI_KEY[:-4] + "9876"},
        headers=service_auth,
    )
    assert replaced.status_code == 200 and replaced.json()["hint"] == "9876"
    assert http.get(_secrets_url(bob), headers=service_auth).json()["secrets"] == []
    # Bob cannot delete Alice's secret: the same 404 as a name that does not exist.
    r = http.delete(f"{_secrets_url(bob)}/openai", headers=service_auth)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert http.delete(f"{_secrets_url(alice)}/openai", headers=service_auth).status_code == 204
    assert http.delete(f"{_secrets_url(alice)}/openai", headers=service_auth).status_code == 404
    assert [
        s["name"] for s in http.get(_secrets_url(alice), headers=service_auth).json()["secrets"]
    ] == ["short"]
    assert http.get(_secrets_url(alice)).status_code == 401
    assert http.get(_secrets_url(alice), headers=key_server.admin).status_code == 401
    bad = http.post(_secrets_url(alice), json={"name": "../x", "value": "v"}, headers=service_auth)
    assert bad.status_code == 422


def test_values_are_sealed_at_rest_and_bound_to_their_row(key_server, ks_settings):
    agent = uuid.uuid4()
    key_server.http.post(
        _secrets_url(agent),
        json={"name": "openai", "value": OPENAI_KEY},
        headers=key_server.service,
    )
    with key_server.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM key_server.vault_secrets")).one()
    assert OPENAI_KEY not in str(tuple(row))
    vault = Vault([ks_settings.key_server_vault_keys])
    owner = SecretOwner("agent", str(agent))
    assert vault.open(owner, "openai", row.ciphertext) == OPENAI_KEY
    # Moved to another agent's row, the ciphertext does not open.
    with pytest.raises(VaultError, match="another row"):
        vault.open(SecretOwner("agent", str(uuid.uuid4())), "openai", row.ciphertext)
    with pytest.raises(VaultError):
        Vault([Fernet.generate_key().decode()]).open(owner, "openai", row.ciphertext)


def _seed(engine, vault: Vault, count: int) -> dict[tuple[str, str], str]:
    values = {}
    with engine.begin() as conn:
        for n in range(count):
            owner = SecretOwner("agent", str(uuid.uuid4()))
            value = f"secret-value-{n:04d}-" + uuid.uuid4().hex
            service.store_secret(conn, vault, owner, "llm", value, FixedClock().now())
            values[(owner.id, "llm")] = value
    return values


def _read_all(engine, vault: Vault, only_its_keys: bool = False) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT owner_kind, owner_id, name, ciphertext, key_id "
                "FROM key_server.vault_secrets"
            )
        ).all()
    if only_its_keys:
        rows = [r for r in rows if r.key_id in vault.key_ids]
    return {
        (r.owner_id, r.name): vault.open(
            SecretOwner(r.owner_kind, r.owner_id), r.name, r.ciphertext
        )
        for r in rows
    }


def test_rotation_is_resumable_and_then_old_keys_can_go(db):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    values = _seed(db, Vault([old]), 25)
    rotating = Vault([new, old])
    lines: list[str] = []
    # Interrupted after two batches of 10: what was done stays done, all still readable.
    partial = rotate_vault(db, rotating, lines.append, batch_size=10, max_batches=2)
    assert (partial.resealed, partial.remaining) == (20, 5)
    assert _read_all(db, rotating) == values
    with pytest.raises(VaultError):
        _read_all(db, Vault([new]))  # too early to drop the old key
    report = rotate_vault(db, rotating, lines.append, batch_size=10)
    assert (report.resealed, report.remaining) == (5, 0)
    assert lines[0].startswith("vault: 25 rows; primary key " + key_id(new))
    assert "re-encrypted 10/25" in lines and "re-encrypted 20/25" in lines
    assert lines[-1].startswith("done: all 25 rows are under the primary key")
    # Only the new key now: every row still opens.
    assert _read_all(db, Vault([new])) == values
    again = rotate_vault(db, rotating, lines.append)  # idempotent
    assert (again.resealed, again.remaining) == (0, 0)


def test_rows_under_an_unconfigured_key_do_not_stop_the_rest(db):
    """An orphaned row (its key removed too early) sorts first; rotation still
    re-encrypts every row it can open and reports the orphan."""
    lost, old, new = (Fernet.generate_key().decode() for _ in range(3))
    orphans = _seed(db, Vault([lost]), 2)
    values = _seed(db, Vault([old]), 5)
    with db.begin() as conn:  # the orphans come first in the rotation's order (by id)
        conn.execute(
            sa.text(
                "UPDATE key_server.vault_secrets v "
                "SET id = ('00000000-0000-4000-8000-' || lpad(o.n::text, 12, '0'))::uuid "
                "FROM (SELECT id, row_number() OVER () AS n FROM key_server.vault_secrets "
                "      WHERE key_id = :lost) o WHERE v.id = o.id"
            ),
            {"lost": key_id(lost)},
        )
    lines: list[str] = []
    report = rotate_vault(db, Vault([new, old]), lines.append, batch_size=2)
    assert (report.resealed, report.remaining, report.unknown_key_rows) == (5, 2, 2)
    assert any("2 rows are sealed by a key that is not configured" in line for line in lines)
    assert _read_all(db, Vault([new]), only_its_keys=True) == values
    assert _read_all(db, Vault([lost]), only_its_keys=True) == orphans


def test_readyz_fails_while_a_row_is_under_a_key_that_is_not_configured(db, ks_settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _seed(db, Vault([old]), 3)

    def readyz(keys: str) -> httpx.Response:
        settings = ks_settings.model_copy(update={"key_server_vault_keys": keys})
        with serve(create_app(settings, engine=db)) as url:
            return httpx.get(f"{url}/readyz", timeout=10)

    assert readyz(f"{new},{old}").json()["vault"].startswith("ok (3 rows under older keys")
    removed_too_early = readyz(new)
    assert removed_too_early.status_code == 503
    assert "missing from KEY_SERVER_VAULT_KEYS" in removed_too_early.json()["vault"]
    rotate_vault(db, Vault([new, old]), lambda _: None)
    done = readyz(new)
    assert done.status_code == 200 and done.json()["vault"] == "ok"


def test_the_rotate_vault_command(db, database_url):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    values = _seed(db, Vault([old]), 7)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEALPAY_ENV": "test",
        "KEY_SERVER_VAULT_KEYS": f"{new},{old}",
    }
    command = [sys.executable, "-m", "services.key_server", "rotate-vault", "--batch-size", "3"]
    run = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "re-encrypted 3/7" in run.stdout and "re-encrypted 7/7" in run.stdout
    assert "done: all 7 rows are under the primary key" in run.stdout
    assert _read_all(db, Vault([new])) == values
    rerun = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and "0 to re-encrypt" in rerun.stdout
    # A key list missing the key the rows are under: they are skipped, nothing changes,
    # and the command says so and fails.
    env["KEY_SERVER_VAULT_KEYS"] = Fernet.generate_key().decode()
    lost = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert lost.returncode == 1, lost.stderr
    assert "7 rows are sealed by a key that is not configured" in lost.stdout
    assert "7 rows are not under the primary key: 7 under unconfigured keys" in lost.stdout
    assert _read_all(db, Vault([new])) == values
    env["KEY_SERVER_VAULT_KEYS"] = "not-a-fernet-key"
    bad = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a Fernet key" in bad.stderr


def test_a_secret_with_a_nul_character_is_refused_not_a_500(key_server):
    r = key_server.http.post(
        _secrets_url(uuid.uuid4()),
        json={"name": "openai", "value": OPENAI_KEY[:-2] + "\u0000z"},
        headers=key_server.service,
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text


def test_a_row_its_key_does_not_open_does_not_stop_the_rest(db):
    """Two rows under a configured older key whose sealed values were swapped (each
    is bound to its own row) sort first; every other row is still re-encrypted,
    and the two are reported, left as they were."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    values = _seed(db, Vault([old]), 6)
    with db.begin() as conn:
        first, second = conn.execute(
            sa.text("SELECT id, ciphertext FROM key_server.vault_secrets ORDER BY id LIMIT 2")
        ).all()
        for target, source in ((first, second), (second, first)):
            conn.execute(
                sa.text("UPDATE key_server.vault_secrets SET ciphertext = :ct WHERE id = :id"),
                {"ct": source.ciphertext, "id": target.id},
            )
    lines: list[str] = []
    report = rotate_vault(db, Vault([new, old]), lines.append, batch_size=2)
    assert (report.resealed, report.remaining, report.unopenable_rows) == (4, 2, 2)
    assert (
        sum(
            f"vault row {row.id} does not open" in line for line in lines for row in (first, second)
        )
        == 2
    )
    resealed = _read_all(db, Vault([new]), only_its_keys=True)
    assert len(resealed) == 4 and all(values[k] == v for k, v in resealed.items())
