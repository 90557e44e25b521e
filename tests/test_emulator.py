"""Tests of the local Pinecone emulator, over real HTTP on loopback."""

from __future__ import annotations

import logging
import re
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from emulator_helpers import API_KEY, EmulatorProcess, make_client, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinecone_magic.emulator import Emulator, Fault, ManualClock, parse_fault_spec
from pinecone_magic.emulator.__main__ import main
from pinecone_magic.emulator.clock import DEFAULT_MANUAL_START
from pinecone_magic.emulator.state import encode_pagination_token, format_timestamp

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with make_client(emu) as http_client:
        yield http_client


def encode_segment(text: str) -> str:
    """Percent-encode every byte of `text`, so no character can act as path syntax."""
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8"))


def describe(client: httpx.Client, import_id: str) -> dict[str, Any]:
    """Return the ImportModel of an import, fetched over HTTP."""
    response = client.get(f"/bulk/imports/{encode_segment(import_id)}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def list_all(client: httpx.Client, limit: int | None = None) -> list[list[dict[str, Any]]]:
    """Return every page of the import listing, following pagination tokens."""
    pages = []
    params: dict[str, str | int] = {} if limit is None else {"limit": limit}
    while True:
        response = client.get("/bulk/imports", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["data"])
        if "pagination" not in body:
            return pages
        params["paginationToken"] = body["pagination"]["next"]


# Start import


def test_start_import_returns_id_101(client: httpx.Client) -> None:
    response = client.post("/bulk/imports", json={"uri": "s3://bucket/dir"})

    assert response.status_code == 200
    assert response.json() == {"id": "101"}


def test_start_import_ids_count_up(client: httpx.Client) -> None:
    ids = [client.post("/bulk/imports", json={"uri": "s3://b/d"}).json()["id"] for _ in range(3)]

    assert ids == ["101", "102", "103"]


def test_start_import_python_api_matches_http(emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.start_import("s3://bucket/dir")

    assert describe(client, import_id)["uri"] == "s3://bucket/dir"


def test_start_import_stores_options(emu: Emulator, client: httpx.Client) -> None:
    body = {"uri": "s3://b/d", "integrationId": "int-1", "errorMode": {"onError": "continue"}}
    import_id = client.post("/bulk/imports", json=body).json()["id"]

    record = emu.store.get(import_id)
    assert record.integration_id == "int-1"
    assert record.error_mode == "continue"


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"uri": ""}',
        b'{"uri": 5}',
        b'{"uri": "' + b"x" * 1501 + b'"}',
        b'{"uri": "s3://b/d", "errorMode": {"onError": "explode"}}',
        b'{"uri": "s3://b/d", "errorMode": "abort"}',
        b'{"uri": "s3://b/d", "integrationId": 7}',
        b"not json",
        b"[1, 2]",
        b"\xff\xfe",
    ],
    ids=[
        "missing-uri",
        "empty-uri",
        "number-uri",
        "long-uri",
        "bad-on-error",
        "string-error-mode",
        "number-integration",
        "not-json",
        "array",
        "not-utf8",
    ],
)
def test_start_import_rejects_invalid_body(client: httpx.Client, body: bytes) -> None:
    response = client.post("/bulk/imports", content=body)

    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_start_import_accepts_1500_character_uri(client: httpx.Client) -> None:
    response = client.post("/bulk/imports", json={"uri": "s" * 1500})

    assert response.status_code == 200


def test_start_import_accepts_chunked_body(client: httpx.Client) -> None:
    chunks = iter([b'{"uri": ', b'"s3://b/chunked"}'])
    response = client.post("/bulk/imports", content=chunks)

    assert response.status_code == 200
    assert describe(client, response.json()["id"])["uri"] == "s3://b/chunked"


# Describe import


