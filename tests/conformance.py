"""Pytest plugin: check every exchange between pinecone_magic and the emulator against OpenAPI.

An autouse fixture records each request that the package's HTTP client sends (requests whose
User-Agent starts with ``pinecone-magic/``) and the response it gets. At teardown it validates
each exchange whose response came from the local emulator (``Server: PineconeEmulator``, on a
loopback address) with openapi-core: ``/bulk/imports`` against Pinecone's data-plane
description ``db_data_2025-10.oas.yaml``, and ``/indexes/{name}`` against the control-plane
description ``db_control_2025-10.oas.yaml``. A violation fails the test that caused it.

Exchanges are not validated in three cases:

- The response came from a fault that the test scheduled in an in-process emulator with
  ``Emulator.inject_fault`` or ``Emulator.add_fault``. Such a response has the status of the
  fault and, where the fault has a body of its own, that body. The request is still
  validated.
- No response arrived (a dropped or hung connection, a timeout).
- The test is marked ``@pytest.mark.nonconforming`` because it sends or provokes
  non-conforming traffic on purpose, for example through an emulator started with
  ``--fault`` in another process.

The OpenAPI files are read from the ``shared/spec`` folder next to the repository. Where that
folder is missing, nothing is validated and the terminal summary reports that.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

if TYPE_CHECKING:
    import httpx
    from openapi_core import OpenAPI

    from pinecone_magic.emulator import Fault

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"
DATA_SPEC_FILE = "db_data_2025-10.oas.yaml"
CONTROL_SPEC_FILE = "db_control_2025-10.oas.yaml"

#: Prefix of the User-Agent header that pinecone_magic.transport sends.
PACKAGE_USER_AGENT_PREFIX = "pinecone-magic/"
#: Prefix of the Server header that the emulator's HTTP handler sends.
EMULATOR_SERVER_PREFIX = "PineconeEmulator"
API_VERSION_HEADER = "X-Pinecone-Api-Version"
NONCONFORMING_MARKER = "nonconforming"

_TOTALS_KEY = pytest.StashKey["ConformanceTotals"]()
_RESPONSE_CACHE_LIMIT = 4096


@dataclass
class ConformanceTotals:
    """Counts over the whole session, for the terminal summary."""

    validated: int = 0
    exempt: int = 0
    violations: int = 0
    spec_missing: bool = False


@dataclass(frozen=True)
class ApiDescription:
    """One OpenAPI file, loaded with servers that also match http:// loopback hosts."""

    file_name: str
    openapi: OpenAPI
    routes: tuple[tuple[re.Pattern[str], str], ...]

    def route(self, raw_path: str) -> str | None:
        """Return the path template that `raw_path` matches, such as ``/bulk/imports/{id}``."""
        for pattern, template in self.routes:
            if pattern.fullmatch(raw_path):
                return template
        return None


@dataclass(frozen=True)
class ApiDescriptions:
    """The data-plane and control-plane descriptions that the exchanges are checked against."""

    data: ApiDescription
    control: ApiDescription

    def for_path(self, raw_path: str) -> ApiDescription:
        """Return the control plane for ``/indexes`` paths and the data plane for the rest."""
        if raw_path == "/indexes" or raw_path.startswith("/indexes/"):
            return self.control
        return self.data


@dataclass(frozen=True)
class Exchange:
    """One request sent by pinecone_magic, with its response if one arrived."""

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...] = field(repr=False)
    request_body: bytes
    status: int | None = None
    response_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    response_body: bytes | None = None
    error: str | None = None

    @property
    def raw_path(self) -> str:
        """The percent-encoded path, without the query string."""
        return urlsplit(self.url).path

    def header_values(self, name: str, *, response: bool = False) -> list[str]:
        """Return every value of header `name` (case-insensitive) in the request or response."""
        items = self.response_headers if response else self.request_headers
        lowered = name.lower()
        return [value for key, value in items if key.lower() == lowered]

    def title(self) -> str:
        """Return ``METHOD URL -> STATUS`` for messages."""
        outcome = str(self.status) if self.status is not None else f"no response ({self.error})"
        return f"{self.method} {self.url} -> {outcome}"


