"""Repairs with a fix flow: merge the sites that upgrading single-charger entries made.

Before version 2 every charger was its own entry; each became its own site on upgrade. Chargers
on one grid connection should share a site (one plan under one fuse), but only the user knows
which ones do: when several such sites exist, a repair offers to merge them, never silently.
"""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir, selector
import voluptuous as vol

from .const import DOMAIN
from .migration import async_merge_sites, mergeable_sites

MERGE_ISSUE = "merge_sites"
CONF_TARGET = "target"
CONF_SOURCES = "sources"


@callback
def async_offer_merge(hass: HomeAssistant) -> None:
    """Raise the merge repair while two or more upgraded sites exist; clear it otherwise."""
    sites = mergeable_sites(hass)
    if len(sites) < 2:
        ir.async_delete_issue(hass, DOMAIN, MERGE_ISSUE)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        MERGE_ISSUE,
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=MERGE_ISSUE,
        translation_placeholders={"sites": ", ".join(site.title for site in sites)},
    )


class MergeSitesFlow(RepairsFlow):
    """Pick the site to keep and the sites whose chargers move into it."""

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Choose; the chosen sites' chargers then plan together under one grid connection."""
        sites = {site.entry_id: site for site in mergeable_sites(self.hass)}
        errors: dict[str, str] = {}
        if user_input and CONF_TARGET in user_input:  # the flow starts with the issue, not answers
            target = sites.get(str(user_input[CONF_TARGET]))
            sources = [sites[i] for i in user_input.get(CONF_SOURCES, []) if i in sites]
            sources = [s for s in sources if target is None or s.entry_id != target.entry_id]
            if target is None or not sources:
                errors["base"] = "choose_sites"
            else:
                # The sites' update listeners offer the repair again if more sites remain.
                await async_merge_sites(self.hass, target, sources)
                return self.async_create_entry(data={})
        options = [
            selector.SelectOptionDict(value=entry_id, label=site.title)
            for entry_id, site in sites.items()
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_TARGET): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=options)
                ),
                vol.Required(CONF_SOURCES): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=options, multiple=True)
                ),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow of a fixable repair issue."""
    return MergeSitesFlow()
