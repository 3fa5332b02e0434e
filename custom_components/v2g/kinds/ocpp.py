"""OCPP 1.6 / 2.0.1 / 2.1 chargers: they connect to an OCPP server run by Home Assistant.

One server per port, shared by every OCPP charger of every site that uses that port (a site's
data holds the port and TLS files). A charger that connects with an identity no site knows gets
404 and starts a discovery flow, so the user can add it in one click (a few at a time: a scanner
trying many names does not flood the UI). A charger that rejects our profiles gets a repair issue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from typing import Any

from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntry,
    ConfigSubentry,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import discovery_flow, issue_registry as ir, selector
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol
from yarl import URL

from ..chargers import ChargerBackend
from ..chargers.ocpp import (
    OcppServer,
    OcppStation,
    StationEvent,
    StationOptions,
    build_ssl_context,
    generate_password,
    valid_identity,
)
from ..const import (
    CONF_CHARGER_KIND,
    CONF_CONNECTOR_ID,
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
from ..form import ev_data, ev_errors, ev_fields, number_selector
from .spec import ChargerKindSpec, Errors, Fields

_LOGGER = logging.getLogger(__name__)

KIND = "ocpp"
CONF_NEW_PASSWORD = "new_password"
MAX_DISCOVERY_FLOWS = 10
"""Open discovery flows at most: a scanner trying many identities does not flood the UI."""

DATA_OCPP: HassKey[dict[int, OcppHub]] = HassKey(f"{DOMAIN}_ocpp")
DATA_OCPP_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_ocpp_lock")

type ListenKey = tuple[str, int, str | None, str | None]


@dataclass(slots=True)
class OcppHub:
    """One server (one port), how it listens, and which site's charger each identity is."""

    server: OcppServer
    listen: ListenKey
    unsub_close: CALLBACK_TYPE
    chargers: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    """(identity, connector) -> (site entry id, subentry id)"""
    discoveries_skipped: int = 0


class OcppServerMismatchError(Exception):
    """The port's OCPP server already runs with another listen address or TLS setting."""


def listen_key(data: Mapping[str, Any]) -> ListenKey:
    """Host, port, certificate and key a site asks its OCPP server to listen with."""
    return (
        str(data.get(CONF_HOST) or "0.0.0.0"),
        int(data.get(CONF_PORT) or DEFAULT_OCPP_PORT),
        data.get(CONF_TLS_CERTFILE) or None,
        data.get(CONF_TLS_KEYFILE) or None,
    )


def hubs(hass: HomeAssistant) -> dict[int, OcppHub]:
    """The running OCPP servers by port."""
    return hass.data.setdefault(DATA_OCPP, {})


def _lock(hass: HomeAssistant) -> asyncio.Lock:
    """Sites set up (and unload) concurrently; one of them creates a shared server."""
    return hass.data.setdefault(DATA_OCPP_LOCK, asyncio.Lock())


async def _async_get_hub(hass: HomeAssistant, site_data: Mapping[str, Any]) -> OcppHub:
    """The hub on the site's port, or a new one (call with the lock held)."""
    listen = listen_key(site_data)
    host, port, certfile, keyfile = listen
    if (hub := hubs(hass).get(port)) is not None:
        if hub.listen != listen:
            raise OcppServerMismatchError(
                f"the OCPP server on port {port} already listens on {hub.listen[0]}"
                f"{' with TLS' if hub.listen[2] else ' without TLS'}"
            )
        return hub
    ssl_context = (
        await hass.async_add_executor_job(build_ssl_context, certfile, keyfile)
        if certfile
        else None
    )

    @callback
    def unknown_identity(identity: str, remote: str) -> None:
        _async_discovered(hass, port, identity, remote)

    server = OcppServer(host, port, ssl_context, on_unknown_identity=unknown_identity)

    async def _async_close(_: Event) -> None:
        await server.stop()

    unsub = hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _async_close)
    hub = hubs(hass)[port] = OcppHub(server, listen, unsub)
    return hub


