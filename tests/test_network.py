"""Network faults against the emulator: TLS, proxies, DNS, redirects, time limits, odd bodies.

TLS runs through `TlsForwarder`, which terminates TLS on loopback with a throwaway `trustme`
CA and passes the bytes to the emulator's plain HTTP port. `ConnectProxy` is an HTTP proxy
on loopback that records each request line it receives and tunnels every CONNECT to one
upstream port. Remote host names end in `.invalid`, so they never resolve: a request for
one succeeds only through the proxy.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import API_KEY

from pinecone_magic import (
    ApiError,
    ConnectError,
    InvalidInputError,
    NotFoundError,
    RedirectError,
    RequestTimeoutError,
    TLSError,
    cancel_import,
    cancel_imports,
    describe_import,
    display,
    transport,
)
from pinecone_magic.emulator import Emulator

REMOTE_HOST = "index.pinecone.invalid"
_PIPE_POLL_SECONDS = 0.2


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def _pipe(first: socket.socket, second: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until one side closes; works for TLS and plain sockets alike.

    One thread does all reads and writes, because an SSLSocket must not be read and written
    from two threads at once.
    """
    peers = {first: second, second: first}
    try:
        while not stopping.is_set():
            readable, _, _ = select.select(list(peers), [], [], _PIPE_POLL_SECONDS)
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                peers[source].sendall(data)
                while isinstance(source, ssl.SSLSocket) and source.pending():
                    peers[source].sendall(source.recv(65536))
    except OSError:
        return
    finally:
        for sock in (first, second):
            sock.close()


class _LoopbackServer:
    """A threaded accept loop on a loopback port that tracks its connections."""

    def __init__(self, bind: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self._listener = socket.create_server((bind, 0), family=family)
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepting.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self.serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def serve(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def pipe(self, first: socket.socket, second: socket.socket) -> None:
        _pipe(first, second, self._stopping)

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)


class TlsForwarder(_LoopbackServer):
    """Terminate TLS on a loopback port and pass the bytes to a plain port on 127.0.0.1."""

    def __init__(self, context: ssl.SSLContext, target_port: int, bind: str = "127.0.0.1"):
        self._context = context
        self._target_port = target_port
        self.handshake_failures = 0
        super().__init__(bind)

    def serve(self, connection: socket.socket) -> None:
        try:
            secure = self._context.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshake_failures += 1
            connection.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self._target_port))
        self.pipe(secure, upstream)


