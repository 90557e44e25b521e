"""Send one API request with httpx: connection reuse, retries, time limits and error mapping.

One `httpx.Client` is kept per base URL, API key and proxy and CA environment, so every call
after the first reuses a kept-alive connection. A request is retried on 408, 429, 500, 502,
503 and 504 and on connection errors, with exponential backoff and jitter, honouring
`Retry-After`, until the attempts or the time limit of the call run out. Redirects are never
followed, so the API key never travels to a host the user did not name.

httpx reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY from the environment
(`trust_env=True`), and SSL_CERT_FILE, or else SSL_CERT_DIR, in place of the certifi CA
bundle (httpx 0.28 and 0.29, `httpx._config.create_ssl_context`). A change of these
variables takes effect on the next call. Loopback hosts, such as the local emulator, are
never reached through a proxy.

The API key travels only in the Api-Key header, which an httpx auth flow adds. A logging
filter replaces every key in use with `***` in the records of the httpx and httpcore
loggers, because httpcore logs response headers at DEBUG level.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import ssl
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._version import __version__
from .config import CONNECT_TIMEOUT, MAX_CONCURRENCY, READ_TIMEOUT, ApiKey, is_loopback_url
from .errors import (
    GRPC_CODE_NAMES,
    ApiError,
    AuthenticationError,
    ConnectError,
    InvalidInputError,
    NotFoundError,
    PineconeMagicError,
    RedirectError,
    RequestTimeoutError,
    TLSError,
    TransportError,
)

logger = logging.getLogger("pinecone_magic")
# A library leaves output to the application: without this handler, Python's last-resort
# handler would print every retry warning into the notebook's stderr.
logger.addHandler(logging.NullHandler())

USER_AGENT = f"pinecone-magic/{__version__} httpx/{httpx.__version__}"
API_VERSION_HEADER = "X-Pinecone-Api-Version"
REQUEST_ID_HEADERS = ("x-pinecone-request-id", "x-request-id")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: First backoff in seconds; each later one doubles, up to BACKOFF_MAX, with jitter.
BACKOFF_BASE = 0.25
BACKOFF_MAX = 8.0
#: Maximum length of server text inside an exception message.
MESSAGE_TEXT_LIMIT = 300
#: Maximum size in bytes of a response body; a listing page of 100 imports is about 50 kB.
MAX_RESPONSE_BYTES = 10 * 1024 * 1024

#: Proxy variables that httpx reads, through `urllib.request.getproxies`.
PROXY_VARIABLES = (
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
)
#: Environment variables that change how a client connects; each value is part of its pool key.
ENVIRONMENT_VARIABLES = (*PROXY_VARIABLES, "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR")

#: Loggers whose records may contain response headers, so the key filter sits on each.
#: A filter on a parent logger does not see the records of its children.
REDACTED_LOGGERS = (
    "pinecone_magic",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

_clients: dict[tuple[str, str, tuple[str | None, ...]], httpx.Client] = {}
_clients_lock = threading.Lock()


# The API key: sent by an auth flow, removed from log records.


class _KeyRedactingFilter(logging.Filter):
    """Replace every API key that a client was created for with `***` in log records."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add_key(self, key: str) -> None:
        with self._lock:
            self._keys = self._keys | {key}

    def filter(self, record: logging.LogRecord) -> bool:
        keys = self._keys
        if not keys:
            return True

        try:
            message = record.getMessage()
        except Exception:
            # The handler reports a record whose arguments do not fit its format. A filter
            # must not raise, because the error would reach the code that logged.
            return True
        redacted = redact_text(message, keys)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


_key_filter = _KeyRedactingFilter()
for _name in REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(_key_filter)


def redact_text(text: str, keys: frozenset[str] | set[str]) -> str:
    """Replace each key in text with `***`, also where a bytes repr escaped it."""
    for key in keys:
        if not key:
            continue
        text = text.replace(key, "***")
        escaped = repr(key.encode("ascii", "backslashreplace"))[2:-1]
        if escaped != key:
            text = text.replace(escaped, "***")
    return text


