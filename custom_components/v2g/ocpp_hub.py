"""The one OCPP server of a Home Assistant instance, shared by every OCPP charger entry.

Chargers that connect with an identity no entry knows start a discovery flow, so the user can
adopt them in one click. A charger that rejects our charging profiles gets a repair issue.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    EVENT_HOMEASSISTANT_CLOSE,
)
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
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
DATA_OCPP_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_ocpp_lock")


type ListenKey = tuple[str, int, str | None, str | None]


@dataclass(slots=True)
class OcppHub:
    """The shared server, how it listens, and the chargers using it."""

    server: OcppServer
    listen: ListenKey
    unsub_close: CALLBACK_TYPE
    identities: set[str] = field(default_factory=set)


class OcppServerMismatchError(Exception):
    """The instance's OCPP server already runs with another port or TLS setting."""


def listen_key(data: dict[str, Any] | Any) -> ListenKey:
    """Host, port, certificate and key an entry asks the server to listen with."""
    return (
        str(data.get(CONF_HOST) or "0.0.0.0"),
        int(data.get(CONF_PORT) or DEFAULT_OCPP_PORT),
        data.get(CONF_TLS_CERTFILE) or None,
        data.get(CONF_TLS_KEYFILE) or None,
    )


def _lock(hass: HomeAssistant) -> asyncio.Lock:
    """Entries set up (and unload) concurrently; one of them creates the shared server."""
    return hass.data.setdefault(DATA_OCPP_LOCK, asyncio.Lock())


async def _async_get_hub(hass: HomeAssistant, data: dict[str, Any] | Any) -> OcppHub:
    """The hub, or a new one configured from an entry's data (call with the lock held)."""
    listen = listen_key(data)
    if (hub := hass.data.get(DATA_OCPP)) is not None:
        if hub.listen != listen and hub.identities:
            raise OcppServerMismatchError(
                f"the OCPP server already listens on port {hub.listen[1]}"
                f"{' with TLS' if hub.listen[2] else ' without TLS'}"
            )
        if hub.listen == listen:
            return hub
        await _async_drop_hub(hass, hub)  # unused, and configured differently
    host, port, certfile, keyfile = listen
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

    async def _async_close(_: Event) -> None:
        await server.stop()

    unsub = hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _async_close)
    hub = hass.data[DATA_OCPP] = OcppHub(server, listen, unsub)
    return hub


async def _async_drop_hub(hass: HomeAssistant, hub: OcppHub) -> None:
    hub.unsub_close()
    await hub.server.stop()
    hass.data.pop(DATA_OCPP, None)


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
    identity = str(data[CONF_IDENTITY])
    async with _lock(hass):
        hub = await _async_get_hub(hass, data)
        station = hub.server.register_station(
            identity, str(data[CONF_PASSWORD]), station_options(data)
        )
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

    station.add_event_listener(profile_issue)
    return station


async def async_unregister(hass: HomeAssistant, entry_id: str, identity: str) -> None:
    """Forget the entry's charger; the last one out stops the server."""
    ir.async_delete_issue(hass, DOMAIN, f"profile_rejected.{entry_id}")
    async with _lock(hass):
        if (hub := hass.data.get(DATA_OCPP)) is None:
            return
        await hub.server.unregister_station(identity)
        hub.identities.discard(identity)
        if not hub.identities:
            await _async_drop_hub(hass, hub)


def charger_url(hass: HomeAssistant, data: dict[str, Any] | Any) -> str:
    """The URL to type into the charger, with this Home Assistant's host name or address."""
    _, port, certfile, _ = listen_key(data)
    host = "homeassistant.local"
    for url in (hass.config.internal_url, hass.config.external_url):
        if url and (candidate := URL(url).host):
            host = candidate
            break
    scheme = "wss" if certfile else "ws"
    return f"{scheme}://{host}:{port}/{data[CONF_IDENTITY]}"
