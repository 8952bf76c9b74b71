"""The payment client's settings refuse, at startup, a production TEE path that
would send money to a TEE without checking what it runs."""

import pydantic
import pytest

from services.gateway.settings import GatewaySettings
from services.key_server.settings import KeyServerSettings
from services.payment_client.settings import PaymentClientSettings

MEASUREMENT = "ab" * 48


@pytest.mark.parametrize(
    "settings_class", [PaymentClientSettings, GatewaySettings, KeyServerSettings]
)
def test_production_through_the_tee_requires_measurements(settings_class, tmp_path):
    production = {"sealpay_env": "production", "payment_via_tee": True}
    with pytest.raises(pydantic.ValidationError, match="TEE_EXPECTED_MEASUREMENTS is required"):
        settings_class.model_validate(production)
    ark = tmp_path / "ark.pem"
    ark.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(pydantic.ValidationError, match="TEE_SIMULATED_ARK is for development"):
        settings_class.model_validate(
            {**production, "tee_expected_measurements": MEASUREMENT, "tee_simulated_ark": ark}
        )


def test_what_stays_allowed():
    production = PaymentClientSettings(
        sealpay_env="production", payment_via_tee=True, tee_expected_measurements=MEASUREMENT
    )
    assert production.expected_measurements() == {bytes.fromhex(MEASUREMENT)}
    # Production without the TEE path, and development without the check, still start.
    assert PaymentClientSettings(sealpay_env="production").payment_via_tee is False
    assert PaymentClientSettings(payment_via_tee=True).expected_measurements() == frozenset()
