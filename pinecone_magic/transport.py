"""Send one API request with httpx: connection reuse, retries, time limits and error mapping.

One `httpx.Client` is kept per base URL and API key, so every call after the first reuses
a kept-alive connection. A request is retried on 408, 429, 500, 502, 503 and 504 and on
connection errors, with exponential backoff and jitter, honouring `Retry-After`, until the
attempts or the time limit of the call run out. Redirects are never followed, so the API
key never travels to a host the user did not name.

httpx reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY, SSL_CERT_FILE and SSL_CERT_DIR
from the environment (`trust_env=True`).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from ._version import __version__
from .config import CONNECT_TIMEOUT, MAX_CONCURRENCY, READ_TIMEOUT, ApiKey
from .errors import (
    ApiError,
    AuthenticationError,
    ConnectError,
    NotFoundError,
    PineconeMagicError,
    RedirectError,
    RequestTimeoutError,
    TLSError,
    TransportError,
)

logger = logging.getLogger("pinecone_magic")

USER_AGENT = f"pinecone-magic/{__version__} httpx/{httpx.__version__}"
API_VERSION_HEADER = "X-Pinecone-Api-Version"
REQUEST_ID_HEADERS = ("x-pinecone-request-id", "x-request-id")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: First backoff in seconds; each later one doubles, up to BACKOFF_MAX, with jitter.
BACKOFF_BASE = 0.25
BACKOFF_MAX = 8.0
#: Maximum wait in seconds that one Retry-After header may impose.
RETRY_AFTER_MAX = 60.0
#: Maximum length of server text inside an exception message.
MESSAGE_TEXT_LIMIT = 300

_clients: dict[tuple[str, str], httpx.Client] = {}
_clients_lock = threading.Lock()


def get_client(base_url: str, api_key: ApiKey) -> httpx.Client:
    """Return the shared client for this base URL and key, creating it on first use."""
    pool_key = (base_url, hashlib.sha256(api_key.reveal().encode()).hexdigest())

    with _clients_lock:
        client = _clients.get(pool_key)
        if client is None or client.is_closed:
            client = httpx.Client(
                base_url=base_url,
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
                limits=httpx.Limits(
                    max_connections=MAX_CONCURRENCY, max_keepalive_connections=MAX_CONCURRENCY
                ),
                trust_env=True,
            )
            _clients[pool_key] = client
    return client


def close_clients() -> None:
    """Close every shared client and its connections."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


@dataclass(frozen=True)
class Answer:
    """A successful HTTP answer: status, parsed JSON body and what the call took."""

    status_code: int
    url: str
    body: Any
    request_id: str | None
    elapsed: float
    attempts: int