@callback
def _async_discovered(hass: HomeAssistant, port: int, identity: str, remote: str) -> None:
    """Offer to add a charger that connected with an unknown identity (a few at a time)."""
    hub = hubs(hass).get(port)
    open_flows = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_INTEGRATION_DISCOVERY
    ]
    if len(open_flows) >= MAX_DISCOVERY_FLOWS:
        if hub is not None:
            hub.discoveries_skipped += 1
            if hub.discoveries_skipped == 1:
                _LOGGER.warning(
                    "%s chargers are waiting to be added; more unknown chargers are not offered "
                    "until some are added or ignored",
                    MAX_DISCOVERY_FLOWS,
                )
        return
    discovery_flow.async_create_flow(
        hass,
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={CONF_IDENTITY: identity, "remote": remote, CONF_PORT: port},
    )


async def _async_drop_hub(hass: HomeAssistant, hub: OcppHub) -> None:
    hub.unsub_close()
    await hub.server.stop()
    hubs(hass).pop(hub.listen[1], None)


def station_options(data: Mapping[str, Any]) -> StationOptions:
    """The per-charger options a subentry's data asks for."""
    return StationOptions(
        declared_bidirectional=bool(data.get(CONF_DECLARED_BIDIRECTIONAL, False)),
        skip_schema_validation=bool(data.get(CONF_SKIP_SCHEMA_VALIDATION, False)),
        max_charge_power_w=float(data[CONF_MAX_CHARGE_POWER_W]),
        max_discharge_power_w=float(data[CONF_MAX_DISCHARGE_POWER_W]),
        phases=int(data.get(CONF_PHASES, 3)),
        connector_id=int(data.get(CONF_CONNECTOR_ID, 1)),
    )


def _issue_id(subentry: ConfigSubentry) -> str:
    return f"profile_rejected.{subentry.subentry_id}"


async def _async_create(
    hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry
) -> ChargerBackend:
    """Register the charger on its site's server (the station starts the server)."""
    data = subentry.data
    identity = str(data[CONF_IDENTITY])
    try:
        async with _lock(hass):
            hub = await _async_get_hub(hass, site.data)
            station = hub.server.register_station(
                identity, str(data[CONF_PASSWORD]), station_options(data)
            )
            hub.chargers[(identity, _connector(data))] = (site.entry_id, subentry.subentry_id)
    except (OcppServerMismatchError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="ocpp_server_mismatch",
            translation_placeholders={"error": str(err)},
        ) from err
    except OSError as err:  # the TLS certificate or key cannot be read
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="ocpp_tls",
            translation_placeholders={"error": str(err)},
        ) from err

    @callback
    def profile_issue(station: OcppStation, event: StationEvent) -> None:
        if event is StationEvent.PROFILE_REJECTED:
            ir.async_create_issue(
                hass,
                DOMAIN,
                _issue_id(subentry),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="profile_rejected",
                translation_placeholders={
                    CONF_IDENTITY: station.identity,
                    "reason": str(station.last_rejection or "unknown"),
                },
            )
        elif event is StationEvent.PROFILE_ACCEPTED:
            ir.async_delete_issue(hass, DOMAIN, _issue_id(subentry))

    station.add_event_listener(profile_issue)
    return station


async def _async_release(
    hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry, backend: ChargerBackend
) -> None:
    """Forget the charger; the last one on a port stops that server."""
    ir.async_delete_issue(hass, DOMAIN, _issue_id(subentry))
    identity = str(subentry.data[CONF_IDENTITY])
    async with _lock(hass):
        for hub in list(hubs(hass).values()):
            key = (identity, _connector(subentry.data))
            if hub.chargers.get(key) != (site.entry_id, subentry.subentry_id):
                continue
            await hub.server.unregister_station(identity, key[1])
            del hub.chargers[key]
            if not hub.chargers:
                await _async_drop_hub(hass, hub)


