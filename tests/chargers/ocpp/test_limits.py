"""Escaping and rate limits for what chargers send."""

from __future__ import annotations

from custom_components.v2g.chargers.ocpp.limits import escape


def test_escape_keeps_one_line() -> None:
    forged = 'x"]\n2026-01-01 00:00:00 ERROR (MainThread) [homeassistant] forged\r\x1b[31m\u202e'
    text = escape(forged)
    assert "\n" not in text
    assert "\r" not in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\\n2026-01-01" in text
    assert text.endswith("\\x1b[31m\\u202e")
    assert escape("a" * 1000).endswith("... (1000 characters)")
    assert len(escape("\n" * 1000)) < 2 * 300 + 40  # cut before escaping
    assert escape("\n" * 10, max_chars=None) == "\\n" * 10
    assert escape({"k": "v"}) == "{'k': 'v'}"
