"""Response values and the two error shapes Pinecone uses.

The data plane returns errors as an rpcStatus body, ``{"code", "message", "details"}``,
where ``code`` is a gRPC status code. The control plane returns errors as
``{"status", "error": {"code", "message"}}``, where ``code`` is a gRPC code name.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "JSON_CONTENT_TYPE",
    "ApiResponse",
    "GrpcCode",
    "control_error",
    "grpc_code_for_http_status",
    "json_response",
    "rpc_status",
]

JSON_CONTENT_TYPE = "application/json"


class GrpcCode(enum.IntEnum):
    """gRPC status codes, as used in the ``code`` field of an rpcStatus body."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# The gRPC code that goes with each HTTP status in injected and transport-level errors.
_GRPC_CODE_BY_HTTP_STATUS = {
    400: GrpcCode.INVALID_ARGUMENT,
    401: GrpcCode.UNAUTHENTICATED,
    403: GrpcCode.PERMISSION_DENIED,
    404: GrpcCode.NOT_FOUND,
    405: GrpcCode.UNIMPLEMENTED,
    409: GrpcCode.ABORTED,
    413: GrpcCode.INVALID_ARGUMENT,
    414: GrpcCode.INVALID_ARGUMENT,
    431: GrpcCode.INVALID_ARGUMENT,
    429: GrpcCode.RESOURCE_EXHAUSTED,
    499: GrpcCode.CANCELLED,
    500: GrpcCode.INTERNAL,
    501: GrpcCode.UNIMPLEMENTED,
    503: GrpcCode.UNAVAILABLE,
    504: GrpcCode.DEADLINE_EXCEEDED,
    505: GrpcCode.UNIMPLEMENTED,
}


@dataclass(frozen=True)
class ApiResponse:
    """An HTTP response before it is written: status, body and extra headers.

    `content_type` None sends no Content-Type header (for raw fault bodies).
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)


def grpc_code_for_http_status(status: int) -> GrpcCode:
    """Return the gRPC code that goes with an HTTP status, or UNKNOWN for unlisted ones."""
    return _GRPC_CODE_BY_HTTP_STATUS.get(status, GrpcCode.UNKNOWN)


def json_response(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> ApiResponse:
    """Return a response whose body is `payload` encoded as compact UTF-8 JSON."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return ApiResponse(status=status, body=body, headers=dict(headers or {}))


def rpc_status(
    status: int,
    message: str,
    code: GrpcCode | None = None,
    headers: Mapping[str, str] | None = None,
) -> ApiResponse:
    """Return a data-plane error response with an rpcStatus body.

    `code` defaults to the gRPC code that matches the HTTP `status`.
    """
    if code is None:
        code = grpc_code_for_http_status(status)

    payload = {"code": int(code), "message": message, "details": []}
    return json_response(status, payload, headers)


def control_error(status: int, message: str, code: GrpcCode | None = None) -> ApiResponse:
    """Return a control-plane error response, ``{"status", "error": {"code", "message"}}``."""
    if code is None:
        code = grpc_code_for_http_status(status)

    payload = {"status": status, "error": {"code": code.name, "message": message}}
    return json_response(status, payload)
