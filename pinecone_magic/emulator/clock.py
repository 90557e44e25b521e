"""Clocks that drive the emulated import lifecycle.

The emulator never runs a background thread to move imports along. It reads a clock whenever
it handles a request and computes each import's state from the elapsed time. Tests pass a
`ManualClock` and move it forward explicitly, so nothing depends on real time.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["DEFAULT_MANUAL_START", "Clock", "ManualClock", "SystemClock"]

#: Start time of a `ManualClock` created without one: 2026-01-01T00:00:00Z in Unix seconds.
DEFAULT_MANUAL_START = 1_767_225_600.0


@runtime_checkable
class Clock(Protocol):
    """Source of the current time in Unix seconds (UTC)."""

    def now(self) -> float:
        """Return the current time in seconds since the Unix epoch."""
        ...


class SystemClock:
    """Clock that reads the real time with `time.time()`."""

    def now(self) -> float:
        """Return the current wall-clock time in seconds since the Unix epoch."""
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """Clock that moves only through `advance` and `set`; safe to use from several threads.

    Example:
        clock = ManualClock()
        clock.advance(1.5)
    """

    def __init__(self, start: float = DEFAULT_MANUAL_START) -> None:
        self._lock = threading.Lock()
        self._now = float(start)

    def now(self) -> float:
        """Return the time this clock was last set or advanced to."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` and return the new time.

        Raises:
            ValueError: If `seconds` is negative, because the emulated lifecycle only moves
                forward.
        """
        if seconds < 0:
            raise ValueError(f"Cannot advance a clock by a negative amount: {seconds!r} seconds.")

        with self._lock:
            self._now += seconds
            return self._now

    def set(self, timestamp: float) -> None:
        """Set the clock to `timestamp` (Unix seconds); moving backwards is allowed."""
        with self._lock:
            self._now = float(timestamp)

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()!r})"