class _ApiKeyAuth(httpx.Auth):
    """An httpx auth flow that adds the Api-Key header to each request."""

    def __init__(self, api_key: ApiKey) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Api-Key"] = self._api_key.reveal()
        yield request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(api_key='***')"


# Shared clients


def get_client(base_url: str, api_key: ApiKey) -> httpx.Client:
    """Return the shared client for this base URL, key and environment, creating it on first use.

    Raises InvalidInputError when SSL_CERT_FILE, SSL_CERT_DIR or a proxy variable is invalid.
    """
    environment = tuple(os.environ.get(name) for name in ENVIRONMENT_VARIABLES)
    pool_key = (base_url, hashlib.sha256(api_key.reveal().encode()).hexdigest(), environment)

    with _clients_lock:
        client = _clients.get(pool_key)
        if client is None or client.is_closed:
            client = _build_client(base_url, api_key)
            _clients[pool_key] = client
            _key_filter.add_key(api_key.reveal())
    return client


def _build_client(base_url: str, api_key: ApiKey) -> httpx.Client:
    # A proxy for loopback traffic is almost never wanted: the local emulator runs on the
    # same machine, and HTTP_PROXY is often set for other tools.
    mounts: dict[str, httpx.BaseTransport | None] | None = None
    if is_loopback_url(base_url):
        hostname = urlsplit(base_url).hostname or ""
        mounts = {f"all://[{hostname}]" if ":" in hostname else f"all://{hostname}": None}

    try:
        return httpx.Client(
            base_url=base_url,
            auth=_ApiKeyAuth(api_key),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=MAX_CONCURRENCY, max_keepalive_connections=MAX_CONCURRENCY
            ),
            mounts=mounts,
            trust_env=True,
        )
    except (OSError, ssl.SSLError) as exc:
        if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
            raise
        raise _ca_setting_error(exc) from None
    except ValueError:
        if not any(os.environ.get(name) for name in PROXY_VARIABLES):
            raise
        raise InvalidInputError(
            "A proxy variable is invalid: check HTTPS_PROXY, HTTP_PROXY and ALL_PROXY, which "
            "must be URLs such as http://proxy.example.com:3128."
        ) from None


def _ca_setting_error(exc: BaseException) -> InvalidInputError:
    if os.environ.get("SSL_CERT_FILE"):
        name, value, kind = "SSL_CERT_FILE", os.environ["SSL_CERT_FILE"], "a PEM file"
    else:
        name, value, kind = "SSL_CERT_DIR", os.environ.get("SSL_CERT_DIR", ""), "a folder"
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return InvalidInputError(
        f"{name} is set to {value!r}, which cannot be loaded as CA certificates ({reason}); "
        f"point it at {kind} with the CA certificates to trust, or unset it."
    )


def close_clients() -> None:
    """Close every shared client and its connections."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


# Sending


@dataclass(frozen=True)
class Answer:
    """A successful HTTP response: status, parsed JSON body and what the call took."""

    status_code: int
    url: str
    body: Any
    request_id: str | None
    elapsed: float
    attempts: int


@dataclass(frozen=True)
class _Reply:
    """A response read in full within the time limit."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content: bytes
    encoding: str

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")


class _DeadlinePassed(Exception):
    """The time limit of the call passed while a response body was arriving."""


