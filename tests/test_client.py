"""The shared client against the emulator: the wire format, results and errors."""

from __future__ import annotations

import socket

import pytest
from conftest import API_KEY

from pinecone_magic import (
    ApiError,
    AuthenticationError,
    ConnectError,
    InvalidInputError,
    MissingApiKeyError,
    NotFoundError,
    RequestTimeoutError,
    cancel_import,
)
from pinecone_magic._version import __version__
from pinecone_magic.client import import_path
from pinecone_magic.emulator import Emulator


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def test_cancel_sends_one_delete(configured: Emulator) -> None:
    import_id = configured.start_import("s3://bucket/dir")

    cancel_import(import_id)

    assert [request.method for request in configured.requests] == ["DELETE"]


def test_cancel_raw_path_is_single_segment(configured: Emulator) -> None:
    import_id = configured.start_import("s3://bucket/dir")

    cancel_import(import_id)

    assert configured.requests[0].raw_path == f"/bulk/imports/{import_id}"


def test_cancel_sends_api_key_header(configured: Emulator) -> None:
    cancel_import(configured.start_import("s3://bucket/dir"))

    assert configured.requests[0].header_values("Api-Key") == [API_KEY]


def test_cancel_sends_api_version_once(configured: Emulator) -> None:
    cancel_import(configured.start_import("s3://bucket/dir"))

    assert configured.requests[0].header_values("X-Pinecone-Api-Version") == ["2025-10"]


def test_cancel_user_agent_names_package(configured: Emulator) -> None:
    cancel_import(configured.start_import("s3://bucket/dir"))

    user_agent = configured.requests[0].headers["user-agent"]
    assert user_agent.startswith(f"pinecone-magic/{__version__}")


def test_cancel_api_version_argument(configured: Emulator) -> None:
    cancel_import(configured.start_import("s3://bucket/dir"), api_version="2025-04")

    assert configured.requests[0].header_values("X-Pinecone-Api-Version") == ["2025-04"]


def test_cancel_result_fields(configured: Emulator) -> None:
    import_id = configured.start_import("s3://bucket/dir")

    result = cancel_import(import_id)

    assert result.import_id == import_id
    assert result.status_code == 200
    assert result.body == {}
    assert result.attempts == 1
    assert result.request_id


def test_cancel_marks_import_cancelled(configured: Emulator, clock: object) -> None:
    import_id = configured.start_import("s3://bucket/dir")

    cancel_import(import_id)
    clock.advance(5)  # type: ignore[attr-defined]

    assert configured.describe_import(import_id)["status"] == "Cancelled"


def test_cancel_result_text_says_requested(configured: Emulator) -> None:
    result = cancel_import(configured.start_import("s3://bucket/dir"))

    bundle = result._repr_mimebundle_()

    assert "Cancel requested" in bundle["text/plain"]
    assert "Cancel requested" in bundle["text/html"]


def test_cancel_result_json_on_request(configured: Emulator) -> None:
    result = cancel_import(configured.start_import("s3://bucket/dir"))

    bundle = result._repr_mimebundle_(include=["application/json"])

    assert bundle["application/json"]["status_code"] == 200


def test_cancel_accepts_int_id(configured: Emulator) -> None:
    configured.start_import("s3://bucket/dir")

    result = cancel_import(101)

    assert result.import_id == "101"


def test_cancel_strips_id_whitespace(configured: Emulator) -> None:
    configured.start_import("s3://bucket/dir")

    cancel_import("  101\n")

    assert configured.requests[0].raw_path == "/bulk/imports/101"


def test_cancel_reuses_connection(configured: Emulator) -> None:
    first = configured.start_import("s3://bucket/a")
    second = configured.start_import("s3://bucket/b")

    cancel_import(first)
    cancel_import(second)

    assert configured.connections_accepted == 1


