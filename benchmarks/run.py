"""Benchmark pinecone_magic against raw httpx and the Pinecone SDK, and write the results page.

Run from the repository root with ``python benchmarks/run.py``. The script starts the
emulator in a child process with the real clock and pins it to the last CPU; this process
and every other child run on the remaining CPUs. Each figure is measured in several rounds,
with the contenders interleaved within a round, and the page reports the median, minimum
and maximum over the rounds. Nothing reaches a host other than loopback (workers.py blocks
it), and the random API key of the run is never printed or written.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from figures import (
    BATCH_SIZE,
    SERVER_DELAY,
    WARM_CALLS,
    explain_batch_speedup,
    explain_misses,
    measure_batches,
    measure_cold_cancel,
    measure_emulator,
    measure_latency_batch,
    measure_load_ext,
    measure_warm,
    profile_calls,
)
from harness import REPO_ROOT, EmulatorLoad, Figure, ImportIds, start_emulator, stop_emulator
from page import machine_facts, render_page
from workers import block_remote_hosts

PAGE = REPO_ROOT / "docs" / "benchmarks.md"
#: Rounds of every figure. The page reports their median, minimum and maximum.
ROUNDS = 7
MIN_ROUNDS = 5


@dataclass
class Progress:
    """Status lines on standard error, so that a long run shows where it is."""

    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    started: float = field(default_factory=time.perf_counter)

    def step(self, text: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.1f} s] {text}", file=self.stream, flush=True)


def cpu_split() -> tuple[str, str]:
    """Return the CPUs for clients and the one CPU for the emulator."""
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
    else:
        cpus = list(range(os.cpu_count() or 1))
    emulator_cpu = cpus[-1]
    client_cpus = cpus[:-1] or cpus
    return ",".join(map(str, client_cpus)), str(emulator_cpu)


@dataclass
class Environment:
    """Environment variables of the run, restored on exit."""

    saved: dict[str, str | None] = field(default_factory=dict)

    def set(self, name: str, value: str) -> None:
        self.saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def restore(self) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def measure_all(
    client_cpus: str, emulator_cpu: str, api_key: str, rounds: int, progress: Progress
) -> list[Figure]:
    """Start the emulators, measure every figure, and return the figures in page order."""
    environment = Environment()
    environment.set("PINECONE_API_KEY", api_key)
    ids = ImportIds()

    progress.step(f"starting the emulator on CPU {emulator_cpu}")
    emulator = start_emulator(emulator_cpu)
    try:
        environment.set("PINECONE_INDEX_HOST", emulator.url)
        environment.set("PINECONE_CONTROLLER_HOST", emulator.url)
        load = EmulatorLoad(emulator)

        progress.step("%load_ext in fresh processes")
        figures = [measure_load_ext(client_cpus, rounds)]
        progress.step("cold first cancel in fresh processes")
        figures.append(measure_cold_cancel(client_cpus, ids, emulator.url, rounds))
        progress.step("warm cancels")
        warm, magic, ours_call = measure_warm(ids, emulator.url, api_key, load, rounds)
        figures += [warm, magic]
        progress.step(f"{BATCH_SIZE} cancels")
        plain, with_check = measure_batches(ids, emulator.url, api_key, load, rounds)
        figures += [plain, with_check]

        progress.step(f"{BATCH_SIZE} cancels with {SERVER_DELAY * 1000:.0f} ms server latency")
        slow_emulator = start_emulator(emulator_cpu, delay=SERVER_DELAY)
        try:
            slow_load = EmulatorLoad(slow_emulator)
            latency = measure_latency_batch(
                ImportIds(), slow_emulator.url, api_key, slow_load, rounds
            )
            figures.append(latency)
            load.busiest.update(slow_load.busiest)
        finally:
            stop_emulator(slow_emulator)

        progress.step("emulator throughput and start-up")
        figures.append(measure_emulator(client_cpus, emulator_cpu, emulator, load, rounds))

        progress.step("profiles")
        plain.explanation = explain_batch_speedup(warm, plain, latency)
        explain_misses(figures, {warm.title: profile_calls(ours_call, WARM_CALLS)})
    finally:
        stop_emulator(emulator)
        environment.restore()

    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"rounds of every figure, at least {MIN_ROUNDS}"
    )
    parser.add_argument("--page", type=Path, default=PAGE, help="Markdown file to write")
    args = parser.parse_args(argv)
    rounds = max(args.rounds, MIN_ROUNDS)

    progress = Progress()
    client_cpus, emulator_cpu = cpu_split()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu) for cpu in client_cpus.split(",")})
    block_remote_hosts()
    api_key = secrets.token_urlsafe(24)

    # Taken before the run, because the run itself keeps both CPUs busy.
    load_before = os.getloadavg()[0]
    figures = measure_all(client_cpus, emulator_cpu, api_key, rounds, progress)

    facts = machine_facts(client_cpus, emulator_cpu)
    facts.insert(3, ("load average before the run (1 min)", f"{load_before:.2f}"))
    text = render_page(figures, facts, rounds)
    if api_key in text:
        raise RuntimeError("The page would contain the API key of the run, so it was not written.")
    args.page.parent.mkdir(parents=True, exist_ok=True)
    args.page.write_text(text, encoding="utf-8")
    progress.step(f"wrote {args.page}")

    for figure in figures:
        for goal in figure.goals:
            verdict = "met" if goal.met else "missed"
            print(f"{figure.title}: {goal.text}: {goal.value_text} ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
