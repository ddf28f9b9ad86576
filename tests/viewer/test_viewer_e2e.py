"""The viewer as a real process against the real relay process and the real host agent.

The host agent captures a real Xvfb screen showing a still test picture. Snapshot
tolerance ("pixel-close"): the mean absolute difference over all pixels and channels is
at most 3 levels of 255, and at least 99 % of pixels are within 32 levels in every
channel (JPEG tiles may blur edges of text; lossless tiles match exactly).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Display
from tests.support.relay import add_technician, start_relay_process, stop_relay_process
from tests.viewer.processes import (
    finish_viewer,
    host_process,
    pattern_on,
    screenshot,
    start_viewer,
)

MEAN_DIFFERENCE_LEVELS = 3.0
CLOSE_PIXEL_LEVELS = 32
CLOSE_PIXEL_SHARE = 0.99
CLOCK_SLACK_SECONDS = 0.05


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data_dir = tmp_path_factory.mktemp("relay")
    process, url, fingerprint = start_relay_process(data_dir)
    try:
        assert fingerprint is not None
        yield url, fingerprint, data_dir
    finally:
        stop_relay_process(process)


def _pixel_close(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    difference = np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
    return float(difference.mean()), float((difference.max(axis=2) <= CLOSE_PIXEL_LEVELS).mean())


def test_headless_snapshot_reproduces_the_host_screen_and_stats_are_sane(
    relay: tuple[str, str, Path], fresh_xvfb: Display, tmp_path: Path
) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Snapshot")
    with pattern_on(fresh_xvfb), host_process(url, fingerprint, fresh_xvfb.env()) as host:
        code = host.code()
        viewer, output = start_viewer(
            url, code, token, "--ui", "headless", "--fingerprint", fingerprint,
            "--seconds", "4", "--snapshot", str(tmp_path / "snap.png"),
            "--stats", str(tmp_path / "stats.jsonl"),
        )  # fmt: skip
        host.answer("v")
        status, said = finish_viewer(viewer, output)
        expected = Image.open(screenshot(fresh_xvfb, tmp_path / "screen.png")).convert("RGB")
    assert status == 0, said
    assert token not in said and code.replace(" ", "") not in said.replace(" ", "")
    snapshot = Image.open(tmp_path / "snap.png").convert("RGB")
    assert snapshot.size == expected.size == (fresh_xvfb.width, fresh_xvfb.height)
    mean, close_share = _pixel_close(snapshot, expected)
    assert mean <= MEAN_DIFFERENCE_LEVELS and close_share >= CLOSE_PIXEL_SHARE, (mean, close_share)
    lines = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert lines, "no frame update arrived"
    assert [line["seq"] for line in lines] == sorted({line["seq"] for line in lines})
    for line in lines:
        assert set(line) == {"seq", "capture_ts", "recv_ts", "bytes", "tiles", "padding"}
        assert line["capture_ts"] <= line["recv_ts"] + CLOCK_SLACK_SECONDS
        assert line["recv_ts"] - line["capture_ts"] < 10
        assert line["bytes"] > 0 and line["tiles"] >= 0
    assert lines[0]["tiles"] >= 1


def test_customer_ending_the_session_is_status_0(
    relay: tuple[str, str, Path], tmp_path: Path
) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Ended")
    with host_process(url, fingerprint, {}, screen="synthetic") as host:
        viewer, output = start_viewer(
            url, host.code(), token, "--ui", "headless", "--fingerprint", fingerprint,
            "--stats", str(tmp_path / "stats.jsonl"),
        )  # fmt: skip
        host.answer("c")
        output.wait_for(lambda line: "active" in line)
        host.send_line("q")
        status, said = finish_viewer(viewer, output)
    assert status == 0, said
    assert "ended" in said.lower()


@pytest.mark.parametrize(("answer", "status"), [("n", 6)])
def test_customer_denying_is_status_6(
    relay: tuple[str, str, Path], answer: str, status: int
) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Denied")
    with host_process(url, fingerprint, {}, screen="synthetic") as host:
        viewer, output = start_viewer(
            url, host.code(), token, "--ui", "headless", "--fingerprint", fingerprint
        )
        host.answer(answer)
        got, said = finish_viewer(viewer, output)
    assert got == status, said
    assert "declined" in said


def test_wrong_code_is_status_3(relay: tuple[str, str, Path]) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Wrong")
    with host_process(url, fingerprint, {}, screen="synthetic") as host:
        digits = host.code().replace(" ", "")
        wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        viewer, output = start_viewer(url, wrong, token, "--ui", "headless",
                                      "--fingerprint", fingerprint)  # fmt: skip
        status, said = finish_viewer(viewer, output)
    assert status == 3, said
    assert wrong not in said.replace(" ", "")


def test_unknown_code_is_status_4(relay: tuple[str, str, Path]) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Unknown")
    viewer, output = start_viewer(url, "999 999 123 456", token, "--ui", "headless",
                                  "--fingerprint", fingerprint)  # fmt: skip
    status, said = finish_viewer(viewer, output)
    assert status == 4, said


def test_refused_token_is_status_5(relay: tuple[str, str, Path]) -> None:
    url, fingerprint, _ = relay
    viewer, output = start_viewer(url, "1234 123 456", "not-a-real-token", "--ui", "headless",
                                  "--fingerprint", fingerprint)  # fmt: skip
    status, said = finish_viewer(viewer, output)
    assert status == 5, said
    assert "not-a-real-token" not in said


def test_unreachable_relay_is_status_7_and_wrong_certificate_is_status_8(
    relay: tuple[str, str, Path],
) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Network")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    viewer, output = start_viewer(f"wss://127.0.0.1:{closed}", "1234 123 456", token,
                                  "--ui", "headless")  # fmt: skip
    status, said = finish_viewer(viewer, output)
    assert status == 7, said
    viewer, output = start_viewer(url, "1234 123 456", token, "--ui", "headless",
                                  "--fingerprint", "ab" * 32)  # fmt: skip
    status, said = finish_viewer(viewer, output)
    assert status == 8, said


def test_input_script_moves_and_clicks_on_the_real_host_screen(
    relay: tuple[str, str, Path], fresh_xvfb: Display, tmp_path: Path
) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Input")
    script = tmp_path / "input.jsonl"
    script.write_text(
        '{"at": 0.0, "type": "move", "x": 321, "y": 123}\n'
        '{"at": 0.1, "type": "click", "x": 400, "y": 222, "button": "left"}\n'
    )
    with host_process(url, fingerprint, fresh_xvfb.env()) as host:
        viewer, output = start_viewer(
            url, host.code(), token, "--ui", "headless", "--fingerprint", fingerprint,
            "--seconds", "3", "--input-script", str(script),
        )  # fmt: skip
        host.answer("c")
        status, said = finish_viewer(viewer, output)
        location = subprocess.run(
            ["xdotool", "getmouselocation", "--shell"],
            env=fresh_xvfb.env(), capture_output=True, text=True, check=True, timeout=10,
        ).stdout  # fmt: skip
    assert status == 0, said
    assert "X=400\n" in location and "Y=222\n" in location, location