class _ResponseTooLarge(Exception):
    """A response body is larger than MAX_RESPONSE_BYTES."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


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
    deadline: float | None = None,
) -> Answer:
    """Send one request, retrying where safe, and return the response or raise a PineconeMagicError.

    `path` must already be percent-encoded. `action` names the operation in messages, such
    as "cancel of import '101'". `timeout` bounds the whole call, retries and the waits
    between them included; `deadline`, a `time.monotonic()` value, ends it earlier when
    several requests share one time limit. `timeout_hint` follows the message of a timeout
    or a dropped connection, after which the outcome is unknown.
    """
    client = get_client(base_url, api_key)
    headers = {API_VERSION_HEADER: api_version}
    url = base_url + path
    started = time.monotonic()
    deadline = started + timeout if deadline is None else min(deadline, started + timeout)
    attempts_allowed = max_attempts if retry else 1
    attempt = 0

    while True:
        attempt += 1
        reply: _Reply | None = None
        failure: httpx.TransportError | None = None
        timed_out = False

        try:
            reply = _exchange(client, method, path, headers, params, json_body, deadline)
        except (httpx.TimeoutException, _DeadlinePassed):
            timed_out = True
        except httpx.TransportError as exc:
            failure = exc
        except _ResponseTooLarge as exc:
            raise _too_large_error(exc.status_code, method, url, action, attempt) from None

        elapsed = time.monotonic() - started
        if reply is not None:
            logger.info(
                "%s %s -> %d (%.1f ms, attempt %d of %d)",
                method, url, reply.status_code, elapsed * 1000, attempt, attempts_allowed,
            )
            if 200 <= reply.status_code < 300:
                return Answer(
                    status_code=reply.status_code,
                    url=url,
                    body=_success_body(reply, method, url, action, attempt, api_key),
                    request_id=_request_id(reply, api_key),
                    elapsed=elapsed,
                    attempts=attempt,
                )
        else:
            logger.info(
                "%s %s -> no response: %s (%.1f ms, attempt %d of %d)",
                method, url, "timed out" if timed_out else type(failure).__name__,
                elapsed * 1000, attempt, attempts_allowed,
            )

        if reply is not None:
            retryable = reply.status_code in RETRY_STATUSES
            retry_after = _retry_after(reply)
        else:
            retryable = timed_out or (failure is not None and _is_retryable_transport(failure))
            retry_after = None

        delay: float | None = None
        note = ""
        if retryable and attempt < attempts_allowed:
            delay, note = _plan_retry(attempt, retry_after, deadline, timeout)

        error: PineconeMagicError
        if reply is not None:
            error = _api_error(
                reply, method, url, action, attempt, api_key, not_found_hint, note
            )
        elif timed_out:
            # The time limit itself ended the call, so a note about it would repeat this.
            note = ""
            error = RequestTimeoutError(
                f"The {action} at {_netloc(base_url)} timed out: no response within the time "
                f"limit of {timeout:g} s ({_attempts(attempt)}). {timeout_hint}".rstrip(),
                url=url,
                attempts=attempt,
            )
        else:
            assert failure is not None
            error = _transport_error(
                failure, action, base_url, url, attempt, api_key, timeout_hint, note
            )

        if delay is None:
            if note:
                logger.warning("Not retrying %s %s:%s", method, url, note)
            raise error from None

        logger.warning(
            "Retrying %s %s in %.3f s after %s (attempt %d of %d)",
            method, url, delay, _short_reason(error), attempt + 1, attempts_allowed,
        )
        time.sleep(delay)


def _exchange(
    client: httpx.Client,
    method: str,
    path: str,
    headers: dict[str, str],
    params: dict[str, Any] | None,
    json_body: dict[str, Any] | None,
    deadline: float,
) -> _Reply:
    """Send one request and read the whole response before the deadline."""
    remaining = max(deadline - time.monotonic(), 0.001)
    timeout = httpx.Timeout(
        min(READ_TIMEOUT, remaining), connect=min(CONNECT_TIMEOUT, remaining), pool=remaining
    )
    request = client.build_request(
        method, path, headers=headers, params=params, json=json_body, timeout=timeout
    )

    # A body that trickles in never trips the read timeout, which counts per read, so the
    # deadline is checked after every chunk.
    response = client.send(request, stream=True)
    try:
        content = bytearray()
        for chunk in response.iter_bytes():
            content += chunk
            if len(content) > MAX_RESPONSE_BYTES:
                raise _ResponseTooLarge(response.status_code)
            if time.monotonic() >= deadline:
                raise _DeadlinePassed()
    finally:
        response.close()

    return _Reply(
        status_code=response.status_code,
        reason_phrase=response.reason_phrase,
        headers=response.headers,
        content=bytes(content),
        encoding=_codec_name(response.charset_encoding),
    )


def _codec_name(charset: str | None) -> str:
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"


def _plan_retry(
    attempt: int, retry_after: float | None, deadline: float, timeout: float
) -> tuple[float | None, str]:
    """Return the wait before the next attempt, or None and the reason not to retry."""
    delay = _backoff(attempt) if retry_after is None else retry_after
    if time.monotonic() + delay < deadline:
        return delay, ""

    if retry_after is not None:
        return None, (
            f" The server asked to retry after {retry_after:g} s, which passes the time limit "
            f"of {timeout:g} s, so it was not retried; run it again later, or raise --timeout."
        )
    return None, (
        f" It was not retried again, because that would pass the time limit of {timeout:g} s."
    )


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _short_reason(error: PineconeMagicError) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _backoff(attempt: int) -> float:
    """Return the wait before attempt `attempt + 1`: exponential, with jitter in its upper half."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _retry_after(reply: _Reply) -> float | None:
    """Return the wait that a Retry-After header requests, in seconds, or None.

    The header holds either seconds or an HTTP date. A date in the past means no wait; a
    negative, infinite or unreadable value is ignored.
    """
    value = reply.headers.get("Retry-After", "").strip()
    if not value:
        return None

    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max((moment - datetime.now(timezone.utc)).total_seconds(), 0.0)

    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _is_retryable_transport(exc: httpx.TransportError) -> bool:
    """Return whether another attempt could succeed: not after a TLS, proxy or DNS failure.

    A temporary DNS failure ("Temporary failure in name resolution") is retried.
    """
    if _is_tls_failure(exc) or isinstance(exc, httpx.ProxyError):
        return False
    if _is_dns_failure(exc) and "temporary" not in str(exc).lower():
        return False
    return isinstance(
        exc, (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
    )


# Error mapping


def _redact(text: str, api_key: ApiKey) -> str:
    """Remove the API key from text that came from a server or a library."""
    return redact_text(text, {api_key.reveal()})


def _redact_json(value: Any, api_key: ApiKey) -> Any:
    """Remove the API key from every string inside parsed JSON."""
    if isinstance(value, str):
        return _redact(value, api_key)
    if isinstance(value, list):
        return [_redact_json(item, api_key) for item in value]
    if isinstance(value, dict):
        return {
            _redact(str(name), api_key): _redact_json(item, api_key)
            for name, item in value.items()
        }
    return value


def _exception_chain(exc: BaseException) -> Generator[BaseException, None, None]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_certificate_failure(exc: BaseException) -> bool:
    return any(
        isinstance(link, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(link)
        for link in _exception_chain(exc)
    )


def _is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(link, ssl.SSLError) for link in _exception_chain(exc))


_DNS_FAILURE_TEXTS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)


