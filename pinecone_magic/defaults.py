"""Defaults, limits and fixed names of the API, and the values set with `%config`.

This module imports nothing heavy, because loading the extension reads it. Validation and
the resolution of each setting are in config.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_API_VERSION = "2025-10"
DEFAULT_CONTROLLER_HOST = "https://api.pinecone.io"

#: Maximum time in seconds for one whole call, retries and waits between them included.
DEFAULT_TIMEOUT = 60.0
#: Maximum time in seconds to open a connection, for one attempt.
CONNECT_TIMEOUT = 5.0
#: Maximum time in seconds to wait for each part of a response, for one attempt.
READ_TIMEOUT = 30.0
#: Number of attempts in all, the first one included.
DEFAULT_MAX_RETRIES = 4
#: Number of requests in flight at once when several imports are cancelled.
DEFAULT_CONCURRENCY = 8

MAX_IMPORT_ID_LENGTH = 1000
MAX_TIMEOUT = 3600.0
MAX_CONCURRENCY = 64
MAX_ATTEMPTS = 10

#: Every import status of the 2025-10 API; other values are accepted and shown as they are.
IMPORT_STATUSES = ("Pending", "InProgress", "Failed", "Completed", "Cancelled")

ENV_API_KEY = "PINECONE_API_KEY"
ENV_INDEX_HOST = "PINECONE_INDEX_HOST"
ENV_CONTROLLER_HOST = "PINECONE_CONTROLLER_HOST"

# Values set with `%config PineconeMagics.<trait>`; the magics keep this mapping up to date.
_configured: dict[str, Any] = {}


def configure(values: Mapping[str, Any]) -> None:
    """Replace the configured layer of settings; None values count as unset."""
    _configured.clear()
    _configured.update({name: value for name, value in values.items() if value is not None})


def configured_value(name: str) -> Any:
    """Return the value set with `%config` for `name`, or None."""
    return _configured.get(name)