def test_describe_import_returns_model(emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.start_import("s3://bucket/dir")

    model = describe(client, import_id)

    assert model == {
        "id": "101",
        "uri": "s3://bucket/dir",
        "status": "Pending",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "percentComplete": 0.0,
        "recordsImported": 0,
    }


def test_describe_import_timestamps_are_rfc3339(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    clock.advance(0.1234)
    import_id = emu.add_import(status="Completed")

    model = describe(client, import_id)

    assert RFC3339_UTC.fullmatch(str(model["createdAt"]))
    assert RFC3339_UTC.fullmatch(str(model["finishedAt"]))
    assert model["createdAt"] == "2026-01-01T00:00:00.123Z"


def test_format_timestamp_truncates_to_milliseconds() -> None:
    assert format_timestamp(1_796_417_722.1239) == "2026-12-04T20:55:22.123Z"


def test_describe_unknown_import_is_404(client: httpx.Client) -> None:
    response = client.get("/bulk/imports/999")

    assert response.status_code == 404
    assert response.json() == {"code": 5, "message": "Import 999 not found", "details": []}


def test_describe_import_id_too_long_is_400(client: httpx.Client) -> None:
    response = client.get("/bulk/imports/" + "9" * 1001)

    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_describe_import_id_of_1000_characters(emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.add_import(id="7" * 1000)

    assert describe(client, import_id)["id"] == import_id


def test_describe_empty_id_is_400(client: httpx.Client) -> None:
    response = client.get("/bulk/imports/")

    assert response.status_code == 400
    assert response.json()["code"] == 3


# Percent-encoded ids


@pytest.mark.parametrize(
    ("import_id", "encoded"),
    [("a/b", "a%2Fb"), ("..", "%2E%2E"), ("a b", "a%20b"), ("100%", "100%25"), ("é", "%C3%A9")],
)
def test_encoded_id_is_decoded_once(
    emu: Emulator, client: httpx.Client, import_id: str, encoded: str
) -> None:
    emu.add_import(id=import_id)

    response = client.get(f"/bulk/imports/{encoded}")

    assert response.status_code == 200
    assert response.json()["id"] == import_id


def test_double_encoded_id_is_decoded_once(emu: Emulator, client: httpx.Client) -> None:
    emu.add_import(id="a%2Fb")

    response = client.get("/bulk/imports/a%252Fb")

    assert response.json()["id"] == "a%2Fb"


def test_extra_path_segment_is_404(emu: Emulator, client: httpx.Client) -> None:
    emu.add_import(id="a/b")

    response = client.get("/bulk/imports/a/b")

    assert response.status_code == 404
    assert response.json()["code"] == 5


def test_cancel_encoded_id(emu: Emulator, client: httpx.Client) -> None:
    emu.add_import(id="a/b", status="InProgress")

    response = client.delete("/bulk/imports/a%2Fb")

    assert response.status_code == 200
    assert emu.store.get("a/b").cancel_at is not None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(import_id=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40))
def test_any_id_round_trips(client: httpx.Client, emu: Emulator, import_id: str) -> None:
    if import_id not in {record.id for record in emu.store}:
        emu.add_import(id=import_id)

    assert describe(client, import_id)["id"] == import_id


# Routing


def test_unknown_route_is_404(client: httpx.Client) -> None:
    response = client.get("/vectors/fetch")

    assert response.status_code == 404
    assert response.json()["code"] == 5


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("PUT", "/bulk/imports", "GET, POST"), ("POST", "/bulk/imports/101", "GET, DELETE")],
)
def test_wrong_method_is_405(client: httpx.Client, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)

    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json()["code"] == 12


def test_unsupported_method_gets_json_error(client: httpx.Client) -> None:
    response = client.request("OPTIONS", "/bulk/imports")

    assert response.status_code == 501
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == 12


# List imports


@pytest.mark.parametrize("limit", [None, 100, 7, 1])
def test_list_pagination_covers_every_import(
    emu: Emulator, client: httpx.Client, limit: int | None
) -> None:
    ids = emu.add_imports(253)

    pages = list_all(client, limit)

    listed = [model["id"] for page in pages for model in page]
    assert listed == ids


@pytest.mark.parametrize(("limit", "sizes"), [(100, [100, 100, 53]), (7, [7] * 36 + [1])])
def test_list_page_sizes(emu: Emulator, client: httpx.Client, limit: int, sizes: list[int]) -> None:
    emu.add_imports(253)

    pages = list_all(client, limit)

    assert [len(page) for page in pages] == sizes


def test_list_last_page_has_no_pagination(emu: Emulator, client: httpx.Client) -> None:
    emu.add_imports(5)

    body = client.get("/bulk/imports", params={"limit": 5}).json()

    assert len(body["data"]) == 5
    assert "pagination" not in body


def test_list_empty_has_no_pagination(client: httpx.Client) -> None:
    body = client.get("/bulk/imports").json()

    assert body == {"data": []}


def test_list_is_oldest_first(emu: Emulator, client: httpx.Client, clock: ManualClock) -> None:
    old = emu.start_import("s3://b/old")
    clock.advance(10)
    new = emu.start_import("s3://b/new")
    backdated = emu.add_import("s3://b/backdated", created_at=clock.now() - 60)

    ids = [model["id"] for model in client.get("/bulk/imports").json()["data"]]

    assert ids == [backdated, old, new]


def test_list_includes_imports_created_while_paging(emu: Emulator, client: httpx.Client) -> None:
    first_ids = emu.add_imports(10)
    first = client.get("/bulk/imports", params={"limit": 4}).json()
    later_id = emu.start_import("s3://b/later")

    rest = list_all_from(client, first["pagination"]["next"], limit=4)

    listed = [model["id"] for model in first["data"] + rest]
    assert listed == [*first_ids, later_id]


def list_all_from(client: httpx.Client, token: str, limit: int) -> list[dict[str, Any]]:
    """Return the imports of every page from `token` onwards."""
    models: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": limit, "paginationToken": token}
    while True:
        body = client.get("/bulk/imports", params=params).json()
        models.extend(body["data"])
        if "pagination" not in body:
            return models
        params["paginationToken"] = body["pagination"]["next"]


def test_list_token_is_reusable(emu: Emulator, client: httpx.Client) -> None:
    emu.add_imports(6)
    token = client.get("/bulk/imports", params={"limit": 3}).json()["pagination"]["next"]

    first = client.get("/bulk/imports", params={"limit": 3, "paginationToken": token})
    second = client.get("/bulk/imports", params={"limit": 3, "paginationToken": token})

    assert first.json() == second.json()


