"""The charger kinds: how a charger subentry becomes a `ChargerBackend`, and its form.

Each kind lives in its own module and is registered here with one line. Nothing else in the
integration branches on the kind: the config flow shows `KINDS` as its menu and asks each kind for
its form, the coordinator asks it for a backend, the device page shows its model.

A kind module defines a `ChargerKindSpec`:

- `fields(hass, defaults, reconfigure)`: the form's fields (voluptuous markers and selectors);
- `async_validate(hass, site, user_input, subentry)`: form errors by field ({} when fine);
- `to_data(hass, user_input, previous)`: the subentry's data from a valid form (previous data on
  reconfigure);
- `unique_id(data)` / `title(data)`: the subentry's unique id (unique across all sites; entities
  and devices derive theirs from it) and default title;
- `connect_placeholders(hass, site, data)`: what a "connect" step shows before the charger is
  added (the OCPP URL and password), or None when the kind needs no such step;
- `site_fields(hass, defaults)` / `async_validate_site(hass, user_input, site)`: settings the kind
  needs on the site (the OCPP server's port and TLS), asked when a site is created with it and in
  the site's reconfigure form;
- `async_create(hass, site, subentry)` / `async_release(hass, site, subentry, backend)`: build the
  backend (not started) and let it go after it was stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..const import CONF_CHARGER_KIND
from . import ha_entities, modbus, ocpp, simulated
from .spec import ChargerKindSpec, Errors, Fields

KINDS: Mapping[str, ChargerKindSpec] = {
    spec.kind: spec
    for spec in (
        ocpp.SPEC,
        modbus.SPEC,
        ha_entities.SPEC,
        simulated.SPEC,
    )
}
"""Every kind by its key, in the order the config flow's menu shows them."""


def kind_of(data: Mapping[str, Any]) -> ChargerKindSpec:
    """The kind a charger subentry's data was made with."""
    return KINDS[str(data[CONF_CHARGER_KIND])]


__all__ = ["KINDS", "ChargerKindSpec", "Errors", "Fields", "kind_of"]
