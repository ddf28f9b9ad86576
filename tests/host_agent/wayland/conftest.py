"""Fixtures for the Wayland backend: a desk (bus, PipeWire, portal with mock backends) and a
PipeWire test source whose node the mock portal hands out."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

from tests.host_agent.wayland.desk import Desk, missing_tools

WIDTH, HEIGHT = 320, 240


@pytest.fixture
def desk_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Desk, object]]:
    """A desk without its portal yet, and a test source on its PipeWire: start the portal
    with `desk.start_portal(...)` (the source's node is known by then)."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"the Wayland desk needs: {', '.join(missing)} (.ci/run installs them)")
    from tests.host_agent.wayland.producer import TestSource

    desk = Desk()
    source = None
    try:
        desk.start(portal=False)
        for name in ("XDG_RUNTIME_DIR", "PIPEWIRE_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"):
            monkeypatch.setenv(name, desk.env[name])  # libpipewire reads them on connect
        source = TestSource(WIDTH, HEIGHT)
        yield desk, source
    finally:
        if source is not None:
            source.close()
        desk.stop()


def backdrop(blue: int = 90) -> np.ndarray:
    frame = np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8)
    frame[..., 0] = blue
    frame[..., 3] = 255
    return frame


def environment(desk: Desk) -> dict[str, str]:
    env = dict(desk.env)
    env.pop("DISPLAY", None)
    return env


__all__ = ["HEIGHT", "WIDTH", "backdrop", "environment", "os"]
