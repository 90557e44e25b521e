"""Settings, their resolution, and the validation of every value before a request is sent.

A setting comes from the first place that has it: the function argument or magic option,
then `%config PineconeMagics.<trait>`, then the environment (PINECONE_API_KEY,
PINECONE_INDEX_HOST, PINECONE_CONTROLLER_HOST), then the default. The API key has no
trait and no magic option, because both would be saved in the notebook.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from .defaults import (
    DEFAULT_API_VERSION,
    DEFAULT_CONCURRENCY,
    DEFAULT_CONTROLLER_HOST,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_CONTROLLER_HOST,
    ENV_INDEX_HOST,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_IMPORT_ID_LENGTH,
    MAX_TIMEOUT,
    configured_value,
)
from .errors import InvalidInputError, MissingApiKeyError

_API_VERSION_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}(\.[A-Za-z0-9]+)?")
_INDEX_NAME_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?")
_HOSTNAME_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME_PATTERN = re.compile(rf"{_HOSTNAME_LABEL}(\.{_HOSTNAME_LABEL})*\.?")
#: Printable ASCII without spaces; a key that does not match gets a message naming the position.
_API_KEY_PATTERN = re.compile(r"[\x21-\x7e]+")
_SHOWN_VALUE_LENGTH = 60

_KEY_HINT = (
    "set the PINECONE_API_KEY environment variable, for example with "
    "os.environ['PINECONE_API_KEY'] = getpass.getpass()"
)


class ApiKey:
    """An API key whose repr and str never show its value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the key itself, for the Api-Key header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("ApiKey cannot be pickled, so that the key is never written to disk.")


@dataclass(frozen=True)
class Settings:
    """The settings of one call, resolved and validated."""

    host: str | None
    index: str | None
    api_key: ApiKey = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    concurrency: int = DEFAULT_CONCURRENCY
    controller_host: str = DEFAULT_CONTROLLER_HOST


def resolve_settings(
    *,
    host: str | None = None,
    index: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    concurrency: int | None = None,
) -> Settings:
    """Merge arguments, `%config` values and the environment, and validate the result.

    Raises InvalidInputError (or MissingApiKeyError) naming the first invalid value. A key
    pasted into another setting, such as the host, is replaced with `***` in the message.
    """
    raw_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
    try:
        return _resolve_settings(
            host=host, index=index, api_key=raw_key, api_version=api_version,
            timeout=timeout, max_retries=max_retries, concurrency=concurrency,
        )
    except InvalidInputError as error:
        key = raw_key.strip() if isinstance(raw_key, str) else ""
        if not key or key not in str(error):
            raise
        redacted = type(error)(str(error).replace(key, "***"))

    # Raised outside the except block, so that the message with the key is not its context.
    raise redacted


def _resolve_settings(
    *,
    host: str | None,
    index: str | None,
    api_key: str | None,
    api_version: str | None,
    timeout: float | None,
    max_retries: int | None,
    concurrency: int | None,
) -> Settings:
    if host is not None and index is not None:
        raise InvalidInputError(
            f"Both a host ({_shown(host)}) and an index ({_shown(index)}) were given; "
            "pass only one of --host and --index."
        )

    if host is None and index is None:
        host = configured_value("host")
        index = configured_value("index")
        if host is not None and index is not None:
            raise InvalidInputError(
                "Both PineconeMagics.host and PineconeMagics.index are configured; "
                "set one of them to None with %config."
            )
    if host is None and index is None:
        host = os.environ.get(ENV_INDEX_HOST) or None

    controller = configured_value("controller_host") or os.environ.get(ENV_CONTROLLER_HOST)

    return Settings(
        host=normalize_host(host) if host is not None else None,
        index=validate_index_name(index) if index is not None else None,
        api_key=validate_api_key(api_key),
        api_version=validate_api_version(_first(api_version, "api_version", DEFAULT_API_VERSION)),
        timeout=validate_timeout(_first(timeout, "timeout", DEFAULT_TIMEOUT)),
        max_retries=validate_max_retries(_first(max_retries, "max_retries", DEFAULT_MAX_RETRIES)),
        concurrency=validate_concurrency(_first(concurrency, "concurrency", DEFAULT_CONCURRENCY)),
        controller_host=normalize_host(
            controller or DEFAULT_CONTROLLER_HOST, name="controller host"
        ),
    )


def _first(argument: Any, trait: str, default: Any) -> Any:
    if argument is not None:
        return argument
    value = configured_value(trait)
    return default if value is None else value


