"""Send one API request with httpx: connection reuse, retries and time limits.

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

The API key travels only in the Api-Key header, which an httpx auth flow adds; redaction.py
keeps it out of log records. responses.py turns what comes back into results and errors.
"""

from __future__ import annotations

import email.utils
import hashlib
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
from .config import ApiKey, is_loopback_url
from .defaults import CONNECT_TIMEOUT, MAX_CONCURRENCY, READ_TIMEOUT
from .errors import ApiError, InvalidInputError, PineconeMagicError, RequestTimeoutError
from .redaction import key_filter
from .responses import (
    Reply,
    api_error,
    attempts_text,
    is_dns_failure,
    is_tls_failure,
    netloc,
    request_id_of,
    success_body,
    too_large_error,
    transport_error,
)

logger = logging.getLogger("pinecone_magic")
# A library leaves output to the application: without this handler, Python's last-resort
# handler would print every retry warning into the notebook's stderr.
logger.addHandler(logging.NullHandler())

USER_AGENT = f"pinecone-magic/{__version__} httpx/{httpx.__version__}"
API_VERSION_HEADER = "X-Pinecone-Api-Version"

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: First backoff in seconds; each later one doubles, up to BACKOFF_MAX, with jitter.
BACKOFF_BASE = 0.25
BACKOFF_MAX = 8.0
#: Maximum size in bytes of a response body; a listing page of 100 imports is about 50 kB.
MAX_RESPONSE_BYTES = 10 * 1024 * 1024

#: Proxy variables that httpx reads, through `urllib.request.getproxies`.
PROXY_VARIABLES = (
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
)
#: Environment variables that change how a client connects; each value is part of its pool key.
ENVIRONMENT_VARIABLES = (*PROXY_VARIABLES, "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR")

_clients: dict[tuple[str, str, tuple[str | None, ...]], httpx.Client] = {}
_clients_lock = threading.Lock()


# The API key: sent by an auth flow.


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
            key_filter.add_key(api_key.reveal())
    return client


def _build_client(base_url: str, api_key: ApiKey) -> httpx.Client:
    # A proxy for loopback traffic is almost never wanted: the local emulator runs on the
    # same machine, and HTTP_PROXY is often set for other tools.
    mounts: dict[str, httpx.BaseTransport | None] | None = None
    if is_loopback_url(base_url):
        hostname = urlsplit(base_url).hostname or ""
        mounts = {f"all://[{hostname}]" if ":" in hostname else f"all://{hostname}": None}

    # http:// is accepted only for loopback hosts, and this client never follows a redirect
    # elsewhere, so it never does TLS: loading the CA bundle (about 40 ms) would be wasted.
    verify = not base_url.startswith("http://")

    try:
        return httpx.Client(
            base_url=base_url,
            auth=_ApiKeyAuth(api_key),
            verify=verify,
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
    between them included. `deadline`, a `time.monotonic()` value, ends the call earlier
    when several requests share one time limit. `timeout_hint` follows the message of a timeout
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
        reply: Reply | None = None
        failure: httpx.TransportError | None = None
        timed_out = False

        try:
            reply = _exchange(client, method, path, headers, params, json_body, deadline)
        except (httpx.TimeoutException, _DeadlinePassed):
            timed_out = True
        except httpx.TransportError as exc:
            failure = exc
        except _ResponseTooLarge as exc:
            raise too_large_error(
                exc.status_code, method, url, action, attempt, MAX_RESPONSE_BYTES
            ) from None

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
                    body=success_body(reply, method, url, action, attempt, api_key),
                    request_id=request_id_of(reply, api_key),
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
            error = api_error(
                reply, method, url, action, attempt, api_key, not_found_hint, note
            )
        elif timed_out:
            # The time limit itself ended the call, so a note about it would repeat this.
            note = ""
            error = RequestTimeoutError(
                f"The {action} at {netloc(base_url)} timed out: no response within the time "
                f"limit of {timeout:g} s ({attempts_text(attempt)}). {timeout_hint}".rstrip(),
                url=url,
                attempts=attempt,
            )
        else:
            assert failure is not None
            error = transport_error(
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
) -> Reply:
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

    return Reply(
        status_code=response.status_code,
        reason_phrase=response.reason_phrase,
        headers=response.headers,
        content=bytes(content),
    )


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


def _short_reason(error: PineconeMagicError) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _backoff(attempt: int) -> float:
    """Return the wait before attempt `attempt + 1`: exponential, with jitter in its upper half."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _retry_after(reply: Reply) -> float | None:
    """Return the wait that a Retry-After header requests, in seconds, or None.

    The header contains either seconds or an HTTP date. A date in the past means no wait; a
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
    if is_tls_failure(exc) or isinstance(exc, httpx.ProxyError):
        return False
    if is_dns_failure(exc) and "temporary" not in str(exc).lower():
        return False
    return isinstance(
        exc, (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
    )


