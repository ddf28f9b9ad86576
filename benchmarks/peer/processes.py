"""Starting, watching and stopping the benchmark's child processes (X servers, VNC, agents).

Every wait here waits for an event (a printed line, an open port, a display number written
to a pipe) with a deadline; nothing sleeps and hopes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
PORT_POLL_SECONDS = 0.02
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class MissingTool(RuntimeError):
    """A program the benchmark needs is not installed; the message says which package."""


class StartFailed(RuntimeError):
    """A child process died or stayed silent while the benchmark waited for it to start."""


def require_tool(command: str, package: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise MissingTool(f"`{command}` is not installed: apt-get install {package}")
    return path


def stop(process: subprocess.Popen | None, grace_seconds: float = STOP_TIMEOUT_SECONDS) -> None:
    """Stop one child by its PID: SIGTERM, then SIGKILL after a grace period."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def running(
    process: subprocess.Popen, grace_seconds: float = STOP_TIMEOUT_SECONDS
) -> Iterator[subprocess.Popen]:
    """Own a started child: whatever happens in the block, it is stopped afterwards."""
    try:
        yield process
    finally:
        stop(process, grace_seconds)


def open_log(stack: contextlib.ExitStack, path: Path) -> BinaryIO:
    """A file for a child's output, closed when `stack` closes (after the child stopped)."""
    return stack.enter_context(open(path, "wb"))  # noqa: SIM115 - the stack owns it


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (for servers that need a number)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    """Wait until something accepts connections on loopback `port`, or fail if `process` dies."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailed(f"{what} exited with status {process.returncode} before listening")
        with socket.socket() as probe:
            probe.settimeout(PORT_POLL_SECONDS * 10)
            if probe.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(PORT_POLL_SECONDS)  # polling a port: there is no event to wait on
    raise StartFailed(f"{what} did not listen on port {port} within {START_TIMEOUT_SECONDS} s")


def start_x_server(command: list[str], what: str) -> tuple[subprocess.Popen, str]:
    """Start an X server with `-displayfd` and return it with the display name it chose."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [*command, "-displayfd", str(write_end)],
        pass_fds=(write_end,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        number = _read_display_number(read_end, process, what)
    except BaseException:
        stop(process)
        raise
    return process, f":{number}"


def _read_display_number(read_end: int, process: subprocess.Popen, what: str) -> str:
    with os.fdopen(read_end, "rb") as pipe:
        reader = LineReader(pipe, what)
        try:
            return reader.wait_for(lambda line: line.strip().isdigit(), process).strip()
        finally:
            reader.close()


class LineReader:
    """Reads a child's output on a thread so the benchmark can wait for a line with a deadline.

    Every line is also kept (`lines`) so a failure can show what the child said.
    """

    def __init__(self, stream, what: str) -> None:
        self.what = what
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self._queue.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass  # the stream was closed under us: the child is being stopped
        finally:
            self._queue.put(None)

    def wait_for(
        self,
        matches: Callable[[str], bool],
        process: subprocess.Popen | None = None,
        timeout_seconds: float = START_TIMEOUT_SECONDS,
    ) -> str:
        """The first line (from now on) for which `matches` is true."""
        deadline = time.monotonic() + timeout_seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                status = process.poll() if process is not None else None
                raise StartFailed(f"{self.what} ended (status {status}) {self._tail()}")
            self.lines.append(line)
            if matches(line):
                return line
        raise StartFailed(f"{self.what} did not say what was expected in time {self._tail()}")

    def _tail(self) -> str:
        shown = " | ".join(self.lines[-8:])
        return f"; its last lines: {shown}" if shown else "; it printed nothing"

    def close(self) -> None:
        self._thread.join(STOP_TIMEOUT_SECONDS)


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds (user + system) a process had used when `taken_at` (monotonic) was read."""

    cpu_seconds: float
    taken_at: float


def sample_cpu(pid: int) -> CpuSample:
    """Read a process's CPU time from /proc/PID/stat (all its threads, not its children)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        text = stat.read().decode()
    fields = text[text.rindex(")") + 2 :].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return CpuSample((user_ticks + system_ticks) / CLOCK_TICKS_PER_SECOND, time.monotonic())


def sample_machine_cpu() -> CpuSample:
    """CPU seconds the whole machine has been busy (all cores, everything but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle_ticks = fields[3] + fields[4]
    return CpuSample((sum(fields) - idle_ticks) / CLOCK_TICKS_PER_SECOND, time.monotonic())


def wait_for_quiet_machine(
    max_busy_percent: float, max_wait_seconds: float, probe_seconds: float = 0.5
) -> float:
    """Wait until the machine's CPU use (all cores, % of one core) drops below the bound,
    at most `max_wait_seconds`; return the last reading. Between phases nothing of the
    benchmark runs, so what is busy then is someone else's work."""
    deadline = time.monotonic() + max_wait_seconds
    while True:
        before = sample_machine_cpu()
        time.sleep(probe_seconds)  # a measurement interval
        busy = cpu_percent(before, sample_machine_cpu())
        if busy <= max_busy_percent or time.monotonic() >= deadline:
            return busy


def cpu_percent(before: CpuSample, after: CpuSample) -> float:
    """Percent of one core used between two samples of the same process."""
    elapsed = after.taken_at - before.taken_at
    return 100.0 * (after.cpu_seconds - before.cpu_seconds) / elapsed if elapsed > 0 else 0.0