def charger_url(hass: HomeAssistant, site_data: Mapping[str, Any], identity: str) -> str:
    """The URL to type into the charger, with this Home Assistant's host name or address."""
    _, port, certfile, _ = listen_key(site_data)
    host = "homeassistant.local"
    for url in (hass.config.internal_url, hass.config.external_url):
        if url and (candidate := URL(url).host):
            host = candidate
            break
    scheme = "wss" if certfile else "ws"
    return f"{scheme}://{host}:{port}/{identity}"


# --- forms -----------------------------------------------------------------------------------


def _fields(hass: HomeAssistant, defaults: Mapping[str, Any], reconfigure: bool) -> Fields:
    fields: Fields = {}
    if not reconfigure:
        fields[vol.Required(CONF_IDENTITY, default=defaults.get(CONF_IDENTITY, ""))] = (
            selector.TextSelector()
        )
    fields |= ev_fields(defaults)
    fields |= {
        vol.Required(CONF_PHASES, default=str(defaults.get(CONF_PHASES, "3"))): (
            selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=["1", "3"],
                    translation_key=CONF_PHASES,
                    mode=selector.SelectSelectorMode.LIST,
                )
            )
        ),
        vol.Required(CONF_CONNECTOR_ID, default=defaults.get(CONF_CONNECTOR_ID, 1)): (
            number_selector(1, 8, 1)
        ),
        vol.Required(
            CONF_DECLARED_BIDIRECTIONAL, default=defaults.get(CONF_DECLARED_BIDIRECTIONAL, False)
        ): selector.BooleanSelector(),
        vol.Required(
            CONF_SKIP_SCHEMA_VALIDATION, default=defaults.get(CONF_SKIP_SCHEMA_VALIDATION, False)
        ): selector.BooleanSelector(),
    }
    if reconfigure:
        fields[vol.Required(CONF_NEW_PASSWORD, default=False)] = selector.BooleanSelector()
    return fields


def _connector(data: Mapping[str, Any]) -> int:
    return int(data.get(CONF_CONNECTOR_ID, 1))


def _same_charger(
    hass: HomeAssistant, identity: str, exclude: ConfigSubentry | None
) -> list[tuple[ConfigEntry, ConfigSubentry]]:
    """Every charger subentry (of any site) with this identity: the connectors of one charger."""
    return [
        (entry, subentry)
        for entry in hass.config_entries.async_entries(DOMAIN)
        for subentry in entry.subentries.values()
        if subentry.data.get(CONF_CHARGER_KIND) == KIND
        and subentry.data.get(CONF_IDENTITY) == identity
        and (exclude is None or subentry.subentry_id != exclude.subentry_id)
    ]


async def _async_validate(
    hass: HomeAssistant,
    site: ConfigEntry | None,
    user_input: Mapping[str, Any],
    subentry: ConfigSubentry | None,
) -> Errors:
    errors = ev_errors(hass, user_input)
    identity = str(
        subentry.data[CONF_IDENTITY] if subentry else user_input.get(CONF_IDENTITY, "")
    ).strip()
    if subentry is None and not valid_identity(identity):
        errors[CONF_IDENTITY] = "invalid_identity"
        return errors
    connector = _connector(user_input)
    if any(
        _connector(other.data) == connector for _, other in _same_charger(hass, identity, subentry)
    ):
        # Another connector of the same charger is another charger of a site: a new number.
        errors[CONF_IDENTITY if subentry is None else CONF_CONNECTOR_ID] = "identity_in_use"
    return errors


