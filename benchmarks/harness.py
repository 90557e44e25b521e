"""Shared pieces of the benchmark: samples and goals, the emulator process, worker runs."""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
WORKERS = BENCHMARKS_DIR / "workers.py"
PYCACHE_DIR = Path(tempfile.gettempdir()) / "pinecone-magic-benchmark-pycache"

FIRST_IMPORT_ID = 101
#: Imports that the emulator worker creates at start (workers.SEEDED_IMPORTS).
SEEDED_IMPORTS = 20_000
API_VERSION = "2025-10"

T = TypeVar("T")


@dataclass
class Sample:
    """Per-round values of one contender, in milliseconds unless `unit` names another unit."""

    name: str
    values: list[float] = field(default_factory=list)
    unit: str = "ms"
    note: str = ""
    cpu_us: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def minimum(self) -> float:
        return min(self.values)

    @property
    def maximum(self) -> float:
        return max(self.values)


@dataclass
class Goal:
    """One goal of a figure: the measured value, its limit, and whether it was met."""

    text: str
    value: float
    limit: float
    higher_is_better: bool = False
    value_text: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


@dataclass
class Figure:
    """One table of the page: what was measured, against what, and the goals."""

    title: str
    measured: str
    samples: list[Sample]
    goals: list[Goal]
    explanation: str = ""


@dataclass
class Emulator:
    """The emulator child process: its URL, process id and the CPU it runs on."""

    url: str
    pid: int
    process: subprocess.Popen[str]

    def cpu_seconds(self) -> float:
        """Return the CPU time the emulator process has used so far, in seconds."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")


class EmulatorLoad:
    """The emulator's busiest share of one CPU over the measured sections."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.busiest: dict[str, float] = {}

    def measure(self, name: str, section: Callable[[], float]) -> float:
        """Run `section`, note the emulator's CPU share during it, and return its result."""
        return self.measure_timing(name, section)

    def measure_timing(self, name: str, section: Callable[[], T]) -> T:
        """Run `section`, note the emulator's CPU share during it, and return its result."""
        cpu_before = self.emulator.cpu_seconds()
        started = time.perf_counter()
        result = section()
        wall = time.perf_counter() - started
        share = (self.emulator.cpu_seconds() - cpu_before) / wall
        self.busiest[name] = max(self.busiest.get(name, 0.0), share)
        return result


class ImportIds:
    """Import ids of the seeded emulator, handed out in turn so that each cancel is fresh."""

    def __init__(self) -> None:
        self._numbers = itertools.cycle(range(FIRST_IMPORT_ID, FIRST_IMPORT_ID + SEEDED_IMPORTS))

    def next(self) -> str:
        return str(next(self._numbers))

    def take(self, count: int) -> list[str]:
        return [self.next() for _ in range(count)]


def worker_command(cpus: str, *args: str, python_options: Sequence[str] = ()) -> list[str]:
    return [sys.executable, *python_options, str(WORKERS), "--cpus", cpus, *args]


def child_environment() -> dict[str, str]:
    """Return the environment of the child processes, with byte-code caching on.

    Byte code goes to a folder outside the repository, so that a fresh process reads
    compiled modules, as it would from an installed package, even where the machine sets
    PYTHONDONTWRITEBYTECODE. The first, untimed run of each role fills it.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = str(PYCACHE_DIR)
    return environment


def run_worker(
    cpus: str, *args: str, python_options: Sequence[str] = ()
) -> tuple[dict[str, Any], str]:
    """Run one worker role to the end and return the JSON line it printed and its stderr."""
    completed = subprocess.run(
        worker_command(cpus, *args, python_options=python_options),
        cwd=REPO_ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"The benchmark worker {args[0]!r} failed with exit status {completed.returncode}:"
            f"\n{completed.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result, completed.stderr


def worker_result(cpus: str, *args: str) -> dict[str, Any]:
    """Run one worker role and return the JSON line it printed."""
    return run_worker(cpus, *args)[0]


def start_emulator(cpu: str, seed: int = SEEDED_IMPORTS, delay: float = 0.0) -> Emulator:
    """Start the emulator worker and return it once it listens."""
    process = subprocess.Popen(
        worker_command(cpu, "serve", "--seed", str(seed), "--delay", str(delay)),
        cwd=REPO_ROOT,
        env=child_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError("the emulator worker exited before it listened")
    started = json.loads(line)
    return Emulator(started["url"], started["pid"], process)


def stop_emulator(emulator: Emulator) -> None:
    assert emulator.process.stdin is not None
    emulator.process.stdin.close()
    emulator.process.wait(timeout=30)


def rotated(items: Sequence[Any], round_number: int) -> list[Any]:
    """Return `items` rotated by the round number, so that no contender always runs first."""
    shift = round_number % len(items)
    return [*items[shift:], *items[:shift]]


def per_call_ms(call: Callable[[], object], calls: int, cpu: list[float] | None = None) -> float:
    """Return the median time of `calls` calls in ms, and append the mean CPU us per call to `cpu`.

    The median of single calls keeps a round's figure from being moved by a few calls that
    another process on the machine delayed.
    """
    times: list[float] = []
    cpu_started = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    if cpu is not None:
        cpu.append((time.process_time() - cpu_started) / calls * 1e6)
    return statistics.median(times) * 1000
