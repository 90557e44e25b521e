"""Command line that runs the Pinecone emulator until Ctrl-C.

Example: ``python -m pinecone_magic.emulator --port 5081 --api-key KEY``.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from .faults import FAULT_SPEC_HELP, Fault, parse_fault_spec
from .server import DEFAULT_INDEX_NAMES, Emulator

__all__ = ["build_parser", "main"]

DEFAULT_PORT = 5081


def _fault_argument(value: str) -> Fault:
    """Parse one ``--fault`` value for argparse."""
    try:
        return parse_fault_spec(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seconds_argument(value: str) -> float:
    """Parse a non-negative number of seconds for argparse."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0

    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}; expected >= 0")
    return seconds


def _count_argument(value: str) -> int:
    """Parse a non-negative count for argparse."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"invalid count {value!r}; expected an integer >= 0")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m pinecone_magic.emulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m pinecone_magic.emulator",
        description=(
            "Run a local Pinecone emulator that serves the bulk import endpoints and\n"
            "GET /indexes/{name} over HTTP on a loopback address, until Ctrl-C."
        ),
        epilog=FAULT_SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server = parser.add_argument_group("server")
    server.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="loopback address to listen on: 127.0.0.1 (default) or ::1",
    )
    server.add_argument(
        "--port",
        type=_count_argument,
        default=DEFAULT_PORT,
        help=f"TCP port to listen on; 0 picks a free port (default {DEFAULT_PORT})",
    )
    server.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key clients must send; if omitted, a random key is generated and printed once",
    )
    server.add_argument(
        "--index",
        action="append",
        dest="indexes",
        metavar="NAME",
        help=(
            "index name that GET /indexes/NAME describes; repeatable "
            f"(default {DEFAULT_INDEX_NAMES[0]})"
        ),
    )
    server.add_argument(
        "--verbose",
        action="store_true",
        help="log one line per request to stderr (never headers or the API key)",
    )

    lifecycle = parser.add_argument_group("import lifecycle")
    lifecycle.add_argument(
        "--pending-seconds",
        type=_seconds_argument,
        default=1.0,
        metavar="SECONDS",
        help="time a new import stays Pending (default 1)",
    )
    lifecycle.add_argument(
        "--run-seconds",
        type=_seconds_argument,
        default=30.0,
        metavar="SECONDS",
        help="time an import takes from 0 to 100 percent (default 30)",
    )
    lifecycle.add_argument(
        "--indexing-seconds",
        type=_seconds_argument,
        default=10.0,
        metavar="SECONDS",
        help="time an import stays InProgress at 100 percent before Completed (default 10)",
    )
    lifecycle.add_argument(
        "--cancel-latency",
        type=_seconds_argument,
        default=1.0,
        metavar="SECONDS",
        help="time from a cancel request until the import is Cancelled (default 1)",
    )
    lifecycle.add_argument(
        "--seed-imports",
        type=_count_argument,
        default=0,
        metavar="N",
        help="create N imports at start, one second apart, the newest now (default 0)",
    )

    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--fault",
        action="append",
        dest="faults",
        type=_fault_argument,
        default=[],
        metavar="SPEC",
        help="inject a fault into the next matching requests; repeatable (syntax below)",
    )

    return parser


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so it stops the emulator like Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until interrupted; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.verbose:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("pinecone_magic.emulator").setLevel(logging.DEBUG)

    key_generated = args.api_key is None
    api_key = secrets.token_urlsafe(24) if key_generated else args.api_key

    try:
        emulator = Emulator(
            api_key,
            bind=args.bind,
            port=args.port,
            indexes=args.indexes or DEFAULT_INDEX_NAMES,
            pending_seconds=args.pending_seconds,
            run_seconds=args.run_seconds,
            indexing_seconds=args.indexing_seconds,
            cancel_latency=args.cancel_latency,
        )
    except ValueError as error:
        parser.error(str(error))

    for fault in args.faults:
        emulator.add_fault(fault)
    if args.seed_imports:
        emulator.add_imports(args.seed_imports)

    try:
        emulator.start()
    except OSError as error:
        print(
            f"error: cannot listen on {args.bind} port {args.port}: {error.strerror or error}. "
            "Pass --port 0 to pick a free port.",
            file=sys.stderr,
            flush=True,
        )
        return 1

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    key_hint = "the generated key above" if key_generated else "the key you passed with --api-key"

    try:
        if key_generated:
            print(f"Generated API key (shown only now): {api_key}", flush=True)
        print(f"Pinecone emulator listening on {emulator.url}", flush=True)
        print(f"Use --host {emulator.url} and set PINECONE_API_KEY to {key_hint}.", flush=True)

        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()

    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
