"""Run fernwartung's own programs as child processes and read their output by line.

Used by the demo (and by tests and benchmarks) to wire relay, host agent and viewer
together exactly as an operator, a customer and a technician would start them.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

STOP_TIMEOUT_SECONDS = 15.0


class ChildFailed(RuntimeError):
    """A child program exited or stayed silent where a line was expected."""


class Child:
    """`python -m fernwartung ARGS` with stdout read line by line on a thread."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        stderr_path: Path,
        env: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> None:
        self.name = name
        self.stderr_path = stderr_path
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(stderr_path, "ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fernwartung", *args],
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=environment,
            )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, matches: Callable[[str], bool], timeout: float) -> str:
        """The first new stdout line for which `matches` is true; ChildFailed otherwise."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise ChildFailed(
                    f"{self.name}: no expected output within {timeout:.0f} s"
                ) from None
            if line is None:
                self._queue.put(None)
                raise ChildFailed(
                    f"{self.name} exited with status {self.process.wait()} "
                    f"(details in {self.stderr_path})"
                )
            self.lines.append(line)
            if matches(line):
                return line

    def finish(self, timeout: float) -> tuple[int, list[str]]:
        """Wait for the program to exit; its status and all stdout lines not yet read."""
        status = self.wait(timeout)
        rest = []
        while (line := self._queue.get(timeout=timeout)) is not None:
            rest.append(line)
        self._queue.put(None)
        self.lines += rest
        return status, rest

    def write_line(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ChildFailed(f"{self.name} did not finish within {timeout:.0f} s") from None

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
