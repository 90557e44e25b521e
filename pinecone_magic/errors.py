"""Exceptions raised by pinecone-magic.

Every exception derives from one base class, so a script can catch them all at once::

    PineconeMagicError
    ├── InvalidInputError        an argument or setting is invalid; no request was sent
    │   └── MissingApiKeyError   no API key was passed or found in the environment
    ├── TransportError           no HTTP response arrived
    │   ├── ConnectError         DNS failure, refused or dropped connection, proxy failure
    │   │   └── TLSError         the server's certificate could not be verified
    │   └── RequestTimeoutError  the time limit passed; the outcome is unknown
    ├── ApiError                 Pinecone (or a proxy) responded with an error status
    │   ├── AuthenticationError  401 or 403: the API key was rejected
    │   ├── NotFoundError        404: no such import or index
    │   └── RedirectError        3xx: the redirect was not followed
    └── BatchError               some imports of a batch failed; the others ran

Messages never contain the API key. In IPython, `_render_traceback_` shows one short
message in place of a traceback, while the cell still counts as failed.
"""

from __future__ import annotations

import traceback
from typing import Any

#: Names of the gRPC status codes that Pinecone's data plane returns in rpcStatus bodies.
GRPC_CODE_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}


class PineconeMagicError(Exception):
    """Base class of every error that pinecone-magic raises."""

    #: Set to False (by `%config PineconeMagics.short_errors = False`) to show tracebacks.
    short_traceback: bool = True

    def __reduce__(self) -> Any:
        # Subclasses take keyword-only arguments, which the default pickling cannot pass, so
        # copies are rebuilt from the message and the attributes.
        return (_rebuild, (type(self), str(self), self.__dict__))

    def _render_traceback_(self) -> list[str]:
        if not self.short_traceback:
            return traceback.format_exception(type(self), self, self.__traceback__)
        return [f"{type(self).__name__}: {self}"]


class InvalidInputError(PineconeMagicError, ValueError):
    """An argument or setting is invalid, so no request was sent."""


class MissingApiKeyError(InvalidInputError):
    """No API key was passed, typed into the form or found in PINECONE_API_KEY."""


class TransportError(PineconeMagicError):
    """The request failed before any HTTP response arrived."""

    def __init__(self, message: str, *, url: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.attempts = attempts


class ConnectError(TransportError):
    """The connection failed: DNS, refused, dropped, or a proxy in the way."""


class TLSError(ConnectError):
    """The server's TLS certificate could not be verified."""


class RequestTimeoutError(TransportError):
    """The time limit passed before a response arrived, so the outcome is unknown."""


class ApiError(PineconeMagicError):
    """Pinecone, or a proxy in front of it, responded with an error status.

    `grpc_code`, `server_message` and `details` come from an rpcStatus body on the data
    plane. The control plane sends a code name instead (`error_code`, such as NOT_FOUND).
    `body` is the response text with the API key removed; the display cuts it to a
    readable length.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status_code: int,
        reason: str = "",
        grpc_code: int | None = None,
        error_code: str | None = None,
        server_message: str | None = None,
        details: list[Any] | None = None,
        body: str = "",
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status_code = status_code
        self.reason = reason
        self.grpc_code = grpc_code
        self.error_code = error_code
        self.server_message = server_message
        self.details = details or []
        self.body = body
        self.request_id = request_id
        self.attempts = attempts

    @property
    def grpc_code_name(self) -> str | None:
        """Name of the gRPC code, such as NOT_FOUND, or None when the code is missing or unknown."""
        if self.grpc_code is None:
            return None
        return GRPC_CODE_NAMES.get(self.grpc_code)


class AuthenticationError(ApiError):
    """Pinecone rejected the API key (HTTP 401 or 403)."""


class NotFoundError(ApiError):
    """The import or index does not exist (HTTP 404)."""


class RedirectError(ApiError):
    """The server responded with a redirect, which is never followed with the API key."""

    def __init__(self, message: str, *, location: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class BatchError(PineconeMagicError):
    """At least one import of a batch failed; `results` contains every outcome in input order."""

    def __init__(self, message: str, *, results: Any) -> None:
        super().__init__(message)
        self.results = results


def _rebuild(cls: type[PineconeMagicError], message: str, state: dict[str, Any]) -> Any:
    """Recreate an error from its message and attributes, for copy and pickle."""
    error = Exception.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error
