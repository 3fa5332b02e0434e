"""Bounded logging and rate limits for what chargers (and strangers) send the central system.

Everything a charger sends is untrusted: text from it is escaped before it reaches a log line (a
newline in a frame must not forge a log line), warnings are rate limited per station with a
summary of what was left out, and unknown identities knocking on the server are reported to the
integration only a few at a time. Every structure here is bounded, whatever a peer sends.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
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


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"


def minutes(seconds: float) -> str:
    """'10 min' or '45 s' for summary lines."""
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


class SummaryTimer:
    """Calls `flush` once after a delay, when an event loop runs (else never: flush by hand)."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, delay_s: float) -> None:
        """Flush after `delay_s`, unless already armed."""
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._handle = loop.call_later(max(0.0, delay_s), self._due)

    def _due(self) -> None:
        self._handle = None
        self._flush()

    def cancel(self) -> None:
        """Forget the pending flush."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


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
        noun: str = "warnings",
        summary_level: int = logging.WARNING,
    ) -> None:
        self._logger = logger
        self._name = name
        self._noun = noun
        self._summary_level = summary_level
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._window = _Window(started=clock())
        self._timer = SummaryTimer(self.flush)
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
        self._timer.arm(self._window_s - (now - window.started))
        return False

    def close(self) -> None:
        """Write what is pending and stop the summary timer."""
        self.flush()
        self._timer.cancel()

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
            self._logger.log(
                self._summary_level,
                "%s: %s more %s left out in the last %s (%s)",
                self._name,
                f"{count:,}",
                self._noun,
                minutes(now - window.started),
                kinds,
            )
        self._window = _Window(started=now)


class UnknownIdentityGate:
    """Which unknown identities are reported to the integration (a discovery flow each).

    A charger that is not registered yet is worth one report; a scanner trying thousands of
    names from one or many addresses is not. Per window (`window_s`): at most
    `max_reports` distinct identities are reported overall and `max_per_address` per source
    address; an identity already reported in the window is not reported again. Everything
    refused is counted and logged as one summary line per window. Memory is bounded by the
    caps, whatever arrives.
    """

    MAX_TRACKED = 1024
    """Addresses and refused identities remembered per window (beyond: counted only)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        max_reports: int = 10,
        max_per_address: int = 3,
        window_s: float = 600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._logger = logger
        self._max_reports = max_reports
        self._max_per_address = max_per_address
        self.window_s = window_s
        self._clock = clock
        self._started = clock()
        self._reported: OrderedDict[str, None] = OrderedDict()
        self._per_address: dict[str, int] = {}
        self._refused_identities: set[str] = set()
        self._refused_addresses: set[str] = set()
        self._refused = 0
        self._timer = SummaryTimer(self.flush)

    @property
    def refused(self) -> int:
        """Requests refused in the current window."""
        return self._refused

    def admit(self, identity: str, address: str) -> bool:
        """Whether this unknown identity is reported now (and logged); else it is counted."""
        now = self._clock()
        if now - self._started >= self.window_s:
            self.flush(now)
        if identity in self._reported:
            return False  # already reported in this window: the flow exists
        per_address = self._per_address.get(address, 0)
        if (
            len(self._reported) >= self._max_reports
            or per_address >= self._max_per_address
            or (address not in self._per_address and len(self._per_address) >= self.MAX_TRACKED)
        ):
            self._refuse(identity, address)
            self._timer.arm(self.window_s - (now - self._started))
            return False
        self._per_address[address] = per_address + 1
        self._reported[identity] = None
        self._logger.warning(
            "Unknown charger %s connected from %s", escape(identity), escape(address)
        )
        return True

    def _refuse(self, identity: str, address: str) -> None:
        self._refused += 1
        if len(self._refused_identities) < self.MAX_TRACKED:
            self._refused_identities.add(identity)
        if len(self._refused_addresses) < self.MAX_TRACKED:
            self._refused_addresses.add(address)

    def flush(self, now: float | None = None) -> None:
        """Log what the window refused (one line) and start a new window."""
        now = self._clock() if now is None else now
        if self._refused:
            capped = "at least " if len(self._refused_identities) >= self.MAX_TRACKED else ""
            self._logger.warning(
                "%s%s unknown charger identities from %s refused in the last %s "
                "(%s connection attempts; at most %d identities per %s are offered for setup)",
                capped,
                f"{len(self._refused_identities):,}",
                _count(len(self._refused_addresses), "address", "addresses"),
                minutes(now - self._started),
                f"{self._refused:,}",
                self._max_reports,
                minutes(self.window_s),
            )
        self._started = now
        self._reported.clear()
        self._per_address.clear()
        self._refused_identities.clear()
        self._refused_addresses.clear()
        self._refused = 0

    def close(self) -> None:
        """Write what is pending and stop the summary timer."""
        self.flush()
        self._timer.cancel()