@dataclass
class ConformanceRecorder:
    """Exchanges and injected faults of one test, and the validation of both."""

    descriptions: ApiDescriptions = field(repr=False)
    exchanges: list[Exchange] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_exchange(self, exchange: Exchange) -> None:
        """Record one exchange. Safe to call from several threads."""
        with self._lock:
            self.exchanges.append(exchange)

    def add_fault(self, fault: Fault) -> None:
        """Record a fault that the test scheduled in an emulator."""
        with self._lock:
            self.faults.append(fault)

    def emulator_exchanges(self) -> list[Exchange]:
        """Return the recorded exchanges whose response came from the emulator, in sending order."""
        with self._lock:
            exchanges = list(self.exchanges)
        return [exchange for exchange in exchanges if is_emulator_response(exchange)]

    def is_exempt(self, exchange: Exchange) -> bool:
        """Return whether the response of `exchange` came from a fault the test injected."""
        with self._lock:
            faults = list(self.faults)
        # NOTE: a fault without a body of its own exempts every response with its status in
        # this test, so a real emulator error of that status goes unvalidated there.
        return any(
            fault.status == exchange.status
            and (fault.body is None or fault.body == exchange.response_body)
            for fault in faults
        )

    def check(self) -> tuple[list[str], int, int]:
        """Validate the emulator's exchanges and return the violations, validated and exempt counts.

        Each violation is one line that names the exchange, the OpenAPI file and the problem.
        """
        violations: list[str] = []
        validated = 0
        exempt = 0

        for exchange in self.emulator_exchanges():
            check_response = exchange.response_body is not None
            if check_response and self.is_exempt(exchange):
                check_response = False
                exempt += 1

            problems = validate_exchange(self.descriptions, exchange, check_response=check_response)
            validated += 1
            description = self.descriptions.for_path(exchange.raw_path).file_name
            for problem in problems:
                violations.append(
                    redact_api_key(f"{exchange.title()} ({description}): {problem}", exchange)
                )

        return violations, validated, exempt


@functools.lru_cache(maxsize=4)
def load_descriptions(spec_dir: Path = SPEC_DIR) -> ApiDescriptions | None:
    """Load both OpenAPI files from `spec_dir` once per process, or return None if one is absent."""
    data_path = spec_dir / DATA_SPEC_FILE
    control_path = spec_dir / CONTROL_SPEC_FILE
    if not data_path.is_file() or not control_path.is_file():
        return None

    return ApiDescriptions(
        data=_load_description(data_path, "index_host"),
        control=_load_description(control_path, "controller_host"),
    )


def _load_description(path: Path, host_variable: str) -> ApiDescription:
    """Load one OpenAPI file and replace its servers, in memory only, with any-host patterns.

    The files name ``https://{index_host}`` or ``https://api.pinecone.io``. The emulator
    serves plain HTTP on a loopback port, so both schemes are accepted for any host.
    """
    import yaml  # type: ignore[import-untyped]
    from openapi_core import OpenAPI

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.load(file, Loader=loader)

    variables = {host_variable: {"default": "localhost", "description": "host and port"}}
    document["servers"] = [
        {"url": f"http://{{{host_variable}}}", "variables": variables},
        {"url": f"https://{{{host_variable}}}", "variables": variables},
    ]

    routes = tuple(
        (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))), template)
        for template in sorted(document["paths"], key=lambda name: (name.count("{"), name))
    )
    return ApiDescription(path.name, OpenAPI.from_dict(document), routes)


class _OpenAPIRequest:
    """An `Exchange`'s request in the shape that openapi-core reads."""

    def __init__(self, exchange: Exchange) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        parts = urlsplit(exchange.url)
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path
        self.method = exchange.method.lower()
        self.body: bytes | None = exchange.request_body or None
        self.content_type = ", ".join(exchange.header_values("Content-Type"))
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(parts.query, keep_blank_values=True)),
            header=Headers(list(exchange.request_headers)),
            cookie=ImmutableMultiDict(),
        )


