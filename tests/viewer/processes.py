"""Real processes for the viewer's end-to-end tests: relay, host agent, viewer, a screen.

Every process is started here with its PID kept, and stopped by that PID.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import Display, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
LINE_TIMEOUT_SECONDS = 20.0
VIEWER_EXIT_TIMEOUT_SECONDS = 30.0


def python_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = {**(base if base is not None else os.environ), "PYTHONUNBUFFERED": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass
class LineReader:
    """Collects a process's output lines in a thread so a test can wait for one."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start(self, stream) -> LineReader:  # type: ignore[no-untyped-def]
        def pump() -> None:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return self

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float = LINE_TIMEOUT_SECONDS
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching line; got: {self.lines[-10:]}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise EOFError(f"the process ended; its last lines: {self.lines[-10:]}")
            self.lines.append(line)
            if predicate(line):
                return line


@dataclass
class HostProcess:
    """`fernwartung host --ui terminal`, answered through its stdin."""

    process: subprocess.Popen[str]
    output: LineReader

    def code(self) -> str:
        line = self.output.wait_for(lambda text: text.startswith("CODE: "))
        return line.removeprefix("CODE: ").strip()

    def answer(self, word: str) -> None:
        self.output.wait_for(lambda text: text.rstrip().endswith("[n/v/c]"))
        self.send_line(word)

    def send_line(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()


@contextmanager
def host_process(
    relay_url: str, fingerprint: str | None, env: Mapping[str, str], screen: str = "real"
) -> Iterator[HostProcess]:
    command = [sys.executable, "-m", "fernwartung", "host", "--relay", relay_url,
               "--ui", "terminal", "--screen", screen, "--lang", "en"]  # fmt: skip
    if fingerprint:
        command += ["--fingerprint", fingerprint]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=python_env(env),
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    try:
        yield HostProcess(process, LineReader(process).start(process.stdout))
    finally:
        stop_process(process)  # type: ignore[arg-type]


def start_viewer(
    relay_url: str, code: str, token: str, *extra: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[str], LineReader]:
    """`python -m fernwartung viewer ...` with the token in the environment, not argv.

    Its recording goes to a temporary folder unless `extra` names one with --record."""
    if "--record" not in extra and "--no-record" not in extra:
        extra = (*extra, "--record", tempfile.mkdtemp(prefix="fernwartung-test-recordings-"))
    command = [sys.executable, "-m", "fernwartung", "viewer", "--relay", relay_url,
               "--code", code, *extra]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(env, FERNWARTUNG_TOKEN=token),
        cwd=REPO_ROOT,
    )
    assert process.stderr is not None
    return process, LineReader(process).start(process.stderr)


def finish_viewer(process: subprocess.Popen[str], output: LineReader) -> tuple[int, str]:
    """The viewer's exit status and everything it said, once it has ended by itself."""
    try:
        status = process.wait(VIEWER_EXIT_TIMEOUT_SECONDS)
    finally:
        stop_process(process)  # type: ignore[arg-type]
    with suppress(EOFError):
        output.wait_for(lambda line: False, timeout=5)
    return status, "\n".join(output.lines)


PATTERN_SCRIPT = r"""
import sys, tkinter as tk
width, height = int(sys.argv[1]), int(sys.argv[2])
root = tk.Tk()
root.overrideredirect(True)
root.geometry(f"{width}x{height}+0+0")
canvas = tk.Canvas(root, width=width, height=height, highlightthickness=0, bg="white")
canvas.pack()
colours = ["#d02020", "#20a040", "#2040d0", "#e0c020"]
for index, colour in enumerate(colours):
    x, y = (index % 2) * width // 2, (index // 2) * height // 2
    canvas.create_rectangle(x, y, x + width // 2, y + height // 2, fill=colour, width=0)
canvas.create_rectangle(width // 4, height // 4, 3 * width // 4, 3 * height // 4,
                        fill="white", width=0)
for row in range(12):
    canvas.create_text(width // 4 + 20, height // 4 + 20 + row * 24, anchor="nw",
                       font=("TkFixedFont", 14),
                       text=f"fernwartung line {row:02d}: The quick brown fox 0123456789")
shown = []
def ready(event):
    if not shown:
        shown.append(True)
        root.update_idletasks()
        print("READY", flush=True)
canvas.bind("<Visibility>", ready)
root.mainloop()
"""


@contextmanager
def pattern_on(display: Display) -> Iterator[None]:
    """A still test picture (colour blocks and text) covering the display."""
    process = subprocess.Popen(
        [sys.executable, "-c", PATTERN_SCRIPT, str(display.width), str(display.height)],
        stdout=subprocess.PIPE,
        text=True,
        env=display.env(),
    )
    assert process.stdout is not None
    try:
        LineReader(process).start(process.stdout).wait_for(lambda line: line == "READY")
        yield
    finally:
        stop_process(process)  # type: ignore[arg-type]


def screenshot(display: Display, path: Path) -> Path:
    """The whole X screen as a PNG, taken with ImageMagick's `import`."""
    subprocess.run(
        ["import", "-window", "root", str(path)], env=display.env(), check=True, timeout=30
    )
    return path
