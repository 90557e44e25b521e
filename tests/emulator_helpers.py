"""Helpers shared by the emulator tests: clients, polling and CLI processes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from pinecone_magic.emulator import Emulator

API_KEY = "test-key"
API_VERSION = "2025-10"
REPO_ROOT = Path(__file__).resolve().parents[1]


def make_client(
    emulator: Emulator, api_key: str | None = API_KEY, **kwargs: object
) -> httpx.Client:
    """Return an httpx client aimed at the emulator, sending `api_key` unless it is None."""
    headers = {"X-Pinecone-Api-Version": API_VERSION}
    if api_key is not None:
        headers["Api-Key"] = api_key

    options: dict[str, object] = {"timeout": 5.0}
    options.update(kwargs)
    return httpx.Client(base_url=emulator.url, headers=headers, **options)  # type: ignore[arg-type]


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll `condition` every 10 ms until it holds; return whether it did within `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


class EmulatorProcess:
    """``python -m pinecone_magic.emulator`` in a child process, with its stdout lines."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pinecone_magic.emulator", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._stdout: list[str] = []
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._stdout.append(line)
            self._lines.put(line.rstrip("\n"))

    def read_line(self, timeout: float = 15.0) -> str:
        """Return the next stdout line, or raise TimeoutError if none arrives in time."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"The emulator printed no line within {timeout} s.") from None

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> tuple[int, str, str]:
        """Send `sig`, wait for the exit and return exit status, all stdout and stderr."""
        assert self.process.stderr is not None
        self.process.send_signal(sig)
        self.process.wait(timeout)
        self._reader.join(timeout)
        return self.process.returncode, "".join(self._stdout), self.process.stderr.read()

    def close(self) -> None:
        """Kill the process if it is still running and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

        self._reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
