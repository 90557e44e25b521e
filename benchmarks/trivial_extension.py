"""An IPython extension that registers nothing: the floor for timing ``%load_ext``."""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Do nothing, so that the time measured is IPython's own cost of loading an extension."""
