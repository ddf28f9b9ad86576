"""The Tk viewer on a real X display shows the host's screen (real relay, real host agent).

The window is photographed with ImageMagick's `import`; the remote picture is found in
it by its coloured corners, scaled back to the host's size, and compared at a quarter of
the resolution (scaling blurs text): mean absolute difference at most 8 levels of 255.
"""

from __future__ import annotations

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

TOP_LEFT_RGB = (0xD0, 0x20, 0x20)
BOTTOM_RIGHT_RGB = (0xE0, 0xC0, 0x20)
COLOUR_LEVELS = 24
MEAN_DIFFERENCE_LEVELS = 8.0


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    process, url, fingerprint = start_relay_process(tmp_path / "relay")
    try:
        assert fingerprint is not None
        yield url, fingerprint, tmp_path / "relay"
    finally:
        stop_relay_process(process)


def _box_of(pixels: np.ndarray, rgb: tuple[int, int, int]) -> tuple[int, int, int, int]:
    mask = (np.abs(pixels - np.array(rgb)) <= COLOUR_LEVELS).all(axis=2)
    ys, xs = np.nonzero(mask)
    assert len(xs) > 100, f"colour {rgb} not found in the viewer's window"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_tk_viewer_shows_the_remote_screen(
    relay: tuple[str, str, Path], xvfb: Display, fresh_xvfb: Display, tmp_path: Path
) -> None:
    url, fingerprint, data_dir = relay
    token = add_technician(data_dir, "Tk")
    host_display, viewer_display = fresh_xvfb, xvfb
    with pattern_on(host_display), host_process(url, fingerprint, host_display.env()) as host:
        viewer, output = start_viewer(
            url, host.code(), token, "--ui", "tk", "--fingerprint", fingerprint,
            "--seconds", "30", env=viewer_display.env(),
        )  # fmt: skip
        try:
            host.answer("v")
            output.wait_for(lambda line: "first frame shown" in line)
            shot = screenshot(viewer_display, tmp_path / "viewer.png")
            remote = screenshot(host_display, tmp_path / "host.png")
            host.send_line("q")
            status, said = finish_viewer(viewer, output)
        finally:
            viewer.kill()
    assert status == 0, said
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    left, top, _, _ = _box_of(pixels, TOP_LEFT_RGB)
    _, _, right, bottom = _box_of(pixels, BOTTOM_RIGHT_RGB)
    shown = Image.open(shot).convert("RGB").crop((left, top, right, bottom))
    expected = Image.open(remote).convert("RGB")
    small = (expected.width // 4, expected.height // 4)
    difference = np.abs(
        np.asarray(shown.resize(small, Image.Resampling.BOX), dtype=int)
        - np.asarray(expected.resize(small, Image.Resampling.BOX), dtype=int)
    )
    assert difference.mean() <= MEAN_DIFFERENCE_LEVELS, difference.mean()
    width_scale = (right - left) / expected.width
    height_scale = (bottom - top) / expected.height
    assert abs(width_scale - height_scale) < 0.02  # scaled to fit, aspect kept