def _shown(value: object) -> str:
    """Quote a user value for an error message, cut to a readable length."""
    text = repr(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        text = text[: _SHOWN_VALUE_LENGTH - 5] + "...'"
    return text


def _first_control_character(text: str) -> str | None:
    """Return the first control, format, separator or surrogate character of text, or None.

    Lone surrogates cannot be encoded as UTF-8, so they could never reach the server.
    """
    for character in text:
        if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            return character
    return None


def validate_import_id(value: object) -> str:
    """Return the import id with surrounding whitespace removed, or raise InvalidInputError.

    An id is a string (or a non-negative int) of 1 to 1000 characters with no control
    characters. Any other character is allowed and sent percent-encoded.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"Import id {_shown(value)} is a {type(value).__name__}; pass the id as a string, "
            "such as '101'."
        )

    import_id = value.strip()
    if not import_id:
        raise InvalidInputError(
            "Import id is empty; pass the id shown by %pc_list_imports, such as 101."
        )
    if len(import_id) > MAX_IMPORT_ID_LENGTH:
        raise InvalidInputError(
            f"Import id {_shown(import_id)} is {len(import_id)} characters long; "
            f"Pinecone import ids have at most {MAX_IMPORT_ID_LENGTH} characters."
        )

    control = _first_control_character(import_id)
    if control is not None:
        raise InvalidInputError(
            f"Import id {_shown(import_id)} contains the control character "
            f"U+{ord(control):04X}; remove it and pass the id shown by %pc_list_imports."
        )
    return import_id


def validate_api_key(value: object) -> ApiKey:
    """Return the key with surrounding whitespace removed, or raise an error naming the fix.

    Messages never contain the key, only the position of an invalid character.
    """
    if value is None:
        raise MissingApiKeyError(f"No Pinecone API key is set; {_KEY_HINT}.")
    if not isinstance(value, str):
        raise InvalidInputError(
            f"The API key is a {type(value).__name__}, not a string; {_KEY_HINT}."
        )

    key = value.strip()
    if not key:
        raise MissingApiKeyError(f"The Pinecone API key is empty; {_KEY_HINT}.")

    if _API_KEY_PATTERN.fullmatch(key):
        return ApiKey(key)

    for position, character in enumerate(key, start=1):
        if not character.isascii():
            raise InvalidInputError(
                f"The API key contains a non-ASCII character at position {position}; "
                "copy the key again from the Pinecone console."
            )
        if not character.isprintable() or character.isspace():
            raise InvalidInputError(
                f"The API key contains whitespace or a control character at position "
                f"{position}; copy the key again from the Pinecone console."
            )
    return ApiKey(key)


def normalize_host(value: object, *, name: str = "host") -> str:
    """Return `scheme://host[:port]` for an index host, or raise InvalidInputError.

    A bare host gets https://. A trailing slash is dropped. A path, query, fragment or
    credentials are rejected, and so is http:// for any host but a loopback one, because
    the API key would cross the network in clear text.
    """
    if not isinstance(value, str):
        raise InvalidInputError(
            f"The {name} {_shown(value)} is a {type(value).__name__}; pass it as a string."
        )
    return _normalize_host_text(value, name)


# Every call checks its host again, and the same few hosts recur, so valid results are cached.
@functools.lru_cache(maxsize=256)
def _normalize_host_text(value: str, name: str) -> str:
    text = value.strip()
    # Messages show the host without anything before '@', so that a pasted password stays hidden.
    safe = _without_credentials(text) if "@" in text else text
    if not text:
        raise InvalidInputError(
            f"The {name} is empty; pass the index host shown in the Pinecone console, "
            "or use --index NAME."
        )

    control = _first_control_character(text)
    if control is not None or any(character.isspace() for character in text):
        raise InvalidInputError(
            f"The {name} {_shown(safe)} contains whitespace or a control character; "
            "pass a host such as my-index-abc123.svc.aped-4627-b74a.pinecone.io."
        )

    scheme, separator, rest = text.partition("://")
    if separator:
        scheme = scheme.lower()
    else:
        scheme, rest = "https", text
    if scheme not in ("http", "https"):
        raise InvalidInputError(
            f"The {name} {_shown(safe)} uses the scheme {scheme!r}; use https://HOST or a "
            "bare host."
        )
    if "://" in rest or rest.lower().startswith(("http:", "https:")):
        raise InvalidInputError(
            f"The {name} {_shown(safe)} repeats its scheme; pass it once, such as https://HOST."
        )

    rest = rest.rstrip("/")
    if any(character in rest for character in "/?#"):
        raise InvalidInputError(
            f"The {name} {_shown(safe)} contains a path, query or fragment; "
            "pass only the host, such as https://HOST."
        )
    if "@" in rest:
        raise InvalidInputError(
            f"The {name} {_shown(safe)} contains credentials; remove "
            "the part before '@', and set the API key in PINECONE_API_KEY instead."
        )

    hostname, port = _split_host_port(rest, safe, name)
    is_loopback = _is_loopback(hostname)

    if scheme == "http" and not is_loopback:
        raise InvalidInputError(
            f"The {name} {_shown(safe)} uses http://, which would send the API key in "
            "clear text; use https:// (http:// is allowed only for loopback hosts such as "
            "the local emulator)."
        )
    if name == "host" and _looks_like_index_name(hostname, is_loopback):
        raise InvalidInputError(
            f"The host {_shown(safe)} looks like an index name, not an index host; "
            f"use --index {hostname}, or pass the host shown in the Pinecone console."
        )

    netloc = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def _without_credentials(text: str) -> str:
    """Replace what comes before '@' in a host, so that a pasted password is not echoed."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        rest, scheme = text, ""
    prefix = f"{scheme}://" if separator else ""
    return prefix + "***@" + rest.rsplit("@", 1)[-1]


def _split_host_port(rest: str, text: str, name: str) -> tuple[str, int | None]:
    if rest.startswith("["):
        literal, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise InvalidInputError(
                f"The {name} {_shown(text)} opens '[' without closing it; write an IPv6 "
                "host as [::1]:5081."
            )
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise InvalidInputError(
                f"The {name} {_shown(text)} has an invalid IPv6 address in brackets; "
                "write it as [::1]:5081."
            ) from None
        hostname, port_text = literal.lower(), after
        if port_text and not port_text.startswith(":"):
            raise InvalidInputError(
                f"The {name} {_shown(text)} has text after ']'; write it as [::1]:5081."
            )
        port_text = port_text[1:] if port_text else ""
    else:
        if rest.count(":") > 1:
            raise InvalidInputError(
                f"The {name} {_shown(text)} looks like an IPv6 address without brackets; "
                "write it as [::1]:5081."
            )
        hostname, _, port_text = rest.partition(":")
        hostname = hostname.lower()
        if not hostname or not _HOSTNAME_PATTERN.fullmatch(hostname):
            raise InvalidInputError(
                f"The {name} {_shown(text)} is not a valid host name; pass a host such as "
                "my-index-abc123.svc.aped-4627-b74a.pinecone.io."
            )
        if rest.endswith(":"):
            raise InvalidInputError(
                f"The {name} {_shown(text)} ends with ':' but no port; add the port or remove ':'."
            )

    if not port_text:
        return hostname, None
    # str.isdigit() also accepts digits such as '²' that int() rejects, so ASCII is required.
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise InvalidInputError(
            f"The {name} {_shown(text)} has the invalid port {port_text!r}; "
            "use a number from 1 to 65535."
        )
    return hostname, int(port_text)


@functools.lru_cache(maxsize=256)
def _is_loopback(hostname: str) -> bool:
    if hostname in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _looks_like_index_name(hostname: str, is_loopback: bool) -> bool:
    if is_loopback or "." in hostname:
        return False
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return True
    return False


def is_loopback_url(url: str) -> bool:
    """Return whether a normalized `scheme://host[:port]` URL points at a loopback host."""
    netloc = url.partition("://")[2]
    if netloc.startswith("["):
        return _is_loopback(netloc[1:].partition("]")[0])
    return _is_loopback(netloc.partition(":")[0])


def validate_index_name(value: object) -> str:
    """Return a valid index name, or raise InvalidInputError."""
    if not isinstance(value, str) or not _INDEX_NAME_PATTERN.fullmatch(value.strip()):
        raise InvalidInputError(
            f"Index name {_shown(value)} is invalid; Pinecone index names have 1 to 45 "
            "lowercase letters, digits or '-', and start and end with a letter or digit."
        )
    return value.strip()


def validate_api_version(value: object) -> str:
    """Return a valid API version such as 2025-10, or raise InvalidInputError."""
    if not isinstance(value, str) or not _API_VERSION_PATTERN.fullmatch(value.strip()):
        raise InvalidInputError(
            f"API version {_shown(value)} is invalid; use a date-based version such as "
            f"{DEFAULT_API_VERSION}."
        )
    return value.strip()


def validate_timeout(value: object, *, label: str = "Timeout") -> float:
    """Return a time limit in seconds, greater than 0 and at most one hour.

    `label` names the option in messages, such as "--wait".
    """
    number = _as_number(value, label, "seconds")
    if not 0 < number <= MAX_TIMEOUT:
        raise InvalidInputError(
            f"{label} {_shown(value)} is out of range; use a number of seconds greater "
            f"than 0 and at most {MAX_TIMEOUT:g}."
        )
    return number


def validate_max_retries(value: object) -> int:
    """Return the number of attempts in all, from 1 to 10."""
    return _as_count(value, "max_retries (attempts in all)", 1, MAX_ATTEMPTS)


def validate_concurrency(value: object) -> int:
    """Return the number of requests in flight at once, from 1 to 64."""
    return _as_count(value, "Concurrency", 1, MAX_CONCURRENCY)


def validate_limit(value: object) -> int:
    """Return a page size for listing imports, from 1 to 100 as the API accepts."""
    return _as_count(value, "Limit", 1, 100)


def _as_number(value: object, label: str, unit: str) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"{label} {_shown(value)} is not a number; pass {unit}.")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{label} {_shown(value)} is not a number; pass a number of {unit}, such as 30."
        ) from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{label} {_shown(value)} is not finite; pass a number of {unit}.")
    return number


def _as_count(value: object, label: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{label} {_shown(value)} is not a whole number.")
    try:
        count = int(value) if isinstance(value, (int, str)) else None
    except ValueError:
        count = None
    if count is None or not minimum <= count <= maximum:
        raise InvalidInputError(
            f"{label} {_shown(value)} is invalid; use a whole number from {minimum} to {maximum}."
        )
    return count
