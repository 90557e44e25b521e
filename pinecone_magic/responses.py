"""Read API responses and turn failures into PineconeMagicError exceptions.

An error message has one shape: what failed, the HTTP status (with the gRPC code of an
rpcStatus body, or the code of a control-plane error body), the server's message, the
request id, and what to do next. Every piece of server text passes through `redact`
first, so a server that echoes the API key does not put it in a message.
"""

from __future__ import annotations

import codecs
import json
import os
import ssl
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import httpx

from .config import ApiKey, is_loopback_url
from .errors import (
    GRPC_CODE_NAMES,
    ApiError,
    AuthenticationError,
    ConnectError,
    NotFoundError,
    RedirectError,
    TLSError,
    TransportError,
)
from .redaction import redact, redact_json

REQUEST_ID_HEADERS = ("x-pinecone-request-id", "x-request-id")
#: Maximum length of server text inside an exception message.
MESSAGE_TEXT_LIMIT = 300


@dataclass(frozen=True)
class Reply:
    """A response read in full within the time limit."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        """The body decoded with its declared charset, or UTF-8, replacing invalid bytes.

        The charset is parsed here, not when the response arrives, because only errors
        need the text.
        """
        codec = _codec_name(self.headers.get("Content-Type", ""))
        return self.content.decode(codec, errors="replace")


def _codec_name(content_type: str) -> str:
    """Return the codec of the charset parameter of a Content-Type, or utf-8."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def attempts_text(count: int) -> str:
    """Return "1 attempt" or "N attempts"."""
    return "1 attempt" if count == 1 else f"{count} attempts"


def _exception_chain(exc: BaseException) -> Generator[BaseException, None, None]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_certificate_failure(exc: BaseException) -> bool:
    return any(
        isinstance(link, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(link)
        for link in _exception_chain(exc)
    )


def is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(link, ssl.SSLError) for link in _exception_chain(exc))


_DNS_FAILURE_TEXTS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)


def is_dns_failure(exc: BaseException) -> bool:
    reason = str(exc).lower()
    return any(text in reason for text in _DNS_FAILURE_TEXTS)


def netloc(base_url: str) -> str:
    return base_url.partition("://")[2]


def proxy_note(base_url: str) -> str:
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


