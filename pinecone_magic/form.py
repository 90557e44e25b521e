"""The cancel-import form: an ipywidgets form that cancels one bulk import from a notebook.

`%pc_cancel_import` with no id shows it, and so does `cancel_import_form()`. The form lists
the imports of an index in a combobox, sends one cancel request per click through the same
`client.cancel_import` as the magic, and renders the result or error into its own output
area exactly as the magic would. Requests run in background threads, so the kernel keeps
executing other cells while a slow server responds. Widgets are updated from those
threads, because ipykernel sends comm messages through its thread-safe IOPub socket.

A key typed into the API key field is read once, cleared from the widget at once and used
for that click only. It is never stored on the form, in widget state or in os.environ.
Outside a widget frontend (terminal IPython, a notebook converted without widget state)
the form shows a text fallback that names `%pc_cancel_import IMPORT_ID`.

This module is the only one that imports ipywidgets; it loads when the form is first shown.
"""

from __future__ import annotations

import html
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]
from IPython.core.interactiveshell import InteractiveShell
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, TraitError, Unicode, observe, validate
from traitlets import Tuple as TupleTrait

from . import client, config, defaults
from .config import ApiKey
from .display import ErrorDisplay
from .errors import InvalidInputError, MissingApiKeyError, PineconeMagicError
from .models import ImportModel, newest_first

__all__ = ["CancelImportForm", "cancel_import_form", "import_label"]

logger = logging.getLogger("pinecone_magic")

#: Maximum number of imports offered in the combobox; the newest ones are kept.
MAX_LISTED_IMPORTS = 200

CANCEL_DESCRIPTION = "Cancel import"
WORKING_DESCRIPTION = "Cancelling..."

_FIELD_WIDTH = "560px"
_DESCRIPTION_WIDTH = "90px"


def cancel_import_form(
    *,
    host: str | None = None,
    index: str | None = None,
    api_version: str | None = None,
    timeout: float | str | None = None,
) -> CancelImportForm:
    """Create a cancel-import form and start loading the index's imports in the background.

    The host field shows `host` or `index`, else `%config PineconeMagics.host` or `.index`,
    else PINECONE_INDEX_HOST. `api_version` and `timeout` apply to every request of the
    form; None uses the configured value. Raises InvalidInputError for an invalid value.
    """
    if host is not None and index is not None:
        raise InvalidInputError(
            f"Both a host ({host!r:.60}) and an index ({index!r:.60}) were given; "
            "pass only one of them."
        )

    form = CancelImportForm(
        host=_default_target(host, index),
        api_version=config.validate_api_version(api_version) if api_version is not None else None,
        timeout=config.validate_timeout(timeout) if timeout is not None else None,
    )
    form.load_imports()
    return form


def import_label(model: ImportModel) -> str:
    """Return the combobox label of an import, such as `101 (InProgress, 42%)`."""
    details = [model.status or "unknown status"]
    if model.percent_complete is not None:
        details.append(_whole_percent(model.percent_complete))
    return f"{model.id} ({', '.join(details)})"


def parse_index_target(text: str) -> tuple[str | None, str | None]:
    """Return `(host, index)` for the text of the host field, exactly one of them set.

    A value that is not a valid host but is a valid index name, such as `my-index`, is
    an index name, resolved to its host through the control plane.
    """
    value = text.strip()
    if not value:
        raise InvalidInputError(
            "The index host is empty; type the index host shown in the Pinecone console, "
            "or an index name."
        )

    try:
        return config.normalize_host(value), None
    except InvalidInputError as host_error:
        try:
            return None, config.validate_index_name(value)
        except InvalidInputError:
            raise host_error from None


def _default_target(host: str | None, index: str | None) -> str:
    """Return the text that prefills the host field, from the first setting that has one."""
    candidates = (
        host,
        index,
        defaults.configured_value("host"),
        defaults.configured_value("index"),
        os.environ.get(defaults.ENV_INDEX_HOST),
    )
    for candidate in candidates:
        if candidate:
            return str(candidate)
    return ""


def _key_in_environment() -> bool:
    return bool(os.environ.get(defaults.ENV_API_KEY, "").strip())


@dataclass(frozen=True)
class _Target:
    """The host, key and settings of one click's requests; a None `api_key` uses the environment."""

    host: str | None
    index: str | None
    api_key: ApiKey | None
    api_version: str | None
    timeout: float | None

    def options(self) -> dict[str, Any]:
        """Return the keyword arguments of the client functions."""
        return {
            "host": self.host,
            "index": self.index,
            "api_key": self.api_key.reveal() if self.api_key is not None else None,
            "api_version": self.api_version,
            "timeout": self.timeout,
        }


