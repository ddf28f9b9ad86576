"""The host agent's sans-I/O parts: consent, activity summary, flow control, damage,
codec choice, texts and the input gate (with a recording backend, no display)."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from host_agent import texts as texts_module
from host_agent.activity import FLUSH_EVERY_SECONDS, ActivitySummary
from host_agent.consent import Consent, IllegalMove, Phase
from host_agent.damage.tiles import TILE_PIXELS, Rect, changed_pixels, rectangles, tiles_of
from host_agent.encode import classify, decode_tile, encode_rect
from host_agent.flow import FRAME_WINDOW, QUALITY_STEPS, FlowControl
from host_agent.inject import Bounds, GateState, InputGate, Verdict
from host_agent.texts import Texts
from protocol.errors import ProtocolError
from protocol.messages import Button, Codec, ConsentLevel, Key, PointerButton, PointerMove

# -- consent ------------------------------------------------------------------------------


def test_nothing_is_allowed_before_the_answer():
    consent = Consent()
    assert not consent.view().may_capture and not consent.view().may_inject


def test_control_only_after_the_customer_chose_it():
    consent = Consent()
    assert consent.answer(ConsentLevel.VIEW).may_capture
    assert not consent.view().may_inject
    assert consent.change_level(ConsentLevel.CONTROL).may_inject
    assert not consent.pause().may_inject
    assert consent.resume().may_inject
    with pytest.raises(IllegalMove):
        consent.answer(ConsentLevel.CONTROL)


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.consent = Consent()

    @rule(level=st.sampled_from(list(ConsentLevel)))
    def answer(self, level: ConsentLevel) -> None:
        try:
            self.consent.answer(level)
        except IllegalMove:
            assert self.consent.phase is not Phase.ASKING or level is ConsentLevel.PENDING

    @rule(level=st.sampled_from(list(ConsentLevel)))
    def change(self, level: ConsentLevel) -> None:
        with contextlib.suppress(IllegalMove):
            self.consent.change_level(level)

    @rule()
    def pause(self) -> None:
        with contextlib.suppress(IllegalMove):
            self.consent.pause()

    @rule()
    def resume(self) -> None:
        with contextlib.suppress(IllegalMove):
            self.consent.resume()

    @rule()
    def end(self) -> None:
        self.consent.end()

    @invariant()
    def inject_only_when_granted_control_and_sharing(self) -> None:
        view = self.consent.view()
        if view.may_inject:
            assert view.phase is Phase.GRANTED and view.level is ConsentLevel.CONTROL
            assert view.may_capture


TestConsentMachine = ConsentMachine.TestCase

# -- activity -----------------------------------------------------------------------------


def test_activity_summarises_clicks_typing_and_shortcuts_in_german():
    summary, de = ActivitySummary(), Texts("de")
    summary.add(PointerMove(600, 290), 0.0)
    summary.add(PointerButton(640, 300, Button.LEFT, True), 0.1)
    lines = summary.add(PointerButton(640, 300, Button.LEFT, False), 0.15)
    for i, char in enumerate("hallo"):
        summary.add(Key(char, True), 0.2 + i * 0.05)
        summary.add(Key(char, False), 0.22 + i * 0.05)
    lines += summary.add(Key("Control_L", True), 0.6)
    lines += summary.add(Key("c", True), 0.62)
    lines += summary.flush(10.0, force=True)
    assert [line.render(de) for line in lines] == [
        "Techniker klickt bei (640, 300)",
        "Techniker tippt 5 Zeichen",
        "Techniker drückt Strg+C",
    ]


def test_typing_burst_ends_after_a_pause():
    summary = ActivitySummary()
    summary.add(Key("a", True), 0.0)
    assert summary.flush(0.5) == []
    [line] = summary.flush(2.0)
    assert line.render(Texts("en")) == "Technician types 1 character"


def test_steady_typing_shows_in_the_log_at_least_once_a_second():
    """Issue 21, point 6: a key every 0.5 s for 24 s; the agent flushes every 0.25 s."""
    summary, en = ActivitySummary(), Texts("en")
    shown: list[tuple[float, str]] = []
    now = 0.0
    while now < 24.0:
        if round(now / 0.25) % 2 == 0:
            shown += [(now, e.render(en)) for e in summary.add(Key("x", True), now)]
            shown += [(now, e.render(en)) for e in summary.add(Key("x", False), now + 0.01)]
        now += FLUSH_EVERY_SECONDS
        shown += [(now, e.render(en)) for e in summary.flush(now)]
    shown += [(now, e.render(en)) for e in summary.flush(now, force=True)]
    times = [0.0] + [when for when, _ in shown]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 1.0
    typed = sum(int(text.split()[2]) for _, text in shown)
    assert typed == 48


def test_special_keys_are_named_in_both_languages():
    summary = ActivitySummary()
    names = []
    for key in ("Up", "Page_Down", "Home", "F5", "Delete", "Return", "Escape", "Insert"):
        names += summary.add(Key(key, True), 0.0)
        summary.add(Key(key, False), 0.0)
    de = [entry.render(Texts("de")) for entry in names]
    en = [entry.render(Texts("en")) for entry in names]
    assert de == [
        "Techniker drückt Pfeil hoch", "Techniker drückt Bild runter", "Techniker drückt Pos1",
        "Techniker drückt F5", "Techniker drückt Entf", "Techniker drückt Eingabe",
        "Techniker drückt Esc", "Techniker drückt Einfg",
    ]  # fmt: skip
    assert en[0] == "Technician presses Up arrow" and en[1] == "Technician presses Page Down"


def test_every_text_exists_in_both_languages():
    for key in texts_module.all_keys():
        assert set(texts_module._TABLE[key]) == {"de", "en"}


# -- flow control -------------------------------------------------------------------------


def test_window_of_two_then_acks_open_it():
    flow = FlowControl(0.0)
    first = flow.on_sent(1000, 0.0)
    flow.on_sent(1000, 0.01)
    assert not flow.can_send() and flow.in_flight == FRAME_WINDOW
    with pytest.raises(ProtocolError):
        flow.on_sent(1000, 0.02)
    flow.on_ack(first, 0.03)
    assert flow.can_send()
    with pytest.raises(ProtocolError):
        flow.on_ack(99, 0.04)


def test_slow_round_trips_lower_quality_and_fast_ones_raise_it():
    flow, now = FlowControl(0.0), 0.0
    for _ in range(40):
        seq = flow.on_sent(50_000, now)
        now += 0.3  # 300 ms round trip
        flow.on_ack(seq, now)
    assert flow.step.jpeg_quality < QUALITY_STEPS[0].jpeg_quality
    assert flow.step.frames_per_second < QUALITY_STEPS[0].frames_per_second
    for _ in range(400):
        seq = flow.on_sent(50_000, now)
        now += 0.02
        flow.on_ack(seq, now)
    assert flow.step == QUALITY_STEPS[0]


# -- damage and codecs --------------------------------------------------------------------


def blank(height: int = 200, width: int = 300) -> np.ndarray:
    return np.full((height, width, 4), 255, dtype=np.uint8)


def test_one_changed_pixel_gives_one_tight_rectangle():
    old, new = blank(), blank()
    new[130, 70, :3] = 0
    mask = changed_pixels(new, old)
    dirty = tiles_of(mask)
    assert dirty.sum() == 1 and dirty[130 // TILE_PIXELS, 70 // TILE_PIXELS]
    assert rectangles(dirty, 200, 300, mask) == [Rect(70, 130, 1, 1)]


@given(st.lists(st.tuples(st.integers(0, 199), st.integers(0, 299)), max_size=30))
def test_rectangles_cover_every_changed_pixel(points):
    old, new = blank(), blank()
    for y, x in points:
        new[y, x, :3] = 7
    mask = changed_pixels(new, old)
    covered = np.zeros_like(mask)
    for rect in rectangles(tiles_of(mask), 200, 300, mask):
        covered[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = True
    assert not (mask & ~covered).any()


def test_codec_choice_fill_text_photo():
    solid = blank(64, 64)
    assert classify(solid) is Codec.FILL
    text = blank(64, 256)
    text[10:20, ::3, :3] = 0
    assert classify(text) is Codec.WEBP_LOSSLESS
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (64, 256, 4), dtype=np.uint8)
    assert classify(photo) is Codec.JPEG
    tile = encode_rect(text, Rect(0, 0, 256, 64), 80)
    assert np.array_equal(decode_tile(tile), text[:, :, 2::-1])


# -- the input gate -----------------------------------------------------------------------


class RecordingBackend:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[float, str, tuple]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def _call(self, name: str, *args: object) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), name, args))
        if self.delay:
            time.sleep(self.delay)

    def move(self, x, y):  # type: ignore[no-untyped-def]
        self._call("move", x, y)

    def button(self, button, pressed):  # type: ignore[no-untyped-def]
        self._call("button", button, pressed)

    def scroll(self, dx, dy):  # type: ignore[no-untyped-def]
        self._call("scroll", dx, dy)

    def key(self, key, pressed):  # type: ignore[no-untyped-def]
        self._call("key", key, pressed)

    def close(self) -> None:
        pass


def wait_until(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_gate_drops_and_counts_outside_control_and_validates():
    backend = RecordingBackend()
    gate = InputGate(backend, Bounds(0, 0, 100, 100))
    assert gate.submit(PointerMove(5, 5), 0.0) is Verdict.NO_CONTROL
    gate.open()
    assert gate.submit(PointerMove(100, 5), 0.0) is Verdict.INVALID
    assert gate.submit(Key("NotAKey", True), 0.0) is Verdict.INVALID
    assert gate.submit(PointerMove(5, 5), 0.0) is Verdict.QUEUED
    wait_until(lambda: gate.counters.injected == 1)
    gate.end()
    assert gate.counters.dropped_no_control == 1 and gate.counters.dropped_invalid == 2


def test_revoking_releases_held_keys_and_buttons():
    backend = RecordingBackend()
    gate = InputGate(backend, Bounds(0, 0, 100, 100))
    gate.open()
    gate.submit(Key("Shift_L", True), 0.0)
    gate.submit(PointerButton(5, 5, Button.LEFT, True), 0.0)
    wait_until(lambda: gate.counters.injected == 2)
    gate.block()
    released = [call[1:] for call in backend.calls[-2:]]
    assert ("key", ("Shift_L", False)) in released
    assert ("button", (Button.LEFT, False)) in released
    assert gate.submit(Key("a", True), 0.0) is Verdict.NO_CONTROL
    gate.end()


def test_rate_limit_drops_floods():
    gate = InputGate(RecordingBackend(delay=0.01), Bounds(0, 0, 100, 100))
    gate.open()
    verdicts = [gate.submit(PointerMove(1, 1), 0.0) for _ in range(2000)]
    assert Verdict.RATE_LIMITED in verdicts or Verdict.QUEUE_FULL in verdicts
    gate.end()


def test_nothing_is_injected_after_end_returns_even_under_load():
    backend = RecordingBackend(delay=0.002)
    gate = InputGate(backend, Bounds(0, 0, 100, 100))
    gate.open()
    stop = threading.Event()

    def flood() -> None:
        now = 0.0
        while not stop.is_set():
            now += 0.01
            gate.submit(PointerMove(1, 1), now)

    sender = threading.Thread(target=flood)
    sender.start()
    wait_until(lambda: len(backend.calls) > 10)
    gate.end()
    ended_at = time.monotonic()
    time.sleep(0.2)  # the flood goes on meanwhile
    stop.set()
    sender.join()
    assert gate.state is GateState.ENDED
    assert all(at <= ended_at for at, _, _ in backend.calls)
