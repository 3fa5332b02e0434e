"""The grid operator's limit: a signal that dims the site's chargers (Germany's §14a EnWG).

A site option names the signal: a `binary_sensor` / `input_boolean` (on: limit active; each
charger may then charge at most `operator_charger_limit_w`, 4.2 kW by default, and is never cut
below that for this reason), or a `sensor` in W or kW with the import the operator allows for
the whole site (an EEBus bridge's limit). While it is active the plan and every setpoint keep
within it; when it ends the site plans freely again. It is read on every update and logged once
when it starts and once when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging

from homeassistant.const import STATE_ON, UnitOfPower
from homeassistant.core import HomeAssistant

from .inputs.model import to_float

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OperatorLimit:
    """What the operator allows right now."""

    source: str
    charger_limit_w: float | None = None
    """Each charger's charging at most this (a §14a switch)."""
    site_import_limit_w: float | None = None
    """The site's import at most this (a sensor with the allowed power)."""


def read_operator_limit(
    hass: HomeAssistant, entity_id: str | None, charger_limit_w: float
) -> OperatorLimit | None:
    """The limit in force, or None (no signal configured, signal off or unusable)."""
    if not entity_id or (state := hass.states.get(entity_id)) is None:
        return None
    if entity_id.split(".")[0] in ("binary_sensor", "input_boolean", "switch"):
        if state.state != STATE_ON:
            return None
        return OperatorLimit(entity_id, charger_limit_w=charger_limit_w)
    value = to_float(state.state)
    if value is None or value < 0:
        return None
    if state.attributes.get("unit_of_measurement") == UnitOfPower.KILO_WATT:
        value *= 1000.0
    return OperatorLimit(entity_id, site_import_limit_w=value)


class OperatorLimitLog:
    """Says once when a limit starts and once when it ends."""

    def __init__(self) -> None:
        self._active: OperatorLimit | None = None

    def track(self, limit: OperatorLimit | None) -> None:
        """Log a change of the limit in force."""
        if (limit is None) == (self._active is None):
            self._active = limit
            return
        if limit is not None:
            _LOGGER.warning(
                "The grid operator limits the site (%s): %s",
                limit.source,
                f"{limit.charger_limit_w:.0f} W per charger"
                if limit.charger_limit_w is not None
                else f"{limit.site_import_limit_w:.0f} W import",
            )
        else:
            _LOGGER.info("The grid operator's limit ended")
        self._active = limit
