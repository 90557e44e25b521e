"""Retries against the emulator: which responses are retried, how long the waits are, the log."""

from __future__ import annotations

import email.utils
import logging
import re
import socket
import time

import pytest
from conftest import API_KEY

from pinecone_magic import (
    ApiError,
    AuthenticationError,
    ConnectError,
    NotFoundError,
    cancel_import,
    describe_import,
    start_import,
    transport,
)
from pinecone_magic.emulator import Emulator

RETRIED_STATUSES = (408, 429, 500, 502, 503, 504)
NOT_RETRIED_STATUSES = (400, 401, 403, 404, 409, 412, 422)
_WAIT = re.compile(r" in ([0-9.]+) s after ")


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the backoff between attempts about a millisecond."""
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.001)


def _deletes(emulator: Emulator) -> list[int | None]:
    return [request.status for request in emulator.requests if request.method == "DELETE"]


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """Return the waits, in seconds, that the "Retrying" log lines announce."""
    waits = []
    for record in caplog.records:
        match = _WAIT.search(record.getMessage())
        if record.name == "pinecone_magic" and match:
            waits.append(float(match.group(1)))
    return waits


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "pinecone_magic" and record.levelno == logging.INFO
    ]


@pytest.mark.parametrize("status", RETRIED_STATUSES)
def test_retried_status_then_success(configured: Emulator, status: int) -> None:
    import_id = configured.add_import()
    configured.inject_fault(status, method="DELETE")

    result = cancel_import(import_id)

    assert result.attempts == 2, f"HTTP {status}"
    assert _deletes(configured) == [status, 200], f"HTTP {status}"


@pytest.mark.parametrize("status", NOT_RETRIED_STATUSES)
def test_client_error_not_retried(configured: Emulator, status: int) -> None:
    import_id = configured.add_import()
    configured.inject_fault(status, method="DELETE")

    with pytest.raises(ApiError) as caught:
        cancel_import(import_id)

    assert caught.value.attempts == 1, f"HTTP {status}"
    assert _deletes(configured) == [status], f"HTTP {status}"


def test_401_raises_authentication_error(configured: Emulator) -> None:
    with pytest.raises(AuthenticationError):
        cancel_import(configured.add_import(), api_key="pcsk_wrong_key_0000")

    assert len(configured.requests) == 1


def test_404_raises_not_found_once(configured: Emulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        cancel_import("999")

    assert caught.value.attempts == 1
    assert len(configured.requests) == 1


def test_retries_exhausted_raises_last_error(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, times=10)

    with pytest.raises(ApiError) as caught:
        cancel_import(import_id)

    assert caught.value.status_code == 503
    assert caught.value.attempts == 4
    assert _deletes(configured) == [503] * 4
    assert "after 4 attempts" in str(caught.value)


@pytest.mark.parametrize("attempts", [1, 2, 6])
def test_max_retries_sets_attempts_in_all(configured: Emulator, attempts: int) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, times=10)

    with pytest.raises(ApiError) as caught:
        cancel_import(import_id, max_retries=attempts)

    assert caught.value.attempts == attempts
    assert len(_deletes(configured)) == attempts


def test_connection_drop_then_success(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="drop")

    result = cancel_import(import_id)

    assert result.attempts == 2
    assert _deletes(configured) == [None, 200]


def test_connection_drops_exhausted(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="drop", times=10)

    with pytest.raises(ConnectError) as caught:
        cancel_import(import_id)

    assert caught.value.attempts == 4
    assert "outcome is unknown" in str(caught.value)
    assert f"%pc_describe_import {import_id}" in str(caught.value)


def test_refused_connection_retried(api_key_env: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]

    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=f"http://127.0.0.1:{port}")

    assert caught.value.attempts == 4
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_describe_retried_like_cancel(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(502, method="GET")

    describe_import(import_id)

    assert [request.status for request in configured.requests] == [502, 200]


def test_start_import_never_retried(configured: Emulator) -> None:
    configured.inject_fault(503, method="POST")

    with pytest.raises(ApiError):
        start_import("s3://bucket/dir")

    assert [request.method for request in configured.requests] == ["POST"]


def test_retry_after_seconds_honoured(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, headers={"Retry-After": "1"})
    caplog.set_level(logging.INFO, logger="pinecone_magic")
    started = time.monotonic()

    result = cancel_import(import_id)

    assert result.attempts == 2
    assert _waits(caplog) == [1.0]
    assert time.monotonic() - started >= 0.95


def test_retry_after_fraction_honoured(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(429, headers={"Retry-After": "0.2"})
    caplog.set_level(logging.INFO, logger="pinecone_magic")

    cancel_import(import_id)

    assert _waits(caplog) == [0.2]


def test_retry_after_http_date_honoured(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    moment = email.utils.formatdate(time.time() + 2, usegmt=True)
    configured.inject_fault(503, headers={"Retry-After": moment})
    caplog.set_level(logging.INFO, logger="pinecone_magic")
    started = time.monotonic()

    result = cancel_import(import_id)

    [wait] = _waits(caplog)
    assert result.attempts == 2
    assert 0.5 <= wait <= 2.0, "an HTTP date has whole seconds, so the wait is 1 to 2 s"
    assert time.monotonic() - started >= wait - 0.05


def test_retry_after_past_date_retries_at_once(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    caplog.set_level(logging.INFO, logger="pinecone_magic")

    cancel_import(import_id)

    assert _waits(caplog) == [0.0]


@pytest.mark.parametrize("value", ["soon", "-5", "inf", "nan", "Wed, 99 Foo 2015"])
def test_invalid_retry_after_uses_backoff(
    configured: Emulator, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, headers={"Retry-After": value})
    caplog.set_level(logging.INFO, logger="pinecone_magic")

    result = cancel_import(import_id)

    assert result.attempts == 2, value
    assert _waits(caplog)[0] <= 0.001, f"Retry-After {value!r} should fall back to backoff"


def test_retry_after_beyond_time_limit_stops_at_once(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(429, headers={"Retry-After": "120"})
    started = time.monotonic()

    with pytest.raises(ApiError) as caught:
        cancel_import(import_id, timeout=5)

    message = str(caught.value)
    assert caught.value.attempts == 1
    assert len(configured.requests) == 1
    assert time.monotonic() - started < 4, "no wait should start when it would pass the limit"
    assert "retry after 120 s" in message
    assert "time limit of 5 s" in message
    assert "--timeout" in message


def test_retries_stop_at_time_limit(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, headers={"Retry-After": "0.4"}, times=10)
    started = time.monotonic()

    with pytest.raises(ApiError) as caught:
        cancel_import(import_id, timeout=1, max_retries=10)

    assert caught.value.attempts in (2, 3)
    assert time.monotonic() - started < 1.5
    assert "time limit of 1 s" in str(caught.value)


def test_backoff_doubles_with_jitter(
    configured: Emulator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.02)
    import_id = configured.add_import()
    configured.inject_fault(503, times=3)
    caplog.set_level(logging.INFO, logger="pinecone_magic")

    cancel_import(import_id)

    waits = _waits(caplog)
    assert len(waits) == 3
    for number, wait in enumerate(waits, start=1):
        ceiling = 0.02 * 2 ** (number - 1)
        assert ceiling / 2 - 0.001 <= wait <= ceiling + 0.001, f"wait {number}: {wait}"


def test_log_has_one_info_line_per_request(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503, times=2)
    caplog.set_level(logging.INFO, logger="pinecone_magic")

    cancel_import(import_id)

    lines = _request_lines(caplog)
    url = f"{configured.url}/bulk/imports/{import_id}"
    assert len(lines) == 3
    for number, (line, status) in enumerate(zip(lines, [503, 503, 200], strict=True), start=1):
        assert line.startswith(f"DELETE {url} -> {status} "), line
        assert f"attempt {number} of 4" in line, line


def test_log_names_attempt_without_answer(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="drop")
    caplog.set_level(logging.INFO, logger="pinecone_magic")

    cancel_import(import_id)

    lines = _request_lines(caplog)
    assert "-> no response: " in lines[0]
    assert "attempt 1 of 4" in lines[0]


def test_log_has_no_headers_or_key(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import_id = configured.add_import()
    configured.inject_fault(503)
    caplog.set_level(logging.DEBUG, logger="pinecone_magic")

    cancel_import(import_id)

    text = "\n".join(
        record.getMessage() for record in caplog.records if record.name == "pinecone_magic"
    )
    assert API_KEY not in text
    assert "api-key" not in text.lower()
    assert "x-pinecone-api-version" not in text.lower()
