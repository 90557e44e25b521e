"""Emulated bulk imports: their lifecycle on a clock, cancellation and paginated listing.

Each import stores a timeline of absolute times (when it leaves Pending, when it reaches
100 percent, when it finishes) and its status is computed from the clock whenever it is read.
With the default `Timings` a new import is:

- ``Pending`` for `Timings.pending_seconds`,
- ``InProgress`` for `Timings.run_seconds` while ``percentComplete`` and ``recordsImported``
  rise linearly to 100 percent and the import's total record count,
- ``InProgress`` at 100 percent for `Timings.indexing_seconds`, because the real service
  keeps an import there while it indexes the records,
- ``Completed``, with ``finishedAt``.

An import created with the ``Failed`` outcome fails halfway through its run instead, and a
cancel request turns an unfinished import ``Cancelled`` after `Timings.cancel_latency`.
`ImportStore` is safe to use from the server's handler threads and from test code at once.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime
import itertools
import math
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from .clock import Clock

__all__ = [
    "FIRST_IMPORT_ID",
    "MAX_IMPORT_ID_LENGTH",
    "MAX_LIST_LIMIT",
    "ImportNotFoundError",
    "ImportRecord",
    "ImportStatus",
    "ImportStore",
    "InvalidPaginationTokenError",
    "Timings",
    "format_timestamp",
]

ImportStatus = Literal["Pending", "InProgress", "Failed", "Completed", "Cancelled"]
ImportOutcome = Literal["Completed", "Failed"]

IMPORT_STATUSES: tuple[str, ...] = get_args(ImportStatus)
FINISHED_STATUSES = frozenset({"Completed", "Failed", "Cancelled"})

#: The id of the first import the emulator creates without an explicit id.
FIRST_IMPORT_ID = 101

#: Import ids are 1 to 1000 characters long, the bounds of the 2025-10 spec's `id` parameter.
MAX_IMPORT_ID_LENGTH = 1000

#: The largest `limit` a listing accepts, and its default.
MAX_LIST_LIMIT = 100

DEFAULT_FAILURE_MESSAGE = "Emulated failure: the import could not read its Parquet files."

_TOKEN_PREFIX = "imports-after:"


class ImportNotFoundError(KeyError):
    """No import has the requested id."""

    def __init__(self, import_id: str) -> None:
        super().__init__(import_id)
        self.import_id = import_id

    def __str__(self) -> str:
        return f"Import {self.import_id} not found"


class InvalidPaginationTokenError(ValueError):
    """The pagination token was not issued by this store or cannot be decoded."""


@dataclass(frozen=True)
class Timings:
    """Durations in seconds of each phase of an emulated import."""

    pending_seconds: float = 1.0
    run_seconds: float = 30.0
    indexing_seconds: float = 10.0
    cancel_latency: float = 1.0

    def __post_init__(self) -> None:
        for name in ("pending_seconds", "run_seconds", "indexing_seconds", "cancel_latency"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Invalid {name}: {value!r}; expected a finite number >= 0.")


@dataclass
class ImportRecord:
    """One emulated import and the absolute times (Unix seconds) of its phases."""

    id: str
    uri: str
    sequence: int
    created_at: float
    running_from: float
    running_until: float
    finishes_at: float
    outcome: ImportOutcome
    total_records: int
    error: str | None = None
    integration_id: str | None = None
    error_mode: str | None = None
    cancel_at: float | None = None

    @property
    def sort_key(self) -> tuple[float, int]:
        """Position in listings: oldest creation time first, then creation order."""
        return (self.created_at, self.sequence)

    @property
    def cancel_wins(self) -> bool:
        """Whether a cancel request takes effect before the import finishes on its own."""
        return self.cancel_at is not None and self.cancel_at < self.finishes_at

    def end_time(self) -> float:
        """Return when the import finishes, counting a cancel that lands before it ends."""
        if self.cancel_at is not None and self.cancel_wins:
            return self.cancel_at

        return self.finishes_at

    def status_at(self, now: float) -> ImportStatus:
        """Return the import's status at time `now`."""
        if now >= self.end_time():
            return "Cancelled" if self.cancel_wins else self.outcome

        if now < self.running_from:
            return "Pending"

        return "InProgress"

    def percent_at(self, now: float) -> float:
        """Return ``percentComplete`` at time `now`; it stops moving once the import ends."""
        moment = min(now, self.end_time())
        if moment >= self.running_until:
            return 100.0
        if moment <= self.running_from:
            return 0.0

        elapsed = moment - self.running_from
        return 100.0 * elapsed / (self.running_until - self.running_from)

    def to_json(self, now: float) -> dict[str, Any]:
        """Return the ImportModel JSON object (camelCase keys) as of time `now`."""
        status = self.status_at(now)
        percent = self.percent_at(now)

        model: dict[str, Any] = {
            "id": self.id,
            "uri": self.uri,
            "status": status,
            "createdAt": format_timestamp(self.created_at),
            "percentComplete": round(percent, 2),
            "recordsImported": math.floor(self.total_records * percent / 100.0),
        }
        if status in FINISHED_STATUSES:
            model["finishedAt"] = format_timestamp(self.end_time())
        if status == "Failed":
            model["error"] = self.error or DEFAULT_FAILURE_MESSAGE

        return model


