"""Validate the emulator's real responses against Pinecone's official 2025-10 OpenAPI files."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_helpers import API_KEY, make_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinecone_magic.emulator import Emulator, ManualClock

yaml = pytest.importorskip("yaml")
openapi_core = pytest.importorskip("openapi_core")
openapi_testing = pytest.importorskip("openapi_core.testing")

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"
DATA_SPEC = SPEC_DIR / "db_data_2025-10.oas.yaml"
CONTROL_SPEC = SPEC_DIR / "db_control_2025-10.oas.yaml"

STATUSES = ["Pending", "InProgress", "Completed", "Failed", "Cancelled"]


def load_spec(path: Path) -> dict[str, Any]:
    """Load an OpenAPI file whose server is rewritten to plain HTTP on any host.

    The files name ``https://{index_host}`` or ``https://api.pinecone.io``; the emulator
    serves ``http://127.0.0.1:PORT``, so the copy in memory accepts any ``http`` host.
    """
    if not path.is_file():
        pytest.skip(f"The Pinecone OpenAPI file is not at {path}; its folder sits beside the repo.")

    with path.open(encoding="utf-8") as spec_file:
        spec: dict[str, Any] = yaml.safe_load(spec_file)

    spec["servers"] = [
        {"url": "http://{host}", "variables": {"host": {"default": "127.0.0.1"}}},
    ]
    return spec


@pytest.fixture(scope="module")
def data_spec_dict() -> dict[str, Any]:
    return load_spec(DATA_SPEC)


@pytest.fixture(scope="module")
def data_spec(data_spec_dict: dict[str, Any]) -> Any:
    return openapi_core.OpenAPI.from_dict(copy.deepcopy(data_spec_dict))


@pytest.fixture(scope="module")
def control_spec_dict() -> dict[str, Any]:
    return load_spec(CONTROL_SPEC)


@pytest.fixture(scope="module")
def control_spec(control_spec_dict: dict[str, Any]) -> Any:
    return openapi_core.OpenAPI.from_dict(copy.deepcopy(control_spec_dict))


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


def validate(spec: Any, response: httpx.Response) -> None:
    """Raise an openapi-core error unless `response` matches the spec for its request."""
    request = response.request
    raw_path, _, _ = request.url.raw_path.decode("ascii").partition("?")

    mock_request = openapi_testing.MockRequest(
        host_url=f"{request.url.scheme}://{request.url.netloc.decode('ascii')}",
        method=request.method,
        path=raw_path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=request.content,
    )
    mock_response = openapi_testing.MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("Content-Type", ""),
    )
    spec.validate_response(mock_request, mock_response)


def schema_properties(spec_dict: dict[str, Any], name: str) -> set[str]:
    """Return the property names the spec defines for the component schema `name`."""
    return set(spec_dict["components"]["schemas"][name]["properties"])


# Data plane: successful responses


def test_start_import_matches_spec(data_spec: Any, client: httpx.Client) -> None:
    response = client.post("/bulk/imports", json={"uri": "s3://bucket/dir"})

    assert response.status_code == 200
    validate(data_spec, response)


def test_list_imports_pages_match_spec(data_spec: Any, emu: Emulator, client: httpx.Client) -> None:
    emu.add_imports(12)

    first = client.get("/bulk/imports", params={"limit": 10})
    last = client.get(
        "/bulk/imports", params={"limit": 10, "paginationToken": first.json()["pagination"]["next"]}
    )

    validate(data_spec, first)
    validate(data_spec, last)


def test_empty_list_matches_spec(data_spec: Any, client: httpx.Client) -> None:
    validate(data_spec, client.get("/bulk/imports"))


@pytest.mark.parametrize("status", STATUSES)
def test_describe_import_matches_spec(
    data_spec: Any, emu: Emulator, client: httpx.Client, status: str
) -> None:
    import_id = emu.add_import(status=status, error="Invalid Parquet file")  # type: ignore[arg-type]

    response = client.get(f"/bulk/imports/{import_id}")

    assert response.status_code == 200
    validate(data_spec, response)


@pytest.mark.parametrize("status", STATUSES)
def test_import_model_fields_are_in_spec(
    data_spec_dict: dict[str, Any], emu: Emulator, client: httpx.Client, status: str
) -> None:
    import_id = emu.add_import(status=status)  # type: ignore[arg-type]

    model = client.get(f"/bulk/imports/{import_id}").json()

    assert set(model) <= schema_properties(data_spec_dict, "ImportModel")


def test_list_response_fields_are_in_spec(
    data_spec_dict: dict[str, Any], emu: Emulator, client: httpx.Client
) -> None:
    emu.add_imports(3)

    body = client.get("/bulk/imports", params={"limit": 2}).json()

    assert set(body) <= schema_properties(data_spec_dict, "ListImportsResponse")
    assert set(body["pagination"]) <= schema_properties(data_spec_dict, "Pagination")


def test_cancel_import_matches_spec(data_spec: Any, emu: Emulator, client: httpx.Client) -> None:
    import_id = emu.add_import(status="InProgress")

    response = client.delete(f"/bulk/imports/{import_id}")

    assert response.status_code == 200
    validate(data_spec, response)


def test_encoded_id_matches_spec(data_spec: Any, emu: Emulator, client: httpx.Client) -> None:
    emu.add_import(id="a/b")

    response = client.get("/bulk/imports/a%2Fb")

    assert response.status_code == 200
    validate(data_spec, response)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    status=st.sampled_from([None, *STATUSES]),
    percent=st.floats(min_value=0, max_value=100),
    elapsed=st.floats(min_value=0, max_value=120),
)
def test_describe_matches_spec_at_any_time(
    data_spec: Any,
    emu: Emulator,
    client: httpx.Client,
    clock: ManualClock,
    status: str | None,
    percent: float,
    elapsed: float,
) -> None:
    if status in ("InProgress", "Failed", "Cancelled"):
        import_id = emu.add_import(status=status, percent_complete=percent)  # type: ignore[arg-type]
    else:
        import_id = emu.add_import(status=status)  # type: ignore[arg-type]
    client.delete(f"/bulk/imports/{import_id}")
    clock.advance(elapsed)

    validate(data_spec, client.get(f"/bulk/imports/{import_id}"))


# Data plane: error responses


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/bulk/imports?limit=0", None),
        ("GET", "/bulk/imports?limit=101", None),
        ("GET", "/bulk/imports?limit=x", None),
        ("GET", "/bulk/imports?paginationToken=garbage", None),
        ("POST", "/bulk/imports", b"{}"),
        ("POST", "/bulk/imports", b"not json"),
        ("GET", "/bulk/imports/" + "1" * 1001, None),
        ("DELETE", "/bulk/imports/" + "1" * 1001, None),
    ],
    ids=[
        "limit-0",
        "limit-101",
        "limit-x",
        "bad-token",
        "missing-uri",
        "not-json",
        "long-id-describe",
        "long-id-cancel",
    ],
)
def test_400_matches_spec(
    data_spec: Any, client: httpx.Client, method: str, path: str, body: bytes | None
) -> None:
    response = client.request(method, path, content=body)

    assert response.status_code == 400
    validate(data_spec, response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/bulk/imports"),
        ("GET", "/bulk/imports"),
        ("GET", "/bulk/imports/101"),
        ("DELETE", "/bulk/imports/101"),
    ],
)
@pytest.mark.parametrize("api_key", ["wrong-key", None], ids=["wrong-key", "missing-key"])
def test_401_matches_spec(
    data_spec: Any, emu: Emulator, method: str, path: str, api_key: str | None
) -> None:
    with make_client(emu, api_key=api_key) as http_client:
        response = http_client.request(method, path, json={"uri": "s3://b/d"})

    assert response.status_code == 401
    validate(data_spec, response)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_404_matches_spec(data_spec: Any, client: httpx.Client, method: str) -> None:
    response = client.request(method, "/bulk/imports/999")

    assert response.status_code == 404
    validate(data_spec, response)


def test_rpc_status_fields_are_in_spec(
    data_spec_dict: dict[str, Any], client: httpx.Client
) -> None:
    body = client.get("/bulk/imports/999").json()

    assert set(body) == schema_properties(data_spec_dict, "rpcStatus")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_injected_status_matches_spec(
    data_spec: Any, emu: Emulator, client: httpx.Client, status: int
) -> None:
    emu.inject_fault(status, headers={"Retry-After": "1"})

    response = client.get("/bulk/imports")

    assert response.status_code == status
    validate(data_spec, response)


# Control plane


def test_describe_index_matches_control_spec(control_spec: Any, client: httpx.Client) -> None:
    response = client.get("/indexes/quickstart")

    assert response.status_code == 200
    validate(control_spec, response)


def test_index_model_fields_are_in_spec(
    control_spec_dict: dict[str, Any], client: httpx.Client
) -> None:
    model = client.get("/indexes/quickstart").json()

    assert set(model) <= schema_properties(control_spec_dict, "IndexModel")


def test_unknown_index_matches_control_spec(control_spec: Any, client: httpx.Client) -> None:
    response = client.get("/indexes/nope")

    assert response.status_code == 404
    validate(control_spec, response)


def test_describe_index_401_matches_control_spec(control_spec: Any, emu: Emulator) -> None:
    with make_client(emu, api_key="wrong-key") as http_client:
        response = http_client.get("/indexes/quickstart")

    assert response.status_code == 401
    validate(control_spec, response)


def test_validation_catches_a_broken_response(data_spec: Any, client: httpx.Client) -> None:
    response = client.get("/bulk/imports")
    broken = httpx.Response(
        200,
        json={"data": [{"id": 5, "percentComplete": 101}]},
        request=response.request,
    )

    with pytest.raises(openapi_core.validation.response.exceptions.InvalidData):
        validate(data_spec, broken)
