"""Every translation has exactly English's strings, with the same placeholders, in valid JSON.

English (`en.json`) is the source: when a string is added there, these tests name the key
that each other language still lacks, so it can be translated before release.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

TRANSLATIONS = Path(__file__).parent.parent / "custom_components" / "v2g" / "translations"
LANGUAGES = ("de", "da", "sv", "nb", "nl", "fr")

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
REFERENCE = re.compile(r"\[%key:[a-z0-9_:.-]+%\]", re.IGNORECASE)
HTML_TAG = re.compile(r"<[a-z/!][^>]*>", re.IGNORECASE)
# Home Assistant renders strings with ICU MessageFormat, where an apostrophe right before a
# brace quotes it: "l'{entity_id}" would show "{entity_id}" literally. hassfest refuses it.
QUOTED_PLACEHOLDER = re.compile(r"'\{|\}'")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def _load(language: str) -> dict[str, Any]:
    path = TRANSLATIONS / f"{language}.json"
    assert path.is_file(), f"{path.name} is missing"
    data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys)
    assert isinstance(data, dict)
    return data


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf by its dotted key, for example config.step.user.title."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            leaves.update(_flatten(value, dotted))
        else:
            leaves[dotted] = value
    return leaves


def _problems(strings: dict[str, Any]) -> list[str]:
    """Strings that break the rules hassfest applies to translation values."""
    problems = []
    for key, value in strings.items():
        if not isinstance(value, str):
            problems.append(f"{key}: not a string ({value!r})")
            continue
        if not value.strip():
            problems.append(f"{key}: empty")
        elif value != value.strip():
            problems.append(f"{key}: leading or trailing whitespace")
        if HTML_TAG.search(value):
            problems.append(f"{key}: HTML")
        if QUOTED_PLACEHOLDER.search(value):
            problems.append(f"{key}: apostrophe next to a placeholder brace")
        if value.count("{") != value.count("}"):
            problems.append(f"{key}: unbalanced braces")
        if REFERENCE.search(value) and REFERENCE.fullmatch(value) is None:
            problems.append(f"{key}: a [%key:...%] reference combined with other text")
    return problems


@pytest.fixture(scope="module")
def english() -> dict[str, Any]:
    return _flatten(_load("en"))


def test_english_follows_hassfest_rules(english: dict[str, Any]) -> None:
    assert len(english) > 100
    assert _problems(english) == []


def test_every_language_has_a_file() -> None:
    present = {path.stem for path in TRANSLATIONS.glob("*.json")}
    assert present == {"en", *LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_as_english(language: str, english: dict[str, Any]) -> None:
    strings = _flatten(_load(language))
    missing = sorted(english.keys() - strings.keys())
    extra = sorted(strings.keys() - english.keys())
    assert not missing, f"{language}.json lacks {len(missing)} keys of en.json:\n" + "\n".join(
        missing
    )
    assert not extra, f"{language}.json has keys en.json does not:\n" + "\n".join(extra)


@pytest.mark.parametrize("language", LANGUAGES)
def test_strings_follow_hassfest_rules(language: str) -> None:
    assert _problems(_flatten(_load(language))) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_references_and_markdown_kept(language: str, english: dict[str, Any]) -> None:
    strings = _flatten(_load(language))
    wrong = []
    for key, source in english.items():
        if key not in strings:
            continue  # reported by test_same_keys_as_english
        translated = strings[key]
        if set(PLACEHOLDER.findall(translated)) != set(PLACEHOLDER.findall(source)):
            wrong.append(f"{key}: placeholders {sorted(set(PLACEHOLDER.findall(translated)))}")
        if REFERENCE.findall(translated) != REFERENCE.findall(source):
            wrong.append(f"{key}: references {REFERENCE.findall(translated)}")
        # The Markdown the frontend renders: code spans, bold, line breaks.
        for mark in ("`", "**", "\n"):
            if translated.count(mark) != source.count(mark):
                wrong.append(
                    f"{key}: {translated.count(mark)} of {mark!r}, English has {source.count(mark)}"
                )
    assert wrong == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_strings_are_translated(language: str, english: dict[str, Any]) -> None:
    """Most strings differ from English: a file is not English copied under another name."""
    strings = _flatten(_load(language))
    same = [key for key, value in english.items() if strings.get(key) == value]
    # Product names, units and placeholders alone ("{name}", "Modbus TCP", "Status") stay.
    assert len(same) < len(english) * 0.1, same


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_language_switch_keeps_entity_ids(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A user who switches Home Assistant to German sees German names on the same entities."""
    registry = er.async_get(hass)
    before = {
        entry.unique_id: entry.entity_id
        for entry in er.async_entries_for_config_entry(registry, init_integration.entry_id)
    }
    assert hass.states.get("sensor.garage_ev_state_of_charge").name == "Garage EV State of charge"

    await hass.config.async_update(language="de")
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()

    after = {
        entry.unique_id: entry.entity_id
        for entry in er.async_entries_for_config_entry(registry, init_integration.entry_id)
    }
    assert after == before
    german = _flatten(_load("de"))
    soc = hass.states.get("sensor.garage_ev_state_of_charge")
    assert soc.name == f"Garage EV {german['entity.sensor.soc.name']}"
    assert soc.name == "Garage EV Ladestand"
    plugged = hass.states.get("binary_sensor.garage_ev_plugged_in")
    assert plugged.name == "Garage EV Eingesteckt"


@pytest.mark.freeze_time("2026-01-15 18:30:00+01:00")
async def test_german_installation_reads_german(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A new German installation names its entities and explains a refused value in German."""
    await hass.config.async_update(language="de")
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    names = {
        state.entity_id: state.name
        for state in hass.states.async_all()
        if state.entity_id.split(".", 1)[0] in ("sensor", "number", "select", "binary_sensor")
        and state.name.startswith("Garage EV")
    }
    assert "Garage EV Ladestand" in names.values()
    assert "Garage EV Ziel-Ladestand" in names.values()
    # Home Assistant derives new entity ids from the German names (native entity ids).
    assert "sensor.garage_ev_ladestand" in names

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.garage_ev_mindest_ladestand", "value": 95},
            blocking=True,
        )
    # Home Assistant logs exceptions in English; the frontend shows the user's language from
    # the translation key and placeholders.
    assert err.value.translation_domain == "v2g"
    message = _flatten(_load("de"))[f"exceptions.{err.value.translation_key}.message"]
    assert message.format(**(err.value.translation_placeholders or {})) == (
        "95 % ist nicht erlaubt: Der Mindest-Ladestand darf nicht über dem Ziel-Ladestand liegen."
    )
