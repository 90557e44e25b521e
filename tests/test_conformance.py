"""Wire conformance: the client's requests and the emulator's responses match Pinecone's OpenAPI.

The `conformance` plugin validates every exchange of every test at teardown. These tests check
that the plugin records each operation, that it catches violations, and that the emulator
sends conforming bodies also in response to requests the client never sends (invalid ones
included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conformance import (
    ApiDescriptions,
    ConformanceRecorder,
    Exchange,
    exchange_from_httpx,
    load_descriptions,
    validate_exchange,
)
from conftest import API_KEY, environment_without_pinecone

from pinecone_magic.client import (
    cancel_import,
    cancel_imports,
    describe_import,
    list_imports,
    start_import,
)
from pinecone_magic.emulator import Emulator, ManualClock
from pinecone_magic.errors import ApiError, AuthenticationError, NotFoundError

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent

HEADERS = {"Api-Key": API_KEY, "X-Pinecone-Api-Version": "2025-10"}


@pytest.fixture
def descriptions(spec_dir: Path) -> ApiDescriptions:
    """Both OpenAPI files, loaded as the plugin loads them."""
    loaded = load_descriptions(spec_dir)
    assert loaded is not None
    return loaded


@pytest.fixture
def recorder(openapi_conformance: ConformanceRecorder | None) -> ConformanceRecorder:
    """This test's recorder. The test skips where the plugin validates nothing."""
    if openapi_conformance is None:
        pytest.skip("the conformance plugin is inactive: the OpenAPI files are missing")
    return openapi_conformance


def exchange(
    method: str,
    path: str,
    *,
    status: int | None = 200,
    body: bytes | None = b"{}",
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    request_body: bytes = b"",
) -> Exchange:
    """Return a made-up exchange with the emulator on loopback."""
    request_headers = HEADERS if headers is None else headers
    return Exchange(
        method=method,
        url=f"http://127.0.0.1:5081{path}",
        request_headers=tuple(request_headers.items()),
        request_body=request_body,
        status=status,
        response_headers=(("Server", "PineconeEmulator"), ("Content-Type", content_type)),
        response_body=body,
    )