class _OpenAPIResponse:
    """An `Exchange`'s response in the shape that openapi-core reads."""

    def __init__(self, exchange: Exchange) -> None:
        from werkzeug.datastructures import Headers

        assert exchange.status is not None
        self.status_code = exchange.status
        self.data = exchange.response_body
        self.content_type = ", ".join(exchange.header_values("Content-Type", response=True))
        self.headers = Headers(list(exchange.response_headers))


def validate_exchange(
    descriptions: ApiDescriptions,
    exchange: Exchange,
    *,
    check_request: bool = True,
    check_response: bool = True,
) -> list[str]:
    """Return the problems of one exchange against the OpenAPI file for its path, [] if none.

    Besides openapi-core's checks, the request must carry X-Pinecone-Api-Version exactly once:
    openapi-core 0.23 fills a missing required header from its schema default instead of
    reporting it.
    """
    description = descriptions.for_path(exchange.raw_path)
    request = _OpenAPIRequest(exchange)
    problems: list[str] = []

    if check_request:
        versions = exchange.header_values(API_VERSION_HEADER)
        if len(versions) != 1:
            problems.append(
                f"request: the required header {API_VERSION_HEADER} was sent "
                f"{len(versions)} times, expected once"
            )
        problems.extend(f"request: {text}" for text in _request_errors(description, request))

    if check_response and exchange.status is not None and exchange.response_body is not None:
        route = description.route(exchange.raw_path)
        cache_key = (
            description.file_name,
            exchange.method,
            route or exchange.raw_path,
            exchange.status,
            tuple(exchange.header_values("Content-Type", response=True)),
            exchange.response_body,
        )
        errors = _response_errors_cached(cache_key, description, request, exchange)
        problems.extend(f"response: {text}" for text in errors)

    return problems


def _request_errors(description: ApiDescription, request: _OpenAPIRequest) -> list[str]:
    from openapi_core.exceptions import OpenAPIError

    try:
        description.openapi.validate_request(request)
    except OpenAPIError:
        result = description.openapi.unmarshal_request(request)
        return [_format_error(error) for error in result.errors] or ["invalid request"]
    return []


_response_cache: dict[tuple[object, ...], tuple[str, ...]] = {}
_response_cache_lock = threading.Lock()


def _response_errors_cached(
    cache_key: tuple[object, ...],
    description: ApiDescription,
    request: _OpenAPIRequest,
    exchange: Exchange,
) -> tuple[str, ...]:
    """Validate a response, reusing the result for an identical response to the same route."""
    with _response_cache_lock:
        cached = _response_cache.get(cache_key)
    if cached is not None:
        return cached

    errors = tuple(_response_errors(description, request, _OpenAPIResponse(exchange)))
    with _response_cache_lock:
        if len(_response_cache) >= _RESPONSE_CACHE_LIMIT:
            _response_cache.clear()
        _response_cache[cache_key] = errors
    return errors


def _response_errors(
    description: ApiDescription, request: _OpenAPIRequest, response: _OpenAPIResponse
) -> list[str]:
    from openapi_core.exceptions import OpenAPIError

    try:
        description.openapi.validate_response(request, response)
    except OpenAPIError:
        result = description.openapi.unmarshal_response(request, response)
        return [_format_error(error) for error in result.errors] or ["invalid response"]
    return []


def _format_error(error: BaseException) -> str:
    """Return one line for an openapi-core error, naming each JSON schema error and its place."""
    headline = " ".join(str(error).split()) or type(error).__name__
    if "not valid for schema" in headline:
        # This text repeats the whole value and the reprs of the schema errors listed below.
        headline = type(error).__name__
    details: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error

    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for schema_error in getattr(current, "schema_errors", None) or ():
            location = "".join(
                f"[{step}]" if isinstance(step, int) else f".{step}"
                for step in getattr(schema_error, "absolute_path", ())
            )
            message = getattr(schema_error, "message", str(schema_error))
            details.append(f"at ${location}: {message}")
        current = current.__cause__

    return "; ".join([headline, *details])


def redact_api_key(text: str, exchange: Exchange) -> str:
    """Replace every Api-Key header value that the exchange sent with ``***``."""
    for key in exchange.header_values("Api-Key"):
        if key:
            text = text.replace(key, "***")
    return text


