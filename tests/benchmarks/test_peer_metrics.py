"""The peer benchmark's figures for a slow line: typed characters among video, the time until
the client is current and equal after a change that settles, and issue 25's goals."""

from __future__ import annotations

import pytest

from benchmarks.peer.metrics import Window, settling, summarise
from benchmarks.peer.records import Capture, Change, Delivery, WireChunk
from benchmarks.peer.report import BEST_PEER, Goal, shaped_goals

VIDEO = (600, 300, 1280, 720)
TERMINAL = (20, 20, 480, 300)
SCREEN = (0, 0, 1920, 1080)


def test_a_typed_character_pairs_only_with_an_update_that_touches_the_terminal():
    capture = Capture(
        changes=[Change(10.0, TERMINAL, 1, "typed"), Change(10.0, VIDEO)],
        deliveries=[
            Delivery(10.02, 9000, (VIDEO,), captured_at=10.001),  # a video picture only
            Delivery(10.05, 60, (TERMINAL,), captured_at=10.004),
        ],
    )
    figures = summarise(capture, Window(9.0, 11.0), {}, max_latency=5.0)
    assert figures["typed_latency_p50_ms"] == pytest.approx(50.0)
    assert figures["latency_p50_ms"] == pytest.approx(35.0)  # the video change: 20 ms
    assert figures["payload_bytes_per_character"] == 9060


def test_after_a_change_that_settles_a_vnc_client_is_current_with_its_last_update():
    stop = Change(10.0, VIDEO, kind="stop")
    deliveries = [Delivery(10.2, 50_000, (VIDEO,)), Delivery(10.6, 40_000, (VIDEO,))]
    wire = [WireChunk(10.1, 50_000, 0), WireChunk(10.55, 40_000, 0)]
    settled = settling(stop, [Change(15.0, VIDEO)], deliveries, wire, end=20.0)
    assert settled.current == settled.equal == pytest.approx(0.6)
    assert not settled.unsettled


def test_bytes_still_arriving_when_the_next_change_comes_mean_not_settled():
    stop = Change(10.0, VIDEO, kind="stop")
    deliveries = [Delivery(10.2, 50_000, (VIDEO,))]  # stale: under way at the stop
    wire = [WireChunk(10.0 + 0.1 * step, 12_500, 0) for step in range(1, 50)]  # 1 Mbit/s on
    settled = settling(stop, [Change(15.0, VIDEO)], deliveries, wire, end=20.0)
    assert settled.unsettled and settled.equal is None and settled.current is None


def test_fernwartung_is_current_with_the_first_update_captured_after_and_equal_with_its_last():
    stop = Change(10.0, VIDEO, kind="stop")
    deliveries = [
        Delivery(10.1, 30_000, (VIDEO,), captured_at=9.97),  # a picture from before the stop
        Delivery(10.3, 30_000, (VIDEO,), captured_at=10.05),  # the last frame, lossy
        Delivery(10.4, 60, (TERMINAL,), captured_at=10.3),  # elsewhere
        Delivery(11.2, 700_000, (VIDEO,), captured_at=11.15),  # the lossless follow-up
    ]
    settled = settling(stop, [], deliveries, [], end=16.0)
    assert settled.current == pytest.approx(0.3)
    assert settled.equal == pytest.approx(1.2)


def test_a_full_screen_change_is_timed_for_every_new_window():
    changes = [Change(at, SCREEN, kind="maximise") for at in (10.0, 18.0, 26.0)]
    deliveries = [Delivery(at + 0.5, 100_000, (SCREEN,)) for at in (10.0, 18.0)]
    deliveries.append(Delivery(27.5, 100_000, (SCREEN,)))
    capture = Capture(deliveries=deliveries, changes=changes)
    figures = summarise(capture, Window(9.0, 34.0), {}, max_latency=5.0)
    assert figures["maximise_events"] == 3
    assert figures["maximise_equal_ms"] == pytest.approx(500.0)
    assert figures["maximise_equal_max_ms"] == pytest.approx(1500.0)
    assert figures["maximise_unsettled"] == 0


def test_issue_25s_goals_on_a_slow_line_are_a_bound_and_three_times_the_better_vnc_server():
    goals = shaped_goals(one_way_delay_seconds=0.025)
    typed = goals[("typing-video", "typed_latency_p50_ms")]
    assert typed.text() == "<= 55 and <= best VNC/3 #25"
    assert typed.met(50.0, {"x11vnc": 300.0, "Xvnc": 180.0}, None) is True
    assert typed.met(50.0, {"x11vnc": 300.0, "Xvnc": 120.0}, None) is False  # 120/3 = 40
    assert typed.met(60.0, {"x11vnc": 3000.0}, None) is False  # over 55
    # A VNC server that never settled sets no bound of its own.
    assert goals[("video-stop", "stop_current_ms")].met(900.0, {"x11vnc": None}, None) is True
    assert Goal(True, None, "#25", factor=0.8).text() == "<= 0.8 x11vnc #25"
    assert Goal(True, None, "#25", reference="Xvnc").met(5.0, {"Xvnc": 4.9}, None) is False
    assert Goal(False, None, "#8", reference=BEST_PEER).met(30.0, {"x11vnc": 20.0}, None)
