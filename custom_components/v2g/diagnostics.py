"""Diagnostics: what the integration knows, with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .chargers.ocpp import OcppStation
from .coordinator import V2GConfigEntry
from .planner import PlanResult

TO_REDACT = {
    "password",
    "unique_id",
    "identity",
    "url",
    "remote",
    "serial_number",
    "charge_point_serial_number",
    "vin",
    "title",
}


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
            "plan": _plan_summary(data.plan) if data and data.plan else None,
            "inputs": data.inputs.summary() if data and data.inputs else None,
            "ocpp": (
                runtime.backend.diagnostics() if isinstance(runtime.backend, OcppStation) else None
            ),
        },
        TO_REDACT,
    )


def _plan_summary(result: PlanResult) -> dict[str, Any]:
    plan = result.plan
    return result.facts() | {
        "strategy": plan.strategy,
        "mip": plan.mip,
        "solve_time_s": plan.solve_time_s,
        "slots": len(plan.grid),
        "setpoint_w": plan.setpoint_w,
        "cost": result.cost,
        "savings": result.savings,
    }
