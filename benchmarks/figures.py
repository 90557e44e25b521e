"""The measured figures: each function runs its contenders and returns a `Figure`."""

from __future__ import annotations

import asyncio
import cProfile
import importlib.util
import io
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness import (
    API_VERSION,
    Emulator,
    EmulatorLoad,
    Figure,
    Goal,
    ImportIds,
    Sample,
    per_call_ms,
    rotated,
    run_worker,
    start_emulator,
    stop_emulator,
    worker_result,
)
from workers import LOAD_MARKER

WARM_CALLS = 300
BATCH_SIZE = 1000
BATCH_CONCURRENCY = 32
SDK_LOOP_SAMPLE = 100
#: Thread count of the comparison row that shows the cost of many threads on one CPU.
FEW_THREADS = 4
#: Seconds the emulator of the latency figure waits before each response.
SERVER_DELAY = 0.02
LATENCY_SDK_SAMPLE = 25
RPS_SECONDS = 1.5
#: Share of one CPU above which the emulator counts as the bottleneck of a measurement.
EMULATOR_BUSY_LIMIT = 0.9


def measure_load_ext(client_cpus: str, rounds: int) -> Figure:
    contenders = {
        "pinecone_magic": Sample("`%load_ext pinecone_magic`"),
        "trivial_extension": Sample("`%load_ext` of an extension that registers nothing"),
        "pinecone-sdk": Sample("`from pinecone import Pinecone`"),
    }
    modules: dict[str, int] = {}
    httpx_loaded = False
    for name in contenders:
        worker_result(client_cpus, "load", name)

    for round_number in range(rounds):
        for name in rotated(list(contenders), round_number):
            result = worker_result(client_cpus, "load", name)
            contenders[name].values.append(result["ms"])
            modules[name] = result["modules_loaded"]
            if name == "pinecone_magic":
                httpx_loaded = httpx_loaded or result["httpx_loaded"]

    for name, sample in contenders.items():
        sample.note = f"{modules[name]} modules imported"
    ours = contenders["pinecone_magic"]
    empty = contenders["trivial_extension"]
    slowest = slowest_imports(client_cpus, "pinecone_magic")
    return Figure(
        title="`%load_ext pinecone_magic`, in-process",
        measured=(
            "Time of the load alone, in a new `InteractiveShell` of a fresh process, so that "
            "no module of the extension or the SDK is imported yet (their .pyc files exist). "
            f"Loading pinecone_magic imported httpx: {'yes' if httpx_loaded else 'no'}."
        ),
        samples=list(contenders.values()),
        goals=[Goal("<= 5 ms", ours.median, 5.0, value_text=f"{ours.median:.2f} ms")],
        explanation=(
            f"IPython's own part of a load is {empty.median:.2f} ms (the empty extension); "
            "the rest is the modules that the extension imports. Largest own import times "
            f"(`python -X importtime`, one run): {slowest}."
        ),
    )


def slowest_imports(client_cpus: str, extension: str, count: int = 6) -> str:
    """Return the modules that loading `extension` imports, slowest first, with their times."""
    _, stderr = run_worker(client_cpus, "load", extension, python_options=["-X", "importtime"])
    entries: list[tuple[int, str]] = []
    for line in stderr.split(LOAD_MARKER, 1)[-1].splitlines():
        if not line.startswith("import time:"):
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():
            entries.append((int(own), name))

    entries.sort(reverse=True)
    return ", ".join(f"`{name}` {own / 1000:.1f} ms" for own, name in entries[:count])


