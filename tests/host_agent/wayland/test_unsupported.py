"""Where no backend works, the agent says so in German and English, points the customer to
the provider (never to a test pattern) and exits with its own status (9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_agent import backends
from tests.host_agent.wayland.desk import Desk, missing_tools

ROOT = Path(__file__).resolve().parents[3]
AGENT_SECONDS = 60


def _host(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fernwartung", "host", "--relay", "wss://127.0.0.1:9",
         "--ui", "terminal", *extra],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=AGENT_SECONDS,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _assert_unsupported(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == backends.EXIT_UNSUPPORTED == 9, result.stderr
    text = result.stderr
    assert "noch nicht" in text and "Dienstleister an" in text  # German
    assert "not supported yet" in text or "cannot share" in text  # English
    assert "call your service provider" in text
    assert "synthetic" not in text and "test pattern" not in text.lower()
    assert "CODE:" not in result.stdout  # no session was offered


def _plain_env() -> dict[str, str]:
    drop = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DBUS_SESSION_BUS_ADDRESS")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_no_display_at_all_is_unsupported_in_both_languages() -> None:
    _assert_unsupported(_host(_plain_env()))


def test_windows_and_macos_are_unsupported() -> None:
    for platform, name in (("win32", "Windows"), ("darwin", "macOS")):
        with pytest.raises(backends.Unsupported) as caught:
            backends.choose("real", "auto", 1, {"DISPLAY": ":0"}, platform)
        message = backends.unsupported_message(caught.value)
        assert name in message and "Betriebssystem" in message and "operating system" in message


def test_the_synthetic_screen_is_never_chosen_for_the_real_one() -> None:
    with pytest.raises(backends.Unsupported):
        backends.choose("real", "auto", 1, {}, "linux")
    assert backends.choose("synthetic", "auto", 1, {}, "linux").name == "synthetic"


@pytest.fixture
def bare_desk():  # type: ignore[no-untyped-def]
    missing = missing_tools()
    if missing:
        pytest.fail(f"the Wayland desk needs: {', '.join(missing)} (.ci/run installs them)")
    desk = Desk()
    try:
        yield desk
    finally:
        desk.stop()


def test_a_wayland_session_without_any_portal_is_unsupported(bare_desk: Desk) -> None:
    bare_desk.start_bus(activation=False)
    env = {**_plain_env(), **bare_desk.env, "WAYLAND_DISPLAY": "wayland-0"}
    _assert_unsupported(_host(env))


def test_a_wayland_session_whose_portal_cannot_share_the_screen_is_unsupported(
    bare_desk: Desk,
) -> None:
    bare_desk.start_bus(activation=False)
    bare_desk.start_portal_without_backends()
    env = {**_plain_env(), **bare_desk.env, "WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":99"}
    # DISPLAY (XWayland) is there, but X11 would see only X11 windows: not a way out.
    _assert_unsupported(_host(env))
    _assert_unsupported(_host(env, "--backend", "wayland"))
