"""Shared fixtures: a local emulator, a clean environment and an IPython shell.

Every test talks to a real emulator on loopback. `API_KEY` is a known value, so any test
can search output, reprs and logs for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinecone_magic import defaults
from pinecone_magic.emulator import Emulator, ManualClock

pytest_plugins = ["conformance"]

API_KEY = "pcsk_test_KNOWN_SECRET_7f3a9c1e"
SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"

_PINECONE_VARIABLES = (
    "PINECONE_API_KEY",
    "PINECONE_INDEX_HOST",
    "PINECONE_CONTROLLER_HOST",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remove Pinecone and proxy variables, and reset configured settings and caches."""
    for name in _PINECONE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    defaults.configure({})
    yield
    defaults.configure({})

    from pinecone_magic import client, transport

    client.forget_index_hosts()
    transport.close_clients()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[Emulator]:
    """An emulator on a free loopback port, driven by a manual clock."""
    with Emulator(api_key=API_KEY, port=0, clock=clock) as emu:
        yield emu


@pytest.fixture
def api_key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """Set PINECONE_API_KEY to the known test key."""
    monkeypatch.setenv("PINECONE_API_KEY", API_KEY)
    return API_KEY


@pytest.fixture
def configured(emulator: Emulator, api_key_env: str, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator, with PINECONE_API_KEY and PINECONE_INDEX_HOST pointing at it."""
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
    return emulator


@pytest.fixture
def shell() -> Iterator[object]:
    """The test IPython shell with the extension loaded; unloaded afterwards."""
    from IPython.core.getipython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    # start_ipython creates the shell on its first call only and returns None afterwards.
    ipython = start_ipython() or get_ipython()
    assert ipython is not None
    ipython.run_line_magic("load_ext", "pinecone_magic")
    yield ipython
    ipython.run_line_magic("unload_ext", "pinecone_magic")
    ipython.config.pop("PineconeMagics", None)
    ipython.user_ns.pop("r", None)


@pytest.fixture
def spec_dir() -> Path:
    """The folder of official OpenAPI files; the test skips where it is missing."""
    if not (SPEC_DIR / "db_data_2025-10.oas.yaml").is_file():
        pytest.skip(f"the Pinecone OpenAPI files are not at {SPEC_DIR}")
    return SPEC_DIR


def environment_without_pinecone() -> dict[str, str]:
    """Return a copy of os.environ without Pinecone or proxy variables, for subprocesses."""
    return {name: value for name, value in os.environ.items() if name not in _PINECONE_VARIABLES}
