"""Describing, listing and batch cancelling imports, index names, and %config settings."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.utils.capture import capture_output

from pinecone_magic import (
    BatchError,
    InvalidInputError,
    NotFoundError,
    cancel_imports,
    describe_import,
    list_imports,
)
from pinecone_magic import client as client_module
from pinecone_magic import transport as transport_module
from pinecone_magic.emulator import Emulator, ManualClock


def _run(shell: Any, cell: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(cell)
    return result, captured


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "WAIT_POLL_INTERVAL", 0.02)


# Describe


@pytest.mark.parametrize("status", ["Pending", "InProgress", "Completed", "Failed", "Cancelled"])
def test_describe_each_status(configured: Emulator, status: Any) -> None:
    import_id = configured.add_import(status=status)

    model = describe_import(import_id)

    assert model.status == status


def test_describe_fields(configured: Emulator, clock: ManualClock) -> None:
    import_id = configured.start_import("s3://bucket/dir")
    clock.advance(16)

    model = describe_import(import_id)

    assert model.id == import_id
    assert model.uri == "s3://bucket/dir"
    assert model.status == "InProgress"
    assert model.percent_complete == pytest.approx(50.0)
    assert model.records_imported is not None
    assert model.created_at is not None
    assert model.finished_at is None


def test_describe_failed_has_error(configured: Emulator) -> None:
    import_id = configured.add_import(status="Failed", error="Parquet file is corrupt")

    model = describe_import(import_id)

    assert model.error == "Parquet file is corrupt"
    assert model.finished_at is not None


def test_describe_unknown_id(configured: Emulator) -> None:
    with pytest.raises(NotFoundError):
        describe_import("424242")


def test_describe_text_notes_indexing(configured: Emulator) -> None:
    import_id = configured.add_import(status="InProgress", percent_complete=100.0)

    text = describe_import(import_id)._repr_mimebundle_()["text/plain"]

    assert "still being indexed" in text


# List


def test_list_covers_every_import_across_pages(configured: Emulator) -> None:
    ids = configured.add_imports(260)

    listed = [model.id for model in list_imports()]

    assert sorted(listed) == sorted(ids)
    assert len(listed) == len(set(listed))


def test_list_follows_pagination_token(configured: Emulator) -> None:
    configured.add_imports(260)

    list(list_imports())

    queries = [request.query for request in configured.requests]
    assert len(queries) == 3
    assert "paginationToken" not in queries[0]
    assert all("paginationToken" in query for query in queries[1:])
    assert all(query["limit"] == ["100"] for query in queries)


def test_list_small_page_size(configured: Emulator) -> None:
    configured.add_imports(20)

    listed = list(list_imports(limit=7))

    assert len(listed) == 20
    assert len(configured.requests) == 3


@pytest.mark.parametrize("limit", [0, 101, -1, "ten"])
def test_list_invalid_page_size_sends_nothing(configured: Emulator, limit: Any) -> None:
    with pytest.raises(InvalidInputError):
        list_imports(limit=limit)

    assert configured.requests == []


def test_list_is_lazy(configured: Emulator) -> None:
    configured.add_imports(5)

    iterator = list_imports()

    assert configured.requests == []
    assert len(list(iterator)) == 5


def test_list_magic_newest_first(shell: Any, configured: Emulator) -> None:
    ids = configured.add_imports(5)

    result, _ = _run(shell, "%pc_list_imports")

    assert [model.id for model in result.result] == list(reversed(ids))


def test_list_magic_status_filter(shell: Any, configured: Emulator) -> None:
    configured.add_imports(3, status="Completed")
    running = configured.add_imports(2, status="InProgress")

    result, _ = _run(shell, "%pc_list_imports --status InProgress")

    assert sorted(model.id for model in result.result) == sorted(running)
    assert result.result.total == 2


def test_list_magic_several_statuses(shell: Any, configured: Emulator) -> None:
    configured.add_imports(3, status="Completed")
    configured.add_imports(2, status="Pending")
    configured.add_imports(1, status="Failed")

    result, _ = _run(shell, "%pc_list_imports --status pending,failed")

    assert {model.status for model in result.result} == {"Pending", "Failed"}


def test_list_magic_unknown_status(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, "%pc_list_imports --status Running")

    assert "Status 'Running' is not an import status" in captured.stderr
    assert configured.requests == []


def test_list_magic_row_limit(shell: Any, configured: Emulator) -> None:
    ids = configured.add_imports(12)

    result, captured = _run(shell, "%pc_list_imports --limit 5")

    assert [model.id for model in result.result] == list(reversed(ids))[:5]
    assert "12 imports, newest 5 shown." in captured.stdout


def test_list_magic_html_escapes_uri(shell: Any, configured: Emulator) -> None:
    configured.add_import("s3://bucket/<script>alert(1)</script>")

    result, _ = _run(shell, "%pc_list_imports")
    html = result.result._repr_mimebundle_()["text/html"]

    assert "<script>" not in html
    assert "&lt;script&gt;" in html


# Batch cancel


def test_cancel_many_outcomes_in_input_order(configured: Emulator) -> None:
    running = configured.add_imports(100, status="InProgress")
    completed = configured.add_imports(50, status="Completed")
    failed = configured.add_imports(25, status="Failed")
    cancelled = configured.add_imports(25, status="Cancelled")
    unknown = [f"missing-{n}" for n in range(100)]
    ids = [*running, *completed, *failed, *cancelled, *unknown]

    batch = cancel_imports(ids, concurrency=16)

    expected = {
        **dict.fromkeys(running, "cancel requested"),
        **dict.fromkeys(completed, "no effect"),
        **dict.fromkeys(failed, "no effect"),
        **dict.fromkeys(cancelled, "cancelled"),
        **dict.fromkeys(unknown, "not found"),
    }
    assert [outcome.import_id for outcome in batch] == ids
    assert {outcome.import_id: outcome.outcome for outcome in batch} == expected


def test_cancel_many_one_delete_per_id(configured: Emulator) -> None:
    ids = configured.add_imports(300, status="InProgress")

    cancel_imports(ids, check_status=False)

    deletes = [r.path for r in configured.requests if r.method == "DELETE"]
    assert sorted(deletes) == sorted(f"/bulk/imports/{i}" for i in ids)


def test_cancel_many_zero_latency_reports_cancelled(clock: ManualClock, api_key_env: str) -> None:
    with Emulator(api_key=api_key_env, clock=clock, cancel_latency=0) as emu:
        ids = emu.add_imports(3, status="InProgress")

        batch = cancel_imports(ids, host=emu.url)

    assert {outcome.outcome for outcome in batch} == {"cancelled"}


def test_cancel_many_repeated_id_sent_once(configured: Emulator) -> None:
    import_id = configured.add_import(status="InProgress")

    batch = cancel_imports([import_id, import_id], check_status=False)

    assert len(batch) == 2
    assert len([r for r in configured.requests if r.method == "DELETE"]) == 1


def test_cancel_many_requests_overlap_within_bound(configured: Emulator) -> None:
    ids = configured.add_imports(24, status="InProgress")
    configured.inject_fault(delay=0.1, times=None, method="DELETE")

    cancel_imports(ids, concurrency=4, check_status=False)

    assert configured.connections_accepted == 4


def test_cancel_many_concurrency_one_is_sequential(configured: Emulator) -> None:
    ids = configured.add_imports(6, status="InProgress")
    configured.inject_fault(delay=0.05, times=None, method="DELETE")

    cancel_imports(ids, concurrency=1, check_status=False)

    assert configured.connections_accepted == 1


def test_cancel_many_failure_does_not_stop_others(configured: Emulator) -> None:
    ids = configured.add_imports(5, status="InProgress")
    configured.inject_fault(400, body=b'{"code": 3, "message": "bad", "details": []}',
                            times=1, method="DELETE")

    batch = cancel_imports(ids, concurrency=1, check_status=False)

    assert [outcome.outcome for outcome in batch].count("error") == 1
    assert [outcome.outcome for outcome in batch].count("cancel requested") == 4


def test_cancel_many_validates_every_id_first(configured: Emulator) -> None:
    with pytest.raises(InvalidInputError):
        cancel_imports(["101", "", "102"])

    assert configured.requests == []


def test_cancel_many_empty_list(configured: Emulator) -> None:
    with pytest.raises(InvalidInputError):
        cancel_imports([])


def test_cancel_magic_many_fails_after_all_ran(shell: Any, configured: Emulator) -> None:
    ids = configured.add_imports(3, status="InProgress")

    result, captured = _run(shell, f"%pc_cancel_import {ids[0]} 999 {ids[1]} {ids[2]}")

    assert isinstance(result.error_in_exec, BatchError)
    assert len([r for r in configured.requests if r.method == "DELETE"]) == 4
    assert "1 of 4 imports could not be cancelled (999)" in captured.stdout


def test_cancel_magic_many_table(shell: Any, configured: Emulator) -> None:
    ids = configured.add_imports(2, status="InProgress")

    result, captured = _run(shell, f"%pc_cancel_import {ids[0]} {ids[1]}")

    assert result.success
    assert "2 imports in" in captured.stdout
    assert captured.stdout.count("cancel requested") == 3


# Waiting


def test_wait_reaches_cancelled(
    configured: Emulator, clock: ManualClock, fast_polling: None
) -> None:
    ids = configured.add_imports(3, status="InProgress")

    batch = cancel_imports(ids, wait=10, on_progress=lambda models, elapsed: clock.advance(0.5))

    assert [model.status for model in batch.final] == ["Cancelled"] * 3
    assert batch.still_running == ()


def test_wait_bounded_by_time(configured: Emulator, fast_polling: None) -> None:
    import_id = configured.add_import(status="InProgress")

    batch = cancel_imports([import_id], wait=0.3)

    assert batch.still_running == (import_id,)
    assert batch.elapsed < 5


def test_wait_magic_reports_final_status(
    shell: Any, configured: Emulator, clock: ManualClock, fast_polling: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = configured.add_imports(2, status="InProgress")
    original = client_module._describe

    def describe_and_tick(*args: Any) -> Any:
        clock.advance(0.3)
        return original(*args)

    monkeypatch.setattr(client_module, "_describe", describe_and_tick)

    result, captured = _run(shell, f"%pc_cancel_import {ids[0]} {ids[1]} --wait 10")

    assert result.success
    assert "Every import finished within the wait" in captured.stdout


def test_wait_magic_invalid_seconds(shell: Any, configured: Emulator) -> None:
    _, captured = _run(shell, "%pc_cancel_import 101 --wait forever")

    assert "is not a number" in captured.stderr
    assert configured.requests == []


# Index names


@pytest.fixture
def controller(configured: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator, also serving as the control plane, with no index host set."""
    monkeypatch.delenv("PINECONE_INDEX_HOST")
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", configured.url)
    return configured


