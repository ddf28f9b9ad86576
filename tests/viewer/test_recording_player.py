import os

import pytest

from tests.support.recording_sessions import typical_session


@pytest.fixture
def recording(tmp_path):
    session = typical_session(frames=10)
    path = tmp_path / "viewer.fwrec"
    path.write_bytes(bytes(session.viewer_file))
    return path, session


def test_the_player_opens_plays_seeks_and_closes_under_xvfb(xvfb, recording, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvfb.name)
    import tkinter as tk

    from viewer.player import Player
    from viewer.recording_timeline import scan

    path, session = recording
    with path.open("rb") as stream:
        timeline = scan(stream)
        root = tk.Tk()
        player = None
        try:
            player = Player(root, timeline, stream)
            root.update()
            assert player.frames_shown == 1  # it opens at the first picture
            assert (
                player.position == pytest.approx(player.first_picture) and player.first_picture > 0
            )
            assert player.events.size() == len(timeline.events) > 0
            player.set_speed(4.0)
            player.play()
            player.step(0.5)  # two recorded seconds at four times the speed
            root.update_idletasks()  # draw, but run no timer tick that would add real time
            assert player.position == pytest.approx(player.first_picture + 2.0)
            assert 0 < player.frames_shown < session.frames
            player.seek(player.duration)
            assert player.frames_shown == session.frames
            assert player.events.curselection()
            player.seek(0.0)  # backwards: the picture is rebuilt from the start
            assert player.frames_shown == 0
            player.seek(1.5)
            shown = player.frames_shown
            assert shown > 0
            player.pause()
            player.step(10.0)
            assert player.frames_shown == shown
            player.play()
            player.step(100.0)
            assert not player.playing and player.position == player.duration
            root.update()
        finally:
            if player is not None:
                player.close()
            else:
                root.destroy()
    assert os.environ["DISPLAY"] == xvfb.name