class ConnectProxy(_LoopbackServer):
    """An HTTP proxy that records request lines and tunnels CONNECT to one upstream port.

    With `reject_status`, every request gets that status and nothing is tunnelled.
    """

    def __init__(self, upstream_port: int | None, reject_status: int | None = None) -> None:
        self._upstream_port = upstream_port
        self._reject_status = reject_status
        self.request_lines: list[str] = []
        self.authorizations: list[str] = []
        super().__init__()

    def serve(self, connection: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = connection.recv(4096)
            if not chunk:
                connection.close()
                return
            head += chunk

        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        self.request_lines.append(lines[0])
        self.authorizations.extend(
            line.split(":", 1)[1].strip()
            for line in lines[1:]
            if line.lower().startswith("proxy-authorization:")
        )

        if not lines[0].startswith("CONNECT ") or self._reject_status or not self._upstream_port:
            status = self._reject_status or 502
            connection.sendall(
                f"HTTP/1.1 {status} Rejected by test proxy\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            connection.close()
            return

        upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
        connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.pipe(connection, upstream)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    """A PEM file with the throwaway CA, for SSL_CERT_FILE."""
    path = tmp_path / "corporate-ca.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return str(path)


@pytest.fixture
def forwarder(ca: trustme.CA, emulator: Emulator) -> Iterator[TlsForwarder]:
    """TLS on loopback in front of the emulator, with a certificate from the throwaway CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1", REMOTE_HOST).configure_cert(context)
    server = TlsForwarder(context, emulator.port)
    yield server
    transport.close_clients()
    server.close()


def _proxy(upstream_port: int | None, reject_status: int | None = None) -> Iterator[ConnectProxy]:
    proxy = ConnectProxy(upstream_port, reject_status)
    yield proxy
    transport.close_clients()
    proxy.close()


@pytest.fixture
def proxy(forwarder: TlsForwarder) -> Iterator[ConnectProxy]:
    """A proxy that tunnels every CONNECT to the TLS forwarder."""
    yield from _proxy(forwarder.port)


@pytest.fixture
def rejecting_proxy() -> Iterator[ConnectProxy]:
    """A proxy that responds to every request with 407 Proxy Authentication Required."""
    yield from _proxy(None, reject_status=407)


# TLS


def test_untrusted_certificate_raises_tls_error(
    forwarder: TlsForwarder, emulator: Emulator, api_key_env: str
) -> None:
    host = f"https://localhost:{forwarder.port}"

    with pytest.raises(TLSError) as caught:
        cancel_import("101", host=host)

    message = str(caught.value)
    assert f"localhost:{forwarder.port}" in message
    assert "SSL_CERT_FILE" in message
    assert caught.value.attempts == 1
    assert emulator.requests == []


def test_ssl_cert_file_trusts_corporate_ca(
    forwarder: TlsForwarder,
    emulator: Emulator,
    api_key_env: str,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_id = emulator.add_import()
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)

    result = cancel_import(import_id, host=f"https://localhost:{forwarder.port}")

    assert result.status_code == 200
    assert [request.method for request in emulator.requests] == ["DELETE"]


def test_ssl_cert_file_set_later_takes_effect(
    forwarder: TlsForwarder,
    emulator: Emulator,
    api_key_env: str,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_id = emulator.add_import()
    host = f"https://127.0.0.1:{forwarder.port}"
    with pytest.raises(TLSError):
        cancel_import(import_id, host=host)

    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    result = cancel_import(import_id, host=host)

    assert result.status_code == 200


def test_ssl_cert_file_missing_sends_nothing(
    forwarder: TlsForwarder,
    emulator: Emulator,
    api_key_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "missing-ca.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))

    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101", host=f"https://localhost:{forwarder.port}")

    assert "SSL_CERT_FILE" in str(caught.value)
    assert str(missing) in str(caught.value)
    assert emulator.requests == []


def test_ssl_cert_file_not_pem_sends_nothing(
    forwarder: TlsForwarder,
    emulator: Emulator,
    api_key_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("this is not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(garbage))

    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101", host=f"https://localhost:{forwarder.port}")

    assert "SSL_CERT_FILE" in str(caught.value)
    assert emulator.requests == []


def test_https_to_plain_http_server(emulator: Emulator, api_key_env: str) -> None:
    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=f"https://127.0.0.1:{emulator.port}")

    assert "TLS handshake" in str(caught.value)
    assert caught.value.attempts == 1


# Proxies


def test_https_proxy_tunnels_remote_host(
    proxy: ConnectProxy,
    emulator: Emulator,
    api_key_env: str,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_id = emulator.add_import()
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")

    result = cancel_import(import_id, host=REMOTE_HOST)

    assert result.status_code == 200
    assert proxy.request_lines == [f"CONNECT {REMOTE_HOST}:443 HTTP/1.1"]
    assert [request.method for request in emulator.requests] == ["DELETE"]


def test_lowercase_https_proxy_honoured(
    proxy: ConnectProxy,
    emulator: Emulator,
    api_key_env: str,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")

    describe_import(emulator.add_import(), host=f"{REMOTE_HOST}:8443")

    assert proxy.request_lines == [f"CONNECT {REMOTE_HOST}:8443 HTTP/1.1"]


@pytest.mark.parametrize("no_proxy", [REMOTE_HOST, ".pinecone.invalid", "*"])
def test_no_proxy_bypasses_proxy(
    proxy: ConnectProxy, api_key_env: str, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", no_proxy)

    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=REMOTE_HOST)

    assert "could not be resolved" in str(caught.value), no_proxy
    assert proxy.request_lines == [], no_proxy


def test_http_proxy_skipped_for_loopback_emulator(
    proxy: ConnectProxy, emulator: Emulator, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{proxy.port}")

    result = cancel_import(emulator.add_import(), host=emulator.url)

    assert result.status_code == 200
    assert proxy.request_lines == []


@pytest.mark.parametrize("host_name", ["localhost", "127.0.0.1"])
def test_https_proxy_skipped_for_loopback_https(
    proxy: ConnectProxy,
    forwarder: TlsForwarder,
    emulator: Emulator,
    api_key_env: str,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
    host_name: str,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")

    cancel_import(emulator.add_import(), host=f"https://{host_name}:{forwarder.port}")

    assert proxy.request_lines == [], host_name


def test_proxy_rejecting_connect(
    rejecting_proxy: ConnectProxy, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{rejecting_proxy.port}")

    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=REMOTE_HOST)

    message = str(caught.value)
    assert "failed at the proxy" in message
    assert "HTTPS_PROXY" in message
    assert caught.value.attempts == 1
    assert len(rejecting_proxy.request_lines) == 1


def test_proxy_password_not_shown(
    rejecting_proxy: ConnectProxy, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:hunter2@127.0.0.1:{rejecting_proxy.port}")

    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=REMOTE_HOST)

    assert rejecting_proxy.authorizations, "httpx sends the proxy credentials to the proxy"
    assert "hunter2" not in str(caught.value)
    assert f"127.0.0.1:{rejecting_proxy.port}" in str(caught.value)


def test_proxy_down_names_proxy_variable(
    api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.001)

    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host=REMOTE_HOST)

    assert "HTTPS_PROXY" in str(caught.value)


def test_invalid_proxy_variable_sends_nothing(
    emulator: Emulator, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "ftp://proxy.example.invalid:21")

    with pytest.raises(InvalidInputError) as caught:
        cancel_import("101", host=REMOTE_HOST)

    assert "HTTPS_PROXY" in str(caught.value)


# DNS and refused connections


def test_unresolvable_host_not_retried(api_key_env: str) -> None:
    with pytest.raises(ConnectError) as caught:
        cancel_import("101", host="nonexistent.invalid")

    message = str(caught.value)
    assert "nonexistent.invalid" in message
    assert "could not be resolved" in message
    assert caught.value.attempts == 1


def test_refused_connection_names_host(
    api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.001)
    port = _free_port()

    with pytest.raises(ConnectError) as caught:
        describe_import("101", host=f"http://localhost:{port}")

    assert f"could not connect to localhost:{port}" in str(caught.value)


# Time limits


def test_hang_ends_at_timeout(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="hang", times=10)
    started = time.monotonic()

    with pytest.raises(RequestTimeoutError) as caught:
        cancel_import(import_id, timeout=1)

    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5, f"took {elapsed:.2f} s for a 1 s limit"
    assert caught.value.attempts == 1


def test_cancel_timeout_says_outcome_unknown(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="hang")

    with pytest.raises(RequestTimeoutError) as caught:
        cancel_import(import_id, timeout=0.5)

    message = str(caught.value)
    assert "outcome is unknown" in message
    assert f"%pc_describe_import {import_id}" in message


def test_slow_body_ends_at_timeout(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="slow_body", chunk_size=1, chunk_delay=0.1)
    started = time.monotonic()

    with pytest.raises(RequestTimeoutError):
        describe_import(import_id, timeout=1)

    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"took {elapsed:.2f} s for a 1 s limit"


def test_delay_within_timeout_succeeds(configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(delay=0.3)

    result = cancel_import(import_id, timeout=5)

    assert result.attempts == 1


def test_timeout_covers_index_lookup_and_cancel(
    emulator: Emulator, api_key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", emulator.url)
    emulator.inject_fault(delay=0.6, path_prefix="/indexes")
    emulator.inject_fault(action="hang", method="DELETE")
    started = time.monotonic()

    with pytest.raises(RequestTimeoutError):
        cancel_import(emulator.add_import(), index="quickstart", timeout=1)

    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"took {elapsed:.2f} s for a 1 s limit shared by two requests"


def test_magic_timeout_option_bounds_call(shell: Any, configured: Emulator) -> None:
    import_id = configured.add_import()
    configured.inject_fault(action="hang", times=10)
    started = time.monotonic()

    with pytest.raises(RequestTimeoutError):
        shell.run_line_magic("pc_cancel_import", f"{import_id} --timeout 1")

    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"took {elapsed:.2f} s for --timeout 1"


# Redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_not_followed(configured: Emulator, status: int) -> None:
    import_id = configured.add_import()
    with Emulator(api_key=API_KEY) as other:
        location = f"{other.url}/bulk/imports/{import_id}"
        configured.inject_fault(status, headers={"Location": location}, body=b"")

        with pytest.raises(RedirectError) as caught:
            cancel_import(import_id)

        assert other.requests == [], f"HTTP {status}"
    assert caught.value.location == location, f"HTTP {status}"
    assert caught.value.attempts == 1, f"HTTP {status}"
    assert len(configured.requests) == 1, f"HTTP {status}"
    assert "not followed" in str(caught.value), f"HTTP {status}"


def test_redirect_shown_as_batch_row(configured: Emulator) -> None:
    first, second = configured.add_import(), configured.add_import()
    configured.inject_fault(
        302,
        headers={"Location": "https://elsewhere.invalid/"},
        body=b"",
        path_prefix=f"/bulk/imports/{first}",
    )

    batch = cancel_imports([first, second], check_status=False)

    assert isinstance(batch[0].error, RedirectError)
    assert batch[1].outcome == "cancel requested"
    assert "elsewhere.invalid" in display.plain_text(batch)


# Rendering of failures


def test_html_proxy_page_escaped(
    configured: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1><script>alert('pwned')</script></body></html>"
    configured.inject_fault(502, body=page, headers={"Content-Type": "text/html"}, times=4)
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.001)

    with pytest.raises(ApiError) as caught:
        cancel_import("101")

    rendered = display.html_text(caught.value)
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "text/html body, not an API error" in str(caught.value)


def test_status_comes_before_grpc_code(configured: Emulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        describe_import("999")

    for rendering in (str(caught.value), display.plain_text(caught.value)):
        assert rendering.index("HTTP 404") < rendering.index("gRPC code 5, NOT_FOUND")


def test_request_id_shown(configured: Emulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        cancel_import("999")

    request_id = caught.value.request_id
    assert request_id
    assert f"Request id: {request_id}" in str(caught.value)
    assert request_id in display.html_text(caught.value)


def test_long_body_cut_with_note(configured: Emulator) -> None:
    configured.inject_fault(400, body=b"x" * 10_000, headers={"Content-Type": "text/plain"})

    with pytest.raises(ApiError) as caught:
        cancel_import("101")

    text = display.plain_text(caught.value)
    assert "more characters cut" in str(caught.value)
    assert "8000 more characters cut" in text
    assert len(text) < 3000


def test_non_json_success_body(configured: Emulator) -> None:
    configured.inject_fault(200, body=b"<html>Welcome to the proxy</html>")

    with pytest.raises(ApiError) as caught:
        describe_import("101")

    assert "not JSON" in str(caught.value)
    assert caught.value.status_code == 200


def test_oversized_body_not_read(
    configured: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "MAX_RESPONSE_BYTES", 1000)
    configured.inject_fault(200, body=b'{"id": "' + b"1" * 5000 + b'"}')

    with pytest.raises(ApiError) as caught:
        describe_import("101")

    assert "larger than 1,000 bytes" in str(caught.value)
    assert caught.value.attempts == 1
