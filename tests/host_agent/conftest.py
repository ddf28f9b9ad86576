"""Fixtures for the host agent: the real relay in-process, X clients on Xvfb."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Display
from tests.support.relay import RelayInfo, running_relay

X_CLIENT = Path(__file__).with_name("x_client.py")
READY_TIMEOUT_SECONDS = 20


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(tmp_path / "relay") as info:
        yield info


@pytest.fixture
def on_display(xvfb: Display, monkeypatch: pytest.MonkeyPatch) -> Display:
    """This test process captures and injects on the shared Xvfb."""
    monkeypatch.setenv("DISPLAY", xvfb.name)
    return xvfb


@pytest.fixture
def x_client(on_display: Display) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `x_client.py MODE ARGS` on the display; waits for its `ready` line."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(X_CLIENT), *args],
            env=on_display.env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the X client did not start: {line!r}")
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(READY_TIMEOUT_SECONDS)


def mouse_location(display: Display) -> tuple[int, int]:
    """Where the X pointer is, asked from outside with xdotool."""
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"],
        env=display.env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    values = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return int(values["X"]), int(values["Y"])


def move_mouse(display: Display, x: int, y: int) -> None:
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y)], env=display.env(), check=True, timeout=10
    )
