"""HTTP/1.1 request handler: reads requests, applies faults, records them and responds.

The handler deals only with HTTP. Pinecone's rules live in `api.PineconeApi`.
Every response carries Content-Length and an ``x-pinecone-request-id`` header, so clients can
keep connections alive, and every error the handler itself produces (malformed requests,
oversized bodies, unsupported methods) is an rpcStatus JSON body like the API's own errors.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from .api import ApiRequest
from .faults import Fault
from .recording import RecordedRequest, merge_headers
from .responses import ApiResponse, GrpcCode, rpc_status

if TYPE_CHECKING:
    from .server import EmulatorHTTPServer

__all__ = ["MAX_BODY_BYTES", "EmulatorRequestHandler"]

logger = logging.getLogger("pinecone_magic.emulator")

#: Largest request body the emulator reads; larger ones get 413 and a closed connection.
MAX_BODY_BYTES = 1024 * 1024

#: Seconds between checks of a hung connection for a client that gave up.
HANG_POLL_SECONDS = 0.05

REQUEST_ID_HEADER = "x-pinecone-request-id"


class _BodyError(Exception):
    """The request body cannot be read; carries the HTTP status of the error response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Handle the requests of one connection, keeping it alive between them."""

    protocol_version = "HTTP/1.1"
    server_version = "PineconeEmulator"
    sys_version = ""

    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.connection_id(self.request)

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError) as error:
            self.close_connection = True
            logger.debug("Connection %d closed by the client: %s", self.connection_id, error)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        """Respond to one parsed request: read the body, apply a fault, call the API."""
        started = time.perf_counter()
        raw_path, _, query_string = self.path.partition("?")

        try:
            body = self._read_body()
        except _BodyError as error:
            self.close_connection = True
            self._record(raw_path, query_string, b"", error.status)
            self._send(rpc_status(error.status, str(error)))
            return

        fault = self.server.faults.take(self.command, raw_path)
        if fault is not None:
            logger.debug("Injecting fault %r into %s %s", fault.action, self.command, self.path)

        if fault is not None and fault.delay > 0:
            stopped = self.server.stop_event.wait(fault.delay)
            if stopped:
                self._record(raw_path, query_string, body, None)
                self._drop_connection()
                return

        if fault is not None and fault.action in ("drop", "hang"):
            self._record(raw_path, query_string, body, None)
            if fault.action == "hang":
                self._hang()
            self._drop_connection()
            return

        if fault is not None and fault.status is not None:
            response = _fault_response(fault)
        else:
            response = self._call_api(raw_path, query_string, body)

        self._record(raw_path, query_string, body, response.status)
        if fault is not None and fault.action == "slow_body":
            self._send(response, slow=fault)
        else:
            self._send(response)

        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug(
            "%s %s -> %d in %.1f ms (connection %d)",
            self.command,
            self.path,
            response.status,
            elapsed_ms,
            self.connection_id,
        )

    def _call_api(self, raw_path: str, query_string: str, body: bytes) -> ApiResponse:
        """Return the API's response, or a 500 rpcStatus if the API raised."""
        request = ApiRequest(
            method=self.command,
            raw_path=raw_path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers=merge_headers(self.headers.items()),
            body=body,
        )

        try:
            return self.server.api.handle(request)
        except Exception:
            logger.exception(
                "Emulator failed on %s %s; responding with 500", self.command, raw_path
            )
            return rpc_status(500, "Internal error in the emulator", GrpcCode.INTERNAL)

    def _read_body(self) -> bytes:
        """Read the request body announced by Content-Length or chunked encoding."""
        transfer_encoding = self.headers.get("Transfer-Encoding", "").lower()
        if transfer_encoding == "chunked":
            return self._read_chunked_body()
        if transfer_encoding:
            raise _BodyError(501, f"Unsupported Transfer-Encoding {transfer_encoding!r}")

        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.strip().isdigit():
            raise _BodyError(400, f"Invalid Content-Length {length_header!r}")

        length = int(length_header)
        if length > MAX_BODY_BYTES:
            raise _BodyError(413, f"Request body too large: {length} bytes, limit {MAX_BODY_BYTES}")
        return self.rfile.read(length)

    def _read_chunked_body(self) -> bytes:
        """Read a body sent with ``Transfer-Encoding: chunked``, ignoring trailers."""
        chunks: list[bytes] = []
        total = 0

        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(400, f"Invalid chunk size line {size_line[:40]!r}") from None

            if size == 0:
                break

            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyError(413, f"Request body too large: limit {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)

    def _send(self, response: ApiResponse, slow: Fault | None = None) -> None:
        """Write `response`; with `slow`, write its body in small chunks with pauses."""
        self.send_response(response.status)

        custom_names = {name.lower() for name in response.headers}
        if response.content_type is not None and "content-type" not in custom_names:
            self.send_header("Content-Type", response.content_type)
        if "content-length" not in custom_names:
            self.send_header("Content-Length", str(len(response.body)))
        self.send_header(REQUEST_ID_HEADER, uuid.uuid4().hex)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

        if self.command == "HEAD":
            return
        if slow is None:
            self.wfile.write(response.body)
            return

        for start in range(0, len(response.body), slow.chunk_size):
            if self.server.stop_event.wait(slow.chunk_delay):
                self._drop_connection()
                return
            self.wfile.write(response.body[start : start + slow.chunk_size])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Respond to a request that failed before routing with an rpcStatus JSON body."""
        self.close_connection = True
        if getattr(self, "request_version", "") == "HTTP/0.9":
            # The request line was unreadable, so http.server still assumes HTTP/0.9 and
            # would omit the status line. Respond in HTTP/1.1 like every other response.
            self.request_version = self.protocol_version
        text = message or self.responses.get(code, ("Error",))[0]
        response = rpc_status(code, text)

        if code < 200 or code in (204, 304):
            response = ApiResponse(code, b"", content_type=None)
        self._send(response)

    def _record(self, raw_path: str, query_string: str, body: bytes, status: int | None) -> None:
        """Add this request to the emulator's request log."""
        self.server.request_log.append(
            RecordedRequest(
                method=self.command,
                target=self.path,
                raw_path=raw_path,
                path=unquote(raw_path),
                query=parse_qs(query_string, keep_blank_values=True),
                header_items=tuple(self.headers.items()),
                body=body,
                status=status,
                connection_id=self.connection_id,
            )
        )

    def _hang(self) -> None:
        """Wait without responding until the client disconnects or the emulator stops."""
        while not self.server.stop_event.wait(HANG_POLL_SECONDS):
            if self._peer_closed():
                return

    def _peer_closed(self) -> bool:
        """Return whether the client has closed its end of the connection."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _drop_connection(self) -> None:
        """Close the connection without sending anything more."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the standard access line; `_serve` logs its own, without headers."""

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def _fault_response(fault: Fault) -> ApiResponse:
    """Return the response a status fault sends: its raw body, or an rpcStatus naming it."""
    assert fault.status is not None

    if fault.body is None:
        message = f"Injected fault: HTTP {fault.status}"
        return rpc_status(fault.status, message, headers=fault.headers)

    return ApiResponse(fault.status, fault.body, content_type=None, headers=fault.headers)