def format_timestamp(seconds: float) -> str:
    """Format Unix seconds as RFC 3339 UTC with milliseconds, e.g. ``2026-12-04T19:55:22.123Z``."""
    milliseconds = math.floor(seconds * 1000)
    moment = datetime.datetime.fromtimestamp(milliseconds // 1000, tz=datetime.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{milliseconds % 1000:03d}Z"


def validate_import_id(import_id: str) -> None:
    """Raise ValueError unless `import_id` is a string of 1 to 1000 characters."""
    if not isinstance(import_id, str):
        raise TypeError(f"Import id must be a string, got {type(import_id).__name__}.")
    if not 1 <= len(import_id) <= MAX_IMPORT_ID_LENGTH:
        raise ValueError(
            f"Import id must be 1 to {MAX_IMPORT_ID_LENGTH} characters long, "
            f"got {len(import_id)} characters."
        )


def default_total_records(import_id: str) -> int:
    """Return a record count between 100,000 and 999,999 derived from the import id."""
    return 100_000 + zlib.crc32(import_id.encode("utf-8")) % 900_000


def encode_pagination_token(sequence: int) -> str:
    """Return the opaque token that resumes a listing after the import `sequence`."""
    raw = f"{_TOKEN_PREFIX}{sequence}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_pagination_token(token: str) -> int:
    """Return the import sequence a token points after.

    Raises:
        InvalidPaginationTokenError: If the token is not one this module encodes.
    """
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
    except (UnicodeError, binascii.Error):
        raise InvalidPaginationTokenError(f"Invalid pagination token: {token!r}") from None

    if not text.startswith(_TOKEN_PREFIX) or not text[len(_TOKEN_PREFIX) :].isdigit():
        raise InvalidPaginationTokenError(f"Invalid pagination token: {token!r}")

    return int(text[len(_TOKEN_PREFIX) :])


class ImportStore:
    """Thread-safe collection of emulated imports, read against a clock.

    Listings are ordered by creation time, oldest first, and by creation order among imports
    created at the same time. Pagination tokens name the last import of the previous page, so
    imports created during a listing appear at its end and none is returned twice.
    """

    def __init__(self, clock: Clock, timings: Timings | None = None) -> None:
        self.clock = clock
        self.timings = timings or Timings()
        self._lock = threading.RLock()
        self._imports: dict[str, ImportRecord] = {}
        self._by_sequence: dict[int, ImportRecord] = {}
        self._ordered: list[ImportRecord] = []
        self._ordered_keys: list[tuple[float, int]] = []
        self._issued_cursors: set[int] = set()
        self._sequence = itertools.count()
        self._next_numeric_id = FIRST_IMPORT_ID

    def __len__(self) -> int:
        with self._lock:
            return len(self._imports)

    def __iter__(self) -> Iterator[ImportRecord]:
        with self._lock:
            return iter(list(self._ordered))

    def create(
        self,
        uri: str,
        *,
        import_id: str | None = None,
        status: ImportStatus | None = None,
        outcome: ImportOutcome = "Completed",
        error: str | None = None,
        percent_complete: float | None = None,
        created_at: float | None = None,
        total_records: int | None = None,
        integration_id: str | None = None,
        error_mode: str | None = None,
    ) -> ImportRecord:
        """Create an import and return its record.

        Without `status`, the import starts its lifecycle at `created_at` (default: now) and
        ends with `outcome`. With `status`, the import is in that status now, regardless of
        `created_at`. ``Pending`` and ``InProgress`` then continue their lifecycle from now,
        and ``Completed``, ``Failed`` and ``Cancelled`` are finished at the current time.
        `percent_complete` sets the progress of an ``InProgress``, ``Failed`` or ``Cancelled``
        import (default 0).

        Raises:
            ValueError: If the id is taken or invalid, or the arguments contradict each other.
        """
        if status is not None and status not in IMPORT_STATUSES:
            raise ValueError(f"Invalid status {status!r}; expected one of {IMPORT_STATUSES}.")
        if outcome not in ("Completed", "Failed"):
            raise ValueError(f"Invalid outcome {outcome!r}; expected 'Completed' or 'Failed'.")
        if percent_complete is not None and not 0.0 <= percent_complete <= 100.0:
            raise ValueError(f"Invalid percent_complete {percent_complete!r}; expected 0 to 100.")
        if percent_complete is not None and status not in ("InProgress", "Failed", "Cancelled"):
            raise ValueError(
                "percent_complete applies only to status 'InProgress', 'Failed' or 'Cancelled'."
            )

        with self._lock:
            now = self.clock.now()
            if import_id is None:
                import_id = self._allocate_numeric_id()
            else:
                validate_import_id(import_id)
                if import_id in self._imports:
                    raise ValueError(f"Import id {import_id!r} already exists.")

            record = self._build_record(
                import_id,
                uri,
                now=now,
                created_at=now if created_at is None else created_at,
                status=status,
                outcome=outcome,
                percent_complete=percent_complete or 0.0,
            )
            record.error = error
            record.integration_id = integration_id
            record.error_mode = error_mode
            if total_records is not None:
                record.total_records = total_records

            self._insert(record)
            return record

    def get(self, import_id: str) -> ImportRecord:
        """Return the import with id `import_id`.

        Raises:
            ImportNotFoundError: If no import has that id.
        """
        with self._lock:
            record = self._imports.get(import_id)
            if record is None:
                raise ImportNotFoundError(import_id)
            return record

    def describe(self, import_id: str) -> dict[str, Any]:
        """Return the ImportModel JSON object of one import as of now."""
        with self._lock:
            return self.get(import_id).to_json(self.clock.now())

    def cancel(self, import_id: str) -> None:
        """Request cancellation of an import.

        A finished import is left as it is. Otherwise the import becomes ``Cancelled`` after
        `Timings.cancel_latency`, unless it finishes on its own first. Repeated requests keep
        the earliest cancel time.

        Raises:
            ImportNotFoundError: If no import has that id.
        """
        with self._lock:
            record = self.get(import_id)
            now = self.clock.now()
            if record.status_at(now) in FINISHED_STATUSES or record.cancel_at is not None:
                return

            record.cancel_at = now + self.timings.cancel_latency

    def list_page(
        self, limit: int = MAX_LIST_LIMIT, pagination_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return one page of ImportModel JSON objects and the token of the next page.

        The token is None on the last page.

        Raises:
            ValueError: If `limit` is outside 1 to 100.
            InvalidPaginationTokenError: If the token was not issued by this store.
        """
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"Invalid limit {limit}; expected 1 to {MAX_LIST_LIMIT}.")

        with self._lock:
            start = 0
            if pagination_token is not None:
                start = self._resolve_token(pagination_token)

            page = self._ordered[start : start + limit]
            now = self.clock.now()
            models = [record.to_json(now) for record in page]

            next_token = None
            if page and start + limit < len(self._ordered):
                last = page[-1].sequence
                self._issued_cursors.add(last)
                next_token = encode_pagination_token(last)

            return models, next_token

    def _resolve_token(self, token: str) -> int:
        """Return the listing index where the page after `token` starts."""
        sequence = decode_pagination_token(token)
        if sequence not in self._issued_cursors:
            raise InvalidPaginationTokenError(f"Unknown pagination token: {token!r}")

        record = self._by_sequence[sequence]
        return bisect.bisect_right(self._ordered_keys, record.sort_key)

    def _allocate_numeric_id(self) -> str:
        """Return the next unused decimal id, starting at 101."""
        while str(self._next_numeric_id) in self._imports:
            self._next_numeric_id += 1

        import_id = str(self._next_numeric_id)
        self._next_numeric_id += 1
        return import_id

    def _build_record(
        self,
        import_id: str,
        uri: str,
        *,
        now: float,
        created_at: float,
        status: ImportStatus | None,
        outcome: ImportOutcome,
        percent_complete: float,
    ) -> ImportRecord:
        """Return a record whose timeline gives `status` now, or the natural lifecycle.

        A ``Failed`` outcome fails halfway between the start of the run (or now, if the
        import is created ``InProgress``) and 100 percent, so with ``run_seconds=0`` it fails
        as soon as it leaves Pending.
        """
        timings = self.timings
        run = timings.run_seconds
        cancel_at = None

        if status is None:
            running_from = created_at + timings.pending_seconds
        elif status == "Pending":
            running_from = now + timings.pending_seconds
        elif status == "Completed":
            running_from = now - run
        else:
            running_from = now - run * percent_complete / 100.0
        running_until = running_from + run
        finishes_at = running_until + timings.indexing_seconds

        if status == "Completed":
            outcome = "Completed"
            finishes_at = now
        elif status == "Failed":
            outcome = "Failed"
            finishes_at = now
        elif status == "Cancelled":
            outcome = "Completed"
            finishes_at = math.inf
            cancel_at = now
        elif outcome == "Failed":
            fails_from = running_from if status is None else max(running_from, now)
            finishes_at = (fails_from + running_until) / 2.0

        return ImportRecord(
            id=import_id,
            uri=uri,
            sequence=next(self._sequence),
            created_at=created_at,
            running_from=running_from,
            running_until=running_until,
            finishes_at=finishes_at,
            outcome=outcome,
            total_records=default_total_records(import_id),
            cancel_at=cancel_at,
        )

    def _insert(self, record: ImportRecord) -> None:
        """Add `record` to the id index and to the ordered listing."""
        self._imports[record.id] = record
        self._by_sequence[record.sequence] = record

        position = bisect.bisect_right(self._ordered_keys, record.sort_key)
        self._ordered.insert(position, record)
        self._ordered_keys.insert(position, record.sort_key)
