"""Health, readiness, metrics and the OpenAPI document."""

from prometheus_client.parser import text_string_to_metric_families


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
    by_status = {
        (family.name, sample.labels["status"])
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("route") == "/v2/payments/hub-routing"
    }
    # Count and latency, each by route and status: the 201 and the 402 apart.
    for status in ("201", "402"):
        assert ("sealpay_http_requests", status) in by_status
        assert ("sealpay_http_request_duration_seconds", status) in by_status


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
