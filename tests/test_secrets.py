"""The API key never appears in output, reprs, error text, logs, notebooks or widget state.

Every path runs with the known key `API_KEY` and with every logger at DEBUG level, the
httpx and httpcore loggers included. The paths are the functions, the magics in a real
IPython shell (short errors on and off), the form, and a notebook executed by nbclient and
saved with its outputs. Hostile responses echo the key in bodies, headers and redirects.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import socket
import ssl
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import API_KEY
from IPython.utils.capture import capture_output
from test_network import TlsForwarder

from pinecone_magic import (
    ApiError,
    PineconeMagicError,
    cancel_import,
    cancel_imports,
    describe_import,
    display,
    list_imports,
    transport,
)
from pinecone_magic.config import ApiKey, resolve_settings
from pinecone_magic.emulator import Emulator
from pinecone_magic.models import ImportList

ECHO_PAGE = (
    "<html><body><h1>500 Internal Server Error</h1>"
    f"<p>Request headers: Api-Key: {API_KEY}</p><script>var key = '{API_KEY}';</script>"
    "</body></html>"
).encode()
ECHO_RPC_STATUS = json.dumps({
    "code": 16,
    "message": f"Invalid API Key {API_KEY}",
    "details": [{"@type": "debug", "apiKey": API_KEY, "nested": [API_KEY]}],
}).encode()
ECHO_HEADERS = {"X-Echo-Api-Key": API_KEY, "x-pinecone-request-id": f"req-{API_KEY}"}
HTML_ECHO_HEADERS = {**ECHO_HEADERS, "Content-Type": "text/html"}


@pytest.fixture(autouse=True)
def debug_logging(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Log everything at DEBUG, and keep retries fast."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.001)


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test when any log record, from any logger, contains the key."""
    yield
    for record in caplog.records:
        assert API_KEY not in record.getMessage(), f"log record of {record.name}"
    assert API_KEY not in caplog.text


def assert_no_key(texts: list[str], where: str) -> None:
    for number, text in enumerate(texts):
        assert API_KEY not in text, f"{where}, text {number}: {text[:300]!r}"


def renderings(obj: object) -> list[str]:
    """Return every way a result or an error shows itself: str, repr, fields and displays."""
    texts = [str(obj), repr(obj), display.plain_text(obj), display.html_text(obj)]
    texts.append(json.dumps(display.as_json(obj), default=str))
    texts.append(json.dumps(display.mimebundle(obj, include=["application/json"]), default=str))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        texts.append(repr({item.name: getattr(obj, item.name) for item in dataclasses.fields(obj)}))
    if isinstance(obj, BaseException):
        texts.append(repr(obj.args))
        texts.append(repr(vars(obj)))
        texts.append("".join(traceback.format_exception(obj)))
        if isinstance(obj, PineconeMagicError):
            texts.append("".join(obj._render_traceback_()))
            obj.short_traceback = False
            texts.append("".join(obj._render_traceback_()))
            obj.short_traceback = True
        texts.extend(_chain_texts(obj))
    return texts


def _chain_texts(error: BaseException) -> list[str]:
    """Return the reprs of chained exceptions and of any httpx request they still hold."""
    texts = []
    link = error.__cause__ or error.__context__
    while link is not None:
        texts.append(repr(link))
        request = getattr(link, "_request", None)
        if request is not None:
            texts.append(repr(dict(request.headers)))
        link = link.__cause__ or link.__context__
    return texts


def _closed_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def forwarder(ca: trustme.CA, emulator: Emulator) -> Iterator[TlsForwarder]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server = TlsForwarder(context, emulator.port)
    yield server
    transport.close_clients()
    server.close()


# The functions


Scenario = Callable[[Emulator, TlsForwarder], object]


def _cancel(**options: Any) -> Callable[[Emulator, TlsForwarder], object]:
    def run(emulator: Emulator, forwarder: TlsForwarder) -> object:
        return cancel_import(emulator.add_import(), **options)

    return run


def _failing(call: Scenario) -> Scenario:
    """Run a scenario that must raise, and return the error it raised."""

    def run(emulator: Emulator, forwarder: TlsForwarder) -> object:
        with pytest.raises(PineconeMagicError) as caught:
            call(emulator, forwarder)
        return caught.value

    return run


