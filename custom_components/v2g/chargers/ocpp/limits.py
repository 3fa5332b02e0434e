"""Bounded logging and rate limits for what chargers (and strangers) send the central system.

Everything a charger sends is untrusted: text from it is escaped before it reaches a log line (a
newline in a frame must not forge a log line), and warnings are rate limited per station with a
summary of what was left out. Every structure here is bounded, whatever a peer sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import re
import time

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


def minutes(seconds: float) -> str:
    """'10 min' or '45 s' for summary lines."""
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


@dataclass(slots=True)
class _Window:
    started: float
    logged: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)


class LogLimiter:
    """At most `burst` warnings per `window_s`; the rest are counted by kind and summarised.

    One limiter per station (it outlives reconnects, so a reconnect storm does not reset it).
    The summary ("1,234 more warnings left out in the last 10 min: bad frame 1,200, ...") is
    written when the window ends (a timer, when an event loop runs), with the first warning of
    the next window, or by `flush()`. `close()` writes it and stops the timer.
    """

    MAX_KINDS = 16
    """Kinds counted separately in a summary; others are counted as 'other'."""

    def __init__(
        self,
        logger: logging.Logger,
        name: str,
        *,
        burst: int = 5,
        window_s: float = 600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._logger = logger
        self._name = name
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._window = _Window(started=clock())
        self._timer: asyncio.TimerHandle | None = None
        self.total_suppressed = 0

    def log(self, kind: str, level: int, msg: str, *args: object) -> bool:
        """Log `msg % args` unless this window's quota is spent; returns whether it was logged.

        `args` must already be safe (escaped); `kind` names the warning in the summary.
        """
        if not self._logger.isEnabledFor(level):
            return False
        now = self._clock()
        if now - self._window.started >= self._window_s:
            self.flush(now)
        window = self._window
        if window.logged < self._burst:
            window.logged += 1
            self._logger.log(level, msg, *args)
            return True
        known = kind in window.suppressed or len(window.suppressed) < self.MAX_KINDS
        key = kind if known else "other"
        window.suppressed[key] = window.suppressed.get(key, 0) + 1
        self.total_suppressed += 1
        if self._timer is None:
            self._schedule_summary(self._window_s - (now - window.started))
        return False

    def _schedule_summary(self, delay_s: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the summary comes with the next warning or flush()
        self._timer = loop.call_later(max(0.0, delay_s), self._summary_due)

    def _summary_due(self) -> None:
        self._timer = None
        self.flush()

    def close(self) -> None:
        """Write what is pending and stop the summary timer."""
        self.flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def flush(self, now: float | None = None) -> None:
        """Write the summary of what this window left out, and start a new window."""
        now = self._clock() if now is None else now
        window = self._window
        if window.suppressed:
            count = sum(window.suppressed.values())
            kinds = ", ".join(
                f"{kind} {number:,}"
                for kind, number in sorted(window.suppressed.items(), key=lambda kv: -kv[1])
            )
            self._logger.warning(
                "%s: %s more warnings left out in the last %s (%s)",
                self._name,
                f"{count:,}",
                minutes(now - window.started),
                kinds,
            )
        self._window = _Window(started=now)
