"""Registering chains over real HTTP: public keys only, checked, one chain per key."""

import sqlalchemy as sa


def test_register_a_mainnet_zpub_and_see_its_first_receive_address(key_server, vectors):
    r = key_server.register_chain(
        id="btc", coin="bitcoin", network="mainnet", xpub=vectors.BIP84_ZPUB, confirmations=2
    )
    assert r.status_code == 201, r.text
    chain = r.json()
    assert chain["check_address"] == vectors.ZPUB_ADDRESS_0  # BIP-84's first receiving address
    assert (chain["coin"], chain["network"], chain["asset"]) == ("bitcoin", "mainnet", "BTC")
    assert (chain["confirmations"], chain["enabled"], chain["deleted"]) == (2, True, False)
    assert chain["address_type"] == "p2wpkh" and chain["key_prefix"] == "zpub"
    assert chain["addresses_allocated"] == 0 and chain["first_index"] == 0
    assert chain["warnings"] == []  # a depth-3 account key
    listed = key_server.http.get("/chains", headers=key_server.admin).json()["chains"]
    assert [c["id"] for c in listed] == ["btc"]
    # Internal services may read the list too (the gateway offers the chains to agents).
    assert key_server.http.get("/chains", headers=key_server.service).status_code == 200


def test_defaults_follow_the_coin_and_the_asset_is_configurable(key_server, vectors):
    r = key_server.register_chain(
        id="tbtc", coin="bitcoin", network="testnet", xpub=vectors.BIP84_VPUB, asset="TBTC"
    )
    assert r.status_code == 201, r.text
    assert (r.json()["confirmations"], r.json()["asset"]) == (2, "TBTC")
    assert r.json()["check_address"] == vectors.VPUB_ADDRESS_0


def test_monero_takes_a_view_key_that_is_sealed_and_never_returned(key_server, vectors):
    r = key_server.register_chain(
        id="xmr",
        coin="monero",
        network="stagenet",
        public_spend_key=vectors.STAGENET_PUBLIC_SPEND,
        private_view_key=vectors.STAGENET_PRIVATE_VIEW,
        primary_address=vectors.STAGENET_PRIMARY,
        confirmations=10,
    )
    assert r.status_code == 201, r.text
    chain = r.json()
    assert chain["first_index"] == 1 and chain["asset"] == "XMR"
    assert chain["check_address"] == vectors.STAGENET_SUBADDRESS_0_1
    listing = key_server.http.get("/chains", headers=key_server.admin).text
    assert vectors.STAGENET_PRIVATE_VIEW not in r.text + listing
    with key_server.engine.connect() as conn:
        dump = " ".join(
            str(row)
            for table in ("chains", "vault_secrets")
            for row in conn.execute(sa.text(f"SELECT * FROM key_server.{table}")).all()
        )
    assert vectors.STAGENET_PRIVATE_VIEW not in dump  # encrypted at rest
    assert vectors.STAGENET_PUBLIC_SPEND in dump  # public material is stored as such


