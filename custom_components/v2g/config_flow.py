"""Config flows: a site with its first charger; chargers as subentries; the site's options.

Every step that concerns one kind of charger is asked of the kind (`kinds/`): the flows show
`KINDS` as a menu and route `async_step_<kind>` to the kind's form, so a new kind needs no change
here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryData,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
import voluptuous as vol

from .const import (
    CONF_IDENTITY,
    DEFAULT_INPUT_OPTIONS,
    DEFAULT_OPTIONS,
    DEFAULT_SITE_NAME,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from .kinds import KINDS, ChargerKindSpec, Errors, Fields, kind_of
from .kinds.ocpp import KIND as OCPP_KIND, hubs
from .options_flow import V2GOptionsFlow

type StepHandler = Callable[[dict[str, Any] | None], Coroutine[Any, Any, Any]]


def _new_site_options() -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **DEFAULT_INPUT_OPTIONS}


def _sites(hass: HomeAssistant) -> list[ConfigEntry]:
    return hass.config_entries.async_entries(DOMAIN)


def _charger_exists(hass: HomeAssistant, unique_id: str) -> bool:
    """Whether any site already has a charger with this unique id."""
    return any(
        subentry.unique_id == unique_id
        for entry in _sites(hass)
        for subentry in entry.subentries.values()
    )


def _site_fields(hass: HomeAssistant, defaults: Mapping[str, Any]) -> Fields:
    """Every kind's site settings (the OCPP server's port and TLS files)."""
    fields: Fields = {}
    for spec in KINDS.values():
        if spec.site_fields is not None:
            fields |= spec.site_fields(hass, defaults)
    return fields


async def _async_site_errors(
    hass: HomeAssistant, user_input: Mapping[str, Any], site: ConfigEntry | None
) -> Errors:
    errors: Errors = {}
    for spec in KINDS.values():
        if spec.site_fields is not None:
            errors |= await spec.async_validate_site(hass, user_input, site)
    return errors


def _split(fields: Fields, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a form's answer that belongs to these fields."""
    keys = {str(marker) for marker in fields}
    return {key: value for key, value in user_input.items() if key in keys}


class _KindSteps:
    """`async_step_<kind>` for every registered kind, routed to one form handler."""

    def __getattr__(self, name: str) -> StepHandler:
        kind = name.removeprefix("async_step_")
        if name.startswith("async_step_") and kind in KINDS:
            return partial(self._async_step_kind, KINDS[kind])
        raise AttributeError(name)

    async def _async_step_kind(
        self, spec: ChargerKindSpec, user_input: dict[str, Any] | None
    ) -> Any:
        raise NotImplementedError


