"""Diagnostics: what the integration knows, with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import V2GConfigEntry

TO_REDACT = {"password", "unique_id", "identity", "url", "serial_number", "vin"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: V2GConfigEntry
) -> dict[str, Any]:
    """Return the entry, the settings, the charger's capabilities and the last update."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "settings": runtime.settings.settings.to_json(),
            "capabilities": asdict(runtime.backend.capabilities),
            "last_update_success": coordinator.last_update_success,
            "state": asdict(data.state) if data else None,
            "decision": asdict(data.decision) if data else None,
        },
        TO_REDACT,
    )
