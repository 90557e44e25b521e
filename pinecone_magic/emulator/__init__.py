"""A local Pinecone emulator for bulk imports: a real HTTP server on a loopback address.

It serves the four import endpoints of the data plane and ``GET /indexes/{name}`` of the
control plane, speaking API version 2025-10, so the quick start, the tests and the
benchmarks run without a Pinecone account. It uses only the standard library and imports
nothing from the rest of ``pinecone_magic``, so the client and the emulator check each other.

    from pinecone_magic.emulator import Emulator, ManualClock

    clock = ManualClock()
    with Emulator(api_key="test-key", clock=clock) as emu:
        import_id = emu.start_import("s3://bucket/dir")  # "101"
        clock.advance(5)
        emu.inject_fault(503, headers={"Retry-After": "1"}, times=2)

From a shell: ``python -m pinecone_magic.emulator --port 5081 --api-key KEY``.

Where prose and schemas differ, the emulator follows the schemas of the 2025-10 OpenAPI
files. For example, the description of ``GET /bulk/imports`` speaks of a
``pagination_token``, while the schemas name the query parameter ``paginationToken`` and
the response field ``pagination.next``. JSON fields are camelCase (``createdAt``,
``percentComplete``), although the documentation shows snake_case examples such as
``created_at``. The import path parameter is ``id``, ``percentComplete`` may be 0 and 100
inclusive as the schema allows, and data-plane error bodies are rpcStatus objects whose
``code`` is a gRPC code.

Where the emulator differs from the real service:

- Imports take seconds, where real ones take minutes or longer: ``Pending`` for 1 s, 0 to
  100 percent in 30 s, ``InProgress`` at 100 percent for 10 s, then ``Completed`` (all
  configurable).
- Import ids are decimal strings counting up from ``"101"``.
- Listings are ordered by creation time, oldest first. Pagination tokens are opaque, and a
  token this emulator did not issue is rejected with 400 and gRPC code 3.
- The ``uri`` is checked only for its length (1 to 1500 characters): nothing is read from
  object storage, ``integrationId`` and ``errorMode`` are stored but change nothing, and
  unknown JSON fields are ignored.
- Every known index is a ready serverless cosine index on AWS us-east-1 whose ``host`` is
  the emulator's own address. An unknown name gets 404 ``Resource NAME not found``, where
  the 2025-10 spec's example says ``Index NAME not found.``.
- A missing ``Api-Key`` header gets the message ``Missing API Key: ...`` rather than
  ``Invalid API Key``; both are 401 with gRPC code 16.

NOTE: The official Python SDK 10.2 sends API version 2026-07. Its import calls work against
the emulator, but its ``describe_index`` expects the 2026-07 IndexModel (with ``schema``)
and fails to parse the 2025-10 one the emulator returns.
"""

from __future__ import annotations

from .clock import Clock, ManualClock, SystemClock
from .faults import Fault, parse_fault_spec
from .recording import RecordedRequest
from .server import Emulator
from .state import ImportNotFoundError, Timings

__all__ = [
    "Clock",
    "Emulator",
    "Fault",
    "ImportNotFoundError",
    "ManualClock",
    "RecordedRequest",
    "SystemClock",
    "Timings",
    "parse_fault_spec",
]
