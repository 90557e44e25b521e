"""The Pinecone endpoints the emulator serves: routing, authentication and validation.

Data plane (errors are rpcStatus bodies):

- ``POST /bulk/imports`` starts an import.
- ``GET /bulk/imports`` lists imports, ``limit`` (1 to 100, default 100) per page.
- ``GET /bulk/imports/{id}`` describes an import.
- ``DELETE /bulk/imports/{id}`` requests cancellation of an import.

Control plane (errors are ``{"status", "error": {"code", "message"}}``):

- ``GET /indexes/{name}`` describes one of the emulator's indexes.

`PineconeApi.handle` works on a parsed request and returns a response value, so the HTTP
transport (`handler`) stays free of API rules.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .responses import ApiResponse, GrpcCode, control_error, json_response, rpc_status
from .state import (
    MAX_IMPORT_ID_LENGTH,
    MAX_LIST_LIMIT,
    ImportNotFoundError,
    ImportStore,
    InvalidPaginationTokenError,
)

__all__ = ["DEFAULT_DIMENSION", "ApiRequest", "PineconeApi", "index_model"]

#: Dimension reported for every emulated index (that of OpenAI's text-embedding-3-small).
DEFAULT_DIMENSION = 1536

IMPORTS_PATH = "/bulk/imports"
INDEXES_PATH = "/indexes"

MAX_URI_LENGTH = 1500
MAX_INTEGRATION_ID_LENGTH = 1000
ERROR_MODES = ("abort", "continue")

_DECIMAL = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ApiRequest:
    """A parsed HTTP request.

    Attributes:
        method: HTTP method in upper case.
        raw_path: Request path without the query string, still percent-encoded.
        query: Query parameters; each name maps to all its values in order.
        headers: Headers with lower-cased names.
        body: Request body bytes.
    """

    method: str
    raw_path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class _BadRequest(Exception):
    """A request parameter is invalid; the message is sent back to the client."""


def index_model(name: str, host: str, dimension: int = DEFAULT_DIMENSION) -> dict[str, Any]:
    """Return the IndexModel JSON object of a ready serverless index on AWS us-east-1."""
    return {
        "name": name,
        "dimension": dimension,
        "metric": "cosine",
        "host": host,
        "vector_type": "dense",
        "deletion_protection": "disabled",
        "spec": {
            "serverless": {
                "cloud": "aws",
                "region": "us-east-1",
                "read_capacity": {"mode": "OnDemand", "status": {"state": "Ready"}},
            }
        },
        "status": {"ready": True, "state": "Ready"},
    }


class PineconeApi:
    """Serve the bulk import endpoints and ``GET /indexes/{name}`` from an `ImportStore`.

    `index_host` is the host (without scheme) that ``GET /indexes/{name}`` reports; the
    server sets it after binding its port.
    """

    def __init__(
        self,
        store: ImportStore,
        api_key: str,
        index_names: Collection[str],
        dimension: int = DEFAULT_DIMENSION,
    ) -> None:
        self.store = store
        self.index_names = frozenset(index_names)
        self.dimension = dimension
        self.index_host = ""
        self._api_key = api_key.encode("utf-8")

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Return the response to `request`."""
        path = request.raw_path
        if path == INDEXES_PATH or path.startswith(INDEXES_PATH + "/"):
            return self._handle_control_plane(request)

        return self._handle_data_plane(request)

    def _check_api_key(self, headers: Mapping[str, str]) -> str | None:
        """Return why the ``Api-Key`` header is not accepted, or None if it is."""
        sent = headers.get("api-key")
        if sent is None:
            return "Missing API Key: send it in the Api-Key header."
        if not hmac.compare_digest(sent.encode("utf-8"), self._api_key):
            return "Invalid API Key"
        return None

    def _handle_control_plane(self, request: ApiRequest) -> ApiResponse:
        """Serve ``GET /indexes/{name}``."""
        auth_error = self._check_api_key(request.headers)
        if auth_error is not None:
            return control_error(401, auth_error)

        segment = _single_segment(request.raw_path, INDEXES_PATH)
        if segment is None:
            return control_error(404, f"Not found: {request.method} {request.raw_path}")
        if request.method != "GET":
            return _method_not_allowed(request, ("GET",), control_plane=True)

        name = unquote(segment)
        if name not in self.index_names:
            return control_error(404, f"Resource {name} not found")

        return json_response(200, index_model(name, self.index_host, self.dimension))

    def _handle_data_plane(self, request: ApiRequest) -> ApiResponse:
        """Serve the four ``/bulk/imports`` endpoints."""
        auth_error = self._check_api_key(request.headers)
        if auth_error is not None:
            return rpc_status(401, auth_error)

        try:
            if request.raw_path == IMPORTS_PATH:
                return self._route_collection(request)

            segment = _single_segment(request.raw_path, IMPORTS_PATH)
            if segment is not None:
                return self._route_import(request, unquote(segment))
        except _BadRequest as error:
            return rpc_status(400, str(error))

        return rpc_status(404, f"Not found: {request.method} {request.raw_path}")

    def _route_collection(self, request: ApiRequest) -> ApiResponse:
        """Serve ``GET`` and ``POST /bulk/imports``."""
        if request.method == "GET":
            return self._list_imports(request.query)
        if request.method == "POST":
            return self._start_import(request.body)

        return _method_not_allowed(request, ("GET", "POST"))

    def _route_import(self, request: ApiRequest, import_id: str) -> ApiResponse:
        """Serve ``GET`` and ``DELETE /bulk/imports/{id}``."""
        if request.method not in ("GET", "DELETE"):
            return _method_not_allowed(request, ("GET", "DELETE"))

        if not 1 <= len(import_id) <= MAX_IMPORT_ID_LENGTH:
            raise _BadRequest(
                f"Invalid import id: it must be 1 to {MAX_IMPORT_ID_LENGTH} characters long, "
                f"got {len(import_id)}."
            )

        try:
            if request.method == "GET":
                return json_response(200, self.store.describe(import_id))

            self.store.cancel(import_id)
            return json_response(200, {})
        except ImportNotFoundError as error:
            return rpc_status(404, str(error))

    def _list_imports(self, query: Mapping[str, list[str]]) -> ApiResponse:
        """Serve ``GET /bulk/imports``."""
        limit = _parse_limit(_single_query_value(query, "limit"))
        token = _single_query_value(query, "paginationToken") or None

        try:
            models, next_token = self.store.list_page(limit, token)
        except InvalidPaginationTokenError as error:
            raise _BadRequest(f"{error}. Start the listing again without a token.") from None

        payload: dict[str, Any] = {"data": models}
        if next_token is not None:
            payload["pagination"] = {"next": next_token}
        return json_response(200, payload)

    def _start_import(self, body: bytes) -> ApiResponse:
        """Serve ``POST /bulk/imports``."""
        request = _parse_json_object(body)

        uri = request.get("uri")
        if not isinstance(uri, str) or not 1 <= len(uri) <= MAX_URI_LENGTH:
            raise _BadRequest(
                f"Invalid uri: expected a string of 1 to {MAX_URI_LENGTH} characters, "
                f"e.g. s3://bucket/path/, got {_describe_value(uri)}."
            )

        integration_id = request.get("integrationId")
        if integration_id is not None and (
            not isinstance(integration_id, str) or len(integration_id) > MAX_INTEGRATION_ID_LENGTH
        ):
            raise _BadRequest(
                "Invalid integrationId: expected a string of at most "
                f"{MAX_INTEGRATION_ID_LENGTH} characters, got {_describe_value(integration_id)}."
            )

        error_mode = _parse_error_mode(request.get("errorMode"))

        record = self.store.create(uri, integration_id=integration_id, error_mode=error_mode)
        return json_response(200, {"id": record.id})