def test_refusals_carry_the_derivation_code_and_store_nothing(key_server, vectors):
    tprv = (
        "tprv8fPDJN9UQqg6pFsQsrVxTwHZmXLvHpfGGcsCA9rtnatUgVtBKxhtFeqiyaYKSWydunKpjhvgJf6PwTwgirwuC"
        "bFq8YKgpQiaVJf3JCrNmkR"
    )
    cases = [
        ({"coin": "bitcoin", "network": "mainnet", "xpub": vectors.BIP84_VPUB}, "network_mismatch"),
        ({"coin": "bitcoin", "network": "testnet", "xpub": vectors.BIP84_ZPUB}, "network_mismatch"),
        (
            {"coin": "bitcoin", "network": "mainnet", "xpub": vectors.BIP84_ZPRV},
            "private_key_refused",
        ),
        ({"coin": "bitcoin", "network": "testnet", "xpub": tprv}, "private_key_refused"),
        (
            {"coin": "bitcoin", "network": "mainnet", "xpub": vectors.BIP84_ZPUB[:-1] + "x"},
            "invalid_extended_key",
        ),
        ({"coin": "bitcoin", "network": "mainnet", "xpub": "not a key"}, "invalid_extended_key"),
        (
            {"coin": "dogecoin", "network": "regtest", "xpub": vectors.BIP84_ZPUB},
            "unsupported_chain",
        ),
        ({"coin": "bitcoin", "network": "mainnet"}, "validation_error"),
        (
            {
                "coin": "monero",
                "network": "stagenet",
                "public_spend_key": vectors.STAGENET_PUBLIC_SPEND,
                "private_view_key": "00" * 31 + "zz",
            },
            "invalid_monero_key",
        ),
    ]
    for body, code in cases:
        r = key_server.register_chain(id="x", confirmations=1, **body)
        assert (r.status_code, r.json()["code"]) == (422, code), (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert vectors.BIP84_ZPRV not in r.text and tprv not in r.text  # never echoed
    assert key_server.count("chains") == 0


def test_a_key_belongs_to_one_chain_and_an_id_to_one_key(key_server, vectors):
    key_server.chain("tbtc")
    again = key_server.register_chain(
        id="tbtc-2", coin="bitcoin", network="testnet", xpub=vectors.BIP84_VPUB, confirmations=1
    )
    assert again.status_code == 409 and again.json()["code"] == "key_already_registered"
    assert again.json()["chain"] == "tbtc"
    # The same key on regtest (same fingerprint, other addresses' prefix) is the same key.
    regtest = key_server.register_chain(
        id="rbtc", coin="bitcoin", network="regtest", xpub=vectors.BIP84_VPUB, confirmations=1
    )
    assert regtest.status_code == 409 and regtest.json()["code"] == "key_already_registered"
    same_id = key_server.register_chain(
        id="tbtc", coin="bitcoin", network="mainnet", xpub=vectors.BIP84_ZPUB, confirmations=1
    )
    assert same_id.status_code == 409 and same_id.json()["code"] == "chain_exists"


def test_patch_and_soft_delete(key_server, vectors):
    key_server.chain("tbtc")
    r = key_server.http.patch(
        "/admin/chains/tbtc", json={"confirmations": 6, "enabled": False}, headers=key_server.admin
    )
    assert r.status_code == 200 and (r.json()["confirmations"], r.json()["enabled"]) == (6, False)
    agent = "7d1b7e0e-55f4-4d0a-9a5c-6c7c1d2e3f40"
    refused = key_server.deposit_address(agent, "tbtc")
    assert refused.status_code == 409 and refused.json()["code"] == "chain_disabled"
    bad = key_server.http.patch("/admin/chains/tbtc", json={"asset": "X"}, headers=key_server.admin)
    assert bad.status_code == 422
    empty = key_server.http.patch("/admin/chains/tbtc", json={}, headers=key_server.admin)
    assert empty.status_code == 422
    assert key_server.http.delete("/admin/chains/tbtc", headers=key_server.admin).status_code == 204
    assert key_server.http.delete("/admin/chains/tbtc", headers=key_server.admin).status_code == 404
    assert key_server.http.get("/chains", headers=key_server.admin).json()["chains"] == []
    listed = key_server.http.get(
        "/chains", params={"include_deleted": "true"}, headers=key_server.admin
    ).json()["chains"]
    assert [(c["id"], c["deleted"]) for c in listed] == [("tbtc", True)]
    gone = key_server.deposit_address(agent, "tbtc")
    assert gone.status_code == 404 and gone.json()["code"] == "unknown_chain"
    # The deleted chain's key stays reserved: its addresses must never be handed out again.
    reuse = key_server.register_chain(
        id="tbtc-new", coin="bitcoin", network="testnet", xpub=vectors.BIP84_VPUB, confirmations=1
    )
    assert reuse.status_code == 409 and reuse.json()["code"] == "key_already_registered"


def test_admin_endpoints_need_the_operator_token(key_server, vectors):
    body = {"id": "tbtc", "coin": "bitcoin", "network": "testnet", "xpub": vectors.BIP84_VPUB}
    for headers in ({}, key_server.service, {"Authorization": "Bearer wrong-token-000000000"}):
        r = key_server.http.post("/admin/chains", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert key_server.http.get("/chains").status_code == 401
    assert key_server.http.post("/admin/watchers", json={"name": "w"}).status_code == 401