def measure_cold_cancel(client_cpus: str, ids: ImportIds, url: str, rounds: int) -> Figure:
    ours = Sample("pinecone_magic: import, `cancel_import()`, `_repr_mimebundle_()`")
    sdk = Sample("SDK: import, `Pinecone(...).Index(host=...)`, `cancel_import()`")
    ours_import = Sample("of which `import pinecone_magic`")
    sdk_import = Sample("of which `from pinecone import Pinecone`")
    worker_result(client_cpus, "cold-cancel", url, ids.next())
    worker_result(client_cpus, "cold-sdk-cancel", url, ids.next())

    for round_number in range(rounds):
        for role in rotated(["cold-cancel", "cold-sdk-cancel"], round_number):
            result = worker_result(client_cpus, role, url, ids.next())
            total, imported = (ours, ours_import) if role == "cold-cancel" else (sdk, sdk_import)
            total.values.append(result["ms"])
            imported.values.append(result["import_ms"])

    parts = {
        "httpx_ms": Sample("part: `import httpx` (separate processes)"),
        "package_ms": Sample("part: `import pinecone_magic.client` after httpx"),
        "client_ms": Sample("part: one `httpx.Client()` with the default CA bundle"),
    }
    for _ in range(rounds):
        result = worker_result(client_cpus, "cold-parts")
        for key, sample in parts.items():
            sample.values.append(result[key])

    ratio = ours.median / sdk.median
    return Figure(
        title="Cold first cancel in a fresh process",
        measured=(
            "Time inside a fresh Python process from before the first import to the rendered "
            "result (the SDK returns None, so it renders nothing). Interpreter start-up is "
            "not included; it is the same for both."
        ),
        samples=[ours, ours_import, *parts.values(), sdk, sdk_import],
        goals=[Goal("<= 0.5x the SDK", ratio, 0.5, value_text=f"{ratio:.2f}x the SDK")],
        explanation=(
            "Most of a cold cancel is the import of httpx. The creation of an httpx client "
            "loads the CA bundle into an SSL context (the last parts row). pinecone_magic "
            "skips that for an http:// loopback URL such as the emulator's, because such a "
            "client never does TLS; against an https:// index host, its cold cancel would "
            "take about that much longer. The SDK loads the CA bundle twice, once for "
            "`Pinecone` and once for `Index`, even for an http:// URL."
        ),
    )


def measure_warm(
    ids: ImportIds, url: str, api_key: str, load: EmulatorLoad, rounds: int
) -> tuple[Figure, Figure, Callable[[], None]]:
    """Measure warm single cancels: the function, the magic with rendering, raw httpx, the SDK."""
    import httpx
    from IPython.core.interactiveshell import InteractiveShell
    from pinecone import Pinecone

    import pinecone_magic

    raw_client = httpx.Client(
        base_url=url, headers={"Api-Key": api_key, "X-Pinecone-Api-Version": API_VERSION}
    )
    sdk_index = Pinecone(api_key=api_key, host=url).Index(host=url)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pinecone_magic")
    formatter = shell.display_formatter
    assert formatter is not None

    def ours() -> None:
        pinecone_magic.cancel_import(ids.next())

    def magic() -> None:
        result = shell.run_line_magic("pc_cancel_import", ids.next())
        formatter.format(result)

    def raw() -> None:
        raw_client.delete(f"/bulk/imports/{ids.next()}")

    def sdk() -> None:
        sdk_index.cancel_import(ids.next())

    contenders = {
        "ours": (Sample("`pinecone_magic.cancel_import()`"), ours),
        "magic": (Sample("`%pc_cancel_import` + `display_formatter.format()`"), magic),
        "raw": (Sample("raw `httpx.Client.delete`, kept-alive connection"), raw),
        "sdk": (Sample("SDK `Index.cancel_import()`"), sdk),
    }
    for _, call in contenders.values():
        per_call_ms(call, 30)

    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for round_number in range(rounds):
        for name in rotated(list(contenders), round_number):
            sample, call = contenders[name]

            def section(call: Callable[[], None] = call, name: str = name) -> float:
                return per_call_ms(call, WARM_CALLS, cpu[name])

            sample.values.append(load.measure(f"warm {name}", section))

    for name, (sample, _) in contenders.items():
        sample.cpu_us = statistics.median(cpu[name])
        sample.note = (
            f"median of {WARM_CALLS} calls per round; "
            f"client CPU {statistics.median(cpu[name]):.0f} us per call"
        )
    ours_sample, magic_sample = contenders["ours"][0], contenders["magic"][0]
    raw_sample, sdk_sample = contenders["raw"][0], contenders["sdk"][0]
    raw_ratio = ours_sample.median / raw_sample.median
    sdk_ratio = ours_sample.median / sdk_sample.median
    magic_ratio = magic_sample.median / raw_sample.median

    cpu_text = ", ".join(
        f"{label} {statistics.median(cpu[name]):.0f} us"
        for name, label in (("ours", "pinecone_magic"), ("raw", "raw httpx"), ("sdk", "the SDK"))
    )
    warm = Figure(
        title="Warm cancel through `pinecone_magic.cancel_import()`",
        measured=(
            "Time per call of sequential cancels on a kept-alive connection, after warm-up, "
            "in this process: the median of each round's calls, then the median, minimum "
            "and maximum of the rounds. Client CPU is the process's CPU time per call."
        ),
        samples=[ours_sample, raw_sample, sdk_sample],
        goals=[
            Goal("<= 1.2x raw", raw_ratio, 1.2, value_text=f"{raw_ratio:.2f}x raw"),
            Goal("<= 1.0x the SDK", sdk_ratio, 1.0, value_text=f"{sdk_ratio:.2f}x the SDK"),
        ],
        explanation=(
            f"Client CPU per call: {cpu_text}. A warm cancel is bound by the client's CPU, "
            "so every microsecond that pinecone_magic spends around httpx shows in the ratio."
        ),
    )
    magic_figure = Figure(
        title="Warm `%pc_cancel_import` including rendering",
        measured=(
            "`InteractiveShell.run_line_magic` plus the display formatter's `format()` of "
            "the result (text/plain, text/html and application/json), per call."
        ),
        samples=[magic_sample, raw_sample],
        goals=[Goal("<= 2x raw", magic_ratio, 2.0, value_text=f"{magic_ratio:.2f}x raw")],
    )
    return warm, magic_figure, ours


