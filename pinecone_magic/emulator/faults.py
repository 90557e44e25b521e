"""Faults the emulator injects into its next matching responses.

A `Fault` applies to the next `times` requests that match its method and path prefix, then
expires. `FaultSchedule` contains the pending faults in the order they were added, and each
request consumes one use of the first fault that matches it. `parse_fault_spec` reads the compact
syntax of the command line's ``--fault`` option.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

__all__ = ["FAULT_SPEC_HELP", "Fault", "FaultAction", "FaultSchedule", "parse_fault_spec"]

FaultAction = Literal["respond", "delay", "drop", "hang", "slow_body"]

FAULT_ACTIONS: tuple[str, ...] = get_args(FaultAction)

FAULT_SPEC_HELP = """\
A fault spec is a comma-separated list of items. The first item names the fault, optionally
followed by xN to apply it to the next N matching requests (default 1):
  503, 429x3     respond with this HTTP status and an rpcStatus JSON body
  drop           close the connection without a response
  hang           read the request and never respond (until the client or emulator stops)
  slow           send the normal response in small chunks with pauses
  delay=SECONDS  wait, then send the normal response
Further items are KEY=VALUE:
  times=N           number of matching requests to affect (same as xN)
  delay=SECONDS     wait this long before acting
  method=METHOD     match only this HTTP method, e.g. DELETE
  path=PREFIX       match only request paths starting with PREFIX, e.g. /bulk/imports
  retry-after=SECS  add a Retry-After header to a status fault
  content-type=TYPE Content-Type of the body= text (default text/plain)
  body=TEXT         send TEXT instead of the rpcStatus body (TEXT cannot contain commas)
