"""Diagnostics: what the site knows about itself and each charger, with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .charger import Charger
from .const import OPT_OPENADR_CLIENT_ID, OPT_OPENADR_CLIENT_SECRET
from .coordinator import SiteData, V2GConfigEntry
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
    "host",
    OPT_OPENADR_CLIENT_ID,
    OPT_OPENADR_CLIENT_SECRET,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: V2GConfigEntry
) -> dict[str, Any]:
    """The site's entry and last update, and every charger's settings, state and backend."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "last_update_success": coordinator.last_update_success,
            "plan": _plan_summary(data.plan) if data and data.plan else None,
            "inputs": data.inputs.summary() if data and data.inputs else None,
            "grid_power_w": data.grid_power_w if data else None,
            "dispatches": [d.to_json() for d in coordinator.dispatches.items],
            "openadr": coordinator.ven.diagnostics() if coordinator.ven else None,
            "chargers": [_charger(charger, data) for charger in runtime.chargers.values()],
        },
        TO_REDACT,
    )


def _charger(charger: Charger, data: SiteData | None) -> dict[str, Any]:
    part = data.chargers.get(charger.subentry_id) if data else None
    return {
        "title": charger.title,
        "unique_id": charger.unique_id,
        "kind": charger.kind.kind,
        "data": dict(charger.subentry.data),
        "settings": charger.settings.to_json(),
        "capabilities": asdict(charger.backend.capabilities),
        "state": asdict(part.state) if part and part.state else None,
        "error": part.error if part else None,
        "decision": asdict(part.decision) if part else None,
        "backend": charger.backend.diagnostics(),
    }


def _plan_summary(result: PlanResult) -> dict[str, Any]:
    plan = result.plan
    return result.facts() | {
        "strategy": plan.strategy,
        "mip": plan.mip,
        "solve_time_s": plan.solve_time_s,
        "slots": len(plan.grid),
        "setpoints_w": [vehicle.setpoint_w for vehicle in plan.vehicles],
        "dispatch_unmet_kwh": plan.dispatch_unmet_kwh,
        "cost": result.cost,
        "savings": result.savings,
    }
