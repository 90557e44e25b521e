"""The Markdown page: machine facts, the goals table and one table per figure."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata
from pathlib import Path

from harness import Figure

COMMAND = "python benchmarks/run.py"


def machine_facts(client_cpus: str, emulator_cpu: str) -> list[tuple[str, str]]:
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("CPU", cpu_model),
        ("cores", f"{os.cpu_count()} (emulator on CPU {emulator_cpu}, clients on {client_cpus})"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("SSL_CERT_FILE (CA bundle that httpx loads)", os.environ.get("SSL_CERT_FILE", "not set")),
        ("httpx", version("httpx")),
        ("ipython", version("ipython")),
        ("pinecone (SDK)", version("pinecone")),
        ("pinecone-magic", version("pinecone-magic")),
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("command", f"`{COMMAND}`"),
    ]


def format_value(value: float, unit: str) -> str:
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if value >= 100:
        return f"{value:,.0f} ms"
    return f"{value:.2f} ms"


def render_page(figures: list[Figure], facts: list[tuple[str, str]], rounds: int) -> str:
    lines = [
        "# Benchmarks",
        "",
        "This page compares pinecone_magic with raw httpx and the official Pinecone SDK, all",
        "talking to the local emulator on loopback. `benchmarks/run.py` writes it, so change",
        "the script rather than the page.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts),
        "",
        "## Goals",
        "",
        "| figure | goal | result | met |",
        "|---|---|---|---|",
    ]
    for figure in figures:
        for goal in figure.goals:
            verdict = "met" if goal.met else "**missed**"
            lines.append(f"| {figure.title} | {goal.text} | {goal.value_text} | {verdict} |")

    lines += [
        "",
        f"Every figure ran {rounds} rounds, with its contenders interleaved within a round "
        "(a fresh process per round for the cold figures). The tables show the median, "
        "minimum and maximum of the rounds.",
    ]
    for figure in figures:
        lines += [
            "",
            f"## {figure.title}",
            "",
            figure.measured,
            "",
            "| contender | median | min | max | note |",
            "|---|---|---|---|---|",
        ]
        for sample in figure.samples:
            lines.append(
                f"| {sample.name} | {format_value(sample.median, sample.unit)} "
                f"| {format_value(sample.minimum, sample.unit)} "
                f"| {format_value(sample.maximum, sample.unit)} | {sample.note} |"
            )
        if figure.explanation:
            lines += ["", figure.explanation]

    lines += [
        "",
        "## How to run",
        "",
        "From the repository root, in an environment with the test extra installed",
        "(`pip install -e '.[test]'`, which brings the SDK):",
        "",
        "```",
        COMMAND,
        "```",
        "",
        "It takes about three minutes on two cores and rewrites this page. `--rounds N` sets",
        "the number of rounds of every figure (at least 5). Close other busy programs first:",
        "the figures are wall-clock times, and the load average above shows how busy the",
        "machine was when the run started.",
        "",
    ]
    return "\n".join(lines)