Examples: --fault 503x3 --fault 429,retry-after=2 --fault drop,method=DELETE
          --fault delay=3 --fault 502,body=<html>Bad gateway</html>,content-type=text/html"""


@dataclass(frozen=True)
class Fault:
    """A misbehaviour applied to the next `times` requests that match it.

    Attributes:
        action: What to do instead of the normal response. ``respond`` sends `status`,
            `headers` and `body`. ``delay`` waits `delay` seconds, then sends the normal
            response. ``drop`` closes the connection without a response. ``hang`` sends
            nothing until the client disconnects or the emulator stops. ``slow_body`` sends
            the response headers at once and the body in `chunk_size` byte pieces
            `chunk_delay` seconds apart. It slows the fault's own response if `status` is
            set, else the normal one.
        status: HTTP status of the injected response.
        headers: Extra response headers, e.g. ``{"Retry-After": "1"}``.
        body: Raw body bytes. None sends an rpcStatus JSON body that names the fault.
        delay: Seconds of real time to wait before acting, for every action.
        times: Number of matching requests to affect; None means until cleared.
        method: HTTP method to match, e.g. ``"DELETE"``; None matches every method.
        path_prefix: Prefix of the raw request path to match; None matches every path.
        chunk_size: Bytes per write for ``slow_body``.
        chunk_delay: Seconds between writes for ``slow_body``.
    """

    action: FaultAction = "respond"
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    times: int | None = 1
    method: str | None = None
    path_prefix: str | None = None
    chunk_size: int = 8
    chunk_delay: float = 0.05

    def __post_init__(self) -> None:
        if self.action not in FAULT_ACTIONS:
            raise ValueError(
                f"Invalid fault action {self.action!r}; expected one of {FAULT_ACTIONS}."
            )
        if self.action == "respond" and self.status is None:
            raise ValueError("A 'respond' fault needs a status, e.g. Fault(status=503).")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Invalid fault status {self.status!r}; expected 100 to 599.")
        if not math.isfinite(self.delay) or self.delay < 0:
            raise ValueError(f"Invalid fault delay {self.delay!r}; expected seconds >= 0.")
        if self.times is not None and self.times < 1:
            raise ValueError(f"Invalid fault times {self.times!r}; expected 1 or more, or None.")
        if self.chunk_size < 1:
            raise ValueError(f"Invalid chunk_size {self.chunk_size!r}; expected 1 or more.")
        if not math.isfinite(self.chunk_delay) or self.chunk_delay < 0:
            raise ValueError(f"Invalid chunk_delay {self.chunk_delay!r}; expected seconds >= 0.")

        object.__setattr__(self, "headers", dict(self.headers))
        if self.method is not None:
            object.__setattr__(self, "method", self.method.upper())

    def matches(self, method: str, path: str) -> bool:
        """Return whether a request with this method and raw path is subject to the fault."""
        if self.method is not None and method.upper() != self.method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass
class _PendingFault:
    """A scheduled fault and its remaining uses (None: until cleared)."""

    fault: Fault
    remaining: int | None


class FaultSchedule:
    """Thread-safe queue of pending faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_PendingFault] = []

    def add(self, fault: Fault) -> None:
        """Schedule `fault` after the faults already pending."""
        with self._lock:
            self._pending.append(_PendingFault(fault, fault.times))

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first pending fault that matches the request, if any."""
        with self._lock:
            for index, entry in enumerate(self._pending):
                if not entry.fault.matches(method, path):
                    continue

                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        del self._pending[index]
                return entry.fault

            return None

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[Fault]:
        """Return the pending faults, each with `times` set to its remaining uses."""
        with self._lock:
            return [replace(entry.fault, times=entry.remaining) for entry in self._pending]


def parse_fault_spec(spec: str) -> Fault:
    """Parse a ``--fault`` option value into a `Fault`; see `FAULT_SPEC_HELP` for the syntax.

    Raises:
        ValueError: If the spec is empty, names an unknown fault or key, or has a bad value.
    """
    items = [item.strip() for item in spec.split(",")]
    if not items[0]:
        raise ValueError(f"Invalid fault spec {spec!r}: it is empty. {_EXAMPLES}")

    action: FaultAction | None = None
    status: int | None = None
    times = 1
    delay = 0.0
    method: str | None = None
    path_prefix: str | None = None
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = {}

    for position, item in enumerate(items):
        key, has_value, value = item.partition("=")
        key = key.strip().lower()
        value = value.strip()

        if position == 0 and not has_value:
            action, status, times = _parse_fault_name(spec, key)
        elif not has_value:
            raise ValueError(f"Invalid fault spec {spec!r}: {item!r} is not KEY=VALUE. {_EXAMPLES}")
        elif key == "delay":
            delay = _parse_seconds(spec, key, value)
            action = action or "delay"
        elif key == "times":
            times = _parse_count(spec, key, value)
        elif key == "method":
            method = value.upper()
        elif key == "path":
            path_prefix = value
        elif key == "retry-after":
            _parse_seconds(spec, key, value)
            headers["Retry-After"] = value
        elif key == "content-type":
            content_type = value
        elif key == "body":
            body = value.encode("utf-8")
        else:
            raise ValueError(f"Invalid fault spec {spec!r}: unknown key {key!r}. {_EXAMPLES}")

    if action is None:
        raise ValueError(f"Invalid fault spec {spec!r}: it names no fault. {_EXAMPLES}")
    if body is not None:
        headers["Content-Type"] = content_type or "text/plain; charset=utf-8"
    elif content_type is not None:
        raise ValueError(f"Invalid fault spec {spec!r}: content-type needs body=TEXT.")

    return Fault(
        action=action,
        status=status,
        headers=headers,
        body=body,
        delay=delay,
        times=times,
        method=method,
        path_prefix=path_prefix,
    )


_EXAMPLES = "Examples: 503x3, drop, hang, slow, delay=3, 429,retry-after=2."

_NAMED_ACTIONS: dict[str, FaultAction] = {"drop": "drop", "hang": "hang", "slow": "slow_body"}


def _parse_fault_name(spec: str, name: str) -> tuple[FaultAction, int | None, int]:
    """Parse the leading item, e.g. ``503x3`` or ``drop``, into action, status and times."""
    base, _, count = name.partition("x")
    times = _parse_count(spec, "x", count) if count else 1

    if base.isdigit() and len(base) == 3:
        return "respond", int(base), times
    if base in _NAMED_ACTIONS:
        return _NAMED_ACTIONS[base], None, times

    raise ValueError(f"Invalid fault spec {spec!r}: unknown fault {name!r}. {_EXAMPLES}")


def _parse_seconds(spec: str, key: str, value: str) -> float:
    """Parse a non-negative number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0

    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"Invalid fault spec {spec!r}: {key} must be seconds >= 0, got {value!r}.")

    return seconds


def _parse_count(spec: str, key: str, value: str) -> int:
    """Parse a positive request count."""
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"Invalid fault spec {spec!r}: {key} must be 1 or more, got {value!r}.")

    return int(value)
