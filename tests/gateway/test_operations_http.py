"""Health, readiness, metrics and the OpenAPI document."""


def test_health_and_readiness(gateway):
    assert gateway.http.get("/healthz").json() == {"status": "ok"}
    r = gateway.http.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok"


def test_metrics_count_requests_by_route_template_and_transfers_by_outcome(gateway):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 10_000)
    gateway.pay(alice, "bob", 1_000)
    gateway.pay(alice, "bob", 100_000)
    text = gateway.http.get("/metrics").text
    assert 'sealpay_transfers_total{outcome="posted"}' in text
    assert 'sealpay_transfers_total{outcome="insufficient_funds"}' in text
    assert 'sealpay_transfer_amount_total{asset="XMR"}' in text
    assert 'route="/v2/payments/hub-routing"' in text
    assert "sealpay_http_request_duration_seconds_bucket" in text


def test_every_response_carries_a_request_id(gateway):
    r = gateway.http.get("/healthz", headers={"X-Request-Id": "trace-abc-123"})
    assert r.headers["x-request-id"] == "trace-abc-123"
    assert len(gateway.http.get("/healthz").headers["x-request-id"]) == 32


def test_openapi_documents_every_public_endpoint(gateway):
    spec = gateway.http.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v2/agents",
        "/v2/me",
        "/v2/me/balance",
        "/v2/me/accounts",
        "/v2/payments/hub-routing",
        "/v2/payments/internal-transfer",
        "/v2/payments",
        "/v2/payments/{payment_id}",
        "/v2/admin/credits",
        "/v2/admin/agents/{agent_id}/tier",
    ):
        assert path in paths, path
    assert "429" in paths["/v2/payments/hub-routing"]["post"]["responses"]
    assert gateway.http.get("/docs").status_code == 200


def test_unknown_routes_are_problems(gateway):
    r = gateway.http.get("/v2/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
