"""The signing scheme (signing.py) on its own, and the chain-events endpoint refusing
anything not signed by an active watcher, changing nothing."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.common.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    compute_signature,
    signed_headers,
    verify_signed_request,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRETS = {"key_server": "a-shared-secret-of-enough-length!!"}
BODY = b'{"type":"charge.confirmed","amount_received":100}'


def test_the_signature_is_hex_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(
        SECRETS["key_server"].encode(), b"1795435200." + BODY, hashlib.sha256
    ).hexdigest()
    assert compute_signature(SECRETS["key_server"], "1795435200", BODY) == expected
    headers = signed_headers("key_server", SECRETS["key_server"], BODY, NOW)
    assert headers[TIMESTAMP_HEADER] == str(int(NOW.timestamp()))
    assert verify_signed_request(headers, BODY, SECRETS, NOW) == "key_server"


def test_header_names_are_case_insensitive_and_hex_case_does_not_matter():
    headers = signed_headers("key_server", SECRETS["key_server"], BODY, NOW)
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered[SIGNATURE_HEADER.lower()] = lowered[SIGNATURE_HEADER.lower()].upper()
    assert verify_signed_request(lowered, BODY, SECRETS, NOW.timestamp()) == "key_server"


@pytest.mark.parametrize("skew", [-300, 300])
def test_the_window_is_300_seconds_either_way(skew):
    headers = signed_headers("key_server", SECRETS["key_server"], BODY, NOW)
    assert verify_signed_request(headers, BODY, SECRETS, NOW + timedelta(seconds=skew))
    with pytest.raises(SignatureError, match="window"):
        verify_signed_request(headers, BODY, SECRETS, NOW + timedelta(seconds=skew * 301 // 300))


def test_refusals():
    good = signed_headers("key_server", SECRETS["key_server"], BODY, NOW)
    ts = good[TIMESTAMP_HEADER]
    replayed_ts = str(int(ts) + 60)
    cases = {
        "tampered body": (good, BODY + b" "),
        "wrong key id": ({**good, KEY_ID_HEADER: "someone"}, BODY),
        "wrong secret": (signed_headers("key_server", "another-secret", BODY, NOW), BODY),
        # The same body and signature under a new timestamp: the MAC covers the timestamp.
        "replayed with another timestamp": ({**good, TIMESTAMP_HEADER: replayed_ts}, BODY),
        "missing signature": ({k: v for k, v in good.items() if k != SIGNATURE_HEADER}, BODY),
        "missing key id": ({k: v for k, v in good.items() if k != KEY_ID_HEADER}, BODY),
        "non-numeric timestamp": ({**good, TIMESTAMP_HEADER: ts + ".5"}, BODY),
        "negative timestamp": ({**good, TIMESTAMP_HEADER: "-" + ts}, BODY),
        "truncated signature": ({**good, SIGNATURE_HEADER: good[SIGNATURE_HEADER][:-2]}, BODY),
        "non-ascii signature": ({**good, SIGNATURE_HEADER: "é" * 64}, BODY),
    }
    for name, (headers, body) in cases.items():
        with pytest.raises(SignatureError):
            verify_signed_request(headers, body, SECRETS, NOW)
        assert name  # each case is named for the failure report


def test_naive_datetimes_are_refused():
    headers = signed_headers("key_server", SECRETS["key_server"], BODY, NOW)
    with pytest.raises(ValueError):
        verify_signed_request(headers, BODY, SECRETS, NOW.replace(tzinfo=None))


# --- over HTTP: the chain-events endpoint ------------------------------------------------


def _event(key_server, address):
    return key_server.event(address, 10_000, 0, key_server.txid("sig"))


def test_unsigned_stale_forged_and_revoked_events_are_401_and_change_nothing(key_server, vectors):
    key_server.chain("tbtc")
    watcher = key_server.watcher()
    agent = "7d1b7e0e-55f4-4d0a-9a5c-6c7c1d2e3f40"
    address = key_server.deposit_address(agent).json()["address"]
    body = json.dumps(_event(key_server, address)).encode()
    now = int(key_server.clock.now().timestamp())
    good = key_server.signed(body, watcher)
    other = key_server.watcher("watcher-2")
    attempts = {
        "unsigned": {"Content-Type": "application/json"},
        "stale": key_server.signed(body, watcher, timestamp=now - 301),
        "future": key_server.signed(body, watcher, timestamp=now + 301),
        "replayed body, new timestamp": {**good, TIMESTAMP_HEADER: str(now + 1)},
        "unknown key id": {**good, KEY_ID_HEADER: "wk_0000000000000000"},
        "another watcher's key id": {**good, KEY_ID_HEADER: other.key_id},
        "forged signature": {**good, SIGNATURE_HEADER: "0" * 64},
    }
    for name, headers in attempts.items():
        r = key_server.http.post("/internal/chain-events", content=body, headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "bad_signature"), name
    tampered = body.replace(b"10000", b"99999")
    r = key_server.http.post("/internal/chain-events", content=tampered, headers=good)
    assert r.status_code == 401
    assert key_server.count("chain_outputs") == 0
    # Revoked watchers are refused like strangers.
    r = key_server.http.delete(f"/admin/watchers/{watcher.key_id}", headers=key_server.admin)
    assert r.status_code == 204
    r = key_server.http.post("/internal/chain-events", content=body, headers=good)
    assert r.status_code == 401 and key_server.count("chain_outputs") == 0
    # The same event from an active watcher is accepted.
    r = key_server.post_event(_event(key_server, address), other)
    assert r.status_code == 200, r.text
    assert key_server.count("chain_outputs") == 1


def test_watcher_secrets_are_shown_once_and_sealed(key_server):
    watcher = key_server.watcher()
    listed = key_server.http.get("/admin/watchers", headers=key_server.admin)
    assert listed.status_code == 200
    assert [w["key_id"] for w in listed.json()["watchers"]] == [watcher.key_id]
    assert watcher.secret not in listed.text
    with key_server.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM key_server.vault_secrets")).all()
    assert len(rows) == 1 and watcher.secret not in str(rows)


def test_oversized_event_bodies_are_refused_before_anything_else(key_server):
    key_server.chain("tbtc")
    key_server.watcher()
    body = b'{"pad": "' + b"x" * 20_000 + b'"}'
    r = key_server.http.post(
        "/internal/chain-events", content=body, headers=key_server.signed(body)
    )
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")


def test_the_openapi_document_builds(key_server):
    paths = key_server.http.get("/openapi.json").json()["paths"]
    assert {"/internal/chain-events", "/charges", "/admin/chains", "/chains"} <= set(paths)
