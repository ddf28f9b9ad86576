"""Shared fixtures: a real Xvfb display and a real PostgreSQL server, started by the tests
themselves."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.postgres import PostgresMissing, PostgresServer

XVFB_START_SECONDS = 20

# The host agent records into the user's data folder by default: in tests (and the agents
# they start as processes) that is a folder of this run's own.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="fernwartung-test-data-")


@dataclass(frozen=True)
class Display:
    name: str  # e.g. ":99"
    width: int
    height: int

    def env(self) -> dict[str, str]:
        """The environment for a child process that should draw on this display."""
        return {**os.environ, "DISPLAY": self.name}


def start_xvfb(width: int = 1280, height: int = 720) -> tuple[subprocess.Popen[bytes], Display]:
    """Start Xvfb on a free display number, chosen by Xvfb itself (-displayfd)."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb); .ci/run installs it")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            number = b""
            while not number.endswith(b"\n"):
                chunk = pipe.read(1)
                if not chunk:
                    raise RuntimeError("Xvfb exited before it announced its display")
                number += chunk
    except BaseException:
        process.kill()
        process.wait(XVFB_START_SECONDS)
        raise
    return process, Display(f":{number.decode().strip()}", width, height)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="session")
def xvfb() -> Iterator[Display]:
    """One real X server for the whole test run (1280x720x24)."""
    process, display = start_xvfb()
    try:
        yield display
    finally:
        stop_process(process)


@pytest.fixture
def fresh_xvfb() -> Iterator[Display]:
    """A real X server of its own for one test."""
    process, display = start_xvfb()
    try:
        yield display
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the test run (tests/support/postgres.py)."""
    try:
        server = PostgresServer.create()
    except PostgresMissing as error:
        pytest.fail(f"{error}; .ci/run installs it")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database of the test PostgreSQL; dropped afterwards."""
    if not postgres_server.running:
        postgres_server.start()  # a test before this one stopped it and failed
    name = f"t_{secrets.token_hex(6)}"
    url = postgres_server.create_database(name)
    yield url
    if not postgres_server.running:
        postgres_server.start()
    postgres_server.drop_database(name)
