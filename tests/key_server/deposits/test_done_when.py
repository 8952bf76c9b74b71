"""The issue's "done when", over real HTTP with the worker as a real process:

a new user registers a testnet xpub, gets a deposit address for an agent,
posts a signed watcher event for it, and watches the agent's balance rise once;
then sends the same event again and sees nothing change.
"""

from support.factories import books, new_holder


def test_testnet_xpub_to_credited_balance_exactly_once(
    key_server, core, start_worker, vectors, wait_until
):
    # An agent the ledger knows; its BTC account opens with its first BTC deposit.
    agent = new_holder(core)

    # 1. The operator registers a testnet account key (a vpub) and a watcher.
    chain = key_server.chain("tbtc", confirmations=2)
    assert chain["check_address"] == vectors.VPUB_ADDRESS_0
    watcher = key_server.watcher("btc-testnet")

    # 2. The agent's deposit address: stable across requests.
    first = key_server.deposit_address(agent)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "chain": "tbtc",
        "address": vectors.VPUB_ADDRESS_0,
        "index": 0,
        "created": True,
    }
    assert key_server.deposit_address(agent).json()["created"] is False

    worker = start_worker()
    seen_before = key_server.metric("sealpay_deposits_seen_total", chain="tbtc")
    confirmed_before = key_server.metric("sealpay_deposits_confirmed_total", chain="tbtc")
    tx = key_server.txid("done-when")

    # 3. The watcher sees the payment in the mempool, then confirmed.
    seen = key_server.post_event(key_server.event(vectors.VPUB_ADDRESS_0, 125_000, 0, tx), watcher)
    assert seen.status_code == 200, seen.text
    assert (seen.json()["outcome"], seen.json()["matched"], seen.json()["confirmed"]) == (
        "new",
        "deposit",
        False,
    )
    assert core.balance(agent, "BTC").available == 0
    confirmed = key_server.post_event(
        key_server.event(vectors.VPUB_ADDRESS_0, 125_000, 2, tx), watcher
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["outcome"], confirmed.json()["confirmed"]) == ("updated", True)

    # 4. The worker posts the credit; the balance rises once.
    wait_until(lambda: core.balance(agent, "BTC").available == 125_000, what="the credit")
    wait_until(
        lambda: worker.metric("sealpay_deposits_credited_total", chain="tbtc") == 1,
        what="the credited counter",
    )

    # 5. The same event again (and a later one with more confirmations): nothing moves.
    entries = books(core.engine).entries
    for confirmations in (2, 2, 3):
        again = key_server.post_event(
            key_server.event(vectors.VPUB_ADDRESS_0, 125_000, confirmations, tx), watcher
        )
        assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "updated"  # 3 confirmations now; still one output
    assert key_server.count("chain_outputs") == 1
    assert key_server.count("deposit_credits") == 1
    assert core.balance(agent, "BTC").available == 125_000
    assert books(core.engine).entries == entries
    books(core.engine).assert_balanced()

    assert key_server.metric("sealpay_deposits_seen_total", chain="tbtc") == seen_before + 1
    assert (
        key_server.metric("sealpay_deposits_confirmed_total", chain="tbtc") == confirmed_before + 1
    )