def test_index_name_resolves_host(controller: Emulator) -> None:
    controller.add_imports(2)

    listed = list(list_imports(index="quickstart"))

    assert len(listed) == 2
    assert controller.requests[0].raw_path == "/indexes/quickstart"


def test_index_lookup_sends_key_and_version(controller: Emulator) -> None:
    list(list_imports(index="quickstart"))

    lookup = controller.requests[0]
    assert lookup.header_values("X-Pinecone-Api-Version") == ["2025-10"]
    assert lookup.header_values("Api-Key") == [controller.api_key]


def test_index_host_cached_across_magics(shell: Any, controller: Emulator) -> None:
    controller.add_imports(1, status="InProgress")

    _run(shell, "%pc_list_imports --index quickstart")
    _run(shell, "%pc_describe_import 101 --index quickstart")

    lookups = [r for r in controller.requests if r.raw_path.startswith("/indexes/")]
    assert len(lookups) == 1


def test_index_unknown_name(shell: Any, controller: Emulator) -> None:
    result, captured = _run(shell, "%pc_list_imports --index no-such-index")

    assert isinstance(result.error_in_exec, NotFoundError)
    assert "HTTP 404" in captured.stdout
    assert "NOT_FOUND" in captured.stdout


def test_index_invalid_name_sends_nothing(shell: Any, controller: Emulator) -> None:
    _, captured = _run(shell, "%pc_list_imports --index Bad_Name")

    assert "Index name 'Bad_Name' is invalid" in captured.stderr
    assert controller.requests == []


