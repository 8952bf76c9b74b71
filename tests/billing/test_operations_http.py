"""Health, readiness, metrics, operator plans, and the production guards."""

from datetime import UTC, datetime

import pytest

from services.billing.app import create_app
from services.billing.settings import BillingSettings, parse_durations
from services.common.errors import ConfigError


def test_health_readiness_and_metrics(billing):
    assert billing.http.get("/healthz").json() == {"status": "ok"}
    ready = billing.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["plans"] == 3
    billing.quote(billing.agent(), "pro")
    metrics = billing.http.get("/metrics").text
    assert "sealpay_billing_rates_served_total" in metrics
    assert (
        'sealpay_http_requests_total{method="POST",route="/internal/agents/{agent_id}/upgrade-quote",service="billing",status="201"}'
        in metrics
    )


def test_operators_read_and_edit_plans(billing):
    r = billing.http.get("/admin/plans", headers=billing.admin)
    assert [
        (p["code"], p["price_usd_cents"], p["monthly_transfer_limit"], p["fee_bps"], p["rank"])
        for p in r.json()
    ] == [
        ("free", 0, 100, 30, 0),
        ("pro", 2_900, None, 10, 10),
        ("enterprise", 99_900, None, 10, 20),
    ]
    r = billing.http.patch(
        "/admin/plans/Enterprise",
        json={"price_usd_cents": 89_900, "label": "Enterprise+"},
        headers=billing.admin,
    )
    assert r.status_code == 200
    assert (r.json()["price_usd_cents"], r.json()["label"], r.json()["fee_bps"]) == (
        89_900,
        "Enterprise+",
        10,
    )
    q = billing.quote(billing.agent(), "enterprise").json()
    assert q["charge_now"]["usd_cents"] == 89_900
    r = billing.http.patch(
        "/admin/plans/free", json={"price_usd_cents": 100}, headers=billing.admin
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = billing.http.patch("/admin/plans/gold", json={"label": "Gold"}, headers=billing.admin)
    assert r.status_code == 404
    r = billing.http.patch("/admin/plans/pro", json={"rank": 1}, headers=billing.admin)
    assert r.status_code == 422
    for field, value in (("price_usd_cents", "3900"), ("fee_bps", 10.0), ("fee_bps", True)):
        r = billing.http.patch("/admin/plans/pro", json={field: value}, headers=billing.admin)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), (field, value)
    r = billing.http.get("/admin/plans", headers=billing.service)
    assert r.status_code == 401
    (row,) = billing.rows(
        "SELECT actor, details FROM billing.audit_events WHERE action = 'plan.updated'"
    )
    assert row.details["before"]["price_usd_cents"] == 99_900 and row.actor == "operator"


def test_a_renewal_run_reports_what_it_did(billing):
    agent = billing.agent(balance=10**13)
    billing.upgraded(agent, "pro")
    report = billing.run_renewals(datetime(2026, 2, 15, 12, tzinfo=UTC))
    assert report["at"] == "2026-02-15T12:00:00.000000Z"
    (action,) = report["actions"]
    assert action["action"] == "renewed" and action["agent_id"] == agent.id
    assert action["cycle"] == 2 and action["usd_cents"] == 2_900
    r = billing.http.post("/admin/renewals/run", headers=billing.admin)
    assert r.status_code == 200 and r.json()["counts"] == {}


PRODUCTION_SECRET_KEY = "cHJvZHVjdGlvbi13ZWJob29rLXNlYWxpbmcta2V5ISE="  # 32 bytes, a test value


def production_settings(database_url: str, **extra) -> BillingSettings:
    values = {
        "sealpay_env": "production",
        "database_url": database_url,
        "sealpay_service_token": "svc_production-token-0123456789",
        "sealpay_admin_token": "production-admin-token-0123",
        "ledger_audit_key": "production-audit-key-0123456789abcdef",
        "sealpay_callback_secret": "production-callback-secret-0123456789",
        "billing_secret_keys": PRODUCTION_SECRET_KEY,
        "billing_renewal_cron": "",
        **extra,
    }
    return BillingSettings(**values)


def test_production_refuses_simulated_time_and_unsafe_configuration(
    make_billing, database_url, billing_db
):
    billing = make_billing(
        sealpay_env="production",
        sealpay_service_token="svc_production-token-0123456789",
        rate_sources="kraken@http://127.0.0.1:9",
    )
    r = billing.http.post(
        "/admin/renewals/run", json={"at": "2026-03-01T00:00:00Z"}, headers=billing.admin
    )
    assert (r.status_code, r.json()["code"]) == (403, "not_in_production")
    assert (
        billing.http.post(
            "/admin/renewals/run", json={"at": None}, headers=billing.admin
        ).status_code
        == 200
    )
    with pytest.raises(ConfigError, match="SEALPAY_SERVICE_TOKEN"):
        create_app(production_settings(database_url, sealpay_service_token=None), engine=billing_db)
    with pytest.raises(ConfigError, match="BILLING_SECRET_KEYS is required"):
        create_app(production_settings(database_url, billing_secret_keys=None), engine=billing_db)
    with pytest.raises(ConfigError, match="BILLING_SECRET_KEYS: key 1 is not a Fernet key"):
        create_app(
            production_settings(database_url, billing_secret_keys="not-a-key"), engine=billing_db
        )
    with pytest.raises(ConfigError, match="SEALPAY_CALLBACK_SECRET is required"):
        create_app(
            production_settings(database_url, sealpay_callback_secret=None), engine=billing_db
        )
    with pytest.raises(ConfigError, match="SEALPAY_CALLBACK_SECRET must be at least 32"):
        create_app(
            production_settings(database_url, sealpay_callback_secret="short"), engine=billing_db
        )
    with pytest.raises(ConfigError, match="static"):
        create_app(production_settings(database_url, rate_sources="static"), engine=billing_db)
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(
            production_settings(database_url, sealpay_service_token="short"), engine=billing_db
        )
    with pytest.raises(ConfigError, match="RATE_STATIC"):
        create_app(
            production_settings(
                database_url, sealpay_env="test", rate_sources="static", rate_static="XMR-USD:0.50"
            ),
            engine=billing_db,
        )
    with pytest.raises(ConfigError, match="LEDGER_DEFAULT_ASSET"):
        create_app(
            production_settings(database_url, ledger_default_asset="DOGE"), engine=billing_db
        )


def test_rate_sources_default_by_environment_and_retry_schedule_parses(database_url):
    assert BillingSettings(sealpay_env="development").rate_source_spec() == "static"
    assert BillingSettings(sealpay_env="production").rate_source_spec() == "kraken,coingecko"
    assert [d.total_seconds() for d in parse_durations("5m,30m,2h,6h,12h")] == [
        300,
        1_800,
        7_200,
        21_600,
        43_200,
    ]
    for bad in ("", "5x", "m", "0m", "5m,,1h"):
        with pytest.raises(ConfigError):
            parse_durations(bad)
