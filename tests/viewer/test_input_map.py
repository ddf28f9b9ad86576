"""Window coordinates, buttons, wheel and keys mapped to the remote screen."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol import keys, messages
from viewer.framebuffer import Region
from viewer.input_map import (
    KeyTracker,
    ScaleMode,
    Viewport,
    button_for,
    key_for,
    wheel_for_button,
    wheel_for_delta,
)


def test_fit_scales_down_and_centres() -> None:
    viewport = Viewport(1920, 1080, 960, 700, ScaleMode.FIT)
    assert viewport.scale == 0.5
    assert viewport.display_size == (960, 540)
    assert viewport.origin == (0, 80)
    assert viewport.to_remote(0, 80) == (0, 0)
    assert viewport.to_remote(480, 80 + 270) == (960, 540)
    assert viewport.to_remote(959.9, 80 + 539.9) == (1919, 1079)


def test_points_outside_the_image_are_clamped_to_the_screen() -> None:
    viewport = Viewport(1920, 1080, 960, 700, ScaleMode.FIT)
    assert viewport.to_remote(-5, 0) == (0, 0)
    assert viewport.to_remote(5000, 5000) == (1919, 1079)


def test_one_to_one_maps_canvas_pixels_directly() -> None:
    viewport = Viewport(1920, 1080, 800, 600, ScaleMode.ACTUAL)
    assert viewport.scale == 1.0 and viewport.origin == (0, 0)
    # Tk's canvasx/canvasy already add the scroll offset.
    assert viewport.to_remote(1500, 1000) == (1500, 1000)


@given(
    st.integers(1, 4000),
    st.integers(1, 3000),
    st.integers(1, 3000),
    st.integers(1, 2000),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_every_canvas_point_maps_inside_the_remote_screen(
    remote_width: int, remote_height: int, width: int, height: int, fx: float, fy: float
) -> None:
    viewport = Viewport(remote_width, remote_height, width, height, ScaleMode.FIT)
    x, y = viewport.to_remote(fx * width, fy * height)
    assert 0 <= x < remote_width and 0 <= y < remote_height


def test_display_region_covers_the_scaled_remote_region() -> None:
    viewport = Viewport(1920, 1080, 960, 540, ScaleMode.FIT)
    assert viewport.display_region(Region(101, 51, 10, 10)) == Region(50, 25, 6, 6)
    assert viewport.source_box(Region(50, 25, 6, 6)) == (100.0, 50.0, 112.0, 62.0)


def test_buttons_and_wheel() -> None:
    assert button_for(1) is messages.Button.LEFT
    assert button_for(2) is messages.Button.MIDDLE
    assert button_for(3) is messages.Button.RIGHT
    assert button_for(4) is None
    assert wheel_for_button(4) == (0, 1) and wheel_for_button(5) == (0, -1)
    assert wheel_for_button(1) is None
    assert wheel_for_delta(240) == (0, 2)
    assert wheel_for_delta(-1) == (0, -1)
    assert wheel_for_delta(120, horizontal=True) == (1, 0)


def test_keys_map_to_names_characters_or_keysyms() -> None:
    assert key_for("Return", "\r") == "Return"
    assert key_for("Control_L", "") == "Control_L"
    assert key_for("F5", "") == "F5"
    assert key_for("space", " ") == "space"
    assert key_for("adiaeresis", "ä") == "ä"
    assert key_for("exclam", "!") == "!"
    assert key_for("c", "\x03") == "c"  # Ctrl+C
    assert key_for("XF86AudioMute", "") is None


@given(st.text(min_size=0, max_size=2), st.text(min_size=0, max_size=20))
def test_every_mapped_key_is_one_the_host_accepts(char: str, keysym: str) -> None:
    key = key_for(keysym, char)
    if key is not None:
        assert keys.is_known_key(key)
        messages.Key(key, True)


def test_a_release_sends_the_key_its_press_sent() -> None:
    tracker = KeyTracker()
    assert tracker.press(38, "a", "a") == messages.Key("a", True)
    assert tracker.release(38, "A", "A") == messages.Key("a", False)
    tracker.press(50, "Shift_L", "")
    assert tracker.release_all() == [messages.Key("Shift_L", False)]
    assert tracker.release_all() == []
