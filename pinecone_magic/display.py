"""Render results and errors as HTML, plain text and JSON.

Every string that came from a server or a user is escaped before it enters HTML, and
long server text is cut with a note that states how much was cut.

NOTE: the default bundle contains text/html and text/plain only. JupyterLab ranks its JSON
renderer above HTML (rank 0 in JupyterLab 4), so an application/json entry would replace
the table with a JSON tree. JSON is added when a frontend or a caller includes
application/json explicitly, and `as_json` returns the same data.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import ApiError, PineconeMagicError, TransportError
from .models import (
    OUTCOME_CANCELLED,
    OUTCOME_NO_EFFECT,
    OUTCOME_REQUESTED,
    CancelBatch,
    CancelOutcome,
    CancelResult,
    ImportList,
    ImportModel,
)

#: Maximum number of characters of a response body shown in a rendered error.
BODY_LIMIT = 2000
JSON_MIME = "application/json"
#: Maximum number of full error messages printed below a batch table.
MAX_ERRORS_LISTED = 20

_STATUS_COLORS = {
    "Pending": "#6b7280",
    "InProgress": "#2563eb",
    "Completed": "#15803d",
    "Failed": "#b91c1c",
    "Cancelled": "#92400e",
}
_TABLE_STYLE = "border-collapse:collapse;font-size:0.9em"
_CELL_STYLE = "padding:2px 10px 2px 0;text-align:left;vertical-align:top"


def mimebundle(
    obj: object, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> dict[str, Any]:
    """Return the display bundle of a result: text/html and text/plain, and JSON on request."""
    bundle: dict[str, Any] = {"text/html": html_text(obj), "text/plain": plain_text(obj)}
    if include is not None and JSON_MIME in include:
        bundle[JSON_MIME] = as_json(obj)
    if include is not None:
        bundle = {mime: data for mime, data in bundle.items() if mime in include}
    if exclude is not None:
        bundle = {mime: data for mime, data in bundle.items() if mime not in exclude}
    return bundle


def shorten(text: str, limit: int = BODY_LIMIT) -> str:
    """Cut text to `limit` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters cut)"


