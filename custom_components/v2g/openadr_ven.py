"""The site's OpenADR 3 VEN in Home Assistant: polls on its own schedule, never in an update.

The site's options name a VTN (base URL, OAuth2 client id and secret, optionally the token URL of
the VTN's OAuth server, the VEN name and the programs to follow). `SiteVen` polls the VTN when
the site starts and every `POLL_INTERVAL` in a background task with Home Assistant's shared
aiohttp session, and keeps the answer (`openadr/ven.py`); a site update only reads that cache:

- the collector puts the `PRICE` / `EXPORT_PRICE` signals into the plan's prices;
- `operator_limit(now)` gives the import and export limits in force now to the operator-limit
  path (`operator.py`), which the plan and the grid-meter correction keep;
- `record_usage` takes the EVs' energy of each update; reports due then are sent in the
  background.

When a poll changes what the plan sees (new events, or the VTN fails or answers again) the site
re-plans at once. While the VTN is down or answers garbage, a repair issue names it (logged once
when it starts and once when it ends); the last good events stay in force until they end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
import logging
from typing import Any
from urllib.parse import urlparse

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    OPT_OPENADR_CLIENT_ID,
    OPT_OPENADR_CLIENT_SECRET,
    OPT_OPENADR_PROGRAMS,
    OPT_OPENADR_TOKEN_URL,
    OPT_OPENADR_VEN_NAME,
    OPT_OPENADR_VTN_URL,
)
from .inputs import InvalidInputsConfigError
from .openadr import SignalKind, Ven, VenConfig, VenSnapshot, VtnClient
from .operator import OperatorLimit

_LOGGER = logging.getLogger(__name__)

POLL_INTERVAL = timedelta(minutes=5)
ISSUE_VTN_UNAVAILABLE = "openadr_vtn_unavailable"


class InvalidVenConfigError(InvalidInputsConfigError):
    """An OpenADR option is unusable; `option` names the field and `error` the form's error."""

    def __init__(self, option: str, error: str) -> None:
        super().__init__(option, error)
        self.error = error


def _text(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    return str(value).strip() or None if value is not None else None


def _is_url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def ven_config(options: Mapping[str, Any]) -> VenConfig | None:
    """The VEN's configuration, None while no VTN is set; raises `InvalidVenConfigError`."""
    url = _text(options, OPT_OPENADR_VTN_URL)
    if url is None:
        return None
    if not _is_url(url):
        raise InvalidVenConfigError(OPT_OPENADR_VTN_URL, "invalid_url")
    token_url = _text(options, OPT_OPENADR_TOKEN_URL)
    if token_url is not None and not _is_url(token_url):
        raise InvalidVenConfigError(OPT_OPENADR_TOKEN_URL, "invalid_url")
    ven_name = _text(options, OPT_OPENADR_VEN_NAME)
    if ven_name is None:
        raise InvalidVenConfigError(OPT_OPENADR_VEN_NAME, "ven_name_required")
    client_id = _text(options, OPT_OPENADR_CLIENT_ID)
    secret = _text(options, OPT_OPENADR_CLIENT_SECRET)
    if (client_id is None) != (secret is None):
        raise InvalidVenConfigError(OPT_OPENADR_CLIENT_SECRET, "credentials_incomplete")
    programs = options.get(OPT_OPENADR_PROGRAMS) or ()
    if isinstance(programs, str):
        programs = [programs]
    return VenConfig(
        base_url=url.rstrip("/"),
        ven_name=ven_name,
        client_id=client_id,
        client_secret=secret,
        token_url=token_url,
        program_names=tuple(p for p in (str(n).strip() for n in programs) if p),
    )


class SiteVen:
    """One site's VEN: the background poll, the cached events, usage reports, the repair."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        config: VenConfig,
        on_change: Callable[[], Awaitable[None]],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.config = config
        self._on_change = on_change
        self.ven = Ven(
            config, VtnClient(async_get_clientsession(hass), config.credentials, dt_util.utcnow)
        )
        self._unsub_poll: Callable[[], None] | None = None
        self._reporting = False
        self._issue_error: str | None = None
        """The error the repair issue shows (None: no issue)."""

    @property
    def issue_id(self) -> str:
        """The repair issue of this site's VTN."""
        return f"{ISSUE_VTN_UNAVAILABLE}.{self.entry.entry_id}"

    @callback
    def async_start(self) -> None:
        """Poll now and every `POLL_INTERVAL`, in the background."""

        @callback
        def _poll(_: datetime | None = None) -> None:
            self.entry.async_create_background_task(
                self.hass, self.async_poll(), f"{DOMAIN} OpenADR poll {self.entry.title}"
            )

        self._unsub_poll = async_track_time_interval(self.hass, _poll, POLL_INTERVAL)
        _poll()

    @callback
    def async_stop(self) -> None:
        """Stop polling and withdraw the repair issue (the site unloads or drops the VTN)."""
        if self._unsub_poll is not None:
            self._unsub_poll()
            self._unsub_poll = None
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    async def async_poll(self) -> None:
        """Read the VTN once; re-plan when what the plan sees changed."""
        changed = await self.ven.async_poll(dt_util.utcnow())
        self._sync_issue()
        if changed and self._unsub_poll is not None:
            await self._on_change()

    def _sync_issue(self) -> None:
        """A repair issue while the VTN fails, logged once when it starts and when it ends."""
        error = self.ven.error
        if error is not None and error != self._issue_error:
            # Logged when the outage starts; the issue follows the latest error.
            if self._issue_error is None:
                _LOGGER.warning(
                    "The OpenADR VTN %s is unavailable (%s); the plan keeps its last events "
                    "until they end",
                    self.config.base_url,
                    error,
                )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_VTN_UNAVAILABLE,
                translation_placeholders={"vtn": self.config.base_url, "error": error},
            )
            self._issue_error = error
        elif error is None and self._issue_error is not None:
            _LOGGER.info("The OpenADR VTN %s answers again", self.config.base_url)
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
            self._issue_error = None

    def snapshot(self, now: datetime) -> VenSnapshot:
        """The signals in force from now on (the last good events)."""
        return self.ven.snapshot(now)

    def operator_limit(self, now: datetime) -> OperatorLimit | None:
        """The import and export limits of the events' current intervals, None when none."""
        snapshot = self.ven.snapshot(now)
        import_w = snapshot.limit_w(SignalKind.IMPORT_LIMIT, now)
        export_w = snapshot.limit_w(SignalKind.EXPORT_LIMIT, now)
        if import_w is None and export_w is None:
            return None
        events = sorted(
            {s.event_id for s in snapshot.signals if not s.kind.is_price and s.start <= now < s.end}
        )
        return OperatorLimit(
            f"OpenADR event {', '.join(events)}",
            site_import_limit_w=import_w,
            site_export_limit_w=export_w,
        )

    @callback
    def record_usage(self, now: datetime, energy_kwh: float) -> None:
        """The site's EVs took `energy_kwh` since the last update; send the reports now due."""
        self.ven.record_usage(now, energy_kwh)
        if self._reporting or self._unsub_poll is None or not self.ven.due_reports(now):
            return
        self._reporting = True

        async def _async_report() -> None:
            try:
                await self.ven.async_send_reports(now)
            finally:
                self._reporting = False

        self.entry.async_create_background_task(
            self.hass, _async_report(), f"{DOMAIN} OpenADR reports {self.entry.title}"
        )

    def diagnostics(self) -> dict[str, Any]:
        """The VEN's state (the VTN URL and credentials are redacted by the caller's keys)."""
        return self.ven.diagnostics(dt_util.utcnow())
