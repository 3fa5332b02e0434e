"""`ChargerKindSpec`: what the integration needs to know about one kind of charger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant
import voluptuous as vol

from ..chargers import ChargerBackend

type Fields = dict[vol.Marker, Any]
type Errors = dict[str, str]


async def _no_site_errors(
    hass: HomeAssistant, user_input: Mapping[str, Any], site: ConfigEntry | None
) -> Errors:
    return {}


async def _nothing_stored(hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry) -> None:
    return None


async def _release_backend(
    hass: HomeAssistant, site: ConfigEntry, subentry: ConfigSubentry, backend: ChargerBackend
) -> None:
    await backend.async_release()


@dataclass(frozen=True, kw_only=True)
class ChargerKindSpec:
    """What the integration needs to know about one kind of charger."""

    kind: str
    model: str
    """The device model shown until the charger reports its own."""
    fields: Callable[[HomeAssistant, Mapping[str, Any], bool], Fields]
    async_validate: Callable[
        [HomeAssistant, ConfigEntry | None, Mapping[str, Any], ConfigSubentry | None],
        Awaitable[Errors],
    ]
    to_data: Callable[[HomeAssistant, Mapping[str, Any], Mapping[str, Any] | None], dict[str, Any]]
    unique_id: Callable[[Mapping[str, Any]], str]
    title: Callable[[Mapping[str, Any]], str]
    async_create: Callable[[HomeAssistant, ConfigEntry, ConfigSubentry], Awaitable[ChargerBackend]]
    async_release: Callable[
        [HomeAssistant, ConfigEntry, ConfigSubentry, ChargerBackend], Awaitable[None]
    ] = _release_backend
    async_remove: Callable[[HomeAssistant, ConfigEntry, ConfigSubentry], Awaitable[None]] = (
        _nothing_stored
    )
    """Forget what the kind stored for a charger that was removed."""
    connect_placeholders: (
        Callable[[HomeAssistant, Mapping[str, Any], Mapping[str, Any]], dict[str, str]] | None
    ) = None
    site_fields: Callable[[HomeAssistant, Mapping[str, Any]], Fields] | None = None
    async_validate_site: Callable[
        [HomeAssistant, Mapping[str, Any], ConfigEntry | None], Awaitable[Errors]
    ] = _no_site_errors
