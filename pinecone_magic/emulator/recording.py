"""Requests the emulator received, kept for tests to inspect."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SECRET_HEADERS", "RecordedRequest", "RequestLog", "merge_headers"]

#: Lower-cased names of headers whose values `RecordedRequest.__repr__` replaces with ``***``.
SECRET_HEADERS = frozenset({"api-key", "authorization", "proxy-authorization"})


def merge_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return headers keyed by lower-cased name, joining repeated ones with ``", "``.

    HTTP allows combining repeated fields this way. It also means a header sent twice, such as
    two API keys, never equals a single expected value.
    """
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as it arrived on the wire, and the status of the emulator's response.

    Attributes:
        method: HTTP method, e.g. ``"DELETE"``.
        target: Request target exactly as sent, with the query string.
        raw_path: `target` without the query string, still percent-encoded.
        path: `raw_path` with every percent-escape decoded.
        query: Query parameters; each name maps to all its values in order.
        header_items: Headers as sent: original names, order and repeats.
        body: Request body bytes (empty when there is none).
        status: HTTP status of the response, or None when the emulator sent none (a dropped
            or hung connection, or a client that disconnected first).
        connection_id: Number of the TCP connection, counting from 1 in accept order, so
            requests with the same number shared a keep-alive connection.
    """

    method: str
    target: str
    raw_path: str
    path: str
    query: dict[str, list[str]]
    header_items: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None
    connection_id: int

    @property
    def headers(self) -> dict[str, str]:
        """Headers with lower-cased names; repeated headers are joined with ``", "``."""
        return merge_headers(self.header_items)

    def header_values(self, name: str) -> list[str]:
        """Return every value sent for header `name` (case-insensitive), in order."""
        expected_name = name.lower()
        return [value for key, value in self.header_items if key.lower() == expected_name]

    def __repr__(self) -> str:
        headers = {
            name: "***" if name.lower() in SECRET_HEADERS else value
            for name, value in self.header_items
        }
        return (
            f"RecordedRequest(method={self.method!r}, target={self.target!r}, "
            f"status={self.status!r}, connection_id={self.connection_id!r}, "
            f"headers={headers!r}, body={self.body[:200]!r})"
        )


class RequestLog:
    """Thread-safe, append-only list of `RecordedRequest` objects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._requests.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        """Return a copy of the requests recorded so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._requests.clear()
