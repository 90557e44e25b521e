"""PineconeMagics: the line magics and the settings users change with %config.

Each magic only parses its line and delegates to client.py, so the magic, the form and
scripts share one code path. Bad arguments raise UsageError before any request; API and
network errors are shown as one line (or as a traceback with short_errors off) and fail
the cell.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, construct_parser
from IPython.utils.process import arg_split  # type: ignore[attr-defined]
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from . import defaults

# Loading the extension imports only this module and defaults.py. The validators, the
# client and the result types load on first use, which keeps %load_ext fast.

logger = logging.getLogger("pinecone_magic")

#: Maximum number of rows that `%pc_list_imports --limit` accepts.
MAX_LIST_ROWS = 100_000

_SETTING_NAMES = frozenset({
    "host", "index", "controller_host", "api_version", "timeout", "concurrency",
    "max_retries", "short_errors",
})

# Options a user may try for the key; they get a message that explains where the key goes.
_KEY_OPTIONS = frozenset({"--api-key", "--api_key", "--apikey", "--key", "-k"})

# An argument left as `$name` or `{name}` after IPython's expansion names an undefined variable.
_UNEXPANDED = re.compile(r"\$.*|\{[A-Za-z_][\w.\[\]'\"]*\}")


def _deferred_magic_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a magic whose argparse parser and help text are built on first use.

    IPython's @magic_arguments builds both when the module is imported, and formatting the
    help of three magics is most of the time that %load_ext would take. `%magic?` calls
    the function's `getdoc`, which builds them then.
    """
    function.has_arguments = True  # type: ignore[attr-defined]
    function.getdoc = lambda: _help_of(function)  # type: ignore[attr-defined]
    return function


def _parser_of(function: Callable[..., Any]) -> Any:
    """Return the argparse parser of a magic, building it and its help text on first use."""
    parser = getattr(function, "parser", None)
    if parser is None:
        parser = construct_parser(function)
        # Without this, argparse reads `--api KEY` as `--api-version KEY`.
        parser.allow_abbrev = False
        function.parser = parser  # type: ignore[attr-defined]
    return parser


def _help_of(function: Callable[..., Any]) -> str:
    _parser_of(function)
    return function.__doc__ or ""