# %config


def test_config_host(shell: Any, emulator: Emulator, api_key_env: str) -> None:
    emulator.add_imports(1)

    _run(shell, f"%config PineconeMagics.host = '{emulator.url}'")
    result, _ = _run(shell, "%pc_list_imports")

    assert len(result.result) == 1


def test_config_index(shell: Any, controller: Emulator) -> None:
    _run(shell, "%config PineconeMagics.index = 'quickstart'")
    result, _ = _run(shell, "%pc_list_imports")

    assert result.success
    assert controller.requests[0].raw_path == "/indexes/quickstart"


def test_config_controller_host(
    shell: Any, configured: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINECONE_INDEX_HOST")

    _run(shell, f"%config PineconeMagics.controller_host = '{configured.url}'")
    result, _ = _run(shell, "%pc_list_imports --index quickstart")

    assert result.success


def test_config_api_version(shell: Any, configured: Emulator) -> None:
    _run(shell, "%config PineconeMagics.api_version = '2025-04'")
    _run(shell, "%pc_list_imports")

    assert configured.requests[0].header_values("X-Pinecone-Api-Version") == ["2025-04"]


def test_config_option_beats_trait(shell: Any, configured: Emulator) -> None:
    _run(shell, "%config PineconeMagics.api_version = '2025-04'")
    _run(shell, "%pc_list_imports --api-version 2025-10")

    assert configured.requests[0].header_values("X-Pinecone-Api-Version") == ["2025-10"]


def test_config_timeout(shell: Any, configured: Emulator) -> None:
    configured.inject_fault(action="hang")

    _run(shell, "%config PineconeMagics.timeout = 0.5")
    _, captured = _run(shell, "%pc_cancel_import 101")

    assert "RequestTimeoutError" in captured.stdout


def test_config_concurrency(shell: Any, configured: Emulator) -> None:
    ids = configured.add_imports(6, status="InProgress")
    configured.inject_fault(delay=0.05, times=None, method="DELETE")

    _run(shell, "%config PineconeMagics.concurrency = 2")
    _run(shell, "%pc_cancel_import " + " ".join(ids))

    assert configured.connections_accepted == 2


def test_config_max_retries(
    shell: Any, configured: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "BACKOFF_BASE", 0.01)
    configured.inject_fault(503, times=None)

    _run(shell, "%config PineconeMagics.max_retries = 2")
    _run(shell, "%pc_cancel_import 101")

    assert len(configured.requests) == 2


def test_config_short_errors(shell: Any, configured: Emulator) -> None:
    _run(shell, "%config PineconeMagics.short_errors = False")
    _, captured = _run(shell, "%pc_describe_import 999")

    assert "Traceback" in captured.stdout


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [
        ("timeout = -1", "out of range"),
        ("concurrency = 0", "from 1 to 64"),
        ("max_retries = 99", "from 1 to 10"),
        ("host = 'http://example.com'", "clear text"),
        ("index = 'Bad Name'", "is invalid"),
        ("api_version = 'latest'", "date-based version"),
    ],
)
def test_config_rejects_invalid_value(
    shell: Any, assignment: str, fragment: str, caplog: pytest.LogCaptureFixture
) -> None:
    _run(shell, f"%config PineconeMagics.{assignment}")

    # %config reports a TraitError through the log and leaves the trait unchanged.
    assert fragment in caplog.text
    assert shell.run_line_magic("reload_ext", "pinecone_magic") is None


def test_config_lists_every_trait(shell: Any) -> None:
    _, captured = _run(shell, "%config PineconeMagics")

    for trait in ("host", "index", "api_version", "timeout", "concurrency", "max_retries",
                  "short_errors", "controller_host"):
        assert f"PineconeMagics.{trait}=" in captured.stdout


def test_config_survives_reload(shell: Any, configured: Emulator) -> None:
    _run(shell, "%config PineconeMagics.api_version = '2025-04'")

    shell.run_line_magic("reload_ext", "pinecone_magic")
    _run(shell, "%pc_list_imports")

    assert configured.requests[0].header_values("X-Pinecone-Api-Version") == ["2025-04"]


def test_config_index_clears_host(shell: Any, controller: Emulator) -> None:
    _run(shell, "%config PineconeMagics.host = 'https://other.example.com'")
    _run(shell, "%config PineconeMagics.index = 'quickstart'")
    result, _ = _run(shell, "%pc_list_imports")

    assert result.success