class V2GConfigFlow(_KindSteps, ConfigFlow, domain=DOMAIN):
    """Create a site with its first charger; reconfigure a site; adopt a discovered charger."""

    VERSION = 2
    MINOR_VERSION = 2

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> V2GOptionsFlow:
        """The site's grid connection, prices, solar and house load."""
        return V2GOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Chargers are added to a site from its page."""
        return {SUBENTRY_CHARGER: ChargerSubentryFlow}

    def __init__(self) -> None:
        self._name = DEFAULT_SITE_NAME
        self._site_data: dict[str, Any] = {}
        self._charger: dict[str, Any] = {}
        self._spec: ChargerKindSpec | None = None
        self._discovered: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the site (the home or depot behind one grid connection)."""
        errors: Errors = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip() or DEFAULT_SITE_NAME
            if any(site.title == name for site in _sites(self.hass)):
                errors[CONF_NAME] = "site_exists"
            else:
                self._name = name
                return await self.async_step_charger()
        taken = {site.title for site in _sites(self.hass)}
        suggested = next(
            name
            for n in range(1, 100)
            if (name := DEFAULT_SITE_NAME if n == 1 else f"{DEFAULT_SITE_NAME} {n}") not in taken
        )
        schema = vol.Schema(
            {vol.Required(CONF_NAME, default=(user_input or {}).get(CONF_NAME, suggested)): str}
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which kind of charger the site's first charger is."""
        return self.async_show_menu(step_id="charger", menu_options=list(KINDS))

    async def _async_step_kind(
        self, spec: ChargerKindSpec, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """The first charger's form, with the site settings its kind needs."""
        charger_fields = spec.fields(self.hass, user_input or self._discovered, False)
        site_fields = spec.site_fields(self.hass, user_input or {}) if spec.site_fields else {}
        errors: Errors = {}
        if user_input is not None:
            errors = await spec.async_validate(self.hass, None, user_input, None)
            if site_fields:
                errors |= await spec.async_validate_site(self.hass, user_input, None)
            data = (
                spec.to_data(self.hass, _split(charger_fields, user_input), None)
                if not errors
                else {}
            )
            if data and _charger_exists(self.hass, spec.unique_id(data)):
                errors["base"] = "charger_exists"
            if not errors:
                self._spec, self._charger = spec, data
                self._site_data = _split(site_fields, user_input)
                if spec.connect_placeholders is not None:
                    return await self.async_step_connect()
                return self._async_create_site()
        return self.async_show_form(
            step_id=spec.kind,
            data_schema=vol.Schema(charger_fields | site_fields),
            errors=errors,
            description_placeholders={"remote": self._discovered.get("remote", "")},
        )

    async def async_step_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what to type into the charger; the site is created when the user confirms."""
        assert self._spec is not None
        assert self._spec.connect_placeholders is not None
        if user_input is not None:
            return self._async_create_site()
        return self.async_show_form(
            step_id="connect",
            data_schema=vol.Schema({}),
            description_placeholders=self._spec.connect_placeholders(
                self.hass, self._site_data, self._charger
            ),
        )

    def _async_create_site(self) -> ConfigFlowResult:
        assert self._spec is not None
        return self.async_create_entry(
            title=self._name,
            data=self._site_data,
            options=_new_site_options(),
            subentries=[
                ConfigSubentryData(
                    data=self._charger,
                    subentry_type=SUBENTRY_CHARGER,
                    title=self._spec.title(self._charger),
                    unique_id=self._spec.unique_id(self._charger),
                )
            ],
        )

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """A charger with an unknown identity tried to connect to an OCPP server."""
        identity = str(discovery_info[CONF_IDENTITY])
        await self.async_set_unique_id(f"{OCPP_KIND}_{identity}")
        self._abort_if_unique_id_configured()
        if _charger_exists(self.hass, f"{OCPP_KIND}_{identity}"):
            return self.async_abort(reason="already_configured")
        self._discovered = {CONF_IDENTITY: identity, "remote": str(discovery_info["remote"])}
        self.context["title_placeholders"] = {"name": identity}
        hub = hubs(self.hass).get(int(discovery_info[CONF_PORT]))
        site_ids = {entry_id for entry_id, _ in hub.chargers.values()} if hub else set()
        self._discovered["sites"] = sorted(site_ids)
        return await self.async_step_discovered()

    async def async_step_discovered(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the discovered charger to the site whose OCPP server it connected to."""
        spec = KINDS[OCPP_KIND]
        sites = [
            site for site in _sites(self.hass) if site.entry_id in self._discovered.get("sites", [])
        ]
        if not sites:
            return await self._async_step_kind(spec, None)
        charger_fields = spec.fields(self.hass, user_input or self._discovered, False)
        site_field: Fields = {}
        if len(sites) > 1:
            site_field[vol.Required("site")] = selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[
                        selector.SelectOptionDict(value=s.entry_id, label=s.title) for s in sites
                    ]
                )
            )
        errors: Errors = {}
        if user_input is not None:
            site = next(
                (s for s in sites if s.entry_id == user_input.get("site", sites[0].entry_id)),
                sites[0],
            )
            errors = await spec.async_validate(self.hass, site, user_input, None)
            if not errors:
                self._spec = spec
                self._charger = spec.to_data(self.hass, _split(charger_fields, user_input), None)
                self._site_data = dict(site.data)
                self._discovered["site"] = site.entry_id
                return await self.async_step_discovered_connect()
        return self.async_show_form(
            step_id="discovered",
            data_schema=vol.Schema(site_field | charger_fields),
            errors=errors,
            description_placeholders={
                "remote": self._discovered.get("remote", ""),
                "site": sites[0].title,
            },
        )

    async def async_step_discovered_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the password; the charger joins the site when the user confirms."""
        assert self._spec is not None
        assert self._spec.connect_placeholders is not None
        site = self.hass.config_entries.async_get_known_entry(self._discovered["site"])
        if user_input is not None:
            self.hass.config_entries.async_add_subentry(
                site,
                ConfigSubentry(
                    data=self._charger,  # type: ignore[arg-type]
                    subentry_type=SUBENTRY_CHARGER,
                    title=self._spec.title(self._charger),
                    unique_id=self._spec.unique_id(self._charger),
                ),
            )
            return self.async_abort(
                reason="charger_added", description_placeholders={"site": site.title}
            )
        return self.async_show_form(
            step_id="discovered_connect",
            data_schema=vol.Schema({}),
            description_placeholders=self._spec.connect_placeholders(
                self.hass, site.data, self._charger
            ),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The site's own settings: the OCPP server its chargers connect to."""
        entry = self._get_reconfigure_entry()
        errors: Errors = {}
        if user_input is not None:
            errors = await _async_site_errors(self.hass, user_input, entry)
            if not errors:
                # Optional fields left empty are cleared, not kept from before.
                kept = {k: v for k, v in entry.data.items() if k not in _site_fields(self.hass, {})}
                return self.async_update_and_abort(entry, data=kept | user_input)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema(_site_fields(self.hass, user_input or entry.data)),
            errors=errors,
            description_placeholders={"name": entry.title},
        )