def send(
    method: str,
    base_url: str,
    path: str,
    *,
    api_key: ApiKey,
    api_version: str,
    timeout: float,
    max_attempts: int,
    action: str,
    params: dict[str, Any] | None = None,
    json_body: dict[str, Any] | None = None,
    not_found_hint: str = "",
    timeout_hint: str = "",
    retry: bool = True,
) -> Answer:
    """Send one request, retrying where safe, and return the answer or raise a PineconeMagicError.

    `path` must already be percent-encoded. `action` names the operation in messages, such
    as "cancel of import '101'". `timeout` bounds the whole call, retries included.
    """
    client = get_client(base_url, api_key)
    headers = {"Api-Key": api_key.reveal(), API_VERSION_HEADER: api_version}
    url = base_url + path
    started = time.monotonic()
    deadline = started + timeout
    attempts_allowed = max_attempts if retry else 1

    for attempt in range(1, attempts_allowed + 1):
        remaining = deadline - time.monotonic()
        attempt_timeout = httpx.Timeout(
            min(READ_TIMEOUT, remaining),
            connect=min(CONNECT_TIMEOUT, remaining),
            pool=remaining,
        )
        error: PineconeMagicError
        wait: float | None = None

        try:
            response = client.request(
                method, path, headers=headers, params=params, json=json_body, timeout=attempt_timeout
            )
        except httpx.TimeoutException:
            error = RequestTimeoutError(
                f"The {action} at {base_url} timed out after {time.monotonic() - started:.1f} s "
                f"({_attempts(attempt)}). {timeout_hint}".rstrip(),
                url=url,
                attempts=attempt,
            )
            logger.warning("%s %s timed out (attempt %d of %d)", method, url, attempt, max_attempts)
        except httpx.TransportError as exc:
            error = _transport_error(exc, action, base_url, url, attempt, api_key)
            logger.warning(
                "%s %s failed: %s (attempt %d of %d)",
                method, url, type(error).__name__, attempt, max_attempts,
            )
            if isinstance(error, TLSError) or not _is_retryable_transport(exc):
                raise error from None
        else:
            elapsed = time.monotonic() - started
            logger.info(
                "%s %s -> %d (%.1f ms, attempt %d of %d)",
                method, url, response.status_code, elapsed * 1000, attempt, max_attempts,
            )
            if response.is_success:
                return Answer(
                    status_code=response.status_code,
                    url=url,
                    body=_success_body(response, method, url, action, attempt, api_key),
                    request_id=_request_id(response),
                    elapsed=elapsed,
                    attempts=attempt,
                )

            error = _api_error(response, method, url, action, attempt, api_key, not_found_hint)
            if response.status_code not in RETRY_STATUSES:
                raise error from None
            wait = _retry_after(response)

        if attempt == attempts_allowed:
            break
        if wait is None:
            wait = _backoff(attempt)
        if time.monotonic() + wait >= deadline:
            logger.warning(
                "Not retrying %s %s: waiting %.2f s would pass the time limit of %.1f s",
                method, url, wait, timeout,
            )
            break

        logger.warning(
            "Retrying %s %s in %.2f s after %s (attempt %d of %d)",
            method, url, wait, _short_reason(error), attempt + 1, max_attempts,
        )
        time.sleep(wait)

    raise error from None


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _short_reason(error: PineconeMagicError) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _backoff(attempt: int) -> float:
    """Return the wait before attempt `attempt + 1`: exponential, with jitter in its upper half."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _retry_after(response: httpx.Response) -> float | None:
    """Return the wait that a Retry-After header asks for, in seconds, or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None

    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - datetime.now(timezone.utc)).total_seconds()

    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _is_retryable_transport(exc: httpx.TransportError) -> bool:
    return isinstance(
        exc, (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
    ) and not isinstance(exc, httpx.UnsupportedProtocol)


def _redact(text: str, api_key: ApiKey) -> str:
    """Remove the API key from text that came from a server or a library."""
    key = api_key.reveal()
    return text.replace(key, "***") if key else text


def _is_certificate_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


_DNS_FAILURE_TEXTS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)