def raw_exchange(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Exchange:
    """Send one request with plain httpx and return it as an exchange."""
    response = client.request(method, path, **kwargs)
    return exchange_from_httpx(response.request, response, response_body=response.content)


# The plugin loads the files and routes paths.


def test_descriptions_missing_folder_is_none(tmp_path: Path) -> None:
    assert load_descriptions(tmp_path) is None


def test_descriptions_route_import_template(descriptions: ApiDescriptions) -> None:
    assert descriptions.data.route("/bulk/imports/a%2Fb") == "/bulk/imports/{id}"


def test_descriptions_route_index_to_control_plane(descriptions: ApiDescriptions) -> None:
    assert descriptions.for_path("/indexes/quickstart") is descriptions.control


# Every operation of the client is recorded and conforms.


def cancel(emulator: Emulator) -> None:
    cancel_import(emulator.start_import("s3://bucket/dir"))


def cancel_many(emulator: Emulator) -> None:
    ids = [emulator.start_import("s3://bucket/dir") for _ in range(5)]
    cancel_imports(ids, concurrency=3)


def describe(emulator: Emulator) -> None:
    describe_import(emulator.start_import("s3://bucket/dir"))


def list_pages(emulator: Emulator) -> None:
    emulator.add_imports(7)
    list(list_imports(limit=3))


def list_empty(emulator: Emulator) -> None:
    list(list_imports())


def start(emulator: Emulator) -> None:
    start_import("s3://bucket/dir", integration_id="int-1", error_mode="continue")


def cancel_unknown(emulator: Emulator) -> None:
    with pytest.raises(NotFoundError):
        cancel_import("no-such-import")


def describe_odd_id(emulator: Emulator) -> None:
    with pytest.raises(NotFoundError):
        describe_import("a/b?c#d %..")


def wrong_key(emulator: Emulator) -> None:
    with pytest.raises(AuthenticationError):
        describe_import("101", api_key="pcsk_wrong_key")


def index_lookup(emulator: Emulator) -> None:
    cancel_import(emulator.start_import("s3://bucket/dir"), host=None, index="quickstart")


def index_unknown(emulator: Emulator) -> None:
    with pytest.raises(NotFoundError):
        describe_import("101", host=None, index="no-such-index")


OPERATIONS: dict[str, tuple[Callable[[Emulator], None], int]] = {
    "cancel": (cancel, 1),
    "cancel-many": (cancel_many, 10),
    "describe": (describe, 1),
    "list-pages": (list_pages, 3),
    "list-empty": (list_empty, 1),
    "start": (start, 1),
    "cancel-unknown": (cancel_unknown, 1),
    "describe-odd-id": (describe_odd_id, 1),
    "wrong-key": (wrong_key, 1),
    "index-lookup": (index_lookup, 2),
    "index-unknown": (index_unknown, 1),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_operation_exchanges_conform(
    name: str,
    configured: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    recorder: ConformanceRecorder,
) -> None:
    operation, expected_count = OPERATIONS[name]
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", configured.url)
    if name.startswith("index-"):
        monkeypatch.delenv("PINECONE_INDEX_HOST")

    operation(configured)

    exchanges = recorder.emulator_exchanges()
    assert len(exchanges) == expected_count
    problems = [
        problem for item in exchanges for problem in validate_exchange(recorder.descriptions, item)
    ]
    assert problems == []


def test_recorder_ignores_other_clients(emulator: Emulator, recorder: ConformanceRecorder) -> None:
    with httpx.Client(base_url=emulator.url, headers=HEADERS) as client:
        client.get("/bulk/imports")

    assert recorder.exchanges == []


def test_recorder_keeps_streamed_body(configured: Emulator, recorder: ConformanceRecorder) -> None:
    describe_import(configured.start_import("s3://bucket/dir"))

    body = recorder.emulator_exchanges()[0].response_body
    assert body is not None
    assert json.loads(body)["id"] == "101"


# Responses from injected faults are exempt, and other responses are not.


def test_fault_html_body_is_exempt(configured: Emulator, recorder: ConformanceRecorder) -> None:
    configured.inject_fault(
        502, body=b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"}
    )

    with pytest.raises(ApiError):
        cancel_import("101", max_retries=1)

    violations, validated, exempt = recorder.check()
    assert violations == []
    assert validated == 1
    assert exempt == 1


def test_fault_exemption_needs_same_body(
    configured: Emulator, recorder: ConformanceRecorder
) -> None:
    configured.inject_fault(404, body=b"not found", times=1)
    configured.start_import("s3://bucket/dir")

    with pytest.raises(NotFoundError):
        cancel_import("no-such-import")
    with pytest.raises(NotFoundError):
        cancel_import("also-missing")

    exempt = [recorder.is_exempt(item) for item in recorder.emulator_exchanges()]
    assert exempt == [True, False]


# The validator reports what breaks the OpenAPI description.


VIOLATIONS: dict[str, tuple[Exchange, str]] = {
    "percent-over-100": (
        exchange("GET", "/bulk/imports/101", body=b'{"percentComplete": 150}'),
        "150 is greater than the maximum of 100",
    ),
    "created-at-not-date-time": (
        exchange("GET", "/bulk/imports/101", body=b'{"createdAt": "yesterday"}'),
        "is not a 'date-time'",
    ),
    "id-not-string": (
        exchange(
            "POST",
            "/bulk/imports",
            body=b'{"id": 101}',
            request_body=b'{"uri": "s3://b"}',
            headers={**HEADERS, "Content-Type": "application/json"},
        ),
        "101 is not of type 'string'",
    ),
    "list-data-not-array": (
        exchange("GET", "/bulk/imports", body=b'{"data": {}}'),
        "is not of type 'array'",
    ),
    "error-not-rpc-status": (
        exchange("GET", "/bulk/imports/x", status=404, body=b'{"code": "NOT_FOUND"}'),
        "'NOT_FOUND' is not of type 'integer'",
    ),
    "html-error-body": (
        exchange("DELETE", "/bulk/imports/x", status=502, body=b"<html>", content_type="text/html"),
        "mimetype not found: text/html",
    ),
    "redirect-status": (
        exchange("DELETE", "/bulk/imports/x", status=302, body=b""),
        "Unknown response http status: 302",
    ),
    "control-plane-503": (
        exchange("GET", "/indexes/quickstart", status=503, body=b'{"status": 503}'),
        "Unknown response http status: 503",
    ),
    "missing-api-version": (
        exchange("GET", "/bulk/imports/101", headers={"Api-Key": API_KEY}),
        "X-Pinecone-Api-Version was sent 0 times",
    ),
    "missing-api-key": (
        exchange("GET", "/bulk/imports/101", headers={"X-Pinecone-Api-Version": "2025-10"}),
        "Security not found",
    ),
    "id-too-long": (
        exchange("DELETE", "/bulk/imports/" + "9" * 1001),
        "is too long",
    ),
    "limit-out-of-range": (
        exchange("GET", "/bulk/imports?limit=101", body=b'{"data": []}'),
        "Invalid query parameter: limit",
    ),
    "start-without-uri": (
        exchange(
            "POST",
            "/bulk/imports",
            body=b'{"id": "1"}',
            request_body=b"{}",
            headers={**HEADERS, "Content-Type": "application/json"},
        ),
        "'uri' is a required property",
    ),
}


@pytest.mark.parametrize("name", VIOLATIONS)
def test_validator_reports_violation(name: str, descriptions: ApiDescriptions) -> None:
    item, expected = VIOLATIONS[name]

    problems = validate_exchange(descriptions, item)

    assert any(expected in problem for problem in problems), problems


def test_violation_message_hides_api_key(descriptions: ApiDescriptions) -> None:
    recorder = ConformanceRecorder(descriptions)
    body = json.dumps({"percentComplete": API_KEY}).encode()
    recorder.add_exchange(exchange("GET", "/bulk/imports/101", body=body))

    violations, _, _ = recorder.check()

    assert len(violations) == 1
    assert API_KEY not in violations[0]


def test_violation_names_request(descriptions: ApiDescriptions) -> None:
    recorder = ConformanceRecorder(descriptions)
    recorder.add_exchange(exchange("GET", "/bulk/imports/101", body=b'{"recordsImported": 1.5}'))

    violations, _, _ = recorder.check()

    assert violations[0].startswith("GET http://127.0.0.1:5081/bulk/imports/101 -> 200")


# The emulator sends conforming bodies in response to requests that the client never sends.


@pytest.fixture
def raw_client(emulator: Emulator) -> Iterator[httpx.Client]:
    """A plain httpx client for the emulator, sending the test key and API version."""
    with httpx.Client(base_url=emulator.url, headers=HEADERS, timeout=5.0) as client:
        yield client


EMULATOR_ERRORS: dict[str, tuple[str, str, dict[str, Any], int]] = {
    "limit-zero": ("GET", "/bulk/imports", {"params": {"limit": 0}}, 400),
    "limit-not-number": ("GET", "/bulk/imports", {"params": {"limit": "ten"}}, 400),
    "unknown-token": ("GET", "/bulk/imports", {"params": {"paginationToken": "bogus"}}, 400),
    "start-invalid-json": (
        "POST",
        "/bulk/imports",
        {"content": b"{uri", "headers": {"Content-Type": "application/json"}},
        400,
    ),
    "start-invalid-error-mode": (
        "POST",
        "/bulk/imports",
        {"json": {"uri": "s3://b/d", "errorMode": {"onError": "ignore"}}},
        400,
    ),
    "start-uri-too-long": ("POST", "/bulk/imports", {"json": {"uri": "s" * 1501}}, 400),
    "describe-unknown": ("GET", "/bulk/imports/999", {}, 404),
    "cancel-unknown": ("DELETE", "/bulk/imports/999", {}, 404),
    "id-too-long": ("GET", "/bulk/imports/" + "9" * 1001, {}, 400),
    "wrong-key": ("GET", "/bulk/imports", {"headers": {"Api-Key": "wrong"}}, 401),
    "index-unknown": ("GET", "/indexes/no-such-index", {}, 404),
    "index-wrong-key": ("GET", "/indexes/quickstart", {"headers": {"Api-Key": "wrong"}}, 401),
}


@pytest.mark.parametrize("name", EMULATOR_ERRORS)
def test_emulator_error_response_conforms(
    name: str, raw_client: httpx.Client, descriptions: ApiDescriptions
) -> None:
    method, path, options, expected_status = EMULATOR_ERRORS[name]

    item = raw_exchange(raw_client, method, path, **options)

    assert item.status == expected_status
    assert validate_exchange(descriptions, item, check_request=False) == []


def test_emulator_missing_key_response_conforms(
    emulator: Emulator, descriptions: ApiDescriptions
) -> None:
    with httpx.Client(base_url=emulator.url, timeout=5.0) as client:
        item = raw_exchange(client, "GET", "/bulk/imports")

    assert item.status == 401
    assert validate_exchange(descriptions, item, check_request=False) == []


#: Moments after the start, in seconds, that show every status with the emulator's default
#: timings: Pending for 1 s, 30 s from 0 to 100 percent, 10 s of indexing, 1 s to cancel.
LIFECYCLE_MOMENTS = [0.0, 0.5, 1.5, 16.0, 31.5, 36.0, 45.0]
CANCEL_MOMENT = 16.0


def test_emulator_lifecycle_models_conform(
    raw_client: httpx.Client,
    emulator: Emulator,
    clock: ManualClock,
    descriptions: ApiDescriptions,
) -> None:
    started = clock.now()
    completed = emulator.start_import("s3://bucket/ok")
    failed = emulator.add_import("s3://bucket/bad", outcome="Failed", error="Bad parquet file")
    cancelled = emulator.start_import("s3://bucket/stop")
    statuses: set[str] = set()
    problems: list[str] = []

    for moment in LIFECYCLE_MOMENTS:
        clock.set(started + moment)
        if moment == CANCEL_MOMENT:
            raw_client.delete(f"/bulk/imports/{cancelled}")

        for import_id in (completed, failed, cancelled):
            item = raw_exchange(raw_client, "GET", f"/bulk/imports/{import_id}")
            statuses.add(json.loads(item.response_body or b"{}")["status"])
            problems += validate_exchange(descriptions, item)
        listing = raw_exchange(raw_client, "GET", "/bulk/imports")
        problems += validate_exchange(descriptions, listing)

    assert problems == []
    assert statuses == {"Pending", "InProgress", "Completed", "Failed", "Cancelled"}


def test_emulator_index_model_conforms(
    raw_client: httpx.Client, descriptions: ApiDescriptions
) -> None:
    item = raw_exchange(raw_client, "GET", "/indexes/quickstart")

    assert item.status == 200
    assert validate_exchange(descriptions, item) == []


# The plugin fails the test that caused a violation, at teardown.


INNER_TESTS = """
import contextlib

import pytest

from pinecone_magic.client import describe_import
from pinecone_magic.emulator import Emulator, Fault, ManualClock
from pinecone_magic.emulator.faults import FaultSchedule

KEY = "{key}"
# Saved before the plugin wraps it, so that the plugin does not see this fault.
UNSEEN_ADD = FaultSchedule.add
BAD_BODY = b'{{"percentComplete":150}}'


def describe_with_bad_response():
    with Emulator(api_key=KEY, clock=ManualClock()) as emulator:
        emulator.start_import("s3://bucket/dir")
        fault = Fault(status=200, body=BAD_BODY, headers={{"Content-Type": "application/json"}})
        UNSEEN_ADD(emulator.faults, fault)
        with contextlib.suppress(Exception):
            describe_import("101", host=emulator.url, api_key=KEY)


def test_bad_response():
    describe_with_bad_response()


@pytest.mark.nonconforming
def test_bad_response_marked():
    describe_with_bad_response()
"""


@pytest.fixture(scope="module")
def inner_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """Run two tests that receive a non-conforming response, in a separate pytest process."""
    if load_descriptions() is None:
        pytest.skip("the Pinecone OpenAPI files are missing")
    folder = tmp_path_factory.mktemp("inner")
    (folder / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS.format(key=API_KEY)))
    environment = environment_without_pinecone()
    environment["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(REPO_ROOT)])

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conformance",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            str(folder),
        ],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plugin_fails_test_at_teardown(inner_run: subprocess.CompletedProcess[str]) -> None:
    assert "ERROR at teardown of test_bad_response" in inner_run.stdout


def test_plugin_failure_names_request(inner_run: subprocess.CompletedProcess[str]) -> None:
    assert "GET http://127.0.0.1:" in inner_run.stdout


def test_plugin_failure_names_problem(inner_run: subprocess.CompletedProcess[str]) -> None:
    assert "150 is greater than the maximum of 100" in inner_run.stdout


def test_plugin_failure_hides_api_key(inner_run: subprocess.CompletedProcess[str]) -> None:
    assert API_KEY not in inner_run.stdout + inner_run.stderr


def test_plugin_marker_skips_validation(inner_run: subprocess.CompletedProcess[str]) -> None:
    assert "2 passed, 1 error" in inner_run.stdout


def test_plugin_summary_counts_exchanges(inner_run: subprocess.CompletedProcess[str]) -> None:
    assert "OpenAPI conformance: 1 exchange(s)" in inner_run.stdout
