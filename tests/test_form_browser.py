"""The cancel-import form in JupyterLab, driven in headless Chromium through Playwright.

The module starts an emulator on the real clock, JupyterLab on a free loopback port with
its own token and config folders, and Chromium. Each test opens its own generated
notebook. JupyterLab and the browser are stopped in the fixture teardown, and every wait
is bounded, so a failure cannot hang the run. The first test saves docs/img/form.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import API_KEY, environment_without_pinecone

from pinecone_magic.emulator import Emulator

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "form.png"

#: Upper bound in seconds for any one wait: server start, page load, a cell's output.
WAIT_LIMIT = 60.0
#: Delay in seconds of the slow cancel; other cells must run while it is in flight.
SLOW_CANCEL_DELAY = 5.0

if not CHROMIUM.exists():
    _MISSING = (
        f"Chromium is not installed at {CHROMIUM}; install Debian's chromium package to run "
        "the browser tests."
    )
    # .ci/run installs Chromium, so in CI a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(_MISSING, pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
nbformat = pytest.importorskip("nbformat")
expect = sync_api.expect
expect.set_options(timeout=WAIT_LIMIT * 1000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_lab_config(root: Path) -> dict[str, str]:
    """Write config that keeps JupyterLab off the network; return the variables that use it."""
    config_dir = root / "config"
    settings_dir = root / "settings" / "@jupyterlab" / "apputils-extension"
    config_dir.mkdir()
    settings_dir.mkdir(parents=True)

    server_config = {
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "extension_manager": "readonly",
        },
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config))
    # Without this setting, JupyterLab 4 shows a toast about fetching news over the form.
    notification_settings = {"fetchNews": "false", "checkForUpdates": False}
    (settings_dir / "notification.jupyterlab-settings").write_text(
        json.dumps(notification_settings)
    )

    return {
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        "IPYTHONDIR": str(root / "ipython"),
    }


def write_notebook(path: Path, sources: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


def wait_for_server(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(
                f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2
            )
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {WAIT_LIMIT:g} s:\n{log.read_text()[-3000:]}")


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab, which shuts down its kernels, then kill whatever of its group is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def lab_emulator() -> Iterator[Emulator]:
    """An emulator on the real clock whose imports stay InProgress for ten minutes."""
    with Emulator(api_key=API_KEY, run_seconds=600, cancel_latency=0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, lab_emulator: Emulator
) -> Iterator[dict[str, Any]]:
    """JupyterLab on 127.0.0.1 with a token, serving a fresh folder; stopped afterwards."""
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    environment = environment_without_pinecone()
    environment.update(write_lab_config(root))
    environment.update(PINECONE_API_KEY=API_KEY, PINECONE_INDEX_HOST=lab_emulator.url)

    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}",
    ]
    # CI containers often run as root, which JupyterLab refuses without this flag.
    if os.geteuid() == 0:
        command.append("--allow-root")

    log = root / "jupyterlab.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=notebooks,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_server(url, token, process, log)
        yield {"url": url, "token": token, "notebooks": notebooks}
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_notebook(lab: dict[str, Any], browser: Any) -> Iterator[Any]:
    """Return a function that writes a notebook, opens it in a new page and returns the page."""
    pages: list[Any] = []

    def open_it(name: str, sources: list[str]) -> Any:
        write_notebook(lab["notebooks"] / name, sources)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(WAIT_LIMIT * 1000)
        pages.append(page)
        # A workspace of its own, so that JupyterLab does not reopen earlier notebooks.
        workspace = Path(name).stem
        page.goto(f"{lab['url']}/lab/workspaces/{workspace}/tree/{name}?token={lab['token']}")
        cells(page).first.wait_for()
        expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
        return page

    yield open_it
    for page in pages:
        page.close()


def cells(page: Any) -> Any:
    """Return the cells of the notebook in the visible tab."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def run_cell(page: Any, index: int) -> None:
    """Run one cell with Ctrl+Enter, as a user does, and wait for its execution count."""
    cell = cells(page).nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"))


def form_in(page: Any) -> Any:
    return cells(page).nth(1).locator(".widget-vbox").first


def choose_import(form: Any, import_id: str) -> None:
    """Pick an import by typing its full label into the combobox, as the dropdown does."""
    field = form.locator("input[list]")
    field.click()
    label = form.locator(f"datalist option[value^='{import_id} (']").first
    field.fill(label.get_attribute("value"))


def cancel_button(form: Any) -> Any:
    return form.locator("button.jupyter-button", has_text="Cancel")


def wait_until(condition: Any, message: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


def test_form_cancels_import(open_notebook: Any, lab_emulator: Emulator) -> None:
    now = time.time()
    lab_emulator.add_import(status="Completed", created_at=now - 7200)
    import_id = lab_emulator.add_import(
        "s3://example-bucket/catalog/", status="InProgress", percent_complete=37,
        created_at=now - 600,
    )
    page = open_notebook("cancel.ipynb", ["%load_ext pinecone_magic", "%pc_cancel_import"])

    run_cell(page, 0)
    run_cell(page, 1)
    form = form_in(page)
    expect(form.get_by_text("listed, newest first")).to_be_visible()
    choose_import(form, import_id)
    cancel_button(form).click()

    output = form.locator(".widget-output")
    expect(output.get_by_text(f"Cancel requested for import '{import_id}'")).to_be_visible()
    expect(form.get_by_text(f"Import '{import_id}' is Cancelled.")).to_be_visible()
    # The real clock moves the import past 37% by the time the cancel lands.
    expect(form.locator("input[list]")).to_have_value(
        re.compile(rf"{import_id} \(Cancelled, \d+%\)")
    )
    assert lab_emulator.describe_import(import_id)["status"] == "Cancelled"

    # The result renders as HTML, not as a JSON tree.
    expect(output.locator(".jp-RenderedHTMLCommon .pinecone-magic-result")).to_have_count(1)
    expect(output.locator(".jp-RenderedJSON")).to_have_count(0)

    # Select the cell above and move the mouse away, so no toolbar or hover shows.
    cells(page).nth(0).locator(".jp-InputPrompt").click()
    page.mouse.move(0, 0)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    cells(page).nth(1).screenshot(path=str(SCREENSHOT))


def test_cells_run_during_slow_cancel(open_notebook: Any, lab_emulator: Emulator) -> None:
    import_id = lab_emulator.add_import(status="InProgress", percent_complete=12)
    page = open_notebook(
        "slow.ipynb", ["%load_ext pinecone_magic", "%pc_cancel_import", "1 + 1"]
    )

    run_cell(page, 0)
    run_cell(page, 1)
    form = form_in(page)
    expect(form.get_by_text("listed, newest first")).to_be_visible()
    choose_import(form, import_id)
    lab_emulator.inject_fault(delay=SLOW_CANCEL_DELAY, method="DELETE")
    cancel_button(form).click()
    expect(cancel_button(form)).to_have_text("Cancelling...")

    run_cell(page, 2)
    result_cell = cells(page).nth(2)
    expect(result_cell.locator(".jp-OutputArea-output")).to_have_text("2")

    expect(cancel_button(form)).to_have_text("Cancelling...")
    expect(cancel_button(form)).to_be_disabled()
    assert lab_emulator.store.get(import_id).cancel_at is None

    output = form.locator(".widget-output")
    expect(output.get_by_text(f"Cancel requested for import '{import_id}'")).to_be_visible()
    expect(cancel_button(form)).to_be_enabled()
    wait_until(
        lambda: lab_emulator.describe_import(import_id)["status"] == "Cancelled",
        f"import {import_id} did not turn Cancelled",
    )
