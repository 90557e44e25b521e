"""The cancel-import form, driven from Python against the local emulator.

Clicks go through `Button.click()`, which runs the same handlers as a click in the browser.
Background requests are awaited with `CancelImportForm.wait`, a bounded join.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, environment_without_pinecone

from pinecone_magic import defaults
from pinecone_magic.emulator import Emulator, ManualClock
from pinecone_magic.errors import InvalidInputError, NotFoundError, RequestTimeoutError
from pinecone_magic.form import (
    CANCEL_DESCRIPTION,
    WORKING_DESCRIPTION,
    CancelImportForm,
    cancel_import_form,
    descendants,
    parse_index_target,
)
from pinecone_magic.models import CancelResult

#: Upper bound in seconds for any background request of a test to finish.
WAIT_LIMIT = 15.0


def output_text(form: CancelImportForm) -> str:
    """Return the text/plain of every output in the form's output area."""
    return "\n".join(item["data"]["text/plain"] for item in form.output.outputs)


def deletes(emulator: Emulator) -> list[Any]:
    return [request for request in emulator.requests if request.method == "DELETE"]


def choose(form: CancelImportForm, import_id: str) -> None:
    """Pick the combobox option of an import, as a user does in the dropdown."""
    labels = [label for label in form.import_field.options if label.startswith(f"{import_id} (")]
    assert labels, f"import {import_id} is not among {form.import_field.options}"
    form.import_field.value = labels[0]


def widget_states(form: CancelImportForm) -> str:
    """Return the synced state of the form and every widget in it, as one JSON text."""
    widgets = [form, *descendants(form), form.api_key_field]
    return json.dumps([widget.get_state() for widget in widgets], default=str)


@pytest.fixture
def running_import(configured: Emulator, clock: ManualClock) -> str:
    """An import at 42 percent, created a minute ago, that stays InProgress on the clock."""
    return configured.add_import(
        status="InProgress", percent_complete=42, created_at=clock.now() - 60
    )


@pytest.fixture
def form(configured: Emulator, running_import: str) -> Any:
    """A form on the configured emulator, with its import list loaded."""
    new_form = cancel_import_form()
    assert new_form.wait(WAIT_LIMIT)
    yield new_form
    new_form.wait(WAIT_LIMIT)
    new_form.close()


# Creation and configuration


def test_form_lists_imports_newest_first(configured: Emulator, clock: ManualClock) -> None:
    older = configured.add_import(status="Completed", created_at=clock.now() - 120)
    newer = configured.add_import(status="InProgress", percent_complete=99.6)

    form = cancel_import_form()

    assert form.wait(WAIT_LIMIT)
    assert form.import_field.options == (f"{newer} (InProgress, 99%)", f"{older} (Completed, 100%)")
    assert form.status == "2 imports listed, newest first."


def test_form_prefills_host_from_environment(form: CancelImportForm, configured: Emulator) -> None:
    assert form.host_field.value == configured.url


def test_form_prefills_host_from_config(configured: Emulator) -> None:
    configured_host = f"http://localhost:{configured.port}"
    defaults.configure({"host": configured_host})

    form = cancel_import_form()

    assert form.host_field.value == configured_host
    assert form.wait(WAIT_LIMIT)


def test_form_host_argument_wins(configured: Emulator) -> None:
    form = cancel_import_form(host=f"http://127.0.0.1:{configured.port}/")

    assert form.host_field.value == f"http://127.0.0.1:{configured.port}/"
    assert form.wait(WAIT_LIMIT)


def test_form_host_and_index_rejected(configured: Emulator) -> None:
    with pytest.raises(InvalidInputError, match="pass only one"):
        cancel_import_form(host=configured.url, index="quickstart")


def test_form_invalid_timeout_rejected(configured: Emulator) -> None:
    with pytest.raises(InvalidInputError, match="Timeout 'soon' is not a number"):
        cancel_import_form(timeout="soon")