def test_cancel_host_argument_beats_environment(
    emulator: Emulator, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_INDEX_HOST", "https://unused.example.invalid")

    cancel_import(emulator.start_import("s3://bucket/dir"), host=emulator.url)

    assert len(emulator.requests) == 1


def test_cancel_api_key_argument(emulator: Emulator) -> None:
    result = cancel_import(emulator.start_import("s3://b/d"), host=emulator.url, api_key=API_KEY)

    assert result.status_code == 200


@pytest.mark.parametrize(
    ("import_id", "raw_path"),
    [
        ("a/b", "/bulk/imports/a%2Fb"),
        ("..", "/bulk/imports/%2E%2E"),
        (".", "/bulk/imports/%2E"),
        ("x?y", "/bulk/imports/x%3Fy"),
        ("x#y", "/bulk/imports/x%23y"),
        ("a b", "/bulk/imports/a%20b"),
        ("100%", "/bulk/imports/100%25"),
        ("é", "/bulk/imports/%C3%A9"),
    ],
)
def test_import_path_encodes_one_segment(import_id: str, raw_path: str) -> None:
    assert import_path(import_id) == raw_path


def test_cancel_unknown_id_raises_not_found(configured: Emulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        cancel_import("999")

    assert caught.value.status_code == 404
    assert caught.value.grpc_code == 5
    assert "%pc_list_imports" in str(caught.value)


def test_cancel_wrong_key_raises_authentication_error(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", "wrong-key")

    with pytest.raises(AuthenticationError) as caught:
        cancel_import("101", host=emulator.url)

    assert caught.value.status_code == 401
    assert caught.value.grpc_code == 16


def test_cancel_html_error_body_is_kept_as_text(configured: Emulator) -> None:
    configured.inject_fault(418, body=b"<html><body>I'm a teapot</body></html>",
                            headers={"Content-Type": "text/html"})

    with pytest.raises(ApiError) as caught:
        cancel_import("101")

    assert caught.value.status_code == 418
    assert caught.value.server_message is None
    assert "teapot" in caught.value.body
    assert "not an API error" in str(caught.value)


def test_cancel_empty_error_body(configured: Emulator) -> None:
    configured.inject_fault(400, body=b"")

    with pytest.raises(ApiError) as caught:
        cancel_import("101")

    assert "empty body" in str(caught.value)


def test_cancel_connection_refused(api_key_env: str) -> None:
    host = f"http://127.0.0.1:{_free_port()}"

    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=host, max_retries=1)

    assert "127.0.0.1" in str(caught.value)


def test_cancel_timeout_says_outcome_unknown(configured: Emulator) -> None:
    configured.inject_fault(action="hang")

    with pytest.raises(RequestTimeoutError) as caught:
        cancel_import("101", timeout=0.5)

    assert "outcome is unknown" in str(caught.value)
    assert "%pc_describe_import 101" in str(caught.value)


def test_cancel_missing_key_sends_nothing(emulator: Emulator) -> None:
    with pytest.raises(MissingApiKeyError):
        cancel_import("101", host=emulator.url)

    assert emulator.requests == []


def test_cancel_missing_host_is_invalid(api_key_env: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101")

    assert "--host" in str(caught.value)


@pytest.mark.parametrize(
    ("import_id", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1001, "1001 characters"),
        ("a\x00b", "U+0000"),
        ("a\nb", "U+000A"),
        ("a\u200bb", "U+200B"),
        (None, "NoneType"),
        (1.5, "float"),
        (True, "bool"),
    ],
)
def test_cancel_invalid_id_sends_nothing(
    configured: Emulator, import_id: object, fragment: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        cancel_import(import_id)  # type: ignore[arg-type]

    assert fragment in str(caught.value)
    assert configured.requests == []


def test_cancel_id_of_1000_characters_is_sent(configured: Emulator) -> None:
    with pytest.raises(NotFoundError):
        cancel_import("x" * 1000)

    assert configured.requests[0].path == "/bulk/imports/" + "x" * 1000


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("http://pinecone.example.com", "clear text"),
        ("https://host.example.com/bulk", "path"),
        ("https://host.example.com?x=1", "path, query"),
        ("https://user:pw@host.example.com", "credentials"),
        ("ftp://host.example.com", "scheme"),
        ("https://https://host.example.com", "repeats"),
        ("my-index", "index name"),
        ("https://host.example.com:99999", "port"),
        ("", "empty"),
    ],
)
def test_cancel_invalid_host_sends_nothing(
    emulator: Emulator, api_key_env: str, host: str, fragment: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101", host=host)

    assert fragment in str(caught.value)
    assert emulator.requests == []


def test_cancel_credentials_not_echoed(api_key_env: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101", host="https://user:hunter2@host.example.com")

    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "empty"),
        ("  \n", "empty"),
        ("abc\u00e9def", "non-ASCII character at position 4"),
        ("abc def", "position 4"),
    ],
)
def test_cancel_invalid_key_sends_nothing(
    emulator: Emulator, key: str, fragment: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101", host=emulator.url, api_key=key)

    assert fragment in str(caught.value)
    assert emulator.requests == []


def test_cancel_key_whitespace_is_stripped(emulator: Emulator) -> None:
    cancel_import(emulator.start_import("s3://b/d"), host=emulator.url, api_key=f" {API_KEY}\n")

    assert emulator.requests[0].header_values("Api-Key") == [API_KEY]


def test_cancel_trailing_slash_host(emulator: Emulator, api_key_env: str) -> None:
    cancel_import(emulator.start_import("s3://b/d"), host=emulator.url + "/")

    assert emulator.requests[0].raw_path == "/bulk/imports/101"
