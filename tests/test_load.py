"""Load: 1,000 concurrent cancels with injected 503s; no outcome lost or doubled, nothing leaked.

Two shapes of failure are tested. In the first, one 503 each hits 10 percent of the ids, so
every cancel succeeds on its second attempt. In the second, a burst of 100 503s hits the
first requests, so some ids run out of attempts and end as errors.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from conftest import API_KEY

from pinecone_magic import cancel_imports, transport
from pinecone_magic.emulator import Emulator
from pinecone_magic.emulator.recording import RecordedRequest
from pinecone_magic.models import OUTCOME_ERROR, OUTCOME_REQUESTED, CancelBatch

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="open sockets are counted in /proc/self/fd"
)

IMPORT_COUNT = 1000
FAILED_RESPONSES = 100


def _open_sockets() -> int:
    """Return the number of sockets this process has open, from /proc/self/fd."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        count += target.startswith("socket:")
    return count


def _settles_to(expected: int, measure: Callable[[], int], timeout: float = 5.0) -> int:
    """Poll `measure` until it returns at most `expected` or `timeout` passes; return its value."""
    deadline = time.monotonic() + timeout
    value = measure()
    while value > expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return value


def _deletes(emulator: Emulator) -> list[RecordedRequest]:
    return [request for request in emulator.requests if request.method == "DELETE"]


def _successes(deletes: list[RecordedRequest]) -> collections.Counter[str]:
    """Count the 200 responses per import id."""
    return collections.Counter(r.path.rsplit("/", 1)[1] for r in deletes if r.status == 200)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.005)


@pytest.fixture
def leak_check(emulator: Emulator) -> Iterator[None]:
    """Check that threads and sockets return to their count before the test."""
    threads_before = threading.active_count()
    sockets_before = _open_sockets()

    yield

    transport.close_clients()
    assert _settles_to(threads_before, threading.active_count) == threads_before, "threads"
    assert _settles_to(sockets_before, _open_sockets) == sockets_before, "sockets"
    assert emulator.open_connections == 0


def _cancel_all(emulator: Emulator, ids: list[str]) -> CancelBatch:
    return cancel_imports(ids, host=emulator.url, concurrency=32, check_status=False, timeout=60)


def test_spread_503s_every_cancel_succeeds_once(
    emulator: Emulator, api_key_env: str, fast_backoff: None, leak_check: None
) -> None:
    ids = emulator.add_imports(IMPORT_COUNT)
    # A fault matches by path prefix, so only ids that start no other id can be aimed at.
    unambiguous = [i for i in ids if not any(o != i and o.startswith(i) for o in ids)]
    faulted = unambiguous[:: len(unambiguous) // FAILED_RESPONSES][:FAILED_RESPONSES]
    for import_id in faulted:
        emulator.inject_fault(503, method="DELETE", path_prefix=f"/bulk/imports/{import_id}")

    batch = _cancel_all(emulator, ids)

    deletes = _deletes(emulator)
    successes = _successes(deletes)
    assert [outcome.import_id for outcome in batch] == ids, "outcomes lost or out of order"
    for outcome in batch:
        expected_attempts = 2 if outcome.import_id in faulted else 1
        assert outcome.outcome == OUTCOME_REQUESTED, outcome.import_id
        assert outcome.result is not None, outcome.import_id
        assert outcome.result.attempts == expected_attempts, outcome.import_id
        assert successes[outcome.import_id] == 1, outcome.import_id
    assert len(deletes) == IMPORT_COUNT + FAILED_RESPONSES
    assert API_KEY not in repr(batch)


def test_burst_of_503s_each_id_one_outcome(
    emulator: Emulator, api_key_env: str, fast_backoff: None, leak_check: None
) -> None:
    ids = emulator.add_imports(IMPORT_COUNT)
    emulator.inject_fault(503, method="DELETE", times=FAILED_RESPONSES)

    batch = _cancel_all(emulator, ids)

    deletes = _deletes(emulator)
    successes = _successes(deletes)
    failures = collections.Counter(r.path.rsplit("/", 1)[1] for r in deletes if r.status == 503)
    requested = [outcome for outcome in batch if outcome.outcome == OUTCOME_REQUESTED]
    assert [outcome.import_id for outcome in batch] == ids, "outcomes lost or out of order"
    for outcome in batch:
        assert outcome.outcome in (OUTCOME_REQUESTED, OUTCOME_ERROR), outcome.import_id
        if outcome.outcome == OUTCOME_REQUESTED:
            assert successes[outcome.import_id] == 1, outcome.import_id
        else:
            assert successes[outcome.import_id] == 0, outcome.import_id
            assert failures[outcome.import_id] == 4, outcome.import_id
    assert sum(failures.values()) == FAILED_RESPONSES
    assert len(deletes) == len(requested) + FAILED_RESPONSES