def _common_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options that every magic shares."""
    decorators = [
        argument("-h", "--help", action="store_true", help="Show this help and send nothing."),
        argument(
            "--timeout", metavar="SECONDS",
            help="Maximum time for the whole call, retries included (default 60).",
        ),
        argument(
            "--api-version", metavar="VERSION",
            help=f"X-Pinecone-Api-Version header (default {defaults.DEFAULT_API_VERSION}).",
        ),
        argument(
            "--index", metavar="NAME",
            help="Index name, resolved to its host through the control plane.",
        ),
        argument(
            "--host", metavar="HOST",
            help="Index host, such as my-index-abc123.svc.aped-4627-b74a.pinecone.io "
            "(default: PineconeMagics.host, then PINECONE_INDEX_HOST).",
        ),
    ]
    for decorator in decorators:
        function = decorator(function)
    return function


@magics_class
class PineconeMagics(Magics):
    """Magics that cancel, describe and list Pinecone bulk imports."""

    host = Unicode(
        None, allow_none=True,
        help="Index host used when no --host or --index is given; overrides PINECONE_INDEX_HOST.",
    ).tag(config=True)
    index = Unicode(
        None, allow_none=True,
        help="Index name, resolved to its host through the control plane; used when no host "
        "is set.",
    ).tag(config=True)
    controller_host = Unicode(
        None, allow_none=True,
        help="Control plane URL for --index; overrides PINECONE_CONTROLLER_HOST "
        f"(default {defaults.DEFAULT_CONTROLLER_HOST}).",
    ).tag(config=True)
    api_version = Unicode(
        defaults.DEFAULT_API_VERSION, help="Value of the X-Pinecone-Api-Version header."
    ).tag(config=True)
    timeout = Float(
        defaults.DEFAULT_TIMEOUT,
        help="Maximum time in seconds for one call, retries and the waits between them included.",
    ).tag(config=True)
    concurrency = Int(
        defaults.DEFAULT_CONCURRENCY,
        help="Maximum number of cancel requests in flight at once when several ids are given.",
    ).tag(config=True)
    max_retries = Int(
        defaults.DEFAULT_MAX_RETRIES,
        help="Number of attempts in all, the first included, for 408, 429, 5xx and "
        "connection errors.",
    ).tag(config=True)
    short_errors = Bool(
        True, help="Show API and network errors as one line; False shows the full traceback."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        _drop_invalid_settings(shell)
        super().__init__(shell=shell, **kwargs)
        self._publish_settings()

    @validate(
        "host", "index", "controller_host", "api_version", "timeout", "concurrency",
        "max_retries",
    )
    def _validate_setting(self, proposal: Any) -> Any:
        return _checked(proposal["trait"].name, proposal["value"])

    @observe(
        "host", "index", "controller_host", "api_version", "timeout", "concurrency",
        "max_retries", "short_errors",
    )
    def _settings_changed(self, change: Any) -> None:
        # A host and an index name both choose the target, so setting one clears the other.
        if change["name"] == "host" and change["new"] is not None:
            self.index = None
        elif change["name"] == "index" and change["new"] is not None:
            self.host = None
        self._publish_settings()

    def _publish_settings(self) -> None:
        """Copy the traits into the configured layer that client.py reads."""
        defaults.configure({
            "host": self.host,
            "index": self.index,
            "controller_host": self.controller_host,
            "api_version": self.api_version,
            "timeout": self.timeout,
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
        })

    @_deferred_magic_arguments
    @argument(
        "import_ids", nargs="*", metavar="IMPORT_ID",
        help="Ids of the imports to cancel. With no id, show the cancel form.",
    )
    @argument(
        "--concurrency", metavar="N",
        help="Maximum number of cancel requests in flight at once (default 8).",
    )
    @argument(
        "--wait", nargs="?", const="60", metavar="SECONDS",
        help="After the cancel, describe the imports until all have finished, "
        "for at most SECONDS (default 60).",
    )
    @_common_arguments
    @line_magic
    def pc_cancel_import(self, line: str) -> Any:
        """Cancel Pinecone bulk imports; with no id, show the cancel form.

        One id returns the cancel result; several ids are cancelled concurrently and
        return a table of outcomes, in the order given. The cell fails if any id failed,
        after every id ran. The API key comes from PINECONE_API_KEY, never from this line.
        """
        args = self._parse(self.pc_cancel_import, line)
        if args is None:
            return None

        if not args.import_ids:
            if args.wait is not None or args.concurrency is not None:
                raise UsageError(
                    "--wait and --concurrency need import ids; pass them, such as "
                    "%pc_cancel_import 101 102 --wait 60."
                )
            from .form import cancel_import_form

            return self._run(
                lambda: cancel_import_form(
                    host=args.host, index=args.index, api_version=args.api_version,
                    timeout=args.timeout,
                )
            )

        from . import client

        if len(args.import_ids) == 1 and args.wait is None:
            return self._run(
                lambda: client.cancel_import(args.import_ids[0], **self._call_options(args))
            )

        progress = self._run(lambda: _WaitProgress(args.wait)) if args.wait is not None else None
        batch = self._run(
            lambda: client.cancel_imports(
                args.import_ids,
                concurrency=args.concurrency,
                wait=args.wait,
                on_progress=progress.update if progress else None,
                **self._call_options(args),
            )
        )
        if batch.failed:
            from IPython.display import display

            from .errors import BatchError

            display(batch)
            failed = batch.failed
            error = BatchError(
                f"{len(failed)} of {len(batch)} imports could not be cancelled "
                f"({', '.join(outcome.import_id for outcome in failed[:10])}"
                f"{', ...' if len(failed) > 10 else ''}); see the table above. Every "
                "outcome is in sys.last_value.results.",
                results=batch,
            )
            error.short_traceback = self.short_errors
            raise error
        return batch

    @_deferred_magic_arguments
    @argument("import_id", nargs="?", metavar="IMPORT_ID", help="Id of the import to describe.")
    @_common_arguments
    @line_magic
    def pc_describe_import(self, line: str) -> Any:
        """Show one Pinecone bulk import: status, progress, records, times, URI and error."""
        args = self._parse(self.pc_describe_import, line)
        if args is None:
            return None
        if args.import_id is None:
            raise UsageError(
                "No import id was given; pass one, such as %pc_describe_import 101, or list "
                "the ids with %pc_list_imports."
            )

        from . import client

        return self._run(lambda: client.describe_import(args.import_id, **self._call_options(args)))

    @_deferred_magic_arguments
    @argument(
        "--status", nargs="+", action="append", metavar="STATUS",
        help=f"Show only imports with these statuses: {', '.join(defaults.IMPORT_STATUSES)}.",
    )
    @argument("--limit", metavar="N", help="Show at most the N newest imports.")
    @_common_arguments
    @line_magic
    def pc_list_imports(self, line: str) -> Any:
        """List the bulk imports of an index, newest first, following every page."""
        args = self._parse(self.pc_list_imports, line)
        if args is None:
            return None

        statuses = _checked_statuses(args.status)
        limit = _checked_row_limit(args.limit)

        from . import client
        from .models import ImportList, newest_first

        def collect() -> ImportList:
            imports = [
                model
                for model in client.list_imports(**self._call_options(args))
                if not statuses or model.status in statuses
            ]
            imports = newest_first(imports)
            newest = imports if limit is None else imports[:limit]
            return ImportList(imports=tuple(newest), statuses=statuses, total=len(imports))

        return self._run(collect)

    def _parse(self, magic: Callable[..., Any], line: str) -> argparse.Namespace | None:
        """Parse a magic line, print the help for -h, and reject unexpanded variables.

        Quotes are parsed as a POSIX shell does, so `'a b'` is the one argument `a b`.
        """
        try:
            words = arg_split(line, posix=True)
        except ValueError as error:
            raise UsageError(
                _without_api_key(f"Cannot parse {line.strip()!r}: {error}; close the quote.")
            ) from None

        for word in words:
            if word.split("=", 1)[0] in _KEY_OPTIONS:
                raise UsageError(
                    f"{word.split('=', 1)[0]} is not an option: the API key is never read from "
                    "the magic line, which is saved in the notebook; set PINECONE_API_KEY, for "
                    "example with os.environ['PINECONE_API_KEY'] = getpass.getpass()."
                )

        try:
            args: argparse.Namespace = _parser_of(magic.__func__).parse_args(words)  # type: ignore[attr-defined]
        except UsageError as error:
            message = _without_api_key(str(error))
            if message.startswith("unrecognized arguments"):
                name = magic.__name__
                message += f"; run %{name} -h to list the options"
            raise UsageError(message) from None
        if args.help:
            print(_help_of(magic.__func__))  # type: ignore[attr-defined]
            return None

        for value in _string_values(vars(args)):
            if _UNEXPANDED.fullmatch(value):
                name = value.strip("${}")
                raise UsageError(
                    f"Argument {value!r} looks like an undefined variable; define {name!r} "
                    "in the notebook first, or pass the value itself."
                )
        return args

    def _call_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {
            "host": args.host,
            "index": args.index,
            "api_version": args.api_version,
            "timeout": args.timeout,
        }

    def _run(self, call: Callable[[], Any]) -> Any:
        """Run a client call, turning invalid input into UsageError and shortening errors."""
        from .errors import InvalidInputError, PineconeMagicError

        try:
            return call()
        except InvalidInputError as error:
            raise UsageError(str(error)) from None
        except PineconeMagicError as error:
            error.short_traceback = self.short_errors
            raise


def _without_api_key(text: str) -> str:
    """Replace the configured API key in a message, in case it was pasted on the line."""
    key = os.environ.get(defaults.ENV_API_KEY, "").strip()
    return text.replace(key, "***") if key else text


def validate_setting(name: str, value: Any) -> Any:
    """Return the checked value of the PineconeMagics trait `name`, or raise InvalidInputError."""
    from . import config
    from .errors import InvalidInputError

    if name == "short_errors":
        if not isinstance(value, bool):
            raise InvalidInputError(f"short_errors {value!r} is not True or False.")
        return value
    if name in ("host", "controller_host"):
        return config.normalize_host(value, name=name.replace("_", " "))

    validators: dict[str, Callable[[Any], Any]] = {
        "index": config.validate_index_name,
        "api_version": config.validate_api_version,
        "timeout": config.validate_timeout,
        "concurrency": config.validate_concurrency,
        "max_retries": config.validate_max_retries,
    }
    return validators[name](value)


def _drop_invalid_settings(shell: Any) -> None:
    """Remove invalid PineconeMagics values from the shell's config, with a warning.

    `%config` stores a value in the shell's config even when the trait rejects it. Without
    this step, the next `%reload_ext` would fail on that value.
    """
    section = getattr(getattr(shell, "config", None), "PineconeMagics", None)
    if not section:
        return

    from .errors import InvalidInputError

    for name in list(section):
        if name not in _SETTING_NAMES or section[name] is None:
            continue
        try:
            validate_setting(name, section[name])
        except InvalidInputError as error:
            logger.warning("Ignoring PineconeMagics.%s from the configuration: %s", name, error)
            del section[name]


def _checked(name: str, value: Any) -> Any:
    if value is None:
        return None

    from .errors import InvalidInputError

    try:
        return validate_setting(name, value)
    except InvalidInputError as error:
        raise TraitError(str(error)) from None


def _string_values(values: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for value in values.values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found.extend(_string_values({str(i): item for i, item in enumerate(value)}))
    return found


def _checked_statuses(groups: list[list[str]] | None) -> tuple[str, ...]:
    if not groups:
        return ()
    by_lower = {status.lower(): status for status in defaults.IMPORT_STATUSES}
    statuses: list[str] = []
    for value in (item for group in groups for item in group):
        for part in value.split(","):
            status = by_lower.get(part.strip().lower())
            if status is None:
                raise UsageError(
                    f"Status {part.strip()!r} is not an import status; use one of "
                    f"{', '.join(defaults.IMPORT_STATUSES)}."
                )
            if status not in statuses:
                statuses.append(status)
    return tuple(statuses)


def _checked_row_limit(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIST_ROWS:
        raise UsageError(
            f"Limit {value!r} is invalid; use a whole number of rows from 1 to {MAX_LIST_ROWS}."
        )
    return int(text)


class _WaitProgress:
    """One display line that a wait updates in place."""

    def __init__(self, wait: str) -> None:
        from .config import validate_timeout

        self.limit = validate_timeout(wait, label="--wait") if wait else defaults.DEFAULT_TIMEOUT
        self._handle: Any = None

    def update(self, models: Any, elapsed: float) -> None:
        from IPython.display import display

        from .display import wait_progress_text

        bundle = {"text/plain": wait_progress_text(models, elapsed, self.limit)}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
