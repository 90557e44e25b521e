"""Child processes of the benchmark: the emulator server and the cold-start measurements.

`run.py` starts each role as ``python benchmarks/workers.py ROLE ...`` and reads one JSON
line from its standard output. The API key comes from the PINECONE_API_KEY environment
variable and is never printed. Every role blocks name lookups and connections to hosts
that are not loopback, so neither this package nor the Pinecone SDK can reach the network.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from typing import Any

#: Imports that the emulator creates at start, so that every cancel names a running import.
SEEDED_IMPORTS = 20_000
#: Seconds from 0 to 100 percent, so that the seeded imports stay InProgress during a run.
RUN_SECONDS = 24 * 3600.0


#: Line written to standard error right before a timed load, to find the imports it caused.
LOAD_MARKER = "--- timed load starts ---"


class RemoteConnectionError(OSError):
    """A benchmark process tried to reach a host that is not loopback."""


def block_remote_hosts() -> None:
    """Make name lookups and connections to any host but loopback fail at once."""
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect

    def is_loopback(host: object) -> bool:
        text = host.decode() if isinstance(host, bytes) else str(host)
        return text == "localhost" or text.startswith("127.") or text in ("::1", "[::1]")

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            raise RemoteConnectionError(f"name lookup of {host!r} blocked by the benchmark")
        return original_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(host):
            raise RemoteConnectionError(f"connection to {address!r} blocked by the benchmark")
        original_connect(sock, address)

    setattr(socket, "getaddrinfo", guarded_getaddrinfo)  # noqa: B010
    setattr(socket.socket, "connect", guarded_connect)  # noqa: B010


def pin_to_cpus(cpus: str | None) -> None:
    """Restrict this process to the comma-separated CPU numbers in `cpus`, if given."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})


def report(values: dict[str, Any]) -> None:
    """Write one JSON line for run.py."""
    print(json.dumps(values), flush=True)


def serve(args: argparse.Namespace) -> None:
    """Run the emulator with the real clock until standard input closes."""
    started = time.perf_counter()
    from pinecone_magic.emulator import Emulator

    emulator = Emulator(os.environ["PINECONE_API_KEY"], port=0, run_seconds=RUN_SECONDS)
    if args.seed:
        emulator.add_imports(args.seed)
    if args.delay:
        emulator.inject_fault(delay=args.delay, times=None)
    emulator.start()
    report(
        {
            "url": emulator.url,
            "pid": os.getpid(),
            "startup_ms": (time.perf_counter() - started) * 1000,
        }
    )
    try:
        sys.stdin.read()
    finally:
        emulator.stop()


def load_extension(args: argparse.Namespace) -> None:
    """Time ``%load_ext NAME`` in a new InteractiveShell, or ``from pinecone import Pinecone``."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    modules_before = len(sys.modules)
    print(LOAD_MARKER, file=sys.stderr, flush=True)

    started = time.perf_counter()
    if args.name == "pinecone-sdk":
        from pinecone import Pinecone  # noqa: F401
    else:
        shell.run_line_magic("load_ext", args.name)
    elapsed = time.perf_counter() - started

    report(
        {
            "ms": elapsed * 1000,
            "modules_loaded": len(sys.modules) - modules_before,
            "httpx_loaded": "httpx" in sys.modules,
        }
    )


def cold_cancel(args: argparse.Namespace) -> None:
    """Time the first cancel in this process: import, connect, request and render."""
    started = time.perf_counter()
    import pinecone_magic

    imported = time.perf_counter()
    result = pinecone_magic.cancel_import(args.import_id, host=args.url)
    bundle = result._repr_mimebundle_()
    finished = time.perf_counter()

    report(
        {
            "ms": (finished - started) * 1000,
            "import_ms": (imported - started) * 1000,
            "status": result.status_code,
            "rendered": sorted(bundle),
        }
    )


def cold_parts(args: argparse.Namespace) -> None:
    """Time the parts of a cold cancel: httpx's import, the package's, and one new client."""
    started = time.perf_counter()
    import httpx

    httpx_imported = time.perf_counter()
    import pinecone_magic.client  # noqa: F401

    package_imported = time.perf_counter()
    httpx.Client().close()
    client_created = time.perf_counter()

    report(
        {
            "httpx_ms": (httpx_imported - started) * 1000,
            "package_ms": (package_imported - httpx_imported) * 1000,
            "client_ms": (client_created - package_imported) * 1000,
        }
    )


def cold_sdk_cancel(args: argparse.Namespace) -> None:
    """Time the SDK's first cancel in this process: import, client, index and request."""
    started = time.perf_counter()
    from pinecone import Pinecone

    imported = time.perf_counter()
    index = Pinecone(api_key=os.environ["PINECONE_API_KEY"], host=args.url).Index(host=args.url)
    returned = index.cancel_import(args.import_id)
    finished = time.perf_counter()

    report(
        {
            "ms": (finished - started) * 1000,
            "import_ms": (imported - started) * 1000,
            "returned": repr(returned),
        }
    )


def measure_rps(args: argparse.Namespace) -> None:
    """Send DELETEs on kept-alive connections for `seconds` and report the requests per second."""
    host_port = args.url.split("://", 1)[1]
    host, _, port = host_port.rpartition(":")
    headers = {
        "Api-Key": os.environ["PINECONE_API_KEY"],
        "X-Pinecone-Api-Version": "2025-10",
    }
    counts = [0] * args.connections
    deadline = time.perf_counter() + args.seconds

    def send_until_deadline(slot: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        import_id = 101 + slot
        while time.perf_counter() < deadline:
            connection.request("DELETE", f"/bulk/imports/{import_id}", headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(
                    f"The emulator responded with HTTP {response.status}, expected 200."
                )
            counts[slot] += 1
            import_id += args.connections
            if import_id >= 101 + SEEDED_IMPORTS:
                import_id = 101 + slot
        connection.close()

    started = time.perf_counter()
    threads = [
        threading.Thread(target=send_until_deadline, args=(slot,))
        for slot in range(args.connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started

    report({"requests": sum(counts), "seconds": elapsed, "rps": sum(counts) / elapsed})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpus", help="comma-separated CPU numbers to run on")
    roles = parser.add_subparsers(dest="role", required=True)

    server = roles.add_parser("serve")
    server.add_argument("--seed", type=int, default=SEEDED_IMPORTS, help="imports to create")
    server.add_argument(
        "--delay", type=float, default=0.0, help="seconds to wait before each response"
    )
    server.set_defaults(run=serve)

    load = roles.add_parser("load")
    load.add_argument("name", help="extension module name, or pinecone-sdk")
    load.set_defaults(run=load_extension)

    for name, function in (("cold-cancel", cold_cancel), ("cold-sdk-cancel", cold_sdk_cancel)):
        role = roles.add_parser(name)
        role.add_argument("url")
        role.add_argument("import_id")
        role.set_defaults(run=function)

    roles.add_parser("cold-parts").set_defaults(run=cold_parts)

    rps = roles.add_parser("rps")
    rps.add_argument("url")
    rps.add_argument("--seconds", type=float, default=2.0)
    rps.add_argument("--connections", type=int, default=1)
    rps.set_defaults(run=measure_rps)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    pin_to_cpus(args.cpus)
    block_remote_hosts()
    args.run(args)


if __name__ == "__main__":
    main()
