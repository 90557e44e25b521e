"""The line magics through a real IPython shell: output, errors, expansion and loading."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from conftest import environment_without_pinecone
from IPython.utils.capture import capture_output

from pinecone_magic import CancelResult, NotFoundError
from pinecone_magic.emulator import Emulator

MAGIC_NAMES = ("pc_cancel_import", "pc_describe_import", "pc_list_imports")


def _run(shell: Any, cell: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(cell)
    return result, captured


def test_cancel_magic_returns_result(shell: Any, configured: Emulator) -> None:
    configured.start_import("s3://bucket/dir")

    result, _ = _run(shell, "%pc_cancel_import 101")

    assert isinstance(result.result, CancelResult)


def test_cancel_magic_shown_once(shell: Any, configured: Emulator) -> None:
    configured.start_import("s3://bucket/dir")

    _, captured = _run(shell, "%pc_cancel_import 101")

    assert captured.stdout.count("Cancel requested") == 1
    assert captured.outputs == []


def test_cancel_magic_sends_one_request(shell: Any, configured: Emulator) -> None:
    configured.start_import("s3://bucket/dir")

    _run(shell, "%pc_cancel_import 101")

    assert [(r.method, r.raw_path) for r in configured.requests] == [
        ("DELETE", "/bulk/imports/101")
    ]


def test_cancel_magic_assignment_keeps_result(shell: Any, configured: Emulator) -> None:
    configured.start_import("s3://bucket/dir")

    _, captured = _run(shell, "r = %pc_cancel_import 101")

    assert shell.user_ns["r"].import_id == "101"
    assert "Cancel requested" not in captured.stdout


def test_cancel_magic_host_option(shell: Any, emulator: Emulator, api_key_env: str) -> None:
    emulator.start_import("s3://bucket/dir")

    result, _ = _run(shell, f"%pc_cancel_import 101 --host {emulator.url}")

    assert result.success


def test_cancel_magic_expands_dollar_variable(
    shell: Any, emulator: Emulator, api_key_env: str
) -> None:
    emulator.start_import("s3://bucket/dir")
    shell.user_ns.update(target=emulator.url, import_id="101")

    _run(shell, "%pc_cancel_import $import_id --host $target")

    assert emulator.requests[0].raw_path == "/bulk/imports/101"


def test_cancel_magic_expands_braces(shell: Any, emulator: Emulator, api_key_env: str) -> None:
    emulator.start_import("s3://bucket/dir")
    shell.user_ns.update(target=emulator.url, ids=["101"])

    _run(shell, "%pc_cancel_import {ids[0]} --host {target}")

    assert emulator.requests[0].raw_path == "/bulk/imports/101"


def test_cancel_magic_rejects_undefined_variable(shell: Any, configured: Emulator) -> None:
    result, captured = _run(shell, "%pc_cancel_import $undefined_import_id")

    assert not result.success
    assert "undefined variable" in captured.stderr
    assert configured.requests == []


def test_cancel_magic_quoted_id(shell: Any, configured: Emulator) -> None:
    _run(shell, "%pc_cancel_import 'a b'")

    assert configured.requests[0].raw_path == "/bulk/imports/a%20b"


def test_cancel_magic_unknown_option_is_usage_error(shell: Any, configured: Emulator) -> None:
    result, captured = _run(shell, "%pc_cancel_import 101 --force")

    assert not result.success
    assert "UsageError" in captured.stderr
    assert configured.requests == []


def test_cancel_magic_host_and_index_conflict(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, f"%pc_cancel_import 101 --host {configured.url} --index x")

    assert "only one of --host and --index" in captured.stderr
    assert configured.requests == []


def test_cancel_magic_not_found_is_one_line(shell: Any, configured: Emulator) -> None:
    result, captured = _run(shell, "%pc_cancel_import 999")

    assert isinstance(result.error_in_exec, NotFoundError)
    assert captured.stdout.strip().count("\n") == 0
    assert "Traceback" not in captured.stdout + captured.stderr


def test_cancel_magic_long_errors_show_traceback(shell: Any, configured: Emulator) -> None:
    _run(shell, "%config PineconeMagics.short_errors = False")

    _, captured = _run(shell, "%pc_cancel_import 999")

    assert "Traceback" in captured.stdout + captured.stderr


def test_cancel_magic_missing_key_is_usage_error(shell: Any, emulator: Emulator) -> None:
    _, captured = _run(shell, f"%pc_cancel_import 101 --host {emulator.url}")

    assert "PINECONE_API_KEY" in captured.stderr
    assert emulator.requests == []


def test_cancel_magic_bad_timeout_is_usage_error(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, "%pc_cancel_import 101 --timeout soon")

    assert "Timeout 'soon' is not a number" in captured.stderr


@pytest.mark.parametrize("name", MAGIC_NAMES)
def test_magic_help_flag_sends_nothing(shell: Any, configured: Emulator, name: str) -> None:
    _, captured = _run(shell, f"%{name} -h")

    assert f"%{name}" in captured.stdout
    assert configured.requests == []


@pytest.mark.parametrize("name", MAGIC_NAMES)
def test_magic_inspect_help_has_usage(shell: Any, name: str) -> None:
    from IPython.core.oinspect import getdoc

    magic = shell.find_line_magic(name)

    assert "--host HOST" in getdoc(magic)


def test_describe_magic_shows_status(shell: Any, configured: Emulator) -> None:
    configured.add_import(status="InProgress", percent_complete=42.0)

    _, captured = _run(shell, "%pc_describe_import 101")

    assert "InProgress" in captured.stdout
    assert "42.0%" in captured.stdout


def test_list_magic_shows_imports(shell: Any, configured: Emulator) -> None:
    configured.add_imports(3)

    _, captured = _run(shell, "%pc_list_imports")

    assert "3 imports, newest first." in captured.stdout


def test_load_registers_each_magic_once(shell: Any) -> None:
    shell.run_line_magic("reload_ext", "pinecone_magic")
    shell.run_line_magic("reload_ext", "pinecone_magic")

    instances = [c for c in shell.configurables if type(c).__name__ == "PineconeMagics"]
    assert len(instances) == 1
    assert all(name in shell.magics_manager.magics["line"] for name in MAGIC_NAMES)


def test_unload_removes_magics(shell: Any) -> None:
    shell.run_line_magic("unload_ext", "pinecone_magic")
    try:
        assert all(name not in shell.magics_manager.magics["line"] for name in MAGIC_NAMES)
    finally:
        shell.run_line_magic("load_ext", "pinecone_magic")


def test_unload_closes_clients(shell: Any, configured: Emulator) -> None:
    from pinecone_magic import transport

    configured.start_import("s3://bucket/dir")
    _run(shell, "%pc_cancel_import 101")
    client = next(iter(transport._clients.values()))

    shell.run_line_magic("unload_ext", "pinecone_magic")
    shell.run_line_magic("load_ext", "pinecone_magic")

    assert client.is_closed


def test_load_imports_neither_httpx_nor_ipywidgets() -> None:
    code = (
        "import sys\n"
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\n"
        "ip.run_line_magic('load_ext', 'pinecone_magic')\n"
        "print('LOADED=' + repr(sorted(m for m in ('httpx', 'ipywidgets') if m in sys.modules)))\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=environment_without_pinecone(), check=True,
    )

    # Some IPython 8 releases write a terminal-title escape code first, so search the output.
    assert "LOADED=[]" in completed.stdout


def test_cancel_magic_unknown_option_names_help(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, "%pc_cancel_import 101 --hots x")

    assert "run %pc_cancel_import -h to list the options" in captured.stderr


def test_cancel_magic_no_option_abbreviations(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, "%pc_cancel_import 101 --api 2025-10")

    assert "unrecognized arguments: --api" in captured.stderr
    assert configured.requests == []


def test_cancel_magic_wait_error_names_option(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, "%pc_cancel_import 101 102 --wait abc")

    assert "--wait 'abc' is not a number" in captured.stderr
