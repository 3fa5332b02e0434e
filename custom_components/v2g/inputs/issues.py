"""Repair issues for input problems: one per config entry, problem key and source.

The coordinator calls `sync_repair_issues` after each `InputCollector.async_collect` (and
`clear_repair_issues` when the entry unloads). Issues are persistent in Home Assistant, so the
sync compares with the issue registry itself: an issue left over from before a restart whose
problem has gone is deleted too.

Each issue uses the problem key as `translation_key` and `{entity_id}` as placeholder; the
integration's `translations/en.json` needs an `issues` entry per `ProblemKey`.
"""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .model import InputProblem

ISSUE_PREFIX = "input"


def repair_issue_id(entry_id: str, problem: InputProblem) -> str:
    """Issue id: `input.<entry id>.<problem key>.<entity or config entry id>`."""
    return f"{ISSUE_PREFIX}.{entry_id}.{problem.issue_id}"


@callback
def sync_repair_issues(
    hass: HomeAssistant, domain: str, entry_id: str, problems: Iterable[InputProblem]
) -> None:
    """Create an issue per current problem and delete this entry's other input issues."""
    wanted = {repair_issue_id(entry_id, problem): problem for problem in problems}
    for issue_id, problem in wanted.items():
        ir.async_create_issue(
            hass,
            domain,
            issue_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=str(problem.key),
            translation_placeholders=problem.placeholders,
        )
    _delete_other(hass, domain, entry_id, keep=set(wanted))


@callback
def clear_repair_issues(hass: HomeAssistant, domain: str, entry_id: str) -> None:
    """Delete every input issue of the entry (on unload or removal)."""
    _delete_other(hass, domain, entry_id, keep=set())


def _delete_other(hass: HomeAssistant, domain: str, entry_id: str, keep: set[str]) -> None:
    prefix = f"{ISSUE_PREFIX}.{entry_id}."
    registry = ir.async_get(hass)
    stale = [
        issue_id
        for (issue_domain, issue_id) in registry.issues
        if issue_domain == domain and issue_id.startswith(prefix) and issue_id not in keep
    ]
    for issue_id in stale:
        ir.async_delete_issue(hass, domain, issue_id)