@dataclass(frozen=True)
class BatchTiming:
    """Wall time of a batch, scaled to BATCH_SIZE cancels, and client CPU per cancel."""

    wall_ms: float
    cpu_us_per_cancel: float


class BatchContenders:
    """The ways to cancel a batch of imports, each returning a `BatchTiming`."""

    def __init__(self, url: str, api_key: str, ids: ImportIds) -> None:
        import httpx
        from pinecone import Pinecone

        self.url = url
        self.ids = ids
        self.sdk_index = Pinecone(api_key=api_key, host=url).Index(host=url)
        self.loop = asyncio.new_event_loop()
        headers = {"Api-Key": api_key, "X-Pinecone-Api-Version": API_VERSION}
        limits = httpx.Limits(
            max_connections=BATCH_CONCURRENCY, max_keepalive_connections=BATCH_CONCURRENCY
        )

        async def make_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=url, headers=headers, limits=limits)

        self.async_client = self.loop.run_until_complete(make_client())

    def ours(self, check_status: bool, concurrency: int = BATCH_CONCURRENCY) -> BatchTiming:
        import pinecone_magic

        batch = self.ids.take(BATCH_SIZE)
        return timed(
            lambda: pinecone_magic.cancel_imports(
                batch, host=self.url, concurrency=concurrency, check_status=check_status
            ),
            len(batch),
        )

    def raw(self, describe: bool) -> BatchTiming:
        batch = self.ids.take(BATCH_SIZE)
        client = self.async_client

        async def cancel_all() -> None:
            semaphore = asyncio.Semaphore(BATCH_CONCURRENCY)

            async def cancel_one(import_id: str) -> None:
                async with semaphore:
                    await client.delete(f"/bulk/imports/{import_id}")
                    if describe:
                        await client.get(f"/bulk/imports/{import_id}")

            await asyncio.gather(*(cancel_one(import_id) for import_id in batch))

        return timed(lambda: self.loop.run_until_complete(cancel_all()), len(batch))

    def sdk_loop(self, sample_size: int) -> BatchTiming:
        """Time `sample_size` sequential SDK cancels, with the wall time scaled to BATCH_SIZE."""
        batch = self.ids.take(sample_size)

        def cancel_each() -> None:
            for import_id in batch:
                self.sdk_index.cancel_import(import_id)

        timing = timed(cancel_each, sample_size)
        return BatchTiming(timing.wall_ms * BATCH_SIZE / sample_size, timing.cpu_us_per_cancel)

    def close(self) -> None:
        self.loop.run_until_complete(self.async_client.aclose())
        self.loop.close()
        self.sdk_index.close()