def _to_data(
    hass: HomeAssistant, user_input: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = dict(previous or {})
    data |= {
        CONF_CHARGER_KIND: KIND,
        **ev_data(user_input),
        CONF_PHASES: str(user_input.get(CONF_PHASES, data.get(CONF_PHASES, "3"))),
        CONF_CONNECTOR_ID: int(user_input.get(CONF_CONNECTOR_ID, 1)),
        CONF_DECLARED_BIDIRECTIONAL: bool(user_input.get(CONF_DECLARED_BIDIRECTIONAL, False)),
        CONF_SKIP_SCHEMA_VALIDATION: bool(user_input.get(CONF_SKIP_SCHEMA_VALIDATION, False)),
    }
    if previous is None:
        data[CONF_IDENTITY] = str(user_input[CONF_IDENTITY]).strip()
    identity = data[CONF_IDENTITY]
    # The charger's other connectors (on reconfigure, not the one being changed).
    siblings = [
        (entry, sub)
        for entry, sub in _same_charger(hass, identity, None)
        if previous is None or _connector(sub.data) != _connector(previous)
    ]
    if previous is None and siblings:
        # Another connector of a charger already added: one connection, one password.
        data[CONF_PASSWORD] = siblings[0][1].data[CONF_PASSWORD]
    elif previous is None or user_input.get(CONF_NEW_PASSWORD):
        data[CONF_PASSWORD] = generate_password()
        # The charger's other connectors share the connection: they get it too.
        for entry, sibling in siblings:
            hass.config_entries.async_update_subentry(
                entry, sibling, data={**sibling.data, CONF_PASSWORD: data[CONF_PASSWORD]}
            )
    return data


def _connect_placeholders(
    hass: HomeAssistant, site_data: Mapping[str, Any], data: Mapping[str, Any]
) -> dict[str, str]:
    identity = str(data[CONF_IDENTITY])
    return {
        "url": charger_url(hass, site_data, identity),
        CONF_IDENTITY: identity,
        CONF_PASSWORD: str(data[CONF_PASSWORD]),
    }


def _site_fields(hass: HomeAssistant, defaults: Mapping[str, Any]) -> Fields:
    fields: Fields = {
        vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_OCPP_PORT)): (
            number_selector(1, 65535, 1)
        ),
    }
    for key in (CONF_HOST, CONF_TLS_CERTFILE, CONF_TLS_KEYFILE):
        fields[vol.Optional(key, description={"suggested_value": defaults.get(key)})] = (
            selector.TextSelector()
        )
    return fields


async def _async_validate_site(
    hass: HomeAssistant, user_input: Mapping[str, Any], site: ConfigEntry | None
) -> Errors:
    """TLS files readable, and the port free (or already ours with the same settings)."""
    errors: Errors = {}
    host, port, certfile, keyfile = listen_key(user_input)
    if certfile:
        try:
            await hass.async_add_executor_job(build_ssl_context, certfile, keyfile)
        except (OSError, ValueError):
            errors[CONF_TLS_CERTFILE] = "tls_invalid"
    hub = hubs(hass).get(port)
    if hub is not None:
        others = {entry_id for entry_id, _ in hub.chargers.values()} - {
            site.entry_id if site else ""
        }
        if others and hub.listen != (host, port, certfile, keyfile):
            errors[CONF_PORT] = "server_mismatch"
        return errors
    if not await _async_port_free(host, port):
        errors[CONF_PORT] = "port_in_use"
    return errors


async def _async_port_free(host: str, port: int) -> bool:
    """Whether the OCPP server could listen there (nothing else holds the port)."""
    try:
        server = await asyncio.start_server(lambda _r, _w: None, host, port, reuse_address=True)
    except OSError:
        return False
    server.close()
    await server.wait_closed()
    return True


SPEC = ChargerKindSpec(
    kind=KIND,
    model="OCPP charger",
    fields=_fields,
    async_validate=_async_validate,
    to_data=_to_data,
    unique_id=lambda data: (
        f"{KIND}_{data[CONF_IDENTITY]}" + ("" if _connector(data) == 1 else f"_{_connector(data)}")
    ),
    title=lambda data: (
        str(data[CONF_IDENTITY])
        + ("" if _connector(data) == 1 else f" connector {_connector(data)}")
    ),
    async_create=_async_create,
    async_release=_async_release,
    connect_placeholders=_connect_placeholders,
    site_fields=_site_fields,
    async_validate_site=_async_validate_site,
)
