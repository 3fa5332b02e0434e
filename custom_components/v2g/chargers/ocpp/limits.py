"""Bounded logging for what chargers send the central system.

Everything a charger sends is untrusted: text from it is escaped before it reaches a log line (a
newline in a frame must not forge a log line).
"""

from __future__ import annotations

from collections.abc import Callable
import re

type Clock = Callable[[], float]
"""Monotonic seconds (time.monotonic, or a test's clock)."""

MAX_LOGGED_CHARS = 300
"""Text from a charger is cut to this length in log lines (unless traffic logging is asked for)."""

# C0/C1 controls, DEL, line/paragraph separators and bidirectional overrides: anything that
# could start a new log line, move the cursor or reorder what a reader sees.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if named := _NAMED.get(char):
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(value: object, max_chars: int | None = MAX_LOGGED_CHARS) -> str:
    """`value` as one safe log line: control characters escaped, cut to `max_chars`."""
    text = value if isinstance(value, str) else repr(value)
    suffix = ""
    if max_chars is not None and len(text) > max_chars:
        suffix = f"... ({len(text)} characters)"
        text = text[:max_chars]
    return _UNSAFE.sub(_escape_char, text) + suffix
