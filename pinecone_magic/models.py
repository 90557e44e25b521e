"""Imports as Pinecone describes them, and the results of our calls.

Objects here are plain frozen dataclasses. They render as HTML, plain text and JSON
through display.py, which they import only when IPython requests a rendering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .defaults import IMPORT_STATUSES

if TYPE_CHECKING:
    from IPython.lib.pretty import PrettyPrinter

    from .errors import PineconeMagicError

#: Statuses after which an import no longer changes, so a cancel has no effect.
FINISHED_STATUSES = frozenset({"Completed", "Failed", "Cancelled"})
KNOWN_STATUSES = IMPORT_STATUSES


class _RichDisplay:
    """Mixin that hands rendering to display.py when IPython shows the object."""

    def _repr_mimebundle_(
        self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
    ) -> dict[str, Any]:
        # NOTE: imported here so that models.py stays below display.py in the layering.
        from .display import mimebundle

        return mimebundle(self, include=include, exclude=exclude)

    def _repr_pretty_(self, printer: PrettyPrinter, cycle: bool) -> None:
        from .display import plain_text

        printer.text(plain_text(self))


def parse_timestamp(value: object) -> datetime | None:
    """Parse an RFC 3339 timestamp such as 2026-12-04T19:55:22.123Z, or return None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _optional_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _optional_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    # The API declares int64, which some JSON encoders send as a string.
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@dataclass(frozen=True)
class ImportModel(_RichDisplay):
    """One bulk import, as returned by describe and list.

    No field is required by the API, so each one may be None. A field of the wrong type
    is also None, and `raw` keeps the JSON object as received.
    """

    id: str | None
    status: str | None = None
    uri: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    percent_complete: float | None = None
    records_imported: int | None = None
    error: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImportModel:
        """Build an ImportModel from the camelCase JSON object of the API."""
        return cls(
            id=_optional_str(data.get("id")),
            status=_optional_str(data.get("status")),
            uri=_optional_str(data.get("uri")),
            created_at=parse_timestamp(data.get("createdAt")),
            finished_at=parse_timestamp(data.get("finishedAt")),
            percent_complete=_optional_float(data.get("percentComplete")),
            records_imported=_optional_int(data.get("recordsImported")),
            error=_optional_str(data.get("error")),
            raw=dict(data),
        )

    @property
    def is_finished(self) -> bool:
        """Whether the import reached Completed, Failed or Cancelled."""
        return self.status in FINISHED_STATUSES


def newest_first(imports: Iterable[ImportModel]) -> list[ImportModel]:
    """Return the imports sorted by creation time, newest first, undated ones last."""

    def sort_key(model: ImportModel) -> tuple[int, float]:
        if model.created_at is None:
            return (1, 0.0)
        return (0, -model.created_at.timestamp())

    return sorted(imports, key=sort_key)


@dataclass(frozen=True)
class CancelResult(_RichDisplay):
    """The response to one cancel request.

    A 200 response means Pinecone accepted the request. The import turns Cancelled only
    afterwards, and a cancel has no effect on an import that already finished.
    """

    import_id: str
    status_code: int
    url: str
    body: Any = None
    request_id: str | None = None
    elapsed: float = 0.0
    attempts: int = 1


@dataclass(frozen=True)
class ImportList(_RichDisplay):
    """Imports of one index, newest first, with the filter that selected them."""

    imports: tuple[ImportModel, ...]
    statuses: tuple[str, ...] = ()
    total: int = 0

    def __iter__(self) -> Iterator[ImportModel]:
        return iter(self.imports)

    def __len__(self) -> int:
        return len(self.imports)

    def __getitem__(self, index: int) -> ImportModel:
        return self.imports[index]


#: Outcomes of one cancel in a batch, in the words the table shows.
OUTCOME_REQUESTED = "cancel requested"
OUTCOME_CANCELLED = "cancelled"
OUTCOME_NO_EFFECT = "no effect"
OUTCOME_NOT_FOUND = "not found"
OUTCOME_ERROR = "error"


@dataclass(frozen=True)
class CancelOutcome(_RichDisplay):
    """The outcome of one import in a batch cancel.

    `status_after` is the import as described right after the cancel request, or None
    when that check was skipped or failed. `error` is set when the outcome is an error or
    not found.
    """

    import_id: str
    outcome: str
    result: CancelResult | None = None
    status_after: ImportModel | None = None
    error: PineconeMagicError | None = None

    @property
    def failed(self) -> bool:
        """Whether this import counts as a failure of the batch."""
        return self.outcome in (OUTCOME_ERROR, OUTCOME_NOT_FOUND)


@dataclass(frozen=True)
class CancelBatch(_RichDisplay):
    """Outcomes of a batch cancel, in the order of the ids given.

    After a wait, `final` contains each import as last described, and `still_running` the
    ids that had not finished when the wait ended.
    """

    outcomes: tuple[CancelOutcome, ...]
    elapsed: float = 0.0
    final: tuple[ImportModel, ...] = ()
    still_running: tuple[str, ...] = ()
    waited: float | None = None

    def __iter__(self) -> Iterator[CancelOutcome]:
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    def __getitem__(self, index: int) -> CancelOutcome:
        return self.outcomes[index]

    @property
    def failed(self) -> tuple[CancelOutcome, ...]:
        """Outcomes that count as failures: not found or an error."""
        return tuple(outcome for outcome in self.outcomes if outcome.failed)
