"""Repair issues follow the input problems."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.v2g.inputs.issues import (
    clear_repair_issues,
    repair_issue_id,
    sync_repair_issues,
)
from custom_components.v2g.inputs.model import InputProblem, ProblemKey

DOMAIN = "v2g"


async def test_issues_created_updated_and_cleared(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    price = InputProblem(ProblemKey.PRICE_SOURCE_UNAVAILABLE, "sensor.price")
    solar = InputProblem(ProblemKey.SOLAR_SOURCE_UNAVAILABLE, "entry123", label="Roof")
    other_entry = InputProblem(ProblemKey.LOAD_HISTORY_MISSING, "sensor.load")
    sync_repair_issues(hass, DOMAIN, "other", [other_entry])
    sync_repair_issues(hass, DOMAIN, "e1", [price, solar])
    issue = issue_registry.async_get_issue(DOMAIN, repair_issue_id("e1", solar))
    assert issue is not None
    assert issue.translation_key == "solar_source_unavailable"
    assert issue.translation_placeholders == {"entity_id": "Roof"}
    assert issue.severity is ir.IssueSeverity.WARNING

    sync_repair_issues(hass, DOMAIN, "e1", [solar])
    assert issue_registry.async_get_issue(DOMAIN, repair_issue_id("e1", price)) is None
    assert issue_registry.async_get_issue(DOMAIN, repair_issue_id("e1", solar)) is not None

    clear_repair_issues(hass, DOMAIN, "e1")
    assert issue_registry.async_get_issue(DOMAIN, repair_issue_id("e1", solar)) is None
    # Another entry's issues are left alone.
    assert issue_registry.async_get_issue(DOMAIN, repair_issue_id("other", other_entry))
