"""Keep the API key out of log records and out of text that came from servers or libraries.

A logging filter replaces every key in use with `***` in the records of the httpx and
httpcore loggers, because httpcore logs response headers at DEBUG level. Text from a server
(error bodies, headers, reason phrases) passes through `redact` before it reaches a message.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .config import ApiKey

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


class KeyRedactingFilter(logging.Filter):
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


#: The filter installed on every logger in REDACTED_LOGGERS; clients register their keys here.
key_filter = KeyRedactingFilter()
for _name in REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(key_filter)


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



def redact(text: str, api_key: ApiKey) -> str:
    """Remove the API key from text that came from a server or a library."""
    return redact_text(text, {api_key.reveal()})


def redact_json(value: Any, api_key: ApiKey) -> Any:
    """Remove the API key from every string inside parsed JSON."""
    if isinstance(value, str):
        return redact(value, api_key)
    if isinstance(value, list):
        return [redact_json(item, api_key) for item in value]
    if isinstance(value, dict):
        return {
            redact(str(name), api_key): redact_json(item, api_key)
            for name, item in value.items()
        }
    return value