def _is_dns_failure(exc: BaseException) -> bool:
    reason = str(exc).lower()
    return any(text in reason for text in _DNS_FAILURE_TEXTS)


def _netloc(base_url: str) -> str:
    return base_url.partition("://")[2]


def _proxy_note(base_url: str) -> str:
    """Name the proxy variable set for this URL's scheme, with any credentials removed.

    Lower-case names come first, as in `urllib.request.getproxies`, which httpx reads.
    """
    if is_loopback_url(base_url):
        return ""
    scheme = base_url.partition("://")[0]
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        value = os.environ.get(name)
        if not value:
            continue
        proxy_scheme, separator, rest = value.partition("://")
        if not separator:
            proxy_scheme, rest = "", value
        proxy_text = f"{proxy_scheme}{separator}{rest.rsplit('@', 1)[-1]}"
        return f" {name} is set to {proxy_text!r}: check that proxy too, and NO_PROXY."
    return ""
    scheme = base_url.partition("://")[0]
    for name in (f"{scheme.upper()}_PROXY", f"{scheme}_proxy", "ALL_PROXY", "all_proxy"):
        value = os.environ.get(name)
        if value:
            scheme, separator, rest = value.partition("://")
            if not separator:
                scheme, rest = "", value
            shown = f"{scheme}{separator}{rest.rsplit('@', 1)[-1]}"
            return f" {name} is set to {shown!r}: check that proxy too, and NO_PROXY."
    return ""