def _with_fault(call: Scenario, status: int, body: bytes, **fault: Any) -> Scenario:
    def run(emulator: Emulator, forwarder: TlsForwarder) -> object:
        emulator.inject_fault(status, body=body, times=4, **fault)
        return call(emulator, forwarder)

    return run


def _describe_echo(emulator: Emulator, forwarder: TlsForwarder) -> object:
    import_id = emulator.add_import()
    body = json.dumps({
        "id": import_id,
        "status": "Failed",
        "error": f"bad key {API_KEY}",
        "uri": f"s3://bucket/{API_KEY}",
    }).encode()
    emulator.inject_fault(200, body=body, headers={"Content-Type": "application/json"})
    return describe_import(import_id)


def _wrong_key_401() -> object:
    """Send the known key to an emulator that expects the key of another project."""
    with Emulator(api_key="pcsk_another_project_key_0000") as other:
        return cancel_import("101", host=other.url)


def _list(emulator: Emulator, forwarder: TlsForwarder) -> object:
    emulator.add_imports(3)
    models = tuple(list_imports())
    return ImportList(imports=models, total=len(models))


def _batch(emulator: Emulator, forwarder: TlsForwarder) -> object:
    emulator.inject_fault(
        500, body=ECHO_PAGE, headers=ECHO_HEADERS, times=4, path_prefix="/bulk/imports/echo"
    )
    return cancel_imports([emulator.add_import(), "999", "echo"])


FUNCTION_SCENARIOS: dict[str, Scenario] = {
    "cancel-result": _cancel(),
    "describe-result-echoing-key": _describe_echo,
    "list-result": _list,
    "batch-with-failures": _batch,
    "success-body-echoing-key": _with_fault(
        _cancel(), 200, json.dumps({"echo": API_KEY}).encode(), headers=ECHO_HEADERS
    ),
    "401-wrong-key": _failing(lambda emulator, forwarder: _wrong_key_401()),
    "401-echoing-key": _failing(
        _with_fault(_cancel(), 401, ECHO_RPC_STATUS, headers=ECHO_HEADERS)
    ),
    "404": _failing(lambda emulator, forwarder: cancel_import("999")),
    "500-html-echoing-key": _failing(
        _with_fault(_cancel(), 500, ECHO_PAGE, headers=HTML_ECHO_HEADERS)
    ),
    "redirect-echoing-key": _failing(
        _with_fault(_cancel(), 302, b"", headers={"Location": f"https://x.invalid/?k={API_KEY}"})
    ),
    "timeout": _failing(
        lambda emulator, forwarder: (
            emulator.inject_fault(action="hang"),
            cancel_import(emulator.add_import(), timeout=0.5),
        )
    ),
    "refused": _failing(
        lambda emulator, forwarder: cancel_import("101", host=f"http://127.0.0.1:{_closed_port()}")
    ),
    "dns": _failing(lambda emulator, forwarder: cancel_import("101", host="nonexistent.invalid")),
    "tls": _failing(
        lambda emulator, forwarder: cancel_import("101", host=f"https://localhost:{forwarder.port}")
    ),
    "non-ascii-key": _failing(
        lambda emulator, forwarder: cancel_import("101", api_key=API_KEY + "é")
    ),
    "key-with-inner-newline": _failing(
        lambda emulator, forwarder: cancel_import("101", api_key=API_KEY[:9] + "\n" + API_KEY[9:])
    ),
    "key-as-host": _failing(lambda emulator, forwarder: cancel_import("101", host=API_KEY)),
    "key-as-index": _failing(lambda emulator, forwarder: cancel_import("101", index=API_KEY)),
}