def _transport_error(
    exc: httpx.TransportError, action: str, base_url: str, url: str, attempt: int, api_key: ApiKey
) -> TransportError:
    reason = _redact(str(exc), api_key) or type(exc).__name__
    host = base_url.partition("://")[2]

    if _is_certificate_failure(exc):
        return TLSError(
            f"The {action} failed: the TLS certificate of {host} could not be verified "
            f"({reason}). If a corporate proxy or CA signs your traffic, set SSL_CERT_FILE "
            "to a file with its CA certificate.",
            url=url,
            attempts=attempt,
        )
    if isinstance(exc, httpx.ProxyError):
        return ConnectError(
            f"The {action} failed at the proxy ({reason}). Check HTTPS_PROXY and NO_PROXY.",
            url=url,
            attempts=attempt,
        )
    if any(text in reason.lower() for text in _DNS_FAILURE_TEXTS):
        return ConnectError(
            f"The {action} failed: the host {host} could not be resolved ({reason}). "
            "Check the index host, or use --index NAME.",
            url=url,
            attempts=attempt,
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ConnectError(
            f"The {action} failed: {host} closed the connection without an answer "
            f"({_attempts(attempt)}). Its outcome is unknown; run it again to retry.",
            url=url,
            attempts=attempt,
        )
    return ConnectError(
        f"The {action} failed: could not connect to {host} ({reason}, {_attempts(attempt)}). "
        "Check the host and your network.",
        url=url,
        attempts=attempt,
    )


def _request_id(response: httpx.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value[:200]
    return None


def _decode_json(response: httpx.Response) -> Any:
    """Return the parsed JSON body, or raise ValueError when the body is not JSON."""
    return json.loads(response.content)


def _success_body(
    response: httpx.Response, method: str, url: str, action: str, attempt: int, api_key: ApiKey
) -> Any:
    if not response.content.strip():
        return None
    try:
        return _decode_json(response)
    except ValueError:
        text = _redact(response.text, api_key)
        raise ApiError(
            f"The {action} got HTTP {response.status_code} but a body that is not JSON "
            f"({_content_type(response)}, {len(response.content)} bytes), so a proxy may have "
            "answered in place of Pinecone. Check the host and HTTPS_PROXY.",
            method=method,
            url=url,
            status_code=response.status_code,
            reason=response.reason_phrase,
            body=text,
            request_id=_request_id(response),
            attempts=attempt,
        ) from None


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("Content-Type", "no content type").split(";")[0].strip()


def _shorten(text: str, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def _api_error(
    response: httpx.Response,
    method: str,
    url: str,
    action: str,
    attempt: int,
    api_key: ApiKey,
    not_found_hint: str,
) -> ApiError:
    """Build the error for a non-2xx answer from an rpcStatus, control-plane or other body."""
    status = response.status_code
    body_text = _redact(response.text, api_key)
    grpc_code: int | None = None
    error_code: str | None = None
    server_message: str | None = None
    details: list[Any] = []

    try:
        parsed = _decode_json(response)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        nested = parsed.get("error")
        if isinstance(nested, dict):
            error_code = nested.get("code") if isinstance(nested.get("code"), str) else None
            server_message = nested.get("message") if isinstance(nested.get("message"), str) else None
        else:
            code = parsed.get("code")
            grpc_code = code if isinstance(code, int) and not isinstance(code, bool) else None
            message = parsed.get("message")
            server_message = message if isinstance(message, str) else None
            raw_details = parsed.get("details")
            details = raw_details if isinstance(raw_details, list) else []
    if server_message is not None:
        server_message = _redact(server_message, api_key)

    request_id = _request_id(response)
    kwargs: dict[str, Any] = {
        "method": method,
        "url": url,
        "status_code": status,
        "reason": response.reason_phrase,
        "grpc_code": grpc_code,
        "error_code": error_code,
        "server_message": server_message,
        "details": details,
        "body": body_text,
        "request_id": request_id,
        "attempts": attempt,
    }

    headline = f"HTTP {status} {response.reason_phrase}".rstrip()
    if server_message:
        said = f": {_shorten(server_message)}"
    elif body_text.strip():
        said = f": {_content_type(response)} body, not an API error ({_shorten(body_text, 120)})"
    else:
        said = " with an empty body"
    code_text = ""
    if grpc_code is not None:
        code_text = f" (gRPC code {grpc_code})"
    elif error_code is not None:
        code_text = f" ({error_code})"
    request_text = f" Request id: {request_id}." if request_id else ""
    attempts_text = f" after {_attempts(attempt)}" if attempt > 1 else ""
    base = f"The {action} failed{attempts_text}: {headline}{said}{code_text}."

    if 300 <= status < 400:
        location = _redact(response.headers.get("Location", ""), api_key)
        return RedirectError(
            f"{base} The redirect to {_shorten(location, 120) or 'an unnamed location'} was not "
            "followed, so that the API key stays with the host you named. Check the host."
            f"{request_text}",
            location=location,
            **kwargs,
        )
    if status in (401, 403):
        return AuthenticationError(
            f"{base} Check PINECONE_API_KEY: the key must belong to the project of this index."
            f"{request_text}",
            **kwargs,
        )
    if status == 404:
        return NotFoundError(f"{base} {not_found_hint}{request_text}".rstrip(), **kwargs)
    if status == 429:
        hint = " Pinecone is rate limiting these requests; wait a minute and run it again."
    elif status >= 500:
        hint = " The server failed; run it again later."
    else:
        hint = ""
    return ApiError(f"{base}{hint}{request_text}", **kwargs)
