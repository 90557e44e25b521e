"""IPython magics and a Jupyter form to list, describe and cancel Pinecone bulk imports.

Load it in a notebook with ``%load_ext pinecone_magic``. Loading registers the magics and
imports neither httpx nor ipywidgets: both load on first use. The functions below are
the same code path for scripts and tests.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .client import (
        cancel_import,
        cancel_imports,
        describe_import,
        list_imports,
        start_import,
    )
    from .errors import (
        ApiError,
        AuthenticationError,
        BatchError,
        ConnectError,
        InvalidInputError,
        MissingApiKeyError,
        NotFoundError,
        PineconeMagicError,
        RedirectError,
        RequestTimeoutError,
        TLSError,
        TransportError,
    )
    from .form import cancel_import_form
    from .models import CancelBatch, CancelOutcome, CancelResult, ImportList, ImportModel

# Public name -> module that defines it, imported on first access.
_LAZY_NAMES = {
    "cancel_import": "client",
    "cancel_imports": "client",
    "describe_import": "client",
    "list_imports": "client",
    "start_import": "client",
    "cancel_import_form": "form",
    "CancelBatch": "models",
    "CancelOutcome": "models",
    "CancelResult": "models",
    "ImportList": "models",
    "ImportModel": "models",
    "PineconeMagicError": "errors",
    "InvalidInputError": "errors",
    "MissingApiKeyError": "errors",
    "TransportError": "errors",
    "ConnectError": "errors",
    "TLSError": "errors",
    "RequestTimeoutError": "errors",
    "ApiError": "errors",
    "AuthenticationError": "errors",
    "NotFoundError": "errors",
    "RedirectError": "errors",
    "BatchError": "errors",
}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BatchError",
    "CancelBatch",
    "CancelOutcome",
    "CancelResult",
    "ConnectError",
    "ImportList",
    "ImportModel",
    "InvalidInputError",
    "MissingApiKeyError",
    "NotFoundError",
    "PineconeMagicError",
    "RedirectError",
    "RequestTimeoutError",
    "TLSError",
    "TransportError",
    "__version__",
    "cancel_import",
    "cancel_import_form",
    "cancel_imports",
    "describe_import",
    "list_imports",
    "load_ipython_extension",
    "start_import",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pinecone_magic' has no attribute {name!r}")
    module = importlib.import_module(f".{module_name}", __name__)
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and their %config settings in this IPython session."""
    from .magics import PineconeMagics

    ipython.register_magics(PineconeMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and their settings, and close the HTTP connections."""
    manager = ipython.magics_manager
    magics = manager.registry.pop("PineconeMagics", None)

    if magics is not None:
        for kind, names in magics.magics.items():
            for name in names:
                registered = manager.magics[kind].get(name)
                if getattr(registered, "__self__", None) is magics:
                    del manager.magics[kind][name]
        if magics in ipython.configurables:
            ipython.configurables.remove(magics)

    from . import defaults

    defaults.configure({})

    # Only modules already imported hold connections; importing them now would load httpx.
    if f"{__name__}.transport" in sys.modules:
        sys.modules[f"{__name__}.transport"].close_clients()
    if f"{__name__}.client" in sys.modules:
        sys.modules[f"{__name__}.client"].forget_index_hosts()