@pytest.mark.parametrize("scenario", FUNCTION_SCENARIOS.values(), ids=FUNCTION_SCENARIOS.keys())
def test_functions_never_show_key(
    scenario: Scenario,
    configured: Emulator,
    forwarder: TlsForwarder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome = scenario(configured, forwarder)

    assert_no_key(renderings(outcome), "renderings")
    if isinstance(outcome, ImportList):
        for model in outcome:
            assert_no_key(renderings(model), "renderings of a listed import")


def test_key_with_inner_newline_hides_both_halves(api_key_env: str) -> None:
    with pytest.raises(PineconeMagicError) as caught:
        cancel_import("101", api_key=API_KEY[:9] + "\n" + API_KEY[9:])

    assert API_KEY[:9] not in str(caught.value)
    assert API_KEY[9:] not in str(caught.value)


def test_echoed_key_is_really_sent_back(configured: Emulator) -> None:
    """Check that the echo scenarios are not vacuous: the emulator does send the key back."""
    import httpx

    configured.inject_fault(500, body=ECHO_PAGE, headers=ECHO_HEADERS)

    response = httpx.get(f"{configured.url}/bulk/imports/101")

    assert API_KEY in response.text
    assert API_KEY in response.headers["X-Echo-Api-Key"]


def test_debug_logs_include_http_traffic(
    configured: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that httpcore's DEBUG records, which hold response headers, were searched."""
    configured.inject_fault(500, body=ECHO_PAGE, headers=ECHO_HEADERS, times=4)

    with pytest.raises(ApiError):
        cancel_import(configured.add_import())

    header_lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "httpcore.http11" and "X-Echo-Api-Key" in record.getMessage()
    ]
    assert header_lines, "httpcore logged no response headers"
    assert "***" in header_lines[0]


def test_settings_and_key_reprs(configured: Emulator) -> None:
    settings = resolve_settings()
    key = ApiKey(API_KEY)
    client = transport.get_client(configured.url, settings.api_key)

    texts = [
        repr(settings), str(settings), repr(key), str(key), f"{key}", f"{key!r}",
        repr(client), repr(vars(client)), repr(client.auth), repr(configured),
        repr(configured.requests),
    ]
    cancel_import(configured.add_import())
    texts.append(repr(configured.requests))

    assert_no_key(texts, "reprs")


def test_settings_cannot_be_pickled(api_key_env: str) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(resolve_settings(host="http://127.0.0.1:1"))


# The magics


MAGIC_LINES: dict[str, Any] = {
    "cancel": "%pc_cancel_import {id}",
    "cancel-assigned": "r = %pc_cancel_import {id}",
    "describe": "%pc_describe_import {id}",
    "list": "%pc_list_imports",
    "batch-with-failures": "%pc_cancel_import {id} 999 echo",
    "404": "%pc_cancel_import 999",
    "500-html-echoing-key": "%pc_cancel_import echo",
    "401-echoing-key": "%pc_cancel_import deny",
    "redirect-echoing-key": "%pc_cancel_import moved",
    "timeout": "%pc_cancel_import hang --timeout 0.5",
    "refused": "%pc_cancel_import {id} --host http://127.0.0.1:{closed}",
    "dns": "%pc_cancel_import {id} --host nonexistent.invalid",
    "tls": "%pc_cancel_import {id} --host https://localhost:{tls}",
    "key-as-host": f"%pc_cancel_import 101 --host {API_KEY}",
    "key-as-option": f"%pc_cancel_import 101 --api-key {API_KEY}",
    "help": "%pc_cancel_import -h",
}


def _inject_echo_faults(emulator: Emulator) -> None:
    page_headers = {**ECHO_HEADERS, "Content-Type": "text/html"}
    emulator.inject_fault(
        500, body=ECHO_PAGE, headers=page_headers, times=None, path_prefix="/bulk/imports/echo"
    )
    emulator.inject_fault(
        401, body=ECHO_RPC_STATUS, headers=ECHO_HEADERS, times=None,
        path_prefix="/bulk/imports/deny",
    )
    emulator.inject_fault(
        302, body=b"", headers={"Location": f"https://x.invalid/?key={API_KEY}"}, times=None,
        path_prefix="/bulk/imports/moved",
    )
    emulator.inject_fault(action="hang", times=None, path_prefix="/bulk/imports/hang")


@pytest.mark.parametrize("short_errors", [True, False], ids=["short-errors", "tracebacks"])
@pytest.mark.parametrize("line", MAGIC_LINES.values(), ids=MAGIC_LINES.keys())
def test_magics_never_show_key(
    line: str,
    short_errors: bool,
    shell: Any,
    configured: Emulator,
    forwarder: TlsForwarder,
) -> None:
    _inject_echo_faults(configured)
    shell.run_line_magic("config", f"PineconeMagics.short_errors = {short_errors}")
    cell = line.format(id=configured.add_import(), closed=_closed_port(), tls=forwarder.port)

    try:
        with capture_output() as captured:
            result = shell.run_cell(cell)
        texts = [captured.stdout, captured.stderr]
        texts.extend(json.dumps(output.data, default=str) for output in captured.outputs)
        if result.result is not None:
            texts.extend(renderings(result.result))
        if result.error_in_exec is not None:
            texts.extend(_shown_traceback(shell, result.error_in_exec))
        if shell.user_ns.get("r") is not None:
            texts.extend(renderings(shell.user_ns["r"]))
    finally:
        shell.run_line_magic("config", "PineconeMagics.short_errors = True")

    assert "".join(texts).strip(), f"{cell} showed nothing, so nothing was searched"
    assert_no_key(texts, cell)


def _shown_traceback(shell: Any, error: BaseException) -> list[str]:
    """Return what IPython prints for the error, and its _render_traceback_ lines."""
    texts = []
    try:
        raise error
    except BaseException:
        with capture_output() as shown:
            shell.showtraceback()
        texts.extend([shown.stdout, shown.stderr])
    render = getattr(error, "_render_traceback_", None)
    if render is not None:
        texts.append("".join(render()))
    return texts


def test_magic_invalid_key_in_environment(
    shell: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", API_KEY + "é")
    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)

    with capture_output() as captured:
        result = shell.run_cell("%pc_cancel_import 101")

    assert result.error_in_exec is not None
    assert_no_key([captured.stdout, captured.stderr, str(result.error_in_exec)], "invalid key")
    assert emulator.requests == []


# The form


def test_form_never_keeps_key(
    shell: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ipywidgets")
    form_module = pytest.importorskip("pinecone_magic.form")
    import ipywidgets

    monkeypatch.setenv("PINECONE_INDEX_HOST", emulator.url)
    good, echo = emulator.add_import(), "echo"
    emulator.inject_fault(
        500, body=ECHO_PAGE, headers=HTML_ECHO_HEADERS,
        times=None, path_prefix="/bulk/imports/echo",
    )
    form = form_module.cancel_import_form()

    texts = []
    for import_id, typed_key in [(good, API_KEY), (echo, API_KEY), (good, API_KEY + "é")]:
        form.import_field.value = import_id
        form.api_key_field.value = typed_key
        form.cancel()
        assert form.wait(15), "the form's request did not finish"
        texts += [form.status, repr(form), form.text_fallback(), repr(form.last_result)]
        texts.append(json.dumps(form.output.outputs, default=str))
        texts.append(json.dumps(ipywidgets.Widget.get_manager_state(), default=str))

    try:
        assert form.api_key_field.value == ""
        assert any(
            request.method == "DELETE" and request.status == 200 for request in emulator.requests
        ), "the typed key was not used"
        assert_no_key(texts, "form")
    finally:
        form.close()


# A notebook executed and saved with its outputs


NOTEBOOK_CELLS = [
    "%load_ext pinecone_magic",
    "import logging, sys\nlogging.basicConfig(level=logging.DEBUG, stream=sys.stdout, force=True)",
    "%pc_cancel_import {id}",
    "r = %pc_describe_import {id}\nr",
    "%pc_list_imports",
    "%pc_cancel_import echo",
    "%pc_cancel_import 999",
    "%pc_cancel_import {id} 999",
    "%config PineconeMagics.short_errors = False",
    "%pc_cancel_import echo",
    "%pc_cancel_import",
    "import pinecone_magic\npinecone_magic.cancel_import('echo')",
]


def test_saved_notebook_has_no_key(configured: Emulator, tmp_path: Path) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    import_id = configured.add_import()
    configured.inject_fault(
        500, body=ECHO_PAGE, headers=HTML_ECHO_HEADERS,
        times=None, path_prefix="/bulk/imports/echo",
    )
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(cell.format(id=import_id)) for cell in NOTEBOOK_CELLS]
    )

    nbclient.NotebookClient(
        notebook, timeout=120, allow_errors=True, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    path = tmp_path / "secrets.ipynb"
    nbformat.write(notebook, path)
    text = path.read_text(encoding="utf-8")

    assert "Cancel requested for import" in text, "the outputs were not saved"
    assert "httpcore.http11" in text, "the DEBUG logs were not saved"
    assert "X-Echo-Api-Key" in text, "the echoed headers were not logged"
    assert "application/vnd.jupyter.widget-view+json" in text, "the form was not shown"
    assert API_KEY not in text