def timed(call: Callable[[], object], cancels: int) -> BatchTiming:
    """Run `call` once and return its wall time and this process's CPU time per cancel."""
    cpu_started = time.process_time()
    started = time.perf_counter()
    call()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return BatchTiming(wall * 1000, cpu / cancels * 1e6)


def measure_rounds(
    contenders: dict[str, tuple[Sample, Callable[[], BatchTiming]]],
    load: EmulatorLoad,
    label: str,
    rounds: int,
) -> None:
    """Run each contender once to warm up, then `rounds` times, interleaved."""
    for _, measure in contenders.values():
        measure()

    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for round_number in range(rounds):
        for name in rotated(list(contenders), round_number):
            sample, measure = contenders[name]
            timing = load.measure_timing(f"{label} {name}", measure)
            sample.values.append(timing.wall_ms)
            cpu[name].append(timing.cpu_us_per_cancel)

    for name, (sample, _) in contenders.items():
        sample.cpu_us = statistics.median(cpu[name])
        cpu_note = f"client CPU {sample.cpu_us:.0f} us per cancel"
        sample.note = f"{sample.note}; {cpu_note}" if sample.note else cpu_note


def measure_batches(
    ids: ImportIds, url: str, api_key: str, load: EmulatorLoad, rounds: int
) -> tuple[Figure, Figure]:
    """Measure 1,000 cancels: pinecone_magic, raw async httpx, and a sequential SDK loop."""
    batch = BatchContenders(url, api_key, ids)
    ours = Sample(f"`cancel_imports(ids, concurrency={BATCH_CONCURRENCY}, check_status=False)`")
    raw = Sample(f"raw `httpx.AsyncClient` + `asyncio.Semaphore({BATCH_CONCURRENCY})`, DELETE")
    sdk = Sample(
        "SDK sequential loop of `cancel_import()`",
        note=f"{SDK_LOOP_SAMPLE} cancels timed, scaled to {BATCH_SIZE:,}",
    )
    checked = Sample(f"`cancel_imports(ids, concurrency={BATCH_CONCURRENCY})`, check_status=True")
    raw_checked = Sample("raw async httpx, DELETE then GET per id")
    few_threads = Sample(
        f"`cancel_imports(ids, concurrency={FEW_THREADS}, check_status=False)`",
        note="for comparison",
    )
    try:
        measure_rounds(
            {
                "ours": (ours, lambda: batch.ours(False)),
                "ours-few-threads": (few_threads, lambda: batch.ours(False, FEW_THREADS)),
                "raw": (raw, lambda: batch.raw(False)),
                "sdk": (sdk, lambda: batch.sdk_loop(SDK_LOOP_SAMPLE)),
                "ours-check": (checked, lambda: batch.ours(True)),
                "raw-check": (raw_checked, lambda: batch.raw(True)),
            },
            load,
            "batch",
            rounds,
        )
    finally:
        batch.close()

    raw_ratio = ours.median / raw.median
    speedup = sdk.median / ours.median
    check_ratio = checked.median / raw_checked.median
    sniffio_note = ""
    if importlib.util.find_spec("sniffio") is None:
        sniffio_note = (
            f" sniffio is not installed here, and httpcore {metadata.version('httpcore')} then "
            "tries `import sniffio` again on every async request, which adds CPU time to "
            "each raw async request."
        )
    plain = Figure(
        title=f"{BATCH_SIZE:,} cancels",
        measured=(
            f"Wall time of {BATCH_SIZE:,} cancels of distinct running imports, "
            f"{BATCH_CONCURRENCY} in flight, on warm connection pools.{sniffio_note}"
        ),
        samples=[ours, raw, sdk, few_threads],
        goals=[
            Goal("<= 1.5x raw", raw_ratio, 1.5, value_text=f"{raw_ratio:.2f}x raw"),
            Goal(
                ">= 10x faster than the SDK loop",
                speedup,
                10.0,
                higher_is_better=True,
                value_text=f"{speedup:.1f}x faster",
            ),
        ],
    )
    with_check = Figure(
        title=f"{BATCH_SIZE:,} cancels with `check_status=True` (the default)",
        measured=(
            "The same, with one describe per id after its cancel, against raw async httpx "
            "doing DELETE then GET per id. No goal of its own; the 1.5x of the figure above "
            "is shown for reference."
        ),
        samples=[checked, raw_checked],
        goals=[Goal("<= 1.5x raw", check_ratio, 1.5, value_text=f"{check_ratio:.2f}x raw")],
    )
    return plain, with_check


