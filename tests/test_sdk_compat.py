"""The official Pinecone SDK (10.2) runs its bulk import calls against the local emulator.

The SDK talks only to the emulator: the index host and the control-plane host are the
emulator's loopback URL, and a guard fails the test if any socket is opened to another
address. The SDK sends `X-Pinecone-Api-Version: 2026-07`. The import endpoints are the same
in every data-plane description from 2025-10 to 2026-04, so the emulator serves them as is.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance import Exchange, load_descriptions, validate_exchange
from conftest import API_KEY

from pinecone_magic.emulator import Emulator, ManualClock

pinecone = pytest.importorskip("pinecone")

#: The API version header value that the SDK 10.2 sends on every request.
SDK_API_VERSION = "2026-07"
SDK_VERSION = "10.2.0"
IMPORT_COUNT = 250


class RemoteConnectionError(OSError):
    """A test tried to open a connection to a host that is not loopback."""


@pytest.fixture
def remote_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Block and list every name lookup or connection to a host that is not loopback."""
    attempts: list[str] = []
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect

    def is_loopback(host: object) -> bool:
        text = host.decode() if isinstance(host, bytes) else str(host)
        return text == "localhost" or text.startswith("127.") or text in ("::1", "[::1]")

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            attempts.append(f"name lookup of {host!r}")
            raise RemoteConnectionError(f"name lookup of {host!r} blocked in this test")
        return original_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(host):
            attempts.append(f"connection to {address!r}")
            raise RemoteConnectionError(f"connection to {address!r} blocked in this test")
        original_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield attempts


@pytest.fixture
def sdk_client(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, remote_attempts: list[str]
) -> Iterator[Any]:
    """A `Pinecone` client whose control-plane host is the emulator."""
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", emulator.url)
    client = pinecone.Pinecone(api_key=API_KEY, host=emulator.url)
    yield client
    client.close()

    assert remote_attempts == []


@pytest.fixture
def index(sdk_client: Any, emulator: Emulator) -> Iterator[Any]:
    """The SDK's data-plane client for the emulator's index host."""
    handle = sdk_client.Index(host=emulator.url)
    yield handle
    handle.close()


def sdk_requests(emulator: Emulator, method: str | None = None) -> list[Any]:
    """Return the requests the emulator received, optionally only those with `method`."""
    return [request for request in emulator.requests if method in (None, request.method)]


def test_sdk_version_is_pinned() -> None:
    assert pinecone.__version__ == SDK_VERSION


def test_sdk_start_import_returns_id(index: Any, emulator: Emulator) -> None:
    response = index.start_import("s3://bucket/dir", error_mode="continue", integration_id="i-1")

    assert emulator.describe_import(response.id)["uri"] == "s3://bucket/dir"


def test_sdk_start_import_body(index: Any, emulator: Emulator) -> None:
    index.start_import("s3://bucket/dir", error_mode="continue", integration_id="i-1")

    assert sdk_requests(emulator, "POST")[0].body == (
        b'{"uri":"s3://bucket/dir","errorMode":{"onError":"continue"},"integrationId":"i-1"}'
    )


def test_sdk_list_imports_all_pages(index: Any, emulator: Emulator) -> None:
    expected = emulator.add_imports(IMPORT_COUNT)

    listed = [model.id for model in index.list_imports(limit=25)]

    assert listed == expected


def test_sdk_list_imports_page_requests(index: Any, emulator: Emulator) -> None:
    emulator.add_imports(IMPORT_COUNT)

    list(index.list_imports(limit=25))

    tokens = [request.query.get("paginationToken") for request in sdk_requests(emulator, "GET")]
    assert len(tokens) == IMPORT_COUNT // 25
    assert tokens[0] is None
    assert all(token is not None for token in tokens[1:])


def test_sdk_list_imports_default_page_size(index: Any, emulator: Emulator) -> None:
    emulator.add_imports(IMPORT_COUNT)

    listed = list(index.list_imports())

    assert len(listed) == IMPORT_COUNT
    assert len(sdk_requests(emulator, "GET")) == 3


def test_sdk_list_paginated_last_page(index: Any, emulator: Emulator) -> None:
    emulator.add_imports(5)
    first = index.list_imports_paginated(limit=3)

    last = index.list_imports_paginated(limit=3, pagination_token=first.pagination.next)

    assert [model.id for model in last] == ["104", "105"]
    assert last.pagination is None


def test_sdk_describe_import_fields(index: Any, emulator: Emulator, clock: ManualClock) -> None:
    import_id = emulator.start_import("s3://bucket/dir")
    clock.advance(16)

    model = index.describe_import(import_id)

    assert model.id == import_id
    assert model.uri == "s3://bucket/dir"
    assert model.status == "InProgress"
    assert model.created_at == "2026-01-01T00:00:00.000Z"
    assert model.finished_at is None
    assert 0 < model.percent_complete < 100
    assert model.records_imported > 0
    assert model.error is None


