"""An OpenADR capacity limit and a §14a signal at once; the VEN's options."""

from __future__ import annotations

import pytest

from custom_components.v2g.openadr_ven import InvalidVenConfigError, ven_config
from custom_components.v2g.operator import OperatorLimit, combine_limits


def test_the_lower_of_each_limit_holds() -> None:
    dimmed = OperatorLimit("input_boolean.dimmed", charger_limit_w=4_200)
    event = OperatorLimit("OpenADR event e1", site_import_limit_w=6_000, site_export_limit_w=0)
    sensor = OperatorLimit("sensor.allowed_import", site_import_limit_w=8_000)
    assert combine_limits(None, None) is None
    assert combine_limits(dimmed, None) is dimmed
    assert combine_limits(None, event) is event
    both = combine_limits(dimmed, event)
    assert both == OperatorLimit(
        "input_boolean.dimmed, OpenADR event e1",
        charger_limit_w=4_200,
        site_import_limit_w=6_000,
        site_export_limit_w=0,
    )
    assert both is not None
    assert both.describe() == "4200 W per charger, 6000 W import, 0 W export"
    assert both.attributes() == {
        "source": "input_boolean.dimmed, OpenADR event e1",
        "charger_w": 4200,
        "site_import_w": 6000,
        "site_export_w": 0,
    }
    lower = combine_limits(sensor, event)
    assert lower is not None
    assert lower.site_import_limit_w == 6_000


def test_ven_options() -> None:
    assert ven_config({}) is None
    assert ven_config({"openadr_vtn_url": "  "}) is None
    config = ven_config(
        {
            "openadr_vtn_url": "https://vtn.example/openadr3/3.0.1/",
            "openadr_ven_name": " garage ",
            "openadr_programs": "dynamic prices",
        }
    )
    assert config is not None
    assert config.base_url == "https://vtn.example/openadr3/3.0.1"
    assert config.ven_name == "garage"
    assert config.program_names == ("dynamic prices",)
    assert config.credentials.token_endpoint == "https://vtn.example/openadr3/3.0.1/auth/token"
    with pytest.raises(InvalidVenConfigError) as refused:
        ven_config({"openadr_vtn_url": "ftp://vtn.example", "openadr_ven_name": "garage"})
    assert (refused.value.option, refused.value.error) == ("openadr_vtn_url", "invalid_url")