def measure_latency_batch(
    ids: ImportIds, url: str, api_key: str, load: EmulatorLoad, rounds: int
) -> Figure:
    """Measure 1,000 cancels against an emulator that waits SERVER_DELAY before each response."""
    batch = BatchContenders(url, api_key, ids)
    delay_ms = SERVER_DELAY * 1000
    ours = Sample(f"`cancel_imports(ids, concurrency={BATCH_CONCURRENCY}, check_status=False)`")
    raw = Sample(f"raw `httpx.AsyncClient` + `asyncio.Semaphore({BATCH_CONCURRENCY})`, DELETE")
    sdk = Sample(
        "SDK sequential loop of `cancel_import()`",
        note=f"{LATENCY_SDK_SAMPLE} cancels timed, scaled to {BATCH_SIZE:,}",
    )
    try:
        measure_rounds(
            {
                "ours": (ours, lambda: batch.ours(False)),
                "raw": (raw, lambda: batch.raw(False)),
                "sdk": (sdk, lambda: batch.sdk_loop(LATENCY_SDK_SAMPLE)),
            },
            load,
            "latency",
            rounds,
        )
    finally:
        batch.close()

    raw_ratio = ours.median / raw.median
    speedup = sdk.median / ours.median
    return Figure(
        title=f"{BATCH_SIZE:,} cancels with {delay_ms:.0f} ms server latency",
        measured=(
            f"As above, against a second emulator that waits {delay_ms:.0f} ms before each "
            "response, as a stand-in for the round trip to a real index host. The goals of "
            f"the {BATCH_SIZE:,}-cancel figure are shown for comparison."
        ),
        samples=[ours, raw, sdk],
        goals=[
            Goal("<= 1.5x raw", raw_ratio, 1.5, value_text=f"{raw_ratio:.2f}x raw"),
            Goal(
                ">= 10x faster than the SDK loop",
                speedup,
                10.0,
                higher_is_better=True,
                value_text=f"{speedup:.1f}x faster",
            ),
        ],
    )


def measure_emulator(
    client_cpus: str, emulator_cpu: str, emulator: Emulator, load: EmulatorLoad, rounds: int
) -> Figure:
    """Measure the emulator: requests per second on one CPU, and its start-up time."""
    sequential = Sample("requests per second, 1 keep-alive connection", unit="req/s")
    parallel = Sample("requests per second, 8 keep-alive connections", unit="req/s")
    process_start = Sample("start-up: new process until the first response")
    in_process_start = Sample("start-up: `Emulator().start()` until the first response")

    for _ in range(rounds):
        for sample, connections in ((sequential, 1), (parallel, 8)):
            result = worker_result(
                client_cpus,
                "rps",
                emulator.url,
                "--seconds",
                str(RPS_SECONDS),
                "--connections",
                str(connections),
            )
            sample.values.append(result["rps"])
        process_start.values.append(time_process_start(emulator_cpu))
        in_process_start.values.append(time_in_process_start())

    capacity = parallel.median
    busiest_name, busiest = max(load.busiest.items(), key=lambda item: item[1])
    return Figure(
        title="Emulator",
        measured=(
            f"Throughput of the emulator alone on CPU {emulator_cpu}, with a client in "
            f"another process on CPU(s) {client_cpus} (`http.client`, DELETE). Start-up "
            "without seeded imports. The goal is checked with the emulator's CPU time "
            "during every measurement above: it must stay below "
            f"{EMULATOR_BUSY_LIMIT:.0%} of its CPU."
        ),
        samples=[sequential, parallel, process_start, in_process_start],
        goals=[
            Goal(
                "never the bottleneck of the above",
                busiest,
                EMULATOR_BUSY_LIMIT,
                value_text=(
                    f"busiest at {busiest:.0%} of one CPU ({busiest_name}); "
                    f"capacity {capacity:,.0f} req/s"
                ),
            )
        ],
    )


