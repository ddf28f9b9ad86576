"""`fernwartung host --ui terminal` as a process, against the relay as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import messages
from tests.host_agent.lines import LineReader
from tests.host_agent.viewer_client import TestViewer
from tests.support.relay import add_technician, start_relay_process, stop_relay_process

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def relay_process(tmp_path: Path):  # type: ignore[no-untyped-def]
    process, url, fingerprint = start_relay_process(tmp_path / "relay")
    try:
        yield url, fingerprint, tmp_path / "relay"
    finally:
        stop_relay_process(process)


def start_host(url: str, fingerprint: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "fernwartung", "host", "--relay", url, "--fingerprint",
         fingerprint, "--ui", "terminal", "--screen", "synthetic", "--lang", "en"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip


def answer(host: subprocess.Popen[str], line: str) -> None:
    assert host.stdin is not None
    host.stdin.write(line + "\n")
    host.stdin.flush()


async def test_terminal_ui_discards_early_input_then_takes_the_answer(relay_process):
    url, fingerprint, data_dir = relay_process
    host = start_host(url, fingerprint)
    try:
        out = LineReader(host.stdout)
        code_line = await out.wait_for(lambda line: line.startswith("CODE: "))
        answer(host, "c")  # typed before the question: must never count as consent
        token = add_technician(data_dir, "Bernd")
        viewer = await TestViewer.join(url, fingerprint, token, code_line[len("CODE: ") :])
        question = await out.wait_for(lambda line: line.endswith("[n/v/c]"))
        assert "Bernd" in question and "1.40" in question
        answer(host, "v")
        state = await viewer.next_of(messages.ConsentState)
        assert state.level is messages.ConsentLevel.VIEW
        await viewer.next_frame()
        await out.wait_for(lambda line: "You allowed: view only" in line)
        answer(host, "q")
        bye = await viewer.next_of(messages.Bye)
        assert "customer" in bye.reason
        assert await asyncio.to_thread(host.wait, 15) == 0
        await viewer.close()
    finally:
        host.kill()
        host.wait(15)


async def test_ctrl_c_ends_the_session_with_a_bye(relay_process):
    url, fingerprint, data_dir = relay_process
    host = start_host(url, fingerprint)
    try:
        out = LineReader(host.stdout)
        code_line = await out.wait_for(lambda line: line.startswith("CODE: "))
        token = add_technician(data_dir, "Carla")
        viewer = await TestViewer.join(url, fingerprint, token, code_line[len("CODE: ") :])
        await out.wait_for(lambda line: line.endswith("[n/v/c]"))
        answer(host, "c")
        await viewer.next_frame()
        host.send_signal(signal.SIGINT)
        await viewer.next_of(messages.Bye)
        assert await asyncio.to_thread(host.wait, 15) == 0
        await viewer.close()
    finally:
        host.kill()
        host.wait(15)