def transport_error(
    exc: httpx.TransportError,
    action: str,
    base_url: str,
    url: str,
    attempt: int,
    api_key: ApiKey,
    unknown_outcome_hint: str,
    note: str,
) -> TransportError:
    reason = redact(str(exc), api_key).rstrip(".") or type(exc).__name__
    host = netloc(base_url)
    tries = attempts_text(attempt)

    if is_certificate_failure(exc):
        return TLSError(
            f"The {action} failed: the TLS certificate of {host} could not be verified "
            f"({reason}). If a corporate proxy or CA signs your traffic, set SSL_CERT_FILE "
            "to a PEM file with its CA certificate.",
            url=url,
            attempts=attempt,
        )
    if isinstance(exc, httpx.ProxyError):
        return ConnectError(
            f"The {action} failed at the proxy ({reason}).{proxy_note(base_url)}".rstrip(),
            url=url,
            attempts=attempt,
        )
    if is_tls_failure(exc):
        return ConnectError(
            f"The {action} failed: the TLS handshake with {host} failed ({reason}). Check "
            "that the host serves https; the local emulator serves http://.",
            url=url,
            attempts=attempt,
        )
    if is_dns_failure(exc):
        return ConnectError(
            f"The {action} failed: the host {host} could not be resolved ({reason}). "
            f"Check the index host, or use --index NAME.{proxy_note(base_url)}",
            url=url,
            attempts=attempt,
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        hint = unknown_outcome_hint or "Its outcome is unknown; run it again to retry."
        return ConnectError(
            f"The {action} failed: {host} closed the connection without a response "
            f"({reason}, {tries}).{note} {hint}",
            url=url,
            attempts=attempt,
        )
    return ConnectError(
        f"The {action} failed: could not connect to {host} ({reason}, {tries}).{note} "
        f"Check the host and your network.{proxy_note(base_url)}",
        url=url,
        attempts=attempt,
    )


def too_large_error(
    status: int, method: str, url: str, action: str, attempt: int, limit: int
) -> ApiError:
    return ApiError(
        f"The {action} got HTTP {status} with a body larger than {limit:,} "
        "bytes, which was not read to its end; a proxy may have "
        "responded in place of Pinecone. Check the host and HTTPS_PROXY.",
        method=method,
        url=url,
        status_code=status,
        attempts=attempt,
    )


def request_id_of(reply: Reply, api_key: ApiKey) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = reply.headers.get(name)
        if value:
            return redact(value[:200], api_key)
    return None


def decode_json(reply: Reply) -> Any:
    """Return the parsed JSON body, or raise ValueError when the body is not JSON."""
    return json.loads(reply.content)


def success_body(
    reply: Reply, method: str, url: str, action: str, attempt: int, api_key: ApiKey
) -> Any:
    if not reply.content.strip():
        return None
    try:
        return redact_json(decode_json(reply), api_key)
    except ValueError:
        raise ApiError(
            f"The {action} got HTTP {reply.status_code} but a body that is not JSON "
            f"({content_type(reply)}, {len(reply.content)} bytes), so a proxy may have "
            "responded in place of Pinecone. Check the host and HTTPS_PROXY.",
            method=method,
            url=url,
            status_code=reply.status_code,
            reason=redact(reply.reason_phrase, api_key),
            body=redact(reply.text, api_key),
            request_id=request_id_of(reply, api_key),
            attempts=attempt,
        ) from None


def content_type(reply: Reply) -> str:
    return str(reply.headers.get("Content-Type", "no content type")).split(";")[0].strip()


def shorten(text: str, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def parse_error_body(
    reply: Reply,
) -> tuple[int | None, str | None, str | None, list[Any]]:
    """Return gRPC code, control-plane code, message and details from an error body."""
    try:
        parsed = decode_json(reply)
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


def api_error(
    reply: Reply,
    method: str,
    url: str,
    action: str,
    attempt: int,
    api_key: ApiKey,
    not_found_hint: str,
    note: str = "",
) -> ApiError:
    """Build the error for a non-2xx response from an rpcStatus, control-plane or other body."""
    status = reply.status_code
    reason = redact(reply.reason_phrase, api_key)
    body_text = redact(reply.text, api_key)
    grpc_code, error_code, server_message, details = parse_error_body(reply)
    if server_message is not None:
        server_message = redact(server_message, api_key)
    error_code = redact(error_code, api_key)[:100] if error_code is not None else None

    request_id = request_id_of(reply, api_key)
    kwargs: dict[str, Any] = {
        "method": method,
        "url": url,
        "status_code": status,
        "reason": reason,
        "grpc_code": grpc_code,
        "error_code": error_code,
        "server_message": server_message,
        "details": redact_json(details, api_key),
        "body": body_text,
        "request_id": request_id,
        "attempts": attempt,
    }

    headline = f"HTTP {status} {shorten(reason, 60)}".rstrip()
    location = redact(reply.headers.get("Location", ""), api_key)
    if 300 <= status < 400:
        detail = f", a redirect to {shorten(location, 120) or 'an unnamed location'}"
    elif server_message:
        detail = f": {shorten(server_message)}"
    elif body_text.strip():
        detail = f": {content_type(reply)} body, not an API error ({shorten(body_text, 120)})"
    else:
        detail = " with an empty body"
    code_text = ""
    if grpc_code is not None:
        name = GRPC_CODE_NAMES.get(grpc_code)
        code_text = f" (gRPC code {grpc_code}, {name})" if name else f" (gRPC code {grpc_code})"
    elif error_code is not None:
        code_text = f" ({error_code})"
    request_text = f" Request id: {request_id}." if request_id else ""
    after_attempts = f" after {attempts_text(attempt)}" if attempt > 1 else ""
    base = f"The {action} failed{after_attempts}: {headline}{detail}{code_text}.{note}"

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
