"""The one OCPP server of a Home Assistant instance, shared by every OCPP charger entry.

Chargers that connect with an identity no entry knows start a discovery flow, so the user can
adopt them in one click. A charger that rejects our charging profiles gets a repair issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    EVENT_HOMEASSISTANT_CLOSE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import discovery_flow, issue_registry as ir
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .chargers.ocpp import (
    OcppServer,
    OcppStation,
    StationEvent,
    StationOptions,
    build_ssl_context,
)
from .const import (
    CONF_DECLARED_BIDIRECTIONAL,
    CONF_IDENTITY,
    CONF_MAX_CHARGE_POWER_W,
    CONF_MAX_DISCHARGE_POWER_W,
    CONF_PHASES,
    CONF_SKIP_SCHEMA_VALIDATION,
    CONF_TLS_CERTFILE,
    CONF_TLS_KEYFILE,
    DEFAULT_OCPP_PORT,
    DOMAIN,
)

DATA_OCPP: HassKey[OcppHub] = HassKey(f"{DOMAIN}_ocpp")


@dataclass(slots=True)
class OcppHub:
    """The shared server and the entries using it."""

    server: OcppServer
    identities: set[str] = field(default_factory=set)


class OcppServerMismatchError(Exception):
    """The instance's OCPP server already runs with another port or TLS setting."""


def _listen_key(data: dict[str, Any] | Any) -> tuple[str, int, str | None, str | None]:
    return (
        str(data.get(CONF_HOST) or "0.0.0.0"),
        int(data.get(CONF_PORT) or DEFAULT_OCPP_PORT),
        data.get(CONF_TLS_CERTFILE) or None,
        data.get(CONF_TLS_KEYFILE) or None,
    )


async def async_get_hub(hass: HomeAssistant, data: dict[str, Any] | Any) -> OcppHub:
    """The running hub, or a new one configured from an entry's data."""
    host, port, certfile, keyfile = _listen_key(data)
    if (hub := hass.data.get(DATA_OCPP)) is not None:
        server = hub.server
        if server.port != port and server.running:
            raise OcppServerMismatchError(f"the OCPP server already listens on port {server.port}")
        return hub
    ssl_context = (
        await hass.async_add_executor_job(build_ssl_context, certfile, keyfile)
        if certfile
        else None
    )

    @callback
    def unknown_identity(identity: str, remote: str) -> None:
        discovery_flow.async_create_flow(
            hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={CONF_IDENTITY: identity, "remote": remote},
        )

    server = OcppServer(host, port, ssl_context, on_unknown_identity=unknown_identity)
    hub = hass.data[DATA_OCPP] = OcppHub(server)

    async def _async_close(_: Event) -> None:
        await server.stop()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _async_close)
    return hub


def station_options(data: dict[str, Any] | Any) -> StationOptions:
    """The per-charger options an entry's data asks for."""
    return StationOptions(
        declared_bidirectional=bool(data.get(CONF_DECLARED_BIDIRECTIONAL, False)),
        skip_schema_validation=bool(data.get(CONF_SKIP_SCHEMA_VALIDATION, False)),
        max_charge_power_w=float(data[CONF_MAX_CHARGE_POWER_W]),
        max_discharge_power_w=float(data[CONF_MAX_DISCHARGE_POWER_W]),
        phases=int(data.get(CONF_PHASES, 3)),
    )


async def async_register(
    hass: HomeAssistant, entry_id: str, data: dict[str, Any] | Any
) -> OcppStation:
    """Register the entry's charger on the shared server (started by the station)."""
    hub = await async_get_hub(hass, data)
    identity = str(data[CONF_IDENTITY])
    station = hub.server.register_station(identity, str(data[CONF_PASSWORD]), station_options(data))
    hub.identities.add(identity)

    @callback
    def profile_issue(station: OcppStation, event: StationEvent) -> None:
        issue_id = f"profile_rejected.{entry_id}"
        if event is StationEvent.PROFILE_REJECTED:
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="profile_rejected",
                translation_placeholders={
                    CONF_IDENTITY: station.identity,
                    "reason": str(station.last_rejection or "unknown"),
                },
            )
        elif event is StationEvent.PROFILE_ACCEPTED:
            ir.async_delete_issue(hass, DOMAIN, issue_id)

    station.add_listener(profile_issue)
    return station


async def async_unregister(hass: HomeAssistant, entry_id: str, identity: str) -> None:
    """Forget the entry's charger; the last one out stops the server."""
    ir.async_delete_issue(hass, DOMAIN, f"profile_rejected.{entry_id}")
    if (hub := hass.data.get(DATA_OCPP)) is None:
        return
    await hub.server.unregister_station(identity)
    hub.identities.discard(identity)
    if not hub.identities:
        await hub.server.stop()
        hass.data.pop(DATA_OCPP, None)


def charger_url(hass: HomeAssistant, data: dict[str, Any] | Any) -> str:
    """The URL to type into the charger, with this Home Assistant's host name or address."""
    _, port, certfile, _ = _listen_key(data)
    host = "homeassistant.local"
    for url in (hass.config.internal_url, hass.config.external_url):
        if url and (candidate := URL(url).host):
            host = candidate
            break
    scheme = "wss" if certfile else "ws"
    return f"{scheme}://{host}:{port}/{data[CONF_IDENTITY]}"