def _escape(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _format_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _format_percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def _format_count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _format_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _status_html(status: str | None) -> str:
    if status is None:
        return '<span style="color:#6b7280">unknown</span>'
    color = _STATUS_COLORS.get(status, "#111827")
    return f'<span style="color:{color};font-weight:600">{_escape(status)}</span>'


def _table_html(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Build an HTML table from already escaped cells."""
    head = "".join(f'<th style="{_CELL_STYLE}">{_escape(name)}</th>' for name in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL_STYLE}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table style="{_TABLE_STYLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _table_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(name) for name in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    lines = [line(headers).rstrip(), "  ".join("-" * width for width in widths)]
    lines.extend(line(row).rstrip() for row in rows)
    return "\n".join(lines)


def _one_line(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Cancel results


def _cancel_summary(result: CancelResult) -> str:
    attempts = "" if result.attempts == 1 else f", {result.attempts} attempts"
    return (
        f"Cancel requested for import {result.import_id!r} "
        f"(HTTP {result.status_code}, {_format_ms(result.elapsed)}{attempts})."
    )


def _cancel_note(import_id: str) -> str:
    return (
        "Unless the import already finished, it turns Cancelled shortly; a cancel has no "
        f"effect on a finished import. Check with %pc_describe_import {import_id}"
    )


def _cancel_result_text(result: CancelResult) -> str:
    lines = [_cancel_summary(result), _cancel_note(result.import_id) + "."]
    if result.request_id:
        lines.append(f"Request id: {result.request_id}")
    return "\n".join(lines)


def _cancel_result_html(result: CancelResult) -> str:
    request = (
        f'<br><span style="color:#6b7280">Request id {_escape(result.request_id)}</span>'
        if result.request_id
        else ""
    )
    return (
        '<div class="pinecone-magic-result">'
        f"<b>&#10003; {_escape(_cancel_summary(result))}</b><br>"
        f"{_escape(_cancel_note(result.import_id))}.{request}</div>"
    )


def _cancel_result_json(result: CancelResult) -> dict[str, Any]:
    return {
        "import_id": result.import_id,
        "outcome": OUTCOME_REQUESTED,
        "status_code": result.status_code,
        "body": result.body,
        "request_id": result.request_id,
        "elapsed_ms": round(result.elapsed * 1000, 3),
        "attempts": result.attempts,
        "url": result.url,
    }


# Imports

_IMPORT_FIELDS = (
    ("Id", "id"),
    ("Status", "status"),
    ("Progress", "percent_complete"),
    ("Records imported", "records_imported"),
    ("Created", "created_at"),
    ("Finished", "finished_at"),
    ("URI", "uri"),
    ("Error", "error"),
)


def _import_cells(model: ImportModel) -> dict[str, str]:
    return {
        "id": model.id or "",
        "status": model.status or "unknown",
        "percent_complete": _format_percent(model.percent_complete),
        "records_imported": _format_count(model.records_imported),
        "created_at": _format_time(model.created_at),
        "finished_at": _format_time(model.finished_at),
        "uri": model.uri or "",
        "error": model.error or "",
    }


def _import_text(model: ImportModel) -> str:
    cells = _import_cells(model)
    width = max(len(label) for label, _ in _IMPORT_FIELDS)
    lines = [
        f"{label.ljust(width)}  {shorten(cells[name], 500)}"
        for label, name in _IMPORT_FIELDS
        if cells[name]
    ]
    if model.status == "InProgress" and model.percent_complete == 100:
        lines.append("At 100 percent, the import is still being indexed; this can take minutes.")
    return "\n".join(lines)


def _import_html(model: ImportModel) -> str:
    cells = _import_cells(model)
    rows = []
    for label, name in _IMPORT_FIELDS:
        if not cells[name]:
            continue
        if name == "status":
            value = _status_html(model.status)
        else:
            value = _escape(shorten(cells[name], 500))
        rows.append(
            f'<tr><th style="{_CELL_STYLE}">{_escape(label)}</th>'
            f'<td style="{_CELL_STYLE}">{value}</td></tr>'
        )
    return f'<table style="{_TABLE_STYLE}">{"".join(rows)}</table>'


def _import_json(model: ImportModel) -> dict[str, Any]:
    return dict(model.raw)


_LIST_HEADERS = ("Id", "Status", "Progress", "Records", "Created", "Finished", "URI")


def _list_rows(imports: ImportList) -> list[dict[str, str]]:
    return [_import_cells(model) for model in imports]


def _list_text(imports: ImportList) -> str:
    rows = [
        [
            _one_line(cells["id"], 40), cells["status"], cells["percent_complete"],
            cells["records_imported"], cells["created_at"], cells["finished_at"],
            _one_line(cells["uri"], 60),
        ]
        for cells in _list_rows(imports)
    ]
    if not rows:
        return _list_caption(imports)
    return f"{_list_caption(imports)}\n{_table_text(_LIST_HEADERS, rows)}"


def _list_html(imports: ImportList) -> str:
    rows = [
        [
            _escape(_one_line(model.id or "", 40)),
            _status_html(model.status),
            _escape(_format_percent(model.percent_complete)),
            _escape(_format_count(model.records_imported)),
            _escape(_format_time(model.created_at)),
            _escape(_format_time(model.finished_at)),
            _escape(_one_line(model.uri or "", 60)),
        ]
        for model in imports
    ]
    caption = f"<div>{_escape(_list_caption(imports))}</div>"
    return caption + (_table_html(_LIST_HEADERS, rows) if rows else "")


def _list_caption(imports: ImportList) -> str:
    listed = len(imports)
    noun = "import" if imports.total == 1 else "imports"
    caption = f"{imports.total} {noun}"
    if imports.statuses:
        caption = f"{imports.total} {noun} with status {' or '.join(imports.statuses)}"
    if listed < imports.total:
        caption += f", newest {listed} shown"
    elif listed:
        caption += ", newest first"
    return caption + "."


# Batches

_OUTCOME_HEADERS = ("Import", "Outcome", "Status", "Detail")


def _outcome_detail(outcome: CancelOutcome) -> str:
    if outcome.error is not None:
        return error_summary(outcome.error)
    status = outcome.status_after.status if outcome.status_after else None
    if outcome.outcome == OUTCOME_NO_EFFECT:
        return f"The import had already finished as {status}."
    if outcome.outcome == OUTCOME_CANCELLED:
        return "The import is Cancelled."
    if outcome.status_after is None:
        return "Pinecone accepted the cancel request."
    return f"Pinecone accepted the cancel request; the import is still {status}."


def _outcome_row(outcome: CancelOutcome) -> list[str]:
    status = ""
    if outcome.status_after is not None:
        status = outcome.status_after.status or "unknown"
        if outcome.status_after.percent_complete is not None:
            status += f" {_format_percent(outcome.status_after.percent_complete)}"
    return [outcome.import_id, outcome.outcome, status, _outcome_detail(outcome)]


def _batch_caption(batch: CancelBatch) -> str:
    counts: dict[str, int] = {}
    for outcome in batch.outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    parts = ", ".join(f"{count} {name}" for name, count in counts.items())
    noun = "import" if len(batch) == 1 else "imports"
    return f"{len(batch)} {noun} in {batch.elapsed:.2f} s: {parts}."


def _wait_caption(batch: CancelBatch) -> str:
    if batch.waited is None:
        return ""
    if not batch.still_running:
        return f"Every import finished within the wait of {batch.waited:g} s."
    running = ", ".join(batch.still_running[:20])
    more = f" and {len(batch.still_running) - 20} more" if len(batch.still_running) > 20 else ""
    return (
        f"After waiting {batch.waited:g} s, {len(batch.still_running)} still running: "
        f"{running}{more}. Check again with %pc_list_imports."
    )


def _final_rows(batch: CancelBatch) -> list[list[str]]:
    return [
        [model.id or "", model.status or "unknown", _format_percent(model.percent_complete),
         _format_time(model.finished_at)]
        for model in batch.final
    ]


_FINAL_HEADERS = ("Import", "Final status", "Progress", "Finished")


def _error_label(error: PineconeMagicError) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status_code} {error.reason}".rstrip() + ", see below."
    return f"{type(error).__name__}, see below."


def _batch_text(batch: CancelBatch) -> str:
    rows = []
    for outcome in batch:
        import_id, name, status, detail = _outcome_row(outcome)
        if outcome.error is not None:
            detail = _error_label(outcome.error)
        rows.append([_one_line(import_id, 40), name, status, _one_line(detail, 100)])
    parts = [_batch_caption(batch), _table_text(_OUTCOME_HEADERS, rows)]

    # Error messages end with the fix, so they are printed whole below the table.
    errors = [outcome for outcome in batch if outcome.error is not None]
    for outcome in errors[:MAX_ERRORS_LISTED]:
        parts.append(f"{_one_line(outcome.import_id, 40)}: {outcome.error}")
    if len(errors) > MAX_ERRORS_LISTED:
        parts.append(f"... and {len(errors) - MAX_ERRORS_LISTED} more errors; see .results.")
    if batch.waited is not None:
        parts.append(_wait_caption(batch))
        if batch.final:
            parts.append(_table_text(_FINAL_HEADERS, _final_rows(batch)))
    return "\n".join(parts)


def _batch_html(batch: CancelBatch) -> str:
    rows = []
    for outcome in batch:
        import_id, name, status, detail = _outcome_row(outcome)
        color = "#b91c1c" if outcome.failed else "#111827"
        rows.append([
            _escape(_one_line(import_id, 40)),
            f'<span style="color:{color};font-weight:600">{_escape(name)}</span>',
            _escape(status),
            _escape(shorten(detail, 500)),
        ])
    parts = [f"<div>{_escape(_batch_caption(batch))}</div>", _table_html(_OUTCOME_HEADERS, rows)]
    if batch.waited is not None:
        parts.append(f"<div>{_escape(_wait_caption(batch))}</div>")
        if batch.final:
            final_rows = [[_escape(cell) for cell in row] for row in _final_rows(batch)]
            parts.append(_table_html(_FINAL_HEADERS, final_rows))
    return "".join(parts)


def _batch_json(batch: CancelBatch) -> dict[str, Any]:
    return {
        "elapsed_ms": round(batch.elapsed * 1000, 3),
        "outcomes": [
            {
                "import_id": outcome.import_id,
                "outcome": outcome.outcome,
                "status_after": dict(outcome.status_after.raw) if outcome.status_after else None,
                "error": error_json(outcome.error) if outcome.error else None,
                "status_code": outcome.result.status_code if outcome.result else None,
            }
            for outcome in batch
        ],
        "waited_s": batch.waited,
        "final": [dict(model.raw) for model in batch.final],
        "still_running": list(batch.still_running),
    }


def wait_progress_text(models: Sequence[ImportModel], elapsed: float, limit: float) -> str:
    """Return one line on the progress of a wait, such as `2 of 3 finished after 4 s of 30 s`."""
    finished = sum(1 for model in models if model.is_finished)
    return (
        f"Waiting for imports to finish: {finished} of {len(models)} finished "
        f"after {elapsed:.0f} s of {limit:g} s."
    )


# Errors


def error_summary(error: PineconeMagicError) -> str:
    """Return the one-line message of an error, as the magics show it."""
    return str(error)


def _error_text(error: PineconeMagicError) -> str:
    lines = [f"{type(error).__name__}: {error}"]
    if isinstance(error, ApiError) and error.body and not error.server_message:
        lines.append("Response body:")
        lines.append(shorten(error.body))
    return "\n".join(lines)


def _error_html(error: PineconeMagicError) -> str:
    parts = [
        '<div class="pinecone-magic-error" style="color:#b91c1c">',
        f"<b>{_escape(type(error).__name__)}</b>: {_escape(error)}",
    ]
    if isinstance(error, ApiError) and error.body and not error.server_message:
        parts.append(
            '<details><summary>Response body</summary>'
            f'<pre style="white-space:pre-wrap">{_escape(shorten(error.body))}</pre></details>'
        )
    parts.append("</div>")
    return "".join(parts)


def error_json(error: PineconeMagicError) -> dict[str, Any]:
    """Return the fields of an error as a JSON object."""
    data: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, ApiError):
        data.update(
            status_code=error.status_code,
            grpc_code=error.grpc_code,
            error_code=error.error_code,
            server_message=error.server_message,
            request_id=error.request_id,
            attempts=error.attempts,
        )
    elif isinstance(error, TransportError):
        data.update(url=error.url, attempts=error.attempts)
    return data


# Dispatch


def html_text(obj: object) -> str:
    """Return the HTML rendering of a result or an error."""
    if isinstance(obj, CancelResult):
        return _cancel_result_html(obj)
    if isinstance(obj, ImportModel):
        return _import_html(obj)
    if isinstance(obj, ImportList):
        return _list_html(obj)
    if isinstance(obj, CancelBatch):
        return _batch_html(obj)
    if isinstance(obj, CancelOutcome):
        return _batch_html(CancelBatch(outcomes=(obj,)))
    if isinstance(obj, PineconeMagicError):
        return _error_html(obj)
    return f"<pre>{_escape(repr(obj))}</pre>"


def plain_text(obj: object) -> str:
    """Return the plain-text rendering of a result or an error."""
    if isinstance(obj, CancelResult):
        return _cancel_result_text(obj)
    if isinstance(obj, ImportModel):
        return _import_text(obj)
    if isinstance(obj, ImportList):
        return _list_text(obj)
    if isinstance(obj, CancelBatch):
        return _batch_text(obj)
    if isinstance(obj, CancelOutcome):
        return _batch_text(CancelBatch(outcomes=(obj,)))
    if isinstance(obj, PineconeMagicError):
        return _error_text(obj)
    return repr(obj)


def as_json(obj: object) -> Any:
    """Return the JSON-ready data of a result or an error."""
    if isinstance(obj, CancelResult):
        return _cancel_result_json(obj)
    if isinstance(obj, ImportModel):
        return _import_json(obj)
    if isinstance(obj, ImportList):
        return {"imports": [_import_json(model) for model in obj], "total": obj.total}
    if isinstance(obj, CancelBatch):
        return _batch_json(obj)
    if isinstance(obj, CancelOutcome):
        return _batch_json(CancelBatch(outcomes=(obj,)))["outcomes"][0]
    if isinstance(obj, PineconeMagicError):
        return error_json(obj)
    return json.loads(json.dumps(obj, default=str))


class ErrorDisplay:
    """An error wrapped for display in an output area, with the same renderings."""

    def __init__(self, error: PineconeMagicError) -> None:
        self.error = error

    def _repr_mimebundle_(
        self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
    ) -> dict[str, Any]:
        return mimebundle(self.error, include=include, exclude=exclude)

    def __repr__(self) -> str:
        return _error_text(self.error)