def test_form_hides_key_field_when_key_set(form: CancelImportForm) -> None:
    assert form.api_key_field not in descendants(form)


def test_form_shows_key_field_without_key(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)

    form = cancel_import_form()

    assert form.api_key_field in descendants(form)
    assert form.status == "Type the API key, then click Refresh to load the imports."
    assert emulator.requests == []


def test_form_creation_does_not_wait_for_list(configured: Emulator) -> None:
    configured.inject_fault(delay=1.0, method="GET")

    form = cancel_import_form()

    assert form.loading
    assert form.status == "Loading imports..."
    assert form.wait(WAIT_LIMIT)
    assert not form.loading


def test_form_list_error_in_status_line(
    configured: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", "pcsk_wrong_key")

    form = cancel_import_form()
    assert form.wait(WAIT_LIMIT)

    assert form.status.startswith("Loading the imports failed:")
    assert "401" in form.status
    assert "pcsk_wrong_key" not in form.status


def test_form_lists_newest_when_many(
    configured: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pinecone_magic.form.MAX_LISTED_IMPORTS", 2)
    ids = configured.add_imports(3, status="Completed")

    form = cancel_import_form()
    assert form.wait(WAIT_LIMIT)

    assert [label.split()[0] for label in form.import_field.options] == [ids[2], ids[1]]
    assert form.status == "3 imports; the newest 2 are listed."


def test_form_close_closes_every_widget(form: CancelImportForm) -> None:
    widgets = [*descendants(form), form.api_key_field]

    form.close()

    assert [widget for widget in widgets if widget.comm is not None] == []
    assert form.comm is None


def test_refresh_lists_new_import(form: CancelImportForm, configured: Emulator) -> None:
    new_id = configured.add_import(status="Pending")

    form.refresh_button.click()
    assert form.wait(WAIT_LIMIT)

    assert form.import_field.options[0] == f"{new_id} (Pending, 0%)"


# Cancel


def test_cancel_requests_cancel(
    form: CancelImportForm, configured: Emulator, running_import: str, clock: ManualClock
) -> None:
    choose(form, running_import)

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert configured.store.get(running_import).cancel_at is not None
    assert f"Cancel requested for import '{running_import}'" in output_text(form)
    assert isinstance(form.last_result, CancelResult)
    assert form.status == (
        f"Cancel requested: import '{running_import}' is still InProgress at 42% "
        "and turns Cancelled shortly."
    )

    clock.advance(configured.timings.cancel_latency)
    assert configured.describe_import(running_import)["status"] == "Cancelled"


def test_cancel_output_matches_magic_rendering(
    form: CancelImportForm, running_import: str, shell: Any
) -> None:
    choose(form, running_import)

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    [output] = form.output.outputs
    expected, _ = shell.display_formatter.format(form.last_result)
    assert output["output_type"] == "display_data"
    assert output["data"] == expected
    assert set(output["data"]) == {"text/html", "text/plain"}


def test_form_in_script_leaves_ipython_startable(
    configured: Emulator, running_import: str, tmp_path: Path
) -> None:
    code = (
        "from pinecone_magic import cancel_import_form\n"
        "form = cancel_import_form()\n"
        f"form.import_field.value = {running_import!r}\n"
        "form.cancel()\n"
        "assert form.wait(30)\n"
        "[output] = form.output.outputs\n"
        "assert output['data'] == form.last_result._repr_mimebundle_(), output\n"
        "from IPython.testing.globalipapp import start_ipython\n"
        "print(type(start_ipython()).__name__)\n"
    )
    environment = environment_without_pinecone()
    environment.update(
        PINECONE_API_KEY=API_KEY, PINECONE_INDEX_HOST=configured.url, IPYTHONDIR=str(tmp_path)
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    # Some IPython 8 releases write a terminal-title escape code first, so compare the end.
    assert completed.stdout.strip().endswith("TerminalInteractiveShell")
    assert len(deletes(configured)) == 1


def test_cancel_refreshes_chosen_label(
    clock: ManualClock, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(api_key=API_KEY, clock=clock, cancel_latency=0) as emulator:
        monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
        import_id = emulator.add_import(status="InProgress", percent_complete=42)
        form = cancel_import_form()
        assert form.wait(WAIT_LIMIT)
        choose(form, import_id)

        form.cancel_button.click()
        assert form.wait(WAIT_LIMIT)

    assert form.status == f"Import '{import_id}' is Cancelled."
    assert form.import_field.value == f"{import_id} (Cancelled, 42%)"
    assert form.selected_import_id == import_id


def test_cancel_finished_import_reports_no_effect(
    configured: Emulator, form: CancelImportForm
) -> None:
    done = configured.add_import(status="Completed")
    form.import_field.value = done

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert form.status == (
        f"Import '{done}' had already finished as Completed, so the cancel did nothing."
    )


def test_cancel_typed_id(form: CancelImportForm, configured: Emulator, running_import: str) -> None:
    form.import_field.value = f"  {running_import} "

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert [request.path for request in deletes(configured)] == [f"/bulk/imports/{running_import}"]


def test_cancel_unknown_id_shows_not_found(form: CancelImportForm) -> None:
    form.import_field.value = "999"

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert isinstance(form.last_result, NotFoundError)
    assert output_text(form).startswith("NotFoundError:")
    assert form.status == "The cancel of import '999' failed; the error is shown below."
    assert not form.busy


def test_cancel_timeout_shows_request_timeout(
    configured: Emulator, running_import: str
) -> None:
    configured.inject_fault(action="hang", method="DELETE")
    form = cancel_import_form(timeout=0.5)
    assert form.wait(WAIT_LIMIT)
    choose(form, running_import)

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert isinstance(form.last_result, RequestTimeoutError)
    assert output_text(form).startswith("RequestTimeoutError:")
    assert form.cancel_button.description == CANCEL_DESCRIPTION


def test_double_click_sends_one_delete(
    form: CancelImportForm, configured: Emulator, running_import: str
) -> None:
    configured.inject_fault(delay=1.0, method="DELETE")
    choose(form, running_import)

    form.cancel_button.click()
    form.cancel_button.click()
    form.cancel()
    assert form.wait(WAIT_LIMIT)

    assert len(deletes(configured)) == 1
    assert len(form.output.outputs) == 1


def test_click_after_answer_sends_again(
    form: CancelImportForm, configured: Emulator, running_import: str
) -> None:
    choose(form, running_import)

    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)
    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert len(deletes(configured)) == 2


def test_click_returns_while_server_is_slow(
    form: CancelImportForm, configured: Emulator, running_import: str
) -> None:
    configured.inject_fault(delay=1.0, method="DELETE")
    choose(form, running_import)

    form.cancel_button.click()

    assert form.busy
    assert form.cancel_button.disabled
    assert form.cancel_button.description == WORKING_DESCRIPTION
    assert form.output.outputs == ()
    assert form.status == f"Cancelling import '{running_import}'..."

    assert form.wait(WAIT_LIMIT)
    assert not form.cancel_button.disabled
    assert f"Cancel requested for import '{running_import}'" in output_text(form)


def test_forms_are_independent(configured: Emulator, running_import: str) -> None:
    first = cancel_import_form()
    second = cancel_import_form()
    assert first.wait(WAIT_LIMIT)
    assert second.wait(WAIT_LIMIT)
    choose(first, running_import)

    first.cancel_button.click()
    assert first.wait(WAIT_LIMIT)

    assert len(deletes(configured)) == 1
    assert second.output.outputs == ()
    assert second.last_result is None


def test_cancel_through_index_name(
    emulator: Emulator, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", emulator.url)
    import_id = emulator.add_import(status="InProgress")

    form = cancel_import_form(index="quickstart")
    assert form.wait(WAIT_LIMIT)
    choose(form, import_id)
    form.cancel_button.click()
    assert form.wait(WAIT_LIMIT)

    assert form.host_field.value == "quickstart"
    assert [request.path for request in deletes(emulator)] == [f"/bulk/imports/{import_id}"]


# Invalid input


@pytest.mark.parametrize(
    ("host", "import_id", "message"),
    [
        (None, "", "Import id is empty"),
        (None, "a\x00b", "contains the control character U+0000"),
        ("ftp://example.com", "101", "uses the scheme 'ftp'"),
        ("http://example.com", "101", "uses http://, which would send the API key"),
        ("", "101", "The index host is empty"),
    ],
)
def test_invalid_input_sends_nothing(
    form: CancelImportForm, configured: Emulator, host: str | None, import_id: str, message: str
) -> None:
    configured.reset_requests()
    if host is not None:
        form.host_field.value = host
    form.import_field.value = import_id

    form.cancel_button.click()

    assert message in form.status
    assert form.status.endswith(".")
    assert not form.busy
    assert form.output.outputs == ()
    assert form.wait(WAIT_LIMIT)
    assert configured.requests == []


def test_missing_key_sends_nothing(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
    form = cancel_import_form()
    form.import_field.value = "101"

    form.cancel_button.click()

    assert form.status == (
        "No Pinecone API key is set; type the key into the API key field, or set the "
        "PINECONE_API_KEY environment variable."
    )
    assert form.wait(WAIT_LIMIT)
    assert emulator.requests == []


# The API key


def test_typed_key_used_once_and_cleared(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
    import_id = emulator.add_import(status="InProgress")
    form = cancel_import_form()
    form.import_field.value = import_id

    form.api_key_field.value = API_KEY
    form.cancel_button.click()

    assert form.api_key_field.value == ""
    assert form.wait(WAIT_LIMIT)
    assert [request.headers["api-key"] for request in deletes(emulator)] == [API_KEY]
    assert emulator.store.get(import_id).cancel_at is not None
    assert "PINECONE_API_KEY" not in os.environ

    assert API_KEY not in widget_states(form)
    assert API_KEY not in json.dumps(form.output.outputs)
    assert API_KEY not in form.status
    assert API_KEY not in repr(form)
    assert API_KEY not in form.text_fallback()
    assert API_KEY not in caplog.text

    form.cancel_button.click()
    assert form.status.startswith("No Pinecone API key is set")
    assert form.wait(WAIT_LIMIT)
    assert len(deletes(emulator)) == 1


def test_typed_key_loads_imports_on_refresh(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
    import_id = emulator.add_import(status="Pending")
    form = cancel_import_form()

    form.api_key_field.value = API_KEY
    form.refresh_button.click()

    assert form.api_key_field.value == ""
    assert form.wait(WAIT_LIMIT)
    assert form.import_field.options == (f"{import_id} (Pending, 0%)",)


def test_invalid_typed_key_rejected_without_echo(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
    form = cancel_import_form()
    form.import_field.value = "101"

    form.api_key_field.value = "pcsk_bad key_ECHO"
    form.cancel_button.click()

    assert form.api_key_field.value == ""
    assert "whitespace or a control character at position 9" in form.status
    assert "ECHO" not in form.status
    assert emulator.requests == []


# Text fallback and the magic


def test_fallback_names_magic(form: CancelImportForm, running_import: str) -> None:
    bundle = form._repr_mimebundle_()

    assert "%pc_cancel_import IMPORT_ID" in bundle["text/plain"]
    assert f"  {running_import} (InProgress, 42%)" in bundle["text/plain"]
    assert "VBox(" not in bundle["text/plain"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == form.model_id


def test_fallback_from_display_formatter(form: CancelImportForm, shell: Any) -> None:
    data, _ = shell.display_formatter.format(form)

    assert data["text/plain"] == form.text_fallback()


def test_magic_without_id_returns_form(configured: Emulator, shell: Any) -> None:
    form = shell.run_line_magic("pc_cancel_import", "")

    assert isinstance(form, CancelImportForm)
    assert form.wait(WAIT_LIMIT)
    assert form.host_field.value == configured.url


def test_magic_passes_options_to_form(configured: Emulator, shell: Any) -> None:
    form = shell.run_line_magic("pc_cancel_import", "--timeout 5 --api-version 2025-04")

    assert form.timeout == 5.0
    assert form.api_version == "2025-04"
    assert form.wait(WAIT_LIMIT)


def test_terminal_ipython_prints_fallback(configured: Emulator, tmp_path: Path) -> None:
    environment = environment_without_pinecone()
    environment.update(
        PINECONE_API_KEY=API_KEY,
        PINECONE_INDEX_HOST=configured.url,
        IPYTHONDIR=str(tmp_path),
    )
    script = "%load_ext pinecone_magic\n%pc_cancel_import\n"

    completed = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor",
         "--HistoryManager.enabled=False"],
        input=script, capture_output=True, text=True, env=environment, timeout=60,
        cwd=tmp_path,
    )

    assert "Cancel an import with %pc_cancel_import IMPORT_ID" in completed.stdout
    assert "VBox(" not in completed.stdout
    assert "CancelImportForm(" not in completed.stdout
    assert API_KEY not in completed.stdout + completed.stderr


# A saved notebook


def test_saved_notebook_has_fallback_and_no_key(emulator: Emulator, tmp_path: Path) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    HTMLExporter = pytest.importorskip("nbconvert").HTMLExporter
    import_id = emulator.add_import(status="InProgress")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext pinecone_magic"),
        nbformat.v4.new_code_cell("form = %pc_cancel_import\nform"),
        nbformat.v4.new_code_cell(
            "import os\n"
            f"form.import_field.value = {import_id!r}\n"
            "form.api_key_field.value = os.environ.pop('TYPED_KEY')\n"
            "form.cancel()\n"
            "assert form.api_key_field.value == ''\n"
            "assert form.wait(30)\n"
            "print(form.status)"
        ),
    ]
    environment = environment_without_pinecone()
    environment.update(
        PINECONE_INDEX_HOST=emulator.url, TYPED_KEY=API_KEY, IPYTHONDIR=str(tmp_path)
    )

    client = nbclient.NotebookClient(
        notebook, timeout=60, kernel_name="python3", store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=environment)
    saved = nbformat.writes(notebook)

    form_output = notebook.cells[1].outputs[0]
    assert "%pc_cancel_import IMPORT_ID" in form_output["data"]["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in form_output["data"]
    assert "Cancel requested" in notebook.cells[2].outputs[0]["text"]
    assert f"Cancel requested for import '{import_id}'" in json.dumps(
        notebook.metadata["widgets"]
    )
    assert API_KEY not in saved
    assert emulator.store.get(import_id).cancel_at is not None

    # Without widget state, nbconvert drops the widget view and shows the text fallback.
    del notebook.metadata["widgets"]
    page, _ = HTMLExporter().from_notebook_node(notebook)
    assert "Cancel an import with %pc_cancel_import IMPORT_ID" in page


# Helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my-index-abc.svc.pinecone.io", ("https://my-index-abc.svc.pinecone.io", None)),
        ("http://127.0.0.1:5081/", ("http://127.0.0.1:5081", None)),
        ("localhost:5081", ("https://localhost:5081", None)),
        ("quickstart", (None, "quickstart")),
        ("  my-index  ", (None, "my-index")),
    ],
)
def test_parse_index_target(text: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_index_target(text) == expected


def test_parse_index_target_keeps_host_error() -> None:
    with pytest.raises(InvalidInputError, match="looks like an index name"):
        parse_index_target("MyIndex")