class CancelImportForm(widgets.VBox):  # type: ignore[misc]
    """A form that cancels one bulk import: host, import, optional API key and Cancel button.

    The traits below are the form's state in plain Python. The child widgets mirror them
    and are attributes too (`host_field`, `import_field`, `refresh_button`, `api_key_field`,
    `cancel_button`, `status_line`, `output`). Nothing is shared between two forms.
    """

    api_version = Unicode(
        None, allow_none=True,
        help="X-Pinecone-Api-Version header of every request; None uses the configured one.",
    )
    timeout = Float(
        None, allow_none=True,
        help="Maximum time in seconds for each call, retries included; None uses the default.",
    )
    imports = TupleTrait(
        help="Imports of the index as last loaded, newest first; the combobox lists them."
    )
    status = Unicode("", help="Text of the status line: progress, outcome or invalid input.")
    busy = Bool(False, help="Whether a cancel request is in flight; clicks meanwhile are ignored.")
    loading = Bool(False, help="Whether the list of imports is being loaded.")
    last_result = AnyTrait(
        None, allow_none=True,
        help="The CancelResult of the last cancel, or the PineconeMagicError it raised.",
    )

    def __init__(
        self,
        *,
        host: str = "",
        api_version: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.host_field = widgets.Text(
            value=host,
            description="Index host",
            placeholder="Index host, such as my-index-abc123.svc.aped-4627-b74a.pinecone.io",
            tooltip="The index host shown in the Pinecone console, or an index name.",
            layout=widgets.Layout(width=_FIELD_WIDTH),
            style={"description_width": _DESCRIPTION_WIDTH},
        )
        self.import_field = widgets.Combobox(
            description="Import",
            placeholder="Choose an import, or type its id",
            ensure_option=False,
            layout=widgets.Layout(width="460px"),
            style={"description_width": _DESCRIPTION_WIDTH},
        )
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Load the imports of the index again.",
            layout=widgets.Layout(width="96px"),
        )
        # NOTE: ipywidgets syncs a Password value to the kernel on each keystroke, so a typed
        # key is in the widget state until the click clears it. A notebook saved with widget
        # state during that time contains the key.
        self.api_key_field = widgets.Password(
            description="API key",
            placeholder="Used for one click, then cleared",
            layout=widgets.Layout(width=_FIELD_WIDTH),
            style={"description_width": _DESCRIPTION_WIDTH},
        )
        self.cancel_button = widgets.Button(
            description=CANCEL_DESCRIPTION,
            button_style="danger",
            icon="stop",
            tooltip="Send one cancel request for the chosen import.",
            layout=widgets.Layout(width="140px", margin="2px 8px 2px 94px"),
        )
        self.status_line = widgets.HTML(value="")
        self.output = widgets.Output()

        children: list[Any] = [
            widgets.HTML(value="<b>Cancel a Pinecone bulk import</b>"),
            self.host_field,
            widgets.HBox([self.import_field, self.refresh_button]),
        ]
        # The key field is shown only when PINECONE_API_KEY is unset at creation.
        if not _key_in_environment():
            children.append(self.api_key_field)
        children += [widgets.HBox([self.cancel_button, self.status_line]), self.output]

        super().__init__(children=children, api_version=api_version, timeout=timeout, **kwargs)

        # Serializes the check-and-set of `busy`, so one click sends one request.
        self._click_lock = threading.Lock()
        # Serializes updates of the combobox and the output area from several threads.
        self._update_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._list_generation = 0

        self.cancel_button.on_click(self._on_cancel_click)
        self.refresh_button.on_click(self._on_refresh_click)

    @validate("api_version")
    def _validate_api_version(self, proposal: Any) -> Any:
        return _checked(proposal, config.validate_api_version)

    @validate("timeout")
    def _validate_timeout(self, proposal: Any) -> Any:
        return _checked(proposal, config.validate_timeout)

    @observe("status")
    def _status_changed(self, change: Any) -> None:
        self.status_line.value = (
            f'<span style="line-height:1.3">{html.escape(change["new"])}</span>'
        )

    @observe("busy")
    def _busy_changed(self, change: Any) -> None:
        working = bool(change["new"])
        self.cancel_button.disabled = working
        self.cancel_button.description = WORKING_DESCRIPTION if working else CANCEL_DESCRIPTION

    @property
    def selected_import_id(self) -> str:
        """The id of the chosen import: the id behind a combobox label, else the typed text."""
        text = self.import_field.value
        for model in self.imports:
            if text == import_label(model):
                return str(model.id)
        return str(text).strip()

    def load_imports(self) -> None:
        """Load the imports of the index in a background thread, using the key in the environment.

        Without PINECONE_API_KEY, nothing is sent and the status line requests a key.
        """
        if not _key_in_environment():
            self.status = "Type the API key, then click Refresh to load the imports."
            return
        try:
            target = self._read_target(typed_key="")
        except InvalidInputError as error:
            self.status = str(error)
            return
        self._start_listing(target, announce=True)

    def cancel(self) -> None:
        """Cancel the chosen import, as a click on the Cancel button does."""
        self._on_cancel_click(self.cancel_button)

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait for the background requests of this form; return whether all ended in time.

        Blocks the calling thread, so call it from scripts and tests, not from a notebook
        cell that should stay responsive.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._update_lock:
                self._threads = [thread for thread in self._threads if thread.is_alive()]
                running = list(self._threads)
            remaining = deadline - time.monotonic()
            if not running:
                return True
            if remaining <= 0:
                return False
            running[0].join(min(remaining, 0.1))

    def close(self) -> None:
        """Close the form and every widget it made, the hidden API key field included."""
        for widget in [*descendants(self), self.api_key_field]:
            widget.close()
        super().close()

    def text_fallback(self) -> str:
        """Return the form as text, for frontends that cannot show widgets."""
        host = self.host_field.value.strip() or "(no index host set)"
        lines = [
            f"Pinecone cancel-import form for {host}",
            "This frontend cannot show widgets. Cancel an import with "
            "%pc_cancel_import IMPORT_ID, and list the imports with %pc_list_imports.",
        ]
        if self.imports:
            lines.append("Imports, newest first:")
            lines.extend(f"  {import_label(model)}" for model in self.imports)
        elif self.loading:
            # The text is shown once and never updated, so a status would go stale.
            lines.append("The import list was still loading; see it with %pc_list_imports.")
        elif not _key_in_environment():
            lines.append("No API key is set; set PINECONE_API_KEY, then use %pc_list_imports.")
        elif self.status:
            lines.append(f"Status: {self.status}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        # ipywidgets 8.1 puts repr(self), cut to 110 characters, into text/plain. Terminal
        # IPython and nbconvert without widget state show that text, so replace it.
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = self.text_fallback()
        return bundle

    def __repr__(self) -> str:
        return (
            f"CancelImportForm(host={self.host_field.value!r}, imports={len(self.imports)}, "
            f"busy={self.busy})"
        )

    # Cancel

    def _on_cancel_click(self, button: Any) -> None:
        with self._click_lock:
            if self.busy:
                return
            self.busy = True

        typed_key = self._take_typed_key()
        try:
            import_id = config.validate_import_id(self.selected_import_id)
            target = self._read_target(typed_key)
        except InvalidInputError as error:
            self.status = str(error)
            self.busy = False
            return

        self.status = f"Cancelling import {import_id!r}..."
        self._start_thread(self._cancel_in_background, import_id, target, name="cancel")

    def _cancel_in_background(self, import_id: str, target: _Target) -> None:
        # The button is enabled again only after the response is rendered, so a caller
        # that waits for busy to turn False finds the output already rendered.
        try:
            accepted = self._send_cancel(import_id, target)
        finally:
            self.busy = False

        if accepted:
            self._describe_after_cancel(import_id, target)
            self._list_imports(target, announce=False)

    def _send_cancel(self, import_id: str, target: _Target) -> bool:
        """Send the cancel request and render the response; return whether Pinecone accepted it."""
        try:
            result = client.cancel_import(import_id, **target.options())
        except PineconeMagicError as error:
            self.last_result = error
            self._append_output(ErrorDisplay(error))
            self.status = f"The cancel of import {import_id!r} failed; the error is shown below."
            return False
        except Exception as error:
            logger.exception("The form's cancel of import %r failed unexpectedly", import_id)
            self.last_result = error
            self.status = (
                f"The cancel of import {import_id!r} failed unexpectedly: "
                f"{type(error).__name__}: {error}"
            )
            return False

        self.last_result = result
        self._append_output(result)
        self.status = f"Cancel requested for import {import_id!r}; checking its status..."
        return True

    def _describe_after_cancel(self, import_id: str, target: _Target) -> None:
        try:
            model = client.describe_import(import_id, **target.options())
        except PineconeMagicError as error:
            self.status = (
                f"Cancel requested for import {import_id!r}, but describing it failed: {error}"
            )
            return
        self.status = _status_after_cancel(import_id, model)

    # Import list

    def _on_refresh_click(self, button: Any) -> None:
        typed_key = self._take_typed_key()
        try:
            target = self._read_target(typed_key)
        except InvalidInputError as error:
            self.status = str(error)
            return
        self._start_listing(target, announce=True)

    def _start_listing(self, target: _Target, *, announce: bool) -> None:
        self.status = "Loading imports..."
        self._start_thread(self._list_imports, target, announce, name="list")

    def _list_imports(self, target: _Target, announce: bool) -> None:
        """Load every import and show the newest; the most recently started load wins."""
        with self._update_lock:
            self._list_generation += 1
            generation = self._list_generation
        self.loading = True

        try:
            # An import without an id cannot be cancelled, so it is not offered.
            listed = (model for model in client.list_imports(**target.options()) if model.id)
            imports = newest_first(listed)
        except Exception as error:
            if not isinstance(error, PineconeMagicError):
                logger.exception("The form's listing of imports failed unexpectedly")
            if self._is_latest_listing(generation):
                self.status = f"Loading the imports failed: {error}"
            return
        finally:
            if self._is_latest_listing(generation):
                self.loading = False

        with self._update_lock:
            if generation != self._list_generation:
                return
            self._show_imports(imports[:MAX_LISTED_IMPORTS])
        if announce:
            self.status = _list_summary(len(imports), min(len(imports), MAX_LISTED_IMPORTS))

    def _is_latest_listing(self, generation: int) -> bool:
        with self._update_lock:
            return generation == self._list_generation

    def _show_imports(self, imports: Sequence[ImportModel]) -> None:
        """Replace the combobox options, keeping the chosen import chosen under its new label."""
        chosen = self.selected_import_id
        self.imports = tuple(imports)
        self.import_field.options = tuple(import_label(model) for model in imports)
        for model in imports:
            if model.id == chosen and self.import_field.value != import_label(model):
                self.import_field.value = import_label(model)

    # Shared steps

    def _take_typed_key(self) -> str:
        """Read the API key field and clear it at once, before any request is sent."""
        typed = str(self.api_key_field.value)
        self.api_key_field.value = ""
        return typed

    def _read_target(self, typed_key: str) -> _Target:
        """Validate the host, the key and the settings; raise InvalidInputError naming the fix."""
        host, index = parse_index_target(self.host_field.value)
        api_key = config.validate_api_key(typed_key) if typed_key.strip() else None

        try:
            config.resolve_settings(
                host=host, index=index, api_key=api_key.reveal() if api_key else None,
                api_version=self.api_version, timeout=self.timeout,
            )
        except MissingApiKeyError:
            raise MissingApiKeyError(
                "No Pinecone API key is set; type the key into the API key field, or set "
                "the PINECONE_API_KEY environment variable."
            ) from None

        return _Target(host, index, api_key, self.api_version, self.timeout)

    def _append_output(self, display_object: Any) -> None:
        with self._update_lock:
            # NOTE: Output.append_display_data formats through InteractiveShell.instance(),
            # which outside IPython creates a shell singleton that makes any later
            # start of IPython in the process fail, so scripts get the bundle directly.
            if InteractiveShell.initialized():
                self.output.append_display_data(display_object)
                return
            self.output.outputs += (
                {
                    "output_type": "display_data",
                    "data": display_object._repr_mimebundle_(),
                    "metadata": {},
                },
            )

    def _start_thread(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(
            target=target, args=args, name=f"pinecone-form-{name}", daemon=True
        )
        with self._update_lock:
            self._threads = [running for running in self._threads if running.is_alive()]
            self._threads.append(thread)
        thread.start()



def descendants(widget: Any) -> list[Any]:
    """Return every widget inside a box widget, depth first, not the box itself."""
    found: list[Any] = []
    for child in getattr(widget, "children", ()):
        found.append(child)
        found.extend(descendants(child))
    return found


def _whole_percent(value: float) -> str:
    # Rounded down, so that an import at 99.6 percent never reads as 100%.
    return f"{math.floor(value)}%"


def _checked(proposal: Any, validator: Callable[[Any], Any]) -> Any:
    value = proposal["value"]
    if value is None:
        return None
    try:
        return validator(value)
    except InvalidInputError as error:
        raise TraitError(str(error)) from None


def _list_summary(total: int, listed: int) -> str:
    if total == 0:
        return "The index has no imports; type an import id to cancel it."
    noun = "import" if total == 1 else "imports"
    if listed < total:
        return f"{total} {noun}; the newest {listed} are listed."
    return f"{total} {noun} listed, newest first."


def _status_after_cancel(import_id: str, model: ImportModel) -> str:
    status = model.status or "in an unknown status"
    if model.status == "Cancelled":
        return f"Import {import_id!r} is Cancelled."
    if model.is_finished:
        return f"Import {import_id!r} had already finished as {status}, so the cancel did nothing."

    percent = ""
    if model.percent_complete is not None:
        percent = f" at {_whole_percent(model.percent_complete)}"
    return (
        f"Cancel requested: import {import_id!r} is still {status}{percent} "
        "and turns Cancelled shortly."
    )
