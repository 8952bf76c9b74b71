"""Chain events: idempotent per output, confirmations only upward, conflicts refused,
unknown addresses recorded, and each chain's own output reference."""

import uuid

import sqlalchemy as sa


def _deposit(key_server):
    key_server.chain("tbtc", confirmations=3)
    key_server.watcher()
    return key_server.deposit_address(uuid.uuid4()).json()["address"]


def test_confirmations_go_up_never_down(key_server):
    address = _deposit(key_server)
    tx = key_server.txid("up")
    outcomes = []
    for confirmations in (0, 2, 1, 2, 3, 0, 5):
        r = key_server.post_event(key_server.event(address, 1_000, confirmations, tx))
        assert r.status_code == 200, r.text
        outcomes.append((r.json()["outcome"], r.json()["confirmations"], r.json()["confirmed"]))
    assert outcomes == [
        ("new", 0, False),
        ("updated", 2, False),
        ("unchanged", 2, False),
        ("unchanged", 2, False),
        ("updated", 3, True),
        ("unchanged", 3, True),
        ("updated", 5, True),
    ]
    assert key_server.count("chain_outputs") == 1
    assert key_server.count("deposit_credits") == 1  # owed once, at the third confirmation


def test_a_report_disagreeing_with_the_recorded_output_is_refused(key_server):
    address = _deposit(key_server)
    other = key_server.deposit_address(uuid.uuid4()).json()["address"]
    tx = key_server.txid("conflict")
    assert key_server.post_event(key_server.event(address, 1_000, 1, tx)).status_code == 200
    for event in (
        key_server.event(address, 1_001, 3, tx),
        key_server.event(other, 1_000, 3, tx),
    ):
        r = key_server.post_event(event)
        assert (r.status_code, r.json()["code"]) == (409, "event_conflict"), r.text
    with key_server.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT amount, confirmations FROM key_server.chain_outputs")
        ).one()
    assert tuple(row) == (1_000, 1)  # nothing changed
    assert key_server.count("deposit_credits") == 0


def test_outputs_are_told_apart_by_vout_and_txids_are_normalised(key_server):
    address = _deposit(key_server)
    tx = key_server.txid("vouts")
    assert (
        key_server.post_event(key_server.event(address, 1, 0, tx, vout=0)).json()["outcome"]
        == "new"
    )
    assert (
        key_server.post_event(key_server.event(address, 2, 0, tx, vout=1)).json()["outcome"]
        == "new"
    )
    upper = key_server.post_event(key_server.event(address.upper(), 1, 0, tx.upper(), vout=0))
    assert upper.status_code == 200 and upper.json()["outcome"] == "unchanged", upper.text
    assert key_server.count("chain_outputs") == 2


def test_payments_to_unknown_addresses_are_recorded_not_lost(key_server, vectors):
    _deposit(key_server)
    r = key_server.post_event(
        key_server.event(vectors.VPUB_ADDRESS_1, 4_000, 9, key_server.txid("stranger"))
    )
    assert r.status_code == 200 and r.json()["matched"] is None and r.json()["confirmed"]
    assert key_server.count("chain_outputs") == 1 and key_server.count("deposit_credits") == 0


def test_malformed_events_are_refused(key_server):
    address = _deposit(key_server)
    tx = key_server.txid("bad")
    base = key_server.event(address, 1_000, 0, tx)
    cases = [
        ({**base, "amount": 0}, "validation_error"),
        ({**base, "amount": 10.5}, "validation_error"),
        ({**base, "amount": "1000"}, "validation_error"),
        ({**base, "amount": 2**53}, "validation_error"),
        ({**base, "confirmations": -1}, "validation_error"),
        ({**base, "log_index": 0}, "validation_error"),  # both vout and log_index
        ({k: v for k, v in base.items() if k != "vout"}, "validation_error"),  # neither
        ({**base, "txid": "xyz"}, "validation_error"),
        ({**base, "extra": 1}, "validation_error"),
        ({**base, "address": "tb1q\u0000nul"}, "invalid_address"),  # not a 500
        ({**base, "address": "tb1q space"}, "invalid_address"),
        ({**base, "address": "tb1qnotanaddress"}, None),  # well-formed, unknown: recorded
    ]
    for event, code in cases:
        r = key_server.post_event(event)
        if code is None:
            assert r.status_code == 200, r.text
            continue
        assert (r.status_code, r.json()["code"]) == (422, code), (event, r.text)
    r = key_server.post_event({**base, "chain": "nope"})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_chain")


def test_evm_outputs_are_named_by_log_index_and_addresses_checksummed(key_server):
    eth_xpub = (
        "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6"
        "si3yZdUsT8ddYM3PwnATt"
    )
    r = key_server.register_chain(
        id="eth", coin="ethereum", network="mainnet", xpub=eth_xpub, confirmations=12
    )
    assert r.status_code == 201, r.text
    assert (r.json()["coin"], r.json()["asset"]) == ("evm", "ETH")
    key_server.watcher()
    address = key_server.deposit_address(uuid.uuid4(), "eth").json()["address"]
    assert address.startswith("0x") and address != address.lower()  # EIP-55
    tx = "0x" + key_server.txid("evm")
    event = {"chain": "eth", "txid": tx, "address": address.lower(), "amount": 10**9}
    r = key_server.post_event({**event, "vout": 0, "confirmations": 1})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = key_server.post_event({**event, "log_index": 7, "confirmations": 1})
    assert r.status_code == 200 and r.json()["matched"] == "deposit", r.text
    assert (r.json()["txid"], r.json()["output"]) == (tx, 7)
    r = key_server.post_event({**event, "txid": tx[2:], "log_index": 7, "confirmations": 12})
    assert r.json()["outcome"] == "updated" and r.json()["confirmed"]