def _single_segment(raw_path: str, prefix: str) -> str | None:
    """Return the one path segment after `prefix` + ``/``, or None if the shape differs."""
    if not raw_path.startswith(prefix + "/"):
        return None

    segment = raw_path[len(prefix) + 1 :]
    if "/" in segment:
        return None
    return segment


def _method_not_allowed(
    request: ApiRequest, allowed: tuple[str, ...], *, control_plane: bool = False
) -> ApiResponse:
    """Return a 405 response that lists the allowed methods in an ``Allow`` header."""
    message = f"Method {request.method} not allowed on {request.raw_path}"
    headers = {"Allow": ", ".join(allowed)}
    if control_plane:
        response = control_error(405, message, GrpcCode.UNIMPLEMENTED)
        return ApiResponse(response.status, response.body, headers=headers)

    return rpc_status(405, message, GrpcCode.UNIMPLEMENTED, headers=headers)


def _single_query_value(query: Mapping[str, list[str]], name: str) -> str | None:
    """Return the value of a query parameter, or None; raise _BadRequest if it repeats."""
    values = query.get(name, [])
    if len(values) > 1:
        raise _BadRequest(f"Invalid {name}: the parameter was given {len(values)} times.")
    return values[0] if values else None


def _parse_limit(value: str | None) -> int:
    """Parse the ``limit`` query parameter (default 100)."""
    if value is None:
        return MAX_LIST_LIMIT

    if _DECIMAL.fullmatch(value) is None or not 1 <= int(value) <= MAX_LIST_LIMIT:
        raise _BadRequest(
            f"Invalid limit {value!r}: expected an integer from 1 to {MAX_LIST_LIMIT}."
        )
    return int(value)


def _parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object."""
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _BadRequest(f"Invalid request body: expected a JSON object ({error}).") from None

    if not isinstance(parsed, dict):
        raise _BadRequest(
            f"Invalid request body: expected a JSON object, got {_describe_value(parsed)}."
        )
    return parsed


def _parse_error_mode(value: object) -> str | None:
    """Return ``errorMode.onError`` if the field is valid."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _BadRequest(f"Invalid errorMode: expected an object, got {_describe_value(value)}.")

    on_error = value.get("onError")
    if on_error is not None and on_error not in ERROR_MODES:
        raise _BadRequest(
            f"Invalid errorMode.onError {on_error!r}: expected 'abort' or 'continue'."
        )
    return on_error if isinstance(on_error, str) else None


_JSON_TYPE_NAMES = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}


def _describe_value(value: object) -> str:
    """Return a short description of a JSON value for an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return f"a JSON {_JSON_TYPE_NAMES.get(type(value), type(value).__name__)}"