def test_sdk_describe_failed_import_error(index: Any, emulator: Emulator) -> None:
    import_id = emulator.add_import(status="Failed", error="Bad parquet file", percent_complete=40)

    model = index.describe_import(import_id)

    assert model.status == "Failed"
    assert model.error == "Bad parquet file"
    assert model.finished_at is not None


def test_sdk_cancel_import_returns_none(index: Any, emulator: Emulator) -> None:
    import_id = emulator.start_import("s3://bucket/dir")

    assert index.cancel_import(import_id) is None


def test_sdk_cancel_then_describe_cancelled(
    index: Any, emulator: Emulator, clock: ManualClock
) -> None:
    import_id = emulator.start_import("s3://bucket/dir")
    clock.advance(5)
    index.cancel_import(import_id)
    statuses = [index.describe_import(import_id).status]

    for _ in range(5):
        clock.advance(0.5)
        statuses.append(index.describe_import(import_id).status)

    assert statuses[0] == "InProgress"
    assert statuses[-1] == "Cancelled"
    assert index.describe_import(import_id).finished_at is not None


def test_sdk_cancel_finished_import_no_effect(index: Any, emulator: Emulator) -> None:
    import_id = emulator.add_import(status="Completed")

    index.cancel_import(import_id)

    assert index.describe_import(import_id).status == "Completed"


def test_sdk_unknown_id_raises_not_found(index: Any) -> None:
    with pytest.raises(pinecone.NotFoundError) as caught:
        index.describe_import("999")

    assert caught.value.status_code == 404
    assert caught.value.body["code"] == 5
    assert caught.value.message == "Import 999 not found"


def test_sdk_cancel_unknown_id_raises_not_found(index: Any) -> None:
    with pytest.raises(pinecone.NotFoundError):
        index.cancel_import("999")


@pytest.mark.parametrize("import_id", ["a/b", "..", "x?y#z", "%2F"])
def test_sdk_odd_id_stays_one_segment(index: Any, import_id: str) -> None:
    with pytest.raises(pinecone.NotFoundError) as caught:
        index.describe_import(import_id)

    assert caught.value.message == f"Import {import_id} not found"


def test_sdk_wrong_key_raises_unauthorized(emulator: Emulator, remote_attempts: list[str]) -> None:
    with pinecone.Pinecone(api_key="pcsk_wrong_key", host=emulator.url) as client:
        handle = client.Index(host=emulator.url)
        with pytest.raises(pinecone.UnauthorizedError) as caught:
            handle.describe_import("101")
        handle.close()

    assert caught.value.status_code == 401
    assert remote_attempts == []


def test_sdk_retries_injected_503(index: Any, emulator: Emulator) -> None:
    import_id = emulator.start_import("s3://bucket/dir")
    emulator.inject_fault(503, headers={"Retry-After": "0"}, times=2, method="DELETE")

    index.cancel_import(import_id)

    assert [request.status for request in sdk_requests(emulator, "DELETE")] == [503, 503, 200]


def run_every_operation(index: Any, emulator: Emulator) -> None:
    emulator.add_imports(5)
    new_id = index.start_import("s3://bucket/dir").id
    list(index.list_imports(limit=2))
    index.describe_import(new_id)
    index.cancel_import(new_id)
    with pytest.raises(pinecone.NotFoundError):
        index.describe_import("999")


def test_sdk_sends_api_version_once(index: Any, emulator: Emulator) -> None:
    run_every_operation(index, emulator)

    versions = [request.header_values("X-Pinecone-Api-Version") for request in emulator.requests]
    assert versions == [[SDK_API_VERSION]] * len(emulator.requests)


def test_emulator_accepts_sdk_api_version(index: Any, emulator: Emulator) -> None:
    run_every_operation(index, emulator)

    statuses = [request.status for request in emulator.requests]
    assert statuses == [200] * (len(statuses) - 1) + [404]


def test_sdk_requests_conform(index: Any, emulator: Emulator, spec_dir: Path) -> None:
    descriptions = load_descriptions(spec_dir)
    assert descriptions is not None
    run_every_operation(index, emulator)

    problems = []
    for request in emulator.requests:
        exchange = Exchange(
            method=request.method,
            url=emulator.url + request.target,
            request_headers=request.header_items,
            request_body=request.body,
        )
        problems += validate_exchange(descriptions, exchange, check_response=False)

    assert problems == []


@pytest.mark.xfail(
    strict=True,
    raises=pinecone.ResponseParsingError,
    reason="the SDK 10.2 reads the 2026-07 IndexModel (required schema and deployment "
    "fields); the emulator returns GET /indexes/{name} in the 2025-10 shape",
)
def test_sdk_describe_index_parses(sdk_client: Any) -> None:
    sdk_client.indexes.describe("quickstart")


def test_sdk_client_creation_sends_nothing(index: Any, emulator: Emulator) -> None:
    assert emulator.requests == []


def test_remote_guard_blocks_lookup(remote_attempts: list[str]) -> None:
    with pytest.raises(RemoteConnectionError):
        socket.getaddrinfo("example.invalid", 443)

    assert remote_attempts == ["name lookup of 'example.invalid'"]