def is_emulator_response(exchange: Exchange) -> bool:
    """Return whether the response of this exchange came from the emulator on loopback."""
    if exchange.status is None:
        return False
    servers = exchange.header_values("Server", response=True)
    if not any(server.startswith(EMULATOR_SERVER_PREFIX) for server in servers):
        return False
    return is_loopback_host(urlsplit(exchange.url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """Return whether `host` is ``localhost`` or a loopback IP address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exchange_from_httpx(
    request: httpx.Request,
    response: httpx.Response | None,
    *,
    response_body: bytes | None = None,
    error: BaseException | None = None,
) -> Exchange:
    """Return an `Exchange` for an httpx request and its response (or the error raised).

    `response_body` is the decoded body; None records the status and headers only, so the
    response is not validated.
    """
    import httpx

    try:
        request_body = request.content
    except httpx.RequestNotRead:
        request_body = b""

    return Exchange(
        method=request.method,
        url=str(request.url),
        request_headers=tuple(request.headers.multi_items()),
        request_body=request_body,
        status=response.status_code if response is not None else None,
        response_headers=tuple(response.headers.multi_items()) if response is not None else (),
        response_body=response_body,
        error=type(error).__name__ if error is not None else None,
    )


def _decoded_body(response: httpx.Response, raw: bytes) -> bytes:
    """Return `raw` decoded with the response's Content-Encoding."""
    import httpx

    copy = httpx.Response(response.status_code, headers=response.headers, content=raw)
    return copy.read()


def _is_package_request(request: httpx.Request) -> bool:
    user_agent: str = request.headers.get("User-Agent", "")
    return user_agent.startswith(PACKAGE_USER_AGENT_PREFIX)


def _record_response(
    recorder: ConformanceRecorder, request: httpx.Request, response: httpx.Response
) -> None:
    """Record the exchange now if the body was read, else when the streamed body is closed.

    A streamed body is copied as the caller reads it. A body closed before its end is
    recorded without body, so that only the request is validated.
    """
    import httpx

    try:
        body = response.content
    except httpx.ResponseNotRead:
        pass
    else:
        recorder.add_exchange(exchange_from_httpx(request, response, response_body=body))
        return

    def on_close(raw: bytes, complete: bool) -> None:
        body = _decoded_body(response, raw) if complete else None
        recorder.add_exchange(exchange_from_httpx(request, response, response_body=body))

    if isinstance(response.stream, httpx.SyncByteStream):
        response.stream = _copying_stream(response.stream, on_close)
    elif isinstance(response.stream, httpx.AsyncByteStream):
        response.stream = _async_copying_stream(response.stream, on_close)


@functools.cache
def _copying_stream_classes() -> tuple[type[Any], type[Any]]:
    """Define the stream wrappers on first use, so that loading this plugin imports no httpx."""
    import httpx

    class CopyingStream(httpx.SyncByteStream):
        """A response stream that keeps a copy of the raw bytes read through it."""

        def __init__(
            self, inner: httpx.SyncByteStream, on_close: Callable[[bytes, bool], None]
        ) -> None:
            self._inner = inner
            self._on_close = on_close
            self._chunks: list[bytes] = []
            self._complete = False
            self._closed = False

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
            self._complete = True

        def close(self) -> None:
            self._inner.close()
            if not self._closed:
                self._closed = True
                self._on_close(b"".join(self._chunks), self._complete)

    class AsyncCopyingStream(httpx.AsyncByteStream):
        """An async response stream that keeps a copy of the raw bytes read through it."""

        def __init__(
            self, inner: httpx.AsyncByteStream, on_close: Callable[[bytes, bool], None]
        ) -> None:
            self._inner = inner
            self._on_close = on_close
            self._chunks: list[bytes] = []
            self._complete = False
            self._closed = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
            self._complete = True

        async def aclose(self) -> None:
            await self._inner.aclose()
            if not self._closed:
                self._closed = True
                self._on_close(b"".join(self._chunks), self._complete)

    return CopyingStream, AsyncCopyingStream


def _copying_stream(
    inner: httpx.SyncByteStream, on_close: Callable[[bytes, bool], None]
) -> httpx.SyncByteStream:
    sync_class, _ = _copying_stream_classes()
    stream: httpx.SyncByteStream = sync_class(inner, on_close)
    return stream


def _async_copying_stream(
    inner: httpx.AsyncByteStream, on_close: Callable[[bytes, bool], None]
) -> httpx.AsyncByteStream:
    _, async_class = _copying_stream_classes()
    stream: httpx.AsyncByteStream = async_class(inner, on_close)
    return stream


def _install_recording(monkeypatch: pytest.MonkeyPatch, recorder: ConformanceRecorder) -> None:
    """Wrap httpx's send methods and the emulator's fault schedule for one test."""
    import httpx

    from pinecone_magic.emulator.faults import FaultSchedule

    original_send = httpx.Client.send
    original_async_send = httpx.AsyncClient.send
    original_add_fault = FaultSchedule.add

    def recording_send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> Any:
        if not _is_package_request(request):
            return original_send(client, request, **kwargs)
        try:
            response = original_send(client, request, **kwargs)
        except Exception as error:
            recorder.add_exchange(exchange_from_httpx(request, None, error=error))
            raise
        _record_response(recorder, request, response)
        return response

    async def recording_async_send(
        client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> Any:
        if not _is_package_request(request):
            return await original_async_send(client, request, **kwargs)
        try:
            response = await original_async_send(client, request, **kwargs)
        except Exception as error:
            recorder.add_exchange(exchange_from_httpx(request, None, error=error))
            raise
        _record_response(recorder, request, response)
        return response

    def recording_add_fault(schedule: FaultSchedule, fault: Fault) -> None:
        recorder.add_fault(fault)
        original_add_fault(schedule, fault)

    monkeypatch.setattr(httpx.Client, "send", recording_send)
    monkeypatch.setattr(httpx.AsyncClient, "send", recording_async_send)
    monkeypatch.setattr(FaultSchedule, "add", recording_add_fault)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{NONCONFORMING_MARKER}: the test makes non-conforming HTTP exchanges on purpose, so "
        "they are not validated against Pinecone's OpenAPI files",
    )
    config.stash[_TOTALS_KEY] = ConformanceTotals()


@pytest.fixture(autouse=True)
def openapi_conformance(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ConformanceRecorder | None]:
    """Record this test's exchanges with the emulator and fail at teardown on a violation.

    Yields the recorder, or None where the OpenAPI files are missing or the test is marked
    nonconforming.
    """
    totals = request.config.stash.get(_TOTALS_KEY, ConformanceTotals())
    descriptions = load_descriptions()
    if descriptions is None:
        totals.spec_missing = True
        yield None
        return
    if request.node.get_closest_marker(NONCONFORMING_MARKER) is not None:
        yield None
        return

    recorder = ConformanceRecorder(descriptions)
    _install_recording(monkeypatch, recorder)
    yield recorder

    violations, validated, exempt = recorder.check()
    totals.validated += validated
    totals.exempt += exempt
    totals.violations += len(violations)
    if violations:
        lines = "\n".join(f"- {violation}" for violation in violations)
        pytest.fail(
            f"{len(violations)} OpenAPI violation(s) in exchanges between pinecone_magic and "
            f"the emulator:\n{lines}\nFix the emulator or the client. A test that makes "
            f"non-conforming exchanges on purpose can carry @pytest.mark.{NONCONFORMING_MARKER}.",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    totals = config.stash.get(_TOTALS_KEY, None)
    if totals is None:
        return

    write: Callable[[str], None] = terminalreporter.write_line
    if totals.spec_missing:
        write(f"OpenAPI conformance: not checked, {DATA_SPEC_FILE} is missing from {SPEC_DIR}.")
    elif totals.validated:
        write(
            f"OpenAPI conformance: {totals.validated} exchange(s) with the emulator validated "
            f"against {DATA_SPEC_FILE} and {CONTROL_SPEC_FILE}, {totals.exempt} response(s) "
            f"exempt as injected faults, {totals.violations} violation(s)."
        )