@pytest.mark.parametrize("limit", ["0", "101", "x", "1.5", "-1", "", " 7", "1e2"])
def test_list_rejects_invalid_limit(client: httpx.Client, limit: str) -> None:
    response = client.get("/bulk/imports", params={"limit": limit})

    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_list_rejects_repeated_limit(client: httpx.Client) -> None:
    response = client.get("/bulk/imports?limit=5&limit=6")

    assert response.status_code == 400
    assert response.json()["code"] == 3


@pytest.mark.parametrize(
    "token", ["garbage!!", "not-base64", encode_pagination_token(3), "aW1wb3J0cy1hZnRlcjp4"]
)
def test_list_rejects_unknown_token(emu: Emulator, client: httpx.Client, token: str) -> None:
    emu.add_imports(10)

    response = client.get("/bulk/imports", params={"paginationToken": token})

    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_list_python_api_matches_http(emu: Emulator, client: httpx.Client) -> None:
    emu.add_imports(3)

    assert emu.list_imports() == client.get("/bulk/imports").json()["data"]


# Lifecycle


def test_lifecycle_moves_through_every_status(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.start_import("s3://b/d")
    seen = []

    for _ in range(45):
        model = describe(client, import_id)
        seen.append((model["status"], model["percentComplete"]))
        clock.advance(1)

    statuses = [status for status, _ in seen]
    running_percents = [percent for _, percent in seen[1:32]]
    assert statuses[0] == "Pending"
    assert statuses[1:41] == ["InProgress"] * 40
    assert statuses[41:] == ["Completed"] * 4
    assert running_percents == sorted(set(running_percents))


def test_lifecycle_percent_rises_linearly(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.start_import("s3://b/d")

    percents = []
    for seconds in (1, 7, 16, 31):
        clock.set(emu.store.get(import_id).created_at + seconds)
        percents.append(describe(client, import_id)["percentComplete"])

    assert percents == [0.0, 20.0, 50.0, 100.0]


def test_lifecycle_waits_at_100_percent(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.start_import("s3://b/d")
    clock.advance(40.9)

    model = describe(client, import_id)

    assert model["status"] == "InProgress"
    assert model["percentComplete"] == 100.0
    assert "finishedAt" not in model


def test_lifecycle_records_rise_with_percent(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.start_import("s3://b/d")
    total = emu.store.get(import_id).total_records

    clock.advance(16)
    halfway = describe(client, import_id)["recordsImported"]
    clock.advance(30)
    finished = describe(client, import_id)

    assert halfway == total // 2
    assert finished["recordsImported"] == total


def test_lifecycle_completed_has_finished_at(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.start_import("s3://b/d")
    clock.advance(100)

    model = describe(client, import_id)

    assert model["status"] == "Completed"
    assert model["finishedAt"] == "2026-01-01T00:00:41.000Z"
    assert "error" not in model


def test_lifecycle_custom_timings(clock: ManualClock) -> None:
    with Emulator(
        api_key=API_KEY, clock=clock, pending_seconds=0, run_seconds=4, indexing_seconds=0
    ) as emulator:
        import_id = emulator.start_import("s3://b/d")
        clock.advance(2)
        halfway = emulator.describe_import(import_id)
        clock.advance(2)
        finished = emulator.describe_import(import_id)

    assert halfway["percentComplete"] == 50.0
    assert finished["status"] == "Completed"


def test_failed_outcome_ends_failed(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.add_import(outcome="Failed", error="Parquet schema mismatch")
    clock.advance(10)
    running = describe(client, import_id)
    clock.advance(10)
    failed = describe(client, import_id)

    assert running["status"] == "InProgress"
    assert failed["status"] == "Failed"
    assert failed["error"] == "Parquet schema mismatch"
    assert failed["percentComplete"] == 50.0
    assert "finishedAt" in failed


@pytest.mark.parametrize("status", ["Pending", "InProgress", "Completed", "Failed", "Cancelled"])
def test_add_import_status_shortcut(emu: Emulator, client: httpx.Client, status: str) -> None:
    import_id = emu.add_import(status=status)  # type: ignore[arg-type]

    model = describe(client, import_id)

    assert model["status"] == status
    assert ("finishedAt" in model) == (status in ("Completed", "Failed", "Cancelled"))
    assert ("error" in model) == (status == "Failed")


def test_add_import_in_progress_at_percent(emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.add_import(status="InProgress", percent_complete=42.5)

    assert describe(client, import_id)["percentComplete"] == 42.5


def test_add_import_completed_is_100_percent(emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.add_import(status="Completed", total_records=1234)

    model = describe(client, import_id)

    assert model["percentComplete"] == 100.0
    assert model["recordsImported"] == 1234


def test_add_import_rejects_duplicate_id(emu: Emulator) -> None:
    emu.add_import(id="dup")

    with pytest.raises(ValueError, match="already exists"):
        emu.add_import(id="dup")


@pytest.mark.parametrize("import_id", ["", "x" * 1001])
def test_add_import_rejects_invalid_id(emu: Emulator, import_id: str) -> None:
    with pytest.raises(ValueError, match="1 to 1000 characters"):
        emu.add_import(id=import_id)


def test_generated_ids_skip_explicit_ones(emu: Emulator) -> None:
    emu.add_import(id="101")

    assert emu.start_import("s3://b/d") == "102"


def test_add_imports_spaces_created_at(emu: Emulator, client: httpx.Client) -> None:
    emu.add_imports(3)

    created = [model["createdAt"] for model in client.get("/bulk/imports").json()["data"]]

    assert created == [
        "2025-12-31T23:59:58.000Z",
        "2025-12-31T23:59:59.000Z",
        "2026-01-01T00:00:00.000Z",
    ]


def test_manual_clock_rejects_negative_advance() -> None:
    with pytest.raises(ValueError, match="negative"):
        ManualClock().advance(-1)


# Cancel


def test_cancel_returns_empty_object(emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.start_import("s3://b/d")

    response = client.delete(f"/bulk/imports/{import_id}")

    assert response.status_code == 200
    assert response.json() == {}


def test_cancel_takes_effect_after_latency(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.add_import(status="InProgress", percent_complete=30)
    client.delete(f"/bulk/imports/{import_id}")

    clock.advance(0.5)
    before = describe(client, import_id)
    clock.advance(0.5)
    after = describe(client, import_id)

    assert before["status"] == "InProgress"
    assert after["status"] == "Cancelled"
    assert after["finishedAt"] == "2026-01-01T00:00:01.000Z"


def test_cancel_freezes_progress(emu: Emulator, client: httpx.Client, clock: ManualClock) -> None:
    import_id = emu.add_import(status="InProgress", percent_complete=30)
    client.delete(f"/bulk/imports/{import_id}")

    clock.advance(20)

    assert describe(client, import_id)["percentComplete"] == pytest.approx(30 + 100 / 30, abs=0.01)


def test_cancel_pending_import(emu: Emulator, client: httpx.Client, clock: ManualClock) -> None:
    import_id = emu.start_import("s3://b/d")
    client.delete(f"/bulk/imports/{import_id}")

    clock.advance(1)
    model = describe(client, import_id)

    assert model["status"] == "Cancelled"
    assert model["percentComplete"] == 0.0


def test_cancel_with_zero_latency(clock: ManualClock) -> None:
    with Emulator(api_key=API_KEY, clock=clock, cancel_latency=0) as emulator:
        import_id = emulator.add_import(status="InProgress")
        with make_client(emulator) as http_client:
            http_client.delete(f"/bulk/imports/{import_id}")
            model = describe(http_client, import_id)

    assert model["status"] == "Cancelled"


def test_cancel_repeated_keeps_first_time(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.add_import(status="InProgress")
    client.delete(f"/bulk/imports/{import_id}")
    clock.advance(0.5)
    client.delete(f"/bulk/imports/{import_id}")

    clock.advance(0.5)

    assert describe(client, import_id)["status"] == "Cancelled"


@pytest.mark.parametrize("status", ["Completed", "Failed", "Cancelled"])
def test_cancel_finished_import_changes_nothing(
    emu: Emulator, client: httpx.Client, clock: ManualClock, status: str
) -> None:
    import_id = emu.add_import(status=status)  # type: ignore[arg-type]
    before = describe(client, import_id)

    response = client.delete(f"/bulk/imports/{import_id}")
    clock.advance(5)

    assert response.status_code == 200
    assert describe(client, import_id) == before


def test_cancel_loses_to_import_finishing_first(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    import_id = emu.start_import("s3://b/d")
    clock.advance(40.5)
    client.delete(f"/bulk/imports/{import_id}")

    clock.advance(1)

    assert describe(client, import_id)["status"] == "Completed"


def test_cancel_unknown_import_is_404(client: httpx.Client) -> None:
    response = client.delete("/bulk/imports/999")

    assert response.status_code == 404
    assert response.json() == {"code": 5, "message": "Import 999 not found", "details": []}


# Authentication


ENDPOINTS = [
    ("POST", "/bulk/imports"),
    ("GET", "/bulk/imports"),
    ("GET", "/bulk/imports/101"),
    ("DELETE", "/bulk/imports/101"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_wrong_key_is_401(emu: Emulator, method: str, path: str) -> None:
    emu.start_import("s3://b/d")
    with make_client(emu, api_key="wrong-key") as http_client:
        response = http_client.request(method, path, json={"uri": "s3://b/d"})

    assert response.status_code == 401
    assert response.json() == {"code": 16, "message": "Invalid API Key", "details": []}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_key_is_401(emu: Emulator, method: str, path: str) -> None:
    with make_client(emu, api_key=None) as http_client:
        response = http_client.request(method, path, json={"uri": "s3://b/d"})

    assert response.status_code == 401
    assert response.json()["code"] == 16


def test_repeated_key_header_is_401(emu: Emulator) -> None:
    with httpx.Client(base_url=emu.url, timeout=5) as http_client:
        response = http_client.get(
            "/bulk/imports", headers=[("Api-Key", API_KEY), ("Api-Key", API_KEY)]
        )

    assert response.status_code == 401
    assert emu.requests[-1].header_values("api-key") == [API_KEY, API_KEY]


def test_wrong_key_changes_nothing(emu: Emulator) -> None:
    import_id = emu.add_import(status="InProgress")
    with make_client(emu, api_key="wrong-key") as http_client:
        http_client.delete(f"/bulk/imports/{import_id}")

    assert emu.store.get(import_id).cancel_at is None


def test_any_api_version_is_accepted(emu: Emulator, client: httpx.Client) -> None:
    response = client.get("/bulk/imports", headers={"X-Pinecone-Api-Version": "2099-01"})

    assert response.status_code == 200
    assert emu.requests[-1].headers["x-pinecone-api-version"] == "2099-01"


# Describe index


def test_describe_index_known_name(emu: Emulator, client: httpx.Client) -> None:
    response = client.get("/indexes/quickstart")
    model = response.json()

    assert response.status_code == 200
    assert model["name"] == "quickstart"
    assert model["host"] == emu.host
    assert model["status"] == {"ready": True, "state": "Ready"}
    assert model["spec"]["serverless"]["cloud"] == "aws"
    assert model["dimension"] == 1536


def test_describe_index_host_has_no_scheme(client: httpx.Client) -> None:
    host = client.get("/indexes/quickstart").json()["host"]

    assert re.fullmatch(r"127\.0\.0\.1:\d+", host)


def test_describe_index_custom_names(clock: ManualClock) -> None:
    with (
        Emulator(api_key=API_KEY, clock=clock, indexes=["docs", "movies"]) as emulator,
        make_client(emulator) as http_client,
    ):
        statuses = [http_client.get(f"/indexes/{name}").status_code for name in ("docs", "movies")]
        default = http_client.get("/indexes/quickstart")

    assert statuses == [200, 200]
    assert default.status_code == 404


def test_describe_index_unknown_name_is_404(client: httpx.Client) -> None:
    response = client.get("/indexes/nope")

    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "error": {"code": "NOT_FOUND", "message": "Resource nope not found"},
    }


def test_describe_index_wrong_key_is_401(emu: Emulator) -> None:
    with make_client(emu, api_key="wrong-key") as http_client:
        response = http_client.get("/indexes/quickstart")

    assert response.status_code == 401
    assert response.json() == {
        "status": 401,
        "error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"},
    }


def test_invalid_index_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="Invalid index name"):
        Emulator(indexes=["Not_Valid"])


# Headers and request recording


def test_every_response_has_request_id(emu: Emulator, client: httpx.Client) -> None:
    responses = [
        client.get("/bulk/imports"),
        client.get("/bulk/imports/999"),
        client.get("/indexes/quickstart"),
        client.get("/nowhere"),
    ]

    request_ids = [response.headers.get("x-pinecone-request-id") for response in responses]
    assert None not in request_ids
    assert len(set(request_ids)) == len(request_ids)


def test_every_json_response_has_content_type(client: httpx.Client) -> None:
    responses = [
        client.post("/bulk/imports", json={"uri": "s3://b/d"}),
        client.get("/bulk/imports"),
        client.get("/bulk/imports/101"),
        client.delete("/bulk/imports/101"),
        client.get("/bulk/imports/999"),
        client.get("/bulk/imports?limit=0"),
        client.get("/indexes/quickstart"),
    ]

    content_types = {response.headers["Content-Type"] for response in responses}
    assert content_types == {"application/json"}


def test_requests_record_raw_and_decoded_path(emu: Emulator, client: httpx.Client) -> None:
    client.get("/bulk/imports/a%2Fb?x=1&x=2")

    recorded = emu.requests[-1]
    assert recorded.method == "GET"
    assert recorded.target == "/bulk/imports/a%2Fb?x=1&x=2"
    assert recorded.raw_path == "/bulk/imports/a%2Fb"
    assert recorded.path == "/bulk/imports/a/b"
    assert recorded.query == {"x": ["1", "2"]}
    assert recorded.status == 404


def test_requests_record_headers_and_body(emu: Emulator, client: httpx.Client) -> None:
    client.post("/bulk/imports", json={"uri": "s3://b/d"}, headers={"X-Extra": "one"})

    recorded = emu.requests[-1]
    assert recorded.headers["api-key"] == API_KEY
    assert recorded.header_values("X-PINECONE-API-VERSION") == ["2025-10"]
    assert recorded.header_values("x-extra") == ["one"]
    assert recorded.body == b'{"uri":"s3://b/d"}'


def test_recorded_request_repr_hides_api_key(emu: Emulator, client: httpx.Client) -> None:
    client.get("/bulk/imports")

    assert API_KEY not in repr(emu.requests[-1])


def test_reset_requests(emu: Emulator, client: httpx.Client) -> None:
    client.get("/bulk/imports")

    emu.reset_requests()

    assert emu.requests == []


# Faults


def test_status_fault_applies_n_times(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(
        503,
        headers={"Retry-After": "1", "Content-Type": "text/html"},
        body=b"<html>proxy error</html>",
        times=3,
    )

    faulty = [client.get("/bulk/imports") for _ in range(3)]
    normal = client.get("/bulk/imports")

    assert [response.status_code for response in faulty] == [503, 503, 503]
    assert faulty[0].headers["Retry-After"] == "1"
    assert faulty[0].headers["Content-Type"] == "text/html"
    assert faulty[0].content == b"<html>proxy error</html>"
    assert normal.status_code == 200


def test_status_fault_default_body_is_rpc_status(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(429)

    response = client.get("/bulk/imports")

    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == 8


def test_status_fault_with_empty_body(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(502, body=b"")

    response = client.get("/bulk/imports")

    assert response.status_code == 502
    assert response.content == b""
    assert "Content-Type" not in response.headers


def test_fault_matches_method_and_path(emu: Emulator, client: httpx.Client) -> None:
    emu.start_import("s3://b/d")
    emu.inject_fault(500, method="DELETE", path_prefix="/bulk/imports/")

    listed = client.get("/bulk/imports")
    cancelled = client.delete("/bulk/imports/101")

    assert listed.status_code == 200
    assert cancelled.status_code == 500


def test_fault_without_times_persists(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(503, times=None)

    statuses = [client.get("/bulk/imports").status_code for _ in range(5)]

    assert statuses == [503] * 5
    assert len(emu.faults.pending()) == 1


def test_faults_apply_in_order(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(503)
    emu.inject_fault(429)

    statuses = [client.get("/bulk/imports").status_code for _ in range(3)]

    assert statuses == [503, 429, 200]


def test_clear_faults(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(503, times=5)

    emu.clear_faults()

    assert client.get("/bulk/imports").status_code == 200


def test_delay_fault_delays_response(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(delay=0.3)

    started = time.perf_counter()
    response = client.get("/bulk/imports")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= 0.29


def test_delay_fault_uses_real_time(
    emu: Emulator, client: httpx.Client, clock: ManualClock
) -> None:
    emu.inject_fault(delay=0.2)

    client.get("/bulk/imports")

    assert clock.now() == DEFAULT_MANUAL_START


def test_drop_fault_closes_connection(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(action="drop")

    with pytest.raises(httpx.TransportError):
        client.get("/bulk/imports")

    assert client.get("/bulk/imports").status_code == 200


def test_drop_fault_is_recorded_without_status(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(action="drop")

    with pytest.raises(httpx.TransportError):
        client.get("/bulk/imports")

    assert emu.requests[-1].status is None


def test_hang_fault_times_out(emu: Emulator) -> None:
    emu.inject_fault(action="hang")

    with make_client(emu, timeout=0.3) as http_client, pytest.raises(httpx.ReadTimeout):
        http_client.get("/bulk/imports")


def test_hang_ends_when_client_disconnects(emu: Emulator) -> None:
    emu.inject_fault(action="hang")
    with make_client(emu, timeout=0.2) as http_client, pytest.raises(httpx.ReadTimeout):
        http_client.get("/bulk/imports")

    assert wait_until(lambda: emu.open_connections == 0)


def test_stop_ends_hanging_request(clock: ManualClock) -> None:
    emulator = Emulator(api_key=API_KEY, clock=clock).start()
    emulator.inject_fault(action="hang")
    raw = socket.create_connection(("127.0.0.1", emulator.port))
    raw.sendall(b"GET /bulk/imports HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_until(lambda: len(emulator.requests) == 1)

    started = time.perf_counter()
    emulator.stop()
    elapsed = time.perf_counter() - started
    raw.close()

    assert elapsed < 1.0


def test_slow_body_arrives_complete(emu: Emulator, client: httpx.Client) -> None:
    emu.add_imports(2)
    expected = client.get("/bulk/imports").content
    emu.inject_fault(action="slow_body", chunk_size=64, chunk_delay=0.02)

    started = time.perf_counter()
    response = client.get("/bulk/imports")
    elapsed = time.perf_counter() - started

    assert response.content == expected
    assert elapsed >= 0.02 * (len(expected) // 64)


def test_slow_body_sends_headers_first(emu: Emulator, client: httpx.Client) -> None:
    emu.inject_fault(action="slow_body", chunk_size=1, chunk_delay=0.05)

    with client.stream("GET", "/bulk/imports") as response:
        headers_at = time.perf_counter()
        body = response.read()
        body_at = time.perf_counter()

    assert response.status_code == 200
    assert body == b'{"data":[]}'
    assert body_at - headers_at >= 0.4


def test_inject_fault_needs_a_kind(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="action, a status or a delay"):
        emu.inject_fault()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("503", Fault(status=503)),
        ("503x3", Fault(status=503, times=3)),
        ("429,retry-after=2", Fault(status=429, headers={"Retry-After": "2"})),
        ("drop", Fault(action="drop")),
        ("dropx2,method=delete", Fault(action="drop", times=2, method="DELETE")),
        ("hang,path=/bulk/imports", Fault(action="hang", path_prefix="/bulk/imports")),
        ("slow", Fault(action="slow_body")),
        ("delay=3", Fault(action="delay", delay=3.0)),
        ("delay=0.5,times=4", Fault(action="delay", delay=0.5, times=4)),
        ("503,delay=1", Fault(status=503, delay=1.0)),
        (
            "502,body=<html>Bad gateway</html>,content-type=text/html",
            Fault(
                status=502,
                body=b"<html>Bad gateway</html>",
                headers={"Content-Type": "text/html"},
            ),
        ),
        (
            "500,body=oops",
            Fault(status=500, body=b"oops", headers={"Content-Type": "text/plain; charset=utf-8"}),
        ),
    ],
)
def test_parse_fault_spec(spec: str, expected: Fault) -> None:
    assert parse_fault_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["", "teapot", "5033", "503x0", "503xy", "times=2", "drop,colour=red", "delay=-1", "503,oops"],
)
def test_parse_fault_spec_rejects_invalid(spec: str) -> None:
    with pytest.raises(ValueError, match="Invalid fault spec"):
        parse_fault_spec(spec)


# Connections


def test_keep_alive_reuses_one_connection(emu: Emulator, client: httpx.Client) -> None:
    client.get("/bulk/imports")
    client.get("/indexes/quickstart")

    assert emu.connections_accepted == 1
    assert {request.connection_id for request in emu.requests} == {1}


def test_accepted_sockets_have_tcp_nodelay(emu: Emulator, client: httpx.Client) -> None:
    client.get("/bulk/imports")

    assert emu.server is not None
    sockets = emu.server.connection_sockets()
    assert len(sockets) == 1
    assert sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_keep_alive_requests_are_fast(emu: Emulator, client: httpx.Client) -> None:
    emu.start_import("s3://b/d")
    client.get("/bulk/imports/101")

    started = time.perf_counter()
    for _ in range(50):
        client.get("/bulk/imports/101")
    elapsed = time.perf_counter() - started

    assert elapsed < 1.5


def test_connection_closes_after_client(emu: Emulator) -> None:
    with make_client(emu) as http_client:
        http_client.get("/bulk/imports")
        assert emu.open_connections == 1

    assert wait_until(lambda: emu.open_connections == 0)


def test_stop_closes_idle_connections(clock: ManualClock) -> None:
    emulator = Emulator(api_key=API_KEY, clock=clock).start()
    with make_client(emulator) as http_client:
        http_client.get("/bulk/imports")

        emulator.stop()

        with pytest.raises(httpx.TransportError):
            http_client.get("/bulk/imports")


def test_client_disconnect_logs_no_error(
    emu: Emulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.add_imports(20)
    emu.inject_fault(action="slow_body", chunk_size=16, chunk_delay=0.3)

    with caplog.at_level(logging.DEBUG, logger="pinecone_magic.emulator"):
        with make_client(emu, timeout=0.1) as http_client, pytest.raises(httpx.ReadTimeout):
            http_client.get("/bulk/imports")
        assert wait_until(lambda: emu.open_connections == 0)

    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert "Traceback" not in capfd.readouterr().err


def send_raw(emu: Emulator, data: bytes) -> bytes:
    """Send raw bytes on a new connection and return all bytes the emulator sends back."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw:
        raw.sendall(data)
        chunks = []
        while chunk := raw.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_request_line_gets_json_400(emu: Emulator) -> None:
    reply = send_raw(emu, b"NONSENSE\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 400")
    assert b'"code":3' in reply


def test_oversized_body_is_413(emu: Emulator) -> None:
    request = b"POST /bulk/imports HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"

    reply = send_raw(emu, request)

    assert reply.startswith(b"HTTP/1.1 413")
    assert b'"code":3' in reply


def test_long_request_line_is_414(emu: Emulator) -> None:
    reply = send_raw(emu, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 414")


# The Emulator object


def test_repr_hides_api_key(emu: Emulator) -> None:
    assert API_KEY not in repr(emu)
    assert "api_key='***'" in repr(emu)


def test_generated_api_key_is_random() -> None:
    assert Emulator().api_key != Emulator().api_key


def test_url_and_host(emu: Emulator) -> None:
    assert emu.host == f"127.0.0.1:{emu.port}"
    assert emu.url == f"http://127.0.0.1:{emu.port}"


def test_ipv6_loopback(clock: ManualClock) -> None:
    if not socket.has_ipv6:
        pytest.skip("This Python has no IPv6 support.")
    try:
        emulator = Emulator(api_key=API_KEY, clock=clock, bind="::1").start()
    except OSError as error:
        pytest.skip(f"No IPv6 loopback on this machine: {error}")

    with emulator, make_client(emulator) as http_client:
        url = emulator.url
        response = http_client.get("/indexes/quickstart")

    assert url.startswith("http://[::1]:")
    assert response.json()["host"].startswith("[::1]:")


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.1", "example.com", "localhost"])
def test_non_loopback_bind_is_rejected(bind: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Emulator(bind=bind)


def test_url_requires_running_emulator() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = Emulator().url


def test_start_twice_is_rejected(emu: Emulator) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        emu.start()


def test_stop_twice_is_safe(clock: ManualClock) -> None:
    emulator = Emulator(api_key=API_KEY, clock=clock).start()

    emulator.stop()
    emulator.stop()

    assert not emulator.running


def test_restart_keeps_imports(clock: ManualClock) -> None:
    emulator = Emulator(api_key=API_KEY, clock=clock)
    with emulator:
        import_id = emulator.start_import("s3://b/d")

    with emulator, make_client(emulator) as http_client:
        assert describe(http_client, import_id)["uri"] == "s3://b/d"


def test_parallel_starts_get_unique_ids(emu: Emulator) -> None:
    def start_one(_: int) -> str:
        with make_client(emu) as http_client:
            response = http_client.post("/bulk/imports", json={"uri": "s3://b/d"})
            import_id: str = response.json()["id"]
            return import_id

    with ThreadPoolExecutor(max_workers=8) as executor:
        ids = list(executor.map(start_one, range(32)))

    assert sorted(ids, key=int) == [str(number) for number in range(101, 133)]
    assert emu.connections_accepted == 32


# The official SDK


def test_official_sdk_runs_import_calls(emu: Emulator, clock: ManualClock) -> None:
    pinecone = pytest.importorskip("pinecone")
    index = pinecone.Pinecone(api_key=API_KEY).Index(host=emu.url)
    try:
        started = index.start_import("s3://bucket/dir")
        clock.advance(10)
        running = index.describe_import(started.id)
        index.cancel_import(started.id)
        clock.advance(1)
        cancelled = index.describe_import(started.id)
        listed = [model.id for model in index.list_imports(limit=1)]
    finally:
        index.close()

    assert started.id == "101"
    assert running.status == "InProgress"
    assert cancelled.status == "Cancelled"
    assert listed == ["101"]


# Command line


@pytest.fixture
def cli_process() -> Iterator[list[EmulatorProcess]]:
    processes: list[EmulatorProcess] = []
    yield processes
    for process in processes:
        process.close()


def start_cli(processes: list[EmulatorProcess], *args: str) -> tuple[EmulatorProcess, str]:
    """Start the CLI on a free port; return the process and the URL it printed."""
    process = EmulatorProcess("--port", "0", *args)
    processes.append(process)

    line = process.read_line()
    while not line.startswith("Pinecone emulator listening on "):
        line = process.read_line()
    return process, line.removeprefix("Pinecone emulator listening on ")


def test_cli_serves_and_exits_on_sigint(cli_process: list[EmulatorProcess]) -> None:
    key = "cli-secret-key-123"
    process, url = start_cli(cli_process, "--api-key", key)
    hint = process.read_line()

    response = httpx.get(f"{url}/indexes/quickstart", headers={"Api-Key": key}, timeout=5)
    status, stdout, stderr = process.interrupt(signal.SIGINT)

    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert (
        hint == f"Use --host {url} and set PINECONE_API_KEY to the key you passed with --api-key."
    )
    assert response.status_code == 200
    assert status == 0
    assert key not in stdout
    assert stderr == ""


def test_cli_exits_cleanly_on_sigterm(cli_process: list[EmulatorProcess]) -> None:
    process, _ = start_cli(cli_process, "--api-key", "k")

    status, _, stderr = process.interrupt(signal.SIGTERM)

    assert status == 0
    assert stderr == ""


def test_cli_prints_generated_key_once(cli_process: list[EmulatorProcess]) -> None:
    process = EmulatorProcess("--port", "0")
    cli_process.append(process)
    key_line = process.read_line()
    url = process.read_line().removeprefix("Pinecone emulator listening on ")
    key = key_line.removeprefix("Generated API key (shown only now): ")

    response = httpx.get(f"{url}/bulk/imports", headers={"Api-Key": key}, timeout=5)
    _, stdout, _ = process.interrupt()

    assert key_line.startswith("Generated API key (shown only now): ")
    assert response.status_code == 200
    assert stdout.count(key) == 1


def test_cli_applies_faults_and_seed(cli_process: list[EmulatorProcess]) -> None:
    _, url = start_cli(cli_process, "--api-key", "k", "--fault", "503x2", "--seed-imports", "3")

    with httpx.Client(base_url=url, headers={"Api-Key": "k"}, timeout=5) as http_client:
        statuses = [http_client.get("/bulk/imports").status_code for _ in range(3)]
        listed = http_client.get("/bulk/imports").json()["data"]

    assert statuses == [503, 503, 200]
    assert [model["id"] for model in listed] == ["101", "102", "103"]


def test_cli_verbose_logs_requests_without_key(cli_process: list[EmulatorProcess]) -> None:
    key = "cli-secret-key-456"
    process, url = start_cli(cli_process, "--api-key", key, "--verbose")

    httpx.get(f"{url}/bulk/imports", headers={"Api-Key": key}, timeout=5)
    _, _, stderr = process.interrupt()

    assert "GET /bulk/imports -> 200" in stderr
    assert key not in stderr


def test_cli_help_documents_fault_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    output = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "503x3" in output
    assert "--cancel-latency" in output


@pytest.mark.parametrize(
    "args",
    [
        ["--fault", "teapot"],
        ["--port", "-1"],
        ["--port", "70000"],
        ["--bind", "0.0.0.0"],
        ["--run-seconds", "x"],
        ["--index", "Bad_Name"],
    ],
)
def test_cli_rejects_invalid_options(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)

    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_reports_port_in_use(emu: Emulator, cli_process: list[EmulatorProcess]) -> None:
    process = EmulatorProcess("--port", str(emu.port), "--api-key", "k")
    cli_process.append(process)

    status = process.process.wait(15)
    stderr = process.process.stderr.read()  # type: ignore[union-attr]

    assert status == 1
    assert "Pass --port 0" in stderr
    assert "Traceback" not in stderr