def _transport_error(
    exc: httpx.TransportError,
    action: str,
    base_url: str,
    url: str,
    attempt: int,
    api_key: ApiKey,
    unknown_outcome_hint: str,
    note: str,
) -> TransportError:
    reason = _redact(str(exc), api_key).rstrip(".") or type(exc).__name__
    host = _netloc(base_url)
    tries = _attempts(attempt)

    if _is_certificate_failure(exc):
        return TLSError(
            f"The {action} failed: the TLS certificate of {host} could not be verified "
            f"({reason}). If a corporate proxy or CA signs your traffic, set SSL_CERT_FILE "
            "to a PEM file with its CA certificate.",
            url=url,
            attempts=attempt,
        )
    if isinstance(exc, httpx.ProxyError):
        return ConnectError(
            f"The {action} failed at the proxy ({reason}).{_proxy_note(base_url)}".rstrip(),
            url=url,
            attempts=attempt,
        )
    if _is_tls_failure(exc):
        return ConnectError(
            f"The {action} failed: the TLS handshake with {host} failed ({reason}). Check "
            "that the host serves https; the local emulator serves http://.",
            url=url,
            attempts=attempt,
        )
    if _is_dns_failure(exc):
        return ConnectError(
            f"The {action} failed: the host {host} could not be resolved ({reason}). "
            f"Check the index host, or use --index NAME.{_proxy_note(base_url)}",
            url=url,
            attempts=attempt,
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        hint = unknown_outcome_hint or "Its outcome is unknown; run it again to retry."
        return ConnectError(
            f"The {action} failed: {host} closed the connection without an answer "
            f"({reason}, {tries}).{note} {hint}",
            url=url,
            attempts=attempt,
        )
    return ConnectError(
        f"The {action} failed: could not connect to {host} ({reason}, {tries}).{note} "
        f"Check the host and your network.{_proxy_note(base_url)}",
        url=url,
        attempts=attempt,
    )


def _too_large_error(status: int, method: str, url: str, action: str, attempt: int) -> ApiError:
    return ApiError(
        f"The {action} got HTTP {status} with a body larger than {MAX_RESPONSE_BYTES:,} "
        "bytes, which was not read to its end; a proxy may have "
        "answered in place of Pinecone. Check the host and HTTPS_PROXY.",
        method=method,
        url=url,
        status_code=status,
        attempts=attempt,
    )


def _request_id(reply: _Reply, api_key: ApiKey) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = reply.headers.get(name)
        if value:
            return _redact(value[:200], api_key)
    return None


def _decode_json(reply: _Reply) -> Any:
    """Return the parsed JSON body, or raise ValueError when the body is not JSON."""
    return json.loads(reply.content)


def _success_body(
    reply: _Reply, method: str, url: str, action: str, attempt: int, api_key: ApiKey
) -> Any:
    if not reply.content.strip():
        return None
    try:
        return _redact_json(_decode_json(reply), api_key)
    except ValueError:
        raise ApiError(
            f"The {action} got HTTP {reply.status_code} but a body that is not JSON "
            f"({_content_type(reply)}, {len(reply.content)} bytes), so a proxy may have "
            "answered in place of Pinecone. Check the host and HTTPS_PROXY.",
            method=method,
            url=url,
            status_code=reply.status_code,
            reason=_redact(reply.reason_phrase, api_key),
            body=_redact(reply.text, api_key),
            request_id=_request_id(reply, api_key),
            attempts=attempt,
        ) from None


def _content_type(reply: _Reply) -> str:
    return str(reply.headers.get("Content-Type", "no content type")).split(";")[0].strip()


def _shorten(text: str, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def _parse_error_body(
    reply: _Reply,
) -> tuple[int | None, str | None, str | None, list[Any]]:
    """Return gRPC code, control-plane code, message and details from an error body."""
    try:
        parsed = _decode_json(reply)
    except ValueError:
        return None, None, None, []
    if not isinstance(parsed, dict):
        return None, None, None, []

    nested = parsed.get("error")
    if isinstance(nested, dict):
        code = nested.get("code")
        message = nested.get("message")
        return (
            None,
            code if isinstance(code, str) else None,
            message if isinstance(message, str) else None,
            [],
        )

    code = parsed.get("code")
    message = parsed.get("message")
    details = parsed.get("details")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        None,
        message if isinstance(message, str) else None,
        details if isinstance(details, list) else [],
    )


def _api_error(
    reply: _Reply,
    method: str,
    url: str,
    action: str,
    attempt: int,
    api_key: ApiKey,
    not_found_hint: str,
    note: str = "",
) -> ApiError:
    """Build the error for a non-2xx answer from an rpcStatus, control-plane or other body."""
    status = reply.status_code
    reason = _redact(reply.reason_phrase, api_key)
    body_text = _redact(reply.text, api_key)
    grpc_code, error_code, server_message, details = _parse_error_body(reply)
    if server_message is not None:
        server_message = _redact(server_message, api_key)
    error_code = _redact(error_code, api_key)[:100] if error_code is not None else None

    request_id = _request_id(reply, api_key)
    kwargs: dict[str, Any] = {
        "method": method,
        "url": url,
        "status_code": status,
        "reason": reason,
        "grpc_code": grpc_code,
        "error_code": error_code,
        "server_message": server_message,
        "details": _redact_json(details, api_key),
        "body": body_text,
        "request_id": request_id,
        "attempts": attempt,
    }

    headline = f"HTTP {status} {_shorten(reason, 60)}".rstrip()
    location = _redact(reply.headers.get("Location", ""), api_key)
    if 300 <= status < 400:
        detail = f", a redirect to {_shorten(location, 120) or 'an unnamed location'}"
    elif server_message:
        detail = f": {_shorten(server_message)}"
    elif body_text.strip():
        detail = f": {_content_type(reply)} body, not an API error ({_shorten(body_text, 120)})"
    else:
        detail = " with an empty body"
    code_text = ""
    if grpc_code is not None:
        name = GRPC_CODE_NAMES.get(grpc_code)
        code_text = f" (gRPC code {grpc_code}, {name})" if name else f" (gRPC code {grpc_code})"
    elif error_code is not None:
        code_text = f" ({error_code})"
    request_text = f" Request id: {request_id}." if request_id else ""
    attempts_text = f" after {_attempts(attempt)}" if attempt > 1 else ""
    base = f"The {action} failed{attempts_text}: {headline}{detail}{code_text}.{note}"

    if 300 <= status < 400:
        return RedirectError(
            f"{base} It was not followed, so that the API key stays with the host you named; "
            f"check the host.{request_text}",
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
    if note:
        hint = ""
    elif status == 429:
        hint = " Pinecone is rate limiting these requests; wait a minute and run it again."
    elif status >= 500:
        hint = " The server failed; run it again later."
    else:
        hint = ""
    return ApiError(f"{base}{hint}{request_text}", **kwargs)
