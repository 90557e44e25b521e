"""The shared client: cancel, describe, list and start bulk imports on an index host.

Every entry point (the magics, the form, scripts) calls these functions. Each one
validates all of its input before it sends anything, resolves the index host from an
index name when asked to, and returns plain objects from models.py.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from .config import (
    Settings,
    is_loopback_url,
    normalize_host,
    resolve_settings,
    validate_import_id,
    validate_limit,
    validate_timeout,
)
from .errors import ApiError, InvalidInputError, NotFoundError, PineconeMagicError
from .models import (
    OUTCOME_CANCELLED,
    OUTCOME_ERROR,
    OUTCOME_NO_EFFECT,
    OUTCOME_NOT_FOUND,
    OUTCOME_REQUESTED,
    CancelBatch,
    CancelOutcome,
    CancelResult,
    ImportModel,
)
from .transport import send

logger = logging.getLogger("pinecone_magic")

#: Seconds between two rounds of describe calls while waiting for imports to finish.
WAIT_POLL_INTERVAL = 1.0

_index_hosts: dict[tuple[str, str, str], str] = {}
_index_hosts_lock = threading.Lock()

ProgressCallback = Callable[[Sequence[ImportModel], float], None]


def import_path(import_id: str) -> str:
    """Return `/bulk/imports/{id}` with the id percent-encoded as exactly one path segment.

    Every character but unreserved ones is encoded, so `/`, `?`, `#` and `%` stay inside
    the segment. A segment of only dots is encoded too, because `.` and `..` would
    otherwise be resolved as dot segments and hit another endpoint.
    """
    segment = quote(import_id, safe="")
    if set(import_id) == {"."}:
        segment = "%2E" * len(import_id)
    return f"/bulk/imports/{segment}"


def cancel_import(
    import_id: str | int,
    *,
    host: str | None = None,
    index: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> CancelResult:
    """Request the cancellation of one import and return Pinecone's response.

    Sends exactly one `DELETE /bulk/imports/{id}` (more only when a retry is needed). The
    import turns Cancelled only afterwards, and the cancel has no effect on an import that
    already finished. Raises a PineconeMagicError subclass on failure.
    """
    checked_id = validate_import_id(import_id)
    settings = resolve_settings(
        host=host, index=index, api_key=api_key, api_version=api_version,
        timeout=timeout, max_retries=max_retries,
    )
    # One deadline covers the index lookup and the cancel, so --timeout bounds the whole call.
    deadline = time.monotonic() + settings.timeout
    base_url = index_host(settings, deadline=deadline)
    return _cancel(settings, base_url, checked_id, deadline=deadline)


def describe_import(
    import_id: str | int,
    *,
    host: str | None = None,
    index: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> ImportModel:
    """Return the current state of one import: status, progress, times, URI and error."""
    checked_id = validate_import_id(import_id)
    settings = resolve_settings(
        host=host, index=index, api_key=api_key, api_version=api_version,
        timeout=timeout, max_retries=max_retries,
    )
    deadline = time.monotonic() + settings.timeout
    base_url = index_host(settings, deadline=deadline)
    return _describe(settings, base_url, checked_id, deadline=deadline)


def list_imports(
    *,
    limit: int | None = None,
    host: str | None = None,
    index: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> Iterator[ImportModel]:
    """Return an iterator over every import of the index, fetching page after page.

    `limit` is the page size sent to the API (1 to 100, default 100). Settings are
    validated now; requests go out as the iterator is consumed, and `timeout` applies to
    each page.
    """
    page_size = validate_limit(100 if limit is None else limit)
    settings = resolve_settings(
        host=host, index=index, api_key=api_key, api_version=api_version,
        timeout=timeout, max_retries=max_retries,
    )
    base_url = index_host(settings)
    return _iterate_imports(settings, base_url, page_size)


def start_import(
    uri: str,
    *,
    integration_id: str | None = None,
    error_mode: str | None = None,
    host: str | None = None,
    index: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    timeout: float | None = None,
) -> str:
    """Start an import from object storage and return its id.

    `error_mode` is "abort" or "continue". The request is sent once and never retried,
    because a retry could start a second import.
    """
    if not isinstance(uri, str) or not 1 <= len(uri.strip()) <= 1500:
        raise InvalidInputError(
            f"Import URI {uri!r:.80} is invalid; pass the storage URI of 1 to 1500 characters, "
            "such as s3://bucket/import-dir."
        )
    if error_mode not in (None, "abort", "continue"):
        raise InvalidInputError(
            f"Error mode {error_mode!r:.40} is invalid; use 'abort' or 'continue'."
        )

    body: dict[str, Any] = {"uri": uri.strip()}
    if integration_id is not None:
        body["integrationId"] = integration_id
    if error_mode is not None:
        body["errorMode"] = {"onError": error_mode}

    settings = resolve_settings(
        host=host, index=index, api_key=api_key, api_version=api_version, timeout=timeout
    )
    base_url = index_host(settings)
    answer = send(
        "POST", base_url, "/bulk/imports",
        api_key=settings.api_key, api_version=settings.api_version, timeout=settings.timeout,
        max_attempts=1, action=f"start of an import from {uri.strip()!r:.80}",
        json_body=body, retry=False,
    )
    new_id = answer.body.get("id") if isinstance(answer.body, dict) else None
    if not isinstance(new_id, str) or not new_id:
        raise PineconeMagicError(
            f"The import from {uri!r:.80} was started, but the response has no import id; "
            "find it with %pc_list_imports."
        )
    return new_id


def cancel_imports(
    import_ids: Iterable[str | int],
    *,
    host: str | None = None,
    index: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    concurrency: int | None = None,
    check_status: bool = True,
    wait: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> CancelBatch:
    """Cancel several imports concurrently and return every outcome in input order.

    A failure for one id never stops the others. With `check_status`, each successful
    cancel is followed by a describe, so the outcome shows whether the import is now
    Cancelled, still stopping, or had already finished (no effect). With `wait`, the
    imports are then described every second until all have finished or `wait` seconds
    have passed. Repeated ids are sent once.
    """
    ids = [validate_import_id(import_id) for import_id in import_ids]
    if not ids:
        raise InvalidInputError("No import ids were given; pass one or more ids, such as 101 102.")
    wait_limit = validate_timeout(wait, label="Wait") if wait is not None else None
    settings = resolve_settings(
        host=host, index=index, api_key=api_key, api_version=api_version,
        timeout=timeout, max_retries=max_retries, concurrency=concurrency,
    )
    base_url = index_host(settings)
    started = time.monotonic()

    def cancel_one(import_id: str) -> CancelOutcome:
        return _cancel_with_outcome(settings, base_url, import_id, check_status)

    unique_ids = list(dict.fromkeys(ids))
    workers = min(settings.concurrency, len(unique_ids))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pinecone-cancel") as pool:
        by_id = dict(zip(unique_ids, pool.map(cancel_one, unique_ids), strict=True))
        batch = CancelBatch(
            outcomes=tuple(by_id[import_id] for import_id in ids),
            elapsed=time.monotonic() - started,
        )

        if wait_limit is None:
            return batch
        waiting_ids = [outcome.import_id for outcome in batch.outcomes if not outcome.failed]
        final, still_running = _wait_until_finished(
            settings, base_url, list(dict.fromkeys(waiting_ids)), wait_limit, pool, on_progress
        )

    return replace(
        batch,
        final=tuple(final),
        still_running=tuple(still_running),
        waited=wait_limit,
    )


def index_host(settings: Settings, *, deadline: float | None = None) -> str:
    """Return the base URL of the index host, resolving an index name when one was given.

    A name is resolved with `GET {controller}/indexes/{name}` and cached for the life of
    the process, per controller, name and API key. `deadline`, a `time.monotonic()`
    value, ends the lookup early when it shares the time limit of a call.
    """
    if settings.host is not None:
        return settings.host
    if settings.index is None:
        raise InvalidInputError(
            "No index host is set; pass --host HOST or --index NAME, or set PINECONE_INDEX_HOST."
        )

    key_digest = hashlib.sha256(settings.api_key.reveal().encode()).hexdigest()
    cache_key = (settings.controller_host, settings.index, key_digest)
    with _index_hosts_lock:
        cached = _index_hosts.get(cache_key)
    if cached is not None:
        return cached

    answer = send(
        "GET", settings.controller_host, f"/indexes/{quote(settings.index, safe='')}",
        api_key=settings.api_key, api_version=settings.api_version, timeout=settings.timeout,
        max_attempts=settings.max_retries, action=f"lookup of index {settings.index!r}",
        deadline=deadline,
        not_found_hint=(
            "Check the index name in the Pinecone console; the API key must belong to "
            "the project of that index."
        ),
    )
    host = _host_from_index_model(answer.body, settings)
    with _index_hosts_lock:
        _index_hosts[cache_key] = host
    logger.info("Index %r resolved to %s", settings.index, host)
    return host


def forget_index_hosts() -> None:
    """Empty the cache of resolved index hosts."""
    with _index_hosts_lock:
        _index_hosts.clear()


def _host_from_index_model(body: Any, settings: Settings) -> str:
    host = body.get("host") if isinstance(body, dict) else None
    if not isinstance(host, str) or not host.strip():
        raise PineconeMagicError(
            f"The control plane described index {settings.index!r} without a host; "
            "the index may still be initializing, so try again in a minute."
        )

    host = host.strip()
    # The API returns the host without a scheme. A local emulator reached over http://
    # on loopback returns a loopback host that speaks http:// too.
    if "://" not in host and settings.controller_host.startswith("http://"):
        candidate = normalize_host(f"http://{host}", name="index host from the control plane")
        if is_loopback_url(candidate):
            return candidate
    return normalize_host(host, name="index host from the control plane")


def _cancel(
    settings: Settings, base_url: str, import_id: str, *, deadline: float | None = None
) -> CancelResult:
    answer = send(
        "DELETE", base_url, import_path(import_id),
        api_key=settings.api_key, api_version=settings.api_version, timeout=settings.timeout,
        max_attempts=settings.max_retries, action=f"cancel of import {import_id!r}",
        not_found_hint="Check the id with %pc_list_imports.",
        timeout_hint=(
            f"Its outcome is unknown; check it with %pc_describe_import {import_id}."
        ),
        deadline=deadline,
    )
    return CancelResult(
        import_id=import_id,
        status_code=answer.status_code,
        url=answer.url,
        body=answer.body,
        request_id=answer.request_id,
        elapsed=answer.elapsed,
        attempts=answer.attempts,
    )


def _describe(
    settings: Settings, base_url: str, import_id: str, *, deadline: float | None = None
) -> ImportModel:
    answer = send(
        "GET", base_url, import_path(import_id),
        api_key=settings.api_key, api_version=settings.api_version, timeout=settings.timeout,
        max_attempts=settings.max_retries, action=f"describe of import {import_id!r}",
        not_found_hint="Check the id with %pc_list_imports.",
        timeout_hint="Run it again, or raise --timeout.",
        deadline=deadline,
    )
    if not isinstance(answer.body, dict):
        raise _malformed(answer.url, "an import object")
    return ImportModel.from_json(answer.body)


def _iterate_imports(settings: Settings, base_url: str, page_size: int) -> Iterator[ImportModel]:
    token: str | None = None
    seen_tokens: set[str] = set()

    while True:
        params: dict[str, Any] = {"limit": page_size}
        if token is not None:
            params["paginationToken"] = token
        answer = send(
            "GET", base_url, "/bulk/imports",
            api_key=settings.api_key, api_version=settings.api_version,
            timeout=settings.timeout, max_attempts=settings.max_retries,
            action="listing of imports", params=params,
            timeout_hint="Run it again, or raise --timeout.",
        )

        body = answer.body
        if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
            raise _malformed(answer.url, "a list of imports")
        for item in body.get("data", []):
            if isinstance(item, dict):
                yield ImportModel.from_json(item)

        pagination = body.get("pagination")
        next_token = pagination.get("next") if isinstance(pagination, dict) else None
        if not isinstance(next_token, str) or not next_token:
            return
        if next_token in seen_tokens:
            raise _malformed(answer.url, "a new pagination token (the same one came twice)")
        seen_tokens.add(next_token)
        token = next_token


def _cancel_with_outcome(
    settings: Settings, base_url: str, import_id: str, check_status: bool
) -> CancelOutcome:
    try:
        result = _cancel(settings, base_url, import_id)
    except NotFoundError as error:
        return CancelOutcome(import_id, OUTCOME_NOT_FOUND, error=error)
    except PineconeMagicError as error:
        return CancelOutcome(import_id, OUTCOME_ERROR, error=error)

    if not check_status:
        return CancelOutcome(import_id, OUTCOME_REQUESTED, result=result)

    try:
        status_after = _describe(settings, base_url, import_id)
    except PineconeMagicError as error:
        logger.warning("Describe after the cancel of import %r failed: %s", import_id, error)
        return CancelOutcome(import_id, OUTCOME_REQUESTED, result=result)

    if status_after.status == "Cancelled":
        outcome = OUTCOME_CANCELLED
    elif status_after.is_finished:
        outcome = OUTCOME_NO_EFFECT
    else:
        outcome = OUTCOME_REQUESTED
    return CancelOutcome(import_id, outcome, result=result, status_after=status_after)


def _wait_until_finished(
    settings: Settings,
    base_url: str,
    import_ids: list[str],
    wait_limit: float,
    pool: ThreadPoolExecutor,
    on_progress: ProgressCallback | None,
) -> tuple[list[ImportModel], list[str]]:
    """Describe the imports until all have finished or `wait_limit` seconds have passed."""
    deadline = time.monotonic() + wait_limit
    started = time.monotonic()
    latest: dict[str, ImportModel] = {}

    def describe_one(import_id: str) -> ImportModel | None:
        try:
            return _describe(settings, base_url, import_id)
        except PineconeMagicError as error:
            logger.warning("Describe of import %r while waiting failed: %s", import_id, error)
            return None

    pending = list(import_ids)
    while pending:
        for import_id, model in zip(pending, pool.map(describe_one, pending), strict=True):
            if model is not None:
                latest[import_id] = model
        pending = [
            import_id for import_id in pending
            if import_id not in latest or not latest[import_id].is_finished
        ]
        if on_progress is not None:
            on_progress([latest[i] for i in import_ids if i in latest], time.monotonic() - started)

        remaining = deadline - time.monotonic()
        if not pending or remaining <= 0:
            break
        time.sleep(min(WAIT_POLL_INTERVAL, remaining))

    final = [latest[import_id] for import_id in import_ids if import_id in latest]
    return final, pending


def _malformed(url: str, expected: str) -> ApiError:
    return ApiError(
        f"The response from {url} is not {expected}; a proxy may have responded in place of "
        "Pinecone. Check the host.",
        method="GET",
        url=url,
        status_code=200,
    )