class ChargerSubentryFlow(_KindSteps, ConfigSubentryFlow):
    """Add a charger (with its EV) to a site, or reconfigure one."""

    def __init__(self) -> None:
        self._spec: ChargerKindSpec | None = None
        self._data: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Which kind of charger to add."""
        return self.async_show_menu(step_id="user", menu_options=list(KINDS))

    async def _async_step_kind(
        self, spec: ChargerKindSpec, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        site = self._get_entry()
        fields = spec.fields(self.hass, user_input or {}, False)
        errors: Errors = {}
        if user_input is not None:
            errors = await spec.async_validate(self.hass, site, user_input, None)
            data = spec.to_data(self.hass, user_input, None) if not errors else {}
            if data and _charger_exists(self.hass, spec.unique_id(data)):
                errors["base"] = "charger_exists"
            if not errors:
                self._spec, self._data = spec, data
                if spec.connect_placeholders is not None:
                    return await self.async_step_connect()
                return self._async_create()
        return self.async_show_form(
            step_id=spec.kind,
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders={"site": site.title, "remote": ""},
        )

    async def async_step_connect(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show what to type into the charger; it is added when the user confirms."""
        assert self._spec is not None
        assert self._spec.connect_placeholders is not None
        if user_input is not None:
            return self._async_create()
        return self.async_show_form(
            step_id="connect",
            data_schema=vol.Schema({}),
            description_placeholders=self._spec.connect_placeholders(
                self.hass, self._get_entry().data, self._data
            ),
        )

    def _async_create(self) -> SubentryFlowResult:
        assert self._spec is not None
        return self.async_create_entry(
            title=self._spec.title(self._data),
            data=self._data,
            unique_id=self._spec.unique_id(self._data),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a charger's limits or connection (it reconnects; its EV keeps its settings)."""
        site = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        spec = kind_of(subentry.data)
        errors: Errors = {}
        if user_input is not None:
            errors = await spec.async_validate(self.hass, site, user_input, subentry)
            if not errors:
                data = spec.to_data(self.hass, user_input, subentry.data)
                return self.async_update_and_abort(site, subentry, data=data)
        placeholders = {"name": subentry.title, "url": "", "identity": "", "password": ""}
        if spec.connect_placeholders is not None:
            placeholders |= spec.connect_placeholders(self.hass, site.data, subentry.data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema(spec.fields(self.hass, user_input or subentry.data, True)),
            errors=errors,
            description_placeholders=placeholders,
        )