def time_process_start(cpu: str) -> float:
    """Return milliseconds from spawning an emulator process to its first response."""
    import httpx

    started = time.perf_counter()
    emulator = start_emulator(cpu, seed=0)
    try:
        httpx.get(f"{emulator.url}/bulk/imports", headers={"X-Pinecone-Api-Version": API_VERSION})
        return (time.perf_counter() - started) * 1000
    finally:
        stop_emulator(emulator)


def time_in_process_start() -> float:
    """Return milliseconds from creating an in-process emulator to its first response."""
    import http.client

    from pinecone_magic.emulator import Emulator as InProcessEmulator

    started = time.perf_counter()
    with InProcessEmulator(port=0) as emulator:
        connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
        connection.request("GET", "/bulk/imports")
        connection.getresponse().read()
        connection.close()
        return (time.perf_counter() - started) * 1000


def profile_calls(call: Callable[[], object], calls: int) -> str:
    """Return where the client's time goes over `calls` calls, from cProfile, as one paragraph.

    Names the share of own time per package, and the pinecone_magic functions with the most
    cumulative time outside the call path that wraps the HTTP exchange itself.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()

    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    wrapper_limit = 0.5 * max(entry[3] for entry in entries.values())
    by_package: dict[str, float] = {}
    package_functions: list[tuple[float, str]] = []

    for (file_name, _, function), entry in entries.items():
        package = package_of(file_name)
        by_package[package] = by_package.get(package, 0.0) + entry[2]
        if package == "pinecone_magic" and entry[3] < wrapper_limit:
            name = f"`{Path(file_name).stem}.{function}`"
            package_functions.append((entry[3], name))

    shares = ", ".join(
        f"{package} {own / total:.0%}"
        for package, own in sorted(by_package.items(), key=lambda item: -item[1])[:6]
    )
    largest = ", ".join(
        f"{name} {cumulative / calls * 1e6:.0f} us"
        for cumulative, name in sorted(package_functions, reverse=True)[:6]
    )
    return (
        f"Profile of {calls} warm `cancel_import()` calls (cProfile, which slows every "
        f"function call): own time by package: {shares}. The pinecone_magic functions with "
        f"the most cumulative time per call, outside the wrappers of the HTTP exchange: "
        f"{largest}."
    )


def package_of(file_name: str) -> str:
    """Return the package that a profiled file belongs to, or "stdlib" or "builtins"."""
    if file_name.startswith("~") or file_name.startswith("<"):
        return "builtins"
    parts = Path(file_name).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if "pinecone_magic" in parts:
        return "pinecone_magic"
    return "stdlib"


def explain_batch_speedup(warm: Figure, batch: Figure, latency: Figure) -> str:
    """Explain the speed-up over the SDK loop with the warm, batch and latency figures."""
    sdk = next(sample for sample in warm.samples if sample.name.startswith("SDK"))
    wall_us = sdk.median * 1000
    cpu_us = sdk.cpu_us or wall_us
    ours, few_threads = batch.samples[0], batch.samples[-1]
    latency_speedup = next(goal for goal in latency.goals if goal.higher_is_better).value
    return (
        f"A sequential SDK cancel takes {wall_us:.0f} us on loopback, of which {cpu_us:.0f} us "
        "is CPU time in the client (warm figure). Concurrency overlaps only the waiting, so "
        f"one Python process can be at most about {wall_us / cpu_us:.1f}x faster than that "
        "loop against a server that responds in microseconds, whatever the client. The "
        f"{BATCH_CONCURRENCY} threads of `cancel_imports` spend {ours.cpu_us or 0:.0f} us of "
        f"client CPU per cancel, and {FEW_THREADS} threads {few_threads.cpu_us or 0:.0f} us. "
        "The next figure adds "
        f"{SERVER_DELAY * 1000:.0f} ms of server latency, as a real index host has, and there "
        f"the same batch is {latency_speedup:.0f}x faster than the loop."
    )


def explain_misses(figures: list[Figure], profiles: dict[str, str]) -> None:
    """Keep the explanation of each figure with a missed goal, and add its profile if any."""
    for figure in figures:
        if all(goal.met for goal in figure.goals):
            figure.explanation = ""
            continue
        profile = profiles.get(figure.title)
        if profile:
            figure.explanation = f"{figure.explanation} {profile}".strip()
