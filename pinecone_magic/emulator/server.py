"""The `Emulator`: a local Pinecone server on a loopback port, run in a background thread."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import re
import secrets
import selectors
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .api import DEFAULT_DIMENSION, PineconeApi
from .clock import Clock, SystemClock
from .faults import Fault, FaultAction, FaultSchedule
from .handler import EmulatorRequestHandler
from .recording import RecordedRequest, RequestLog
from .state import ImportOutcome, ImportStatus, ImportStore, Timings

__all__ = ["DEFAULT_INDEX_NAMES", "Emulator", "EmulatorHTTPServer"]

logger = logging.getLogger("pinecone_magic.emulator")

DEFAULT_INDEX_NAMES = ("quickstart",)

# Index names as the control plane accepts them: 1 to 45 lower-case letters, digits or
# hyphens, starting and ending with a letter or digit.
_INDEX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?")

# Seconds stop() waits for handler threads to finish after closing their connections.
_STOP_TIMEOUT = 2.0


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that tracks its connections and sets TCP_NODELAY on them."""

    daemon_threads = True
    timeout = 0.0

    def __init__(
        self,
        address: tuple[str, int],
        api: PineconeApi,
        faults: FaultSchedule,
        request_log: RequestLog,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self.faults = faults
        self.request_log = request_log
        self.stop_event = threading.Event()
        self.connections_accepted = 0
        self._connections: dict[socket.socket, int] = {}
        self._connections_condition = threading.Condition()
        self._connection_numbers = itertools.count(1)

        # Created before binding because TCPServer.__init__ calls server_close(), which
        # closes this pair too, when binding fails.
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, EmulatorRequestHandler)

    def serve_until_stopped(self) -> None:
        """Accept connections until `stop_serving` is called; run it in its own thread.

        Unlike `serve_forever`, which polls for a shutdown request every 0.5 s by default,
        this loop also waits on a socket pair that `stop_serving` writes to, so it ends at once.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)

            while not self.stop_event.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self.stop_event.is_set():
                        # Accept one connection and hand it to a handler thread. With
                        # `timeout` 0 this returns at once if another thread won the race.
                        self.handle_request()

    def stop_serving(self) -> None:
        """Make `serve_until_stopped` return, and end hung or delayed requests."""
        self.stop_event.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name with getfqdn(), which can wait for a
        # DNS timeout on machines without reverse DNS, so bind without it.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()

        # Without TCP_NODELAY, Nagle's algorithm holds back small writes until the client's
        # delayed ACK, which costs about 40 ms per keep-alive request on Linux.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        with self._connections_condition:
            self.connections_accepted += 1
            self._connections[connection] = next(self._connection_numbers)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._connections_condition:
            self._connections.pop(request, None)
            self._connections_condition.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) or (
            isinstance(error, OSError) and self.stop_event.is_set()
        ):
            logger.debug("Connection from %s ended: %s", client_address, error)
            return

        logger.exception("Emulator failed on a connection from %s", client_address)

    def wait_for_connections_to_close(self, timeout: float) -> bool:
        """Wait until no connection is open; return whether that happened within `timeout`."""
        with self._connections_condition:
            return self._connections_condition.wait_for(lambda: not self._connections, timeout)

    def connection_id(self, connection: socket.socket) -> int:
        """Return the number of an accepted connection, counting from 1."""
        with self._connections_condition:
            return self._connections.get(connection, 0)

    @property
    def open_connections(self) -> int:
        """Number of accepted connections not yet closed."""
        with self._connections_condition:
            return len(self._connections)

    def connection_sockets(self) -> list[socket.socket]:
        """Return the sockets of the open connections, e.g. to inspect their options."""
        with self._connections_condition:
            return list(self._connections)

    def close_connections(self) -> None:
        """Shut down every open connection so their handler threads finish."""
        with self._connections_condition:
            connections = list(self._connections)

        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Emulator:
    """A local Pinecone server for bulk imports, on a loopback address.

    Serves ``/bulk/imports`` and ``GET /indexes/{name}`` over HTTP/1.1 with keep-alive. Use
    it as a context manager, or call `start` and `stop`:

        clock = ManualClock()
        with Emulator(api_key="test-key", clock=clock) as emu:
            import_id = emu.start_import("s3://bucket/dir")
            clock.advance(5)

    Args:
        api_key: The key clients must send in the ``Api-Key`` header. None generates a
            random key, readable from `api_key`.
        bind: Loopback address to listen on, ``127.0.0.1`` or ``::1``.
        port: TCP port; 0 picks a free one.
        clock: Clock that drives the import lifecycle; defaults to `SystemClock`.
        indexes: Index names that ``GET /indexes/{name}`` describes; others get 404.
        pending_seconds: Time an import stays ``Pending``.
        run_seconds: Time an import takes from 0 to 100 percent.
        indexing_seconds: Time an import stays ``InProgress`` at 100 percent.
        cancel_latency: Time from a cancel request to ``Cancelled``.
        dimension: Dimension that ``GET /indexes/{name}`` reports.

    Attributes:
        clock: The clock passed in, or the `SystemClock` created for it.
        timings: The phase durations of new imports.
        store: The emulated imports, for inspection beyond the methods below.
        faults: The pending faults; see `inject_fault`.

    Raises:
        ValueError: If `bind` is not a loopback address, or the port, dimension, an index
            name or a timing is invalid.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        bind: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        indexes: Iterable[str] = DEFAULT_INDEX_NAMES,
        pending_seconds: float = 1.0,
        run_seconds: float = 30.0,
        indexing_seconds: float = 10.0,
        cancel_latency: float = 1.0,
        dimension: int = DEFAULT_DIMENSION,
    ) -> None:
        _validate_loopback(bind)
        if not 0 <= port <= 65535:
            raise ValueError(
                f"Invalid port {port}: expected 0 to 65535, where 0 picks a free port."
            )
        if not 1 <= dimension <= 20_000:
            raise ValueError(f"Invalid dimension {dimension}: expected 1 to 20000.")

        index_names = tuple(indexes)
        for name in index_names:
            if _INDEX_NAME.fullmatch(name) is None:
                raise ValueError(
                    f"Invalid index name {name!r}: use 1 to 45 lower-case letters, digits or "
                    "hyphens, starting and ending with a letter or digit."
                )

        self.bind = bind
        self.requested_port = port
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.timings = Timings(pending_seconds, run_seconds, indexing_seconds, cancel_latency)
        self.store = ImportStore(self.clock, self.timings)
        self.faults = FaultSchedule()
        self._api_key = api_key if api_key is not None else secrets.token_urlsafe(24)
        self._api = PineconeApi(self.store, self._api_key, index_names, dimension)
        self._request_log = RequestLog()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle_lock = threading.Lock()

    @property
    def api_key(self) -> str:
        """The key clients must send in the ``Api-Key`` header."""
        return self._api_key

    @property
    def index_names(self) -> frozenset[str]:
        """Index names that ``GET /indexes/{name}`` describes; others get 404."""
        return self._api.index_names

    @property
    def server(self) -> EmulatorHTTPServer | None:
        """The running HTTP server, for inspecting its connections; None when stopped."""
        return self._server

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._require_server().server_port

    @property
    def host(self) -> str:
        """The server's address without scheme, e.g. ``127.0.0.1:5081`` or ``[::1]:5081``."""
        server = self._require_server()
        address = server.server_name
        if ":" in address:
            address = f"[{address}]"
        return f"{address}:{server.server_port}"

    @property
    def url(self) -> str:
        """The base URL clients use as the index host, e.g. ``http://127.0.0.1:5081``."""
        return f"http://{self.host}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        return self._request_log.snapshot()

    @property
    def open_connections(self) -> int:
        """Number of client connections currently open (0 when stopped)."""
        return self._server.open_connections if self._server is not None else 0

    @property
    def connections_accepted(self) -> int:
        """Number of connections accepted since the last `start`."""
        return self._server.connections_accepted if self._server is not None else 0

    def start(self) -> Emulator:
        """Bind the port and serve requests in a background thread; return self.

        Raises:
            RuntimeError: If the emulator is already running.
            OSError: If the address cannot be bound, e.g. the port is in use.
        """
        with self._lifecycle_lock:
            if self._server is not None:
                raise RuntimeError(f"The emulator is already running at {self.url}.")

            server = EmulatorHTTPServer(
                (self.bind, self.requested_port), self._api, self.faults, self._request_log
            )
            self._server = server
            self._api.index_host = self.host
            self._thread = threading.Thread(
                target=server.serve_until_stopped,
                name=f"pinecone-emulator-{server.server_port}",
                daemon=True,
            )
            self._thread.start()

        logger.info("Pinecone emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and release the port; safe to call twice.

        Requests held by a ``hang`` or ``delay`` fault end at once, without a response.
        """
        with self._lifecycle_lock:
            server, thread = self._server, self._thread
            if server is None:
                return

            url = self.url
            server.stop_serving()
            if thread is not None:
                thread.join()
            server.close_connections()
            server.server_close()
            if not server.wait_for_connections_to_close(_STOP_TIMEOUT):
                logger.warning(
                    "%d connection(s) still open %.0f s after stopping the emulator at %s",
                    server.open_connections,
                    _STOP_TIMEOUT,
                    url,
                )
            self._server = None
            self._thread = None

        logger.info("Pinecone emulator at %s stopped", url)

    def __enter__(self) -> Emulator:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"Emulator({where}, api_key='***', imports={len(self.store)})"

    def start_import(
        self,
        uri: str,
        *,
        integration_id: str | None = None,
        error_mode: str | None = None,
    ) -> str:
        """Start an import as ``POST /bulk/imports`` does and return its id."""
        record = self.store.create(uri, integration_id=integration_id, error_mode=error_mode)
        return record.id

    def add_import(
        self,
        uri: str = "s3://emulator-bucket/import/",
        *,
        id: str | None = None,
        status: ImportStatus | None = None,
        outcome: ImportOutcome = "Completed",
        error: str | None = None,
        percent_complete: float | None = None,
        created_at: float | None = None,
        total_records: int | None = None,
    ) -> str:
        """Add an import, optionally already in `status`, and return its id.

        Without `status` the import starts its lifecycle at `created_at` (default: now) and
        ends with `outcome` (``Completed`` or ``Failed``, with `error` as its message). With
        `status` it is in that status now: ``Completed``, ``Failed`` and ``Cancelled`` are
        finished at the current clock time. `percent_complete` sets the progress of an
        ``InProgress``, ``Failed`` or ``Cancelled`` import. `id` may be any string of 1 to
        1000 characters; by default ids count up from ``"101"``.
        """
        record = self.store.create(
            uri,
            import_id=id,
            status=status,
            outcome=outcome,
            error=error,
            percent_complete=percent_complete,
            created_at=created_at,
            total_records=total_records,
        )
        return record.id

    def add_imports(
        self,
        count: int,
        uri: str = "s3://emulator-bucket/import-{n}/",
        *,
        status: ImportStatus | None = None,
        outcome: ImportOutcome = "Completed",
        spacing_seconds: float = 1.0,
    ) -> list[str]:
        """Add `count` imports created `spacing_seconds` apart, the last one now.

        `uri` may contain ``{n}``, replaced by the import's position (0 for the oldest).
        Returns the ids, oldest first.
        """
        now = self.clock.now()
        ids = []
        for position in range(count):
            created_at = now - (count - 1 - position) * spacing_seconds
            ids.append(
                self.add_import(
                    uri.replace("{n}", str(position)),
                    status=status,
                    outcome=outcome,
                    created_at=created_at,
                )
            )
        return ids

    def describe_import(self, import_id: str) -> dict[str, Any]:
        """Return the ImportModel JSON object of an import as of now.

        Raises:
            ImportNotFoundError: If no import has that id.
        """
        return self.store.describe(import_id)

    def cancel_import(self, import_id: str) -> None:
        """Request cancellation as ``DELETE /bulk/imports/{id}`` does.

        Raises:
            ImportNotFoundError: If no import has that id.
        """
        self.store.cancel(import_id)

    def list_imports(self) -> list[dict[str, Any]]:
        """Return the ImportModel JSON object of every import, oldest first."""
        now = self.clock.now()
        return [record.to_json(now) for record in self.store]

    def inject_fault(
        self,
        status: int | None = None,
        *,
        action: FaultAction | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
        times: int | None = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        chunk_size: int = 8,
        chunk_delay: float = 0.05,
    ) -> Fault:
        """Schedule a fault for the next `times` matching requests and return it.

        Without `action`, a `status` makes a ``respond`` fault and a `delay` alone makes a
        ``delay`` fault. See `Fault` for what each action does.

        Raises:
            ValueError: If none of `action`, `status` and `delay` is given.
        """
        if action is None:
            if status is not None:
                action = "respond"
            elif delay > 0:
                action = "delay"
            else:
                raise ValueError("inject_fault needs an action, a status or a delay.")

        fault = Fault(
            action=action,
            status=status,
            headers=dict(headers or {}),
            body=body,
            delay=delay,
            times=times,
            method=method,
            path_prefix=path_prefix,
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
        )
        self.add_fault(fault)
        return fault

    def add_fault(self, fault: Fault) -> None:
        """Schedule a prepared `Fault`, e.g. one from `parse_fault_spec`."""
        self.faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        self.faults.clear()

    def reset_requests(self) -> None:
        """Forget the requests recorded so far."""
        self._request_log.clear()

    def _require_server(self) -> EmulatorHTTPServer:
        """Return the running server, or raise RuntimeError if there is none."""
        if self._server is None:
            raise RuntimeError(
                "The emulator is not running: call start() or use it in a with statement."
            )
        return self._server


def _validate_loopback(bind: str) -> None:
    """Raise ValueError unless `bind` is a loopback IP address."""
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        address = None

    if address is None or not address.is_loopback:
        raise ValueError(
            f"Invalid bind address {bind!r}: the emulator serves plain HTTP and listens only "
            "on a loopback address such as 127.0.0.1 or ::1."
        )
