import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest

from fernwartung.cli import main
from protocol import messages
from protocol.recording_verify import LedgerCheckpoint
from relay.ledger import LEDGER_FILE, Ledger
from tests.protocol.test_recording import forge, frame_records, with_file_heads
from tests.support.recording_sessions import START, Session, typical_session


@pytest.fixture(scope="module")
def session() -> Session:
    return typical_session(frames=15)


@pytest.fixture
def files(tmp_path, session):
    viewer = tmp_path / "viewer.fwrec"
    viewer.write_bytes(bytes(session.viewer_file))
    host = tmp_path / "host.fwrec"
    host.write_bytes(bytes(session.host_file))
    return viewer, host


def make_ledger(
    data_dir: Path, session: Session, checkpoints: list[LedgerCheckpoint] | None = None
) -> None:
    """The relay's own ledger, holding this session's checkpoints as the relay stores them."""
    ledger = Ledger(data_dir)
    try:
        older = ledger.open_session(session.host.header.session)  # the number, used before
        ledger.record_checkpoint(older, "host", 1, bytes(32))
        session_id = ledger.open_session(session.host.header.session)
        for checkpoint in checkpoints if checkpoints is not None else session.ledger:
            ledger.record_checkpoint(
                session_id,
                checkpoint.side.value,
                checkpoint.records,
                checkpoint.head,
                checkpoint.file_records,
                checkpoint.file_head,
            )
    finally:
        ledger.close()
    # The relay stamps rows with its own clock; put the registrations before the recording.
    with sqlite3.connect(data_dir / LEDGER_FILE) as db:
        for row_id, seconds_before in ((older, 86_400), (session_id, 5)):
            registered = datetime.fromtimestamp(START - seconds_before, UTC)
            db.execute(
                "UPDATE sessions SET registered = ? WHERE id = ?",
                (registered.isoformat(timespec="milliseconds"), row_id),
            )
    db.close()


def test_verify_passes_an_intact_recording(files, capsys):
    viewer, host = files
    assert main(["recording", "verify", str(viewer)]) == 0
    assert "intact" in capsys.readouterr().out
    assert main(["recording", "verify", str(host)]) == 0


def test_verify_against_the_relays_ledger(files, session, tmp_path, capsys):
    make_ledger(tmp_path / "data", session)
    for path in files:
        assert main(["recording", "verify", str(path), "--ledger", str(tmp_path / "data")]) == 0
        assert "match the relay's ledger" in capsys.readouterr().out


def test_verify_fails_a_consistent_forgery_against_the_ledger(files, session, tmp_path, capsys):
    viewer, _ = files
    original = viewer.read_bytes()
    target = frame_records(original)[10]
    blank = messages.encode(messages.FrameUpdate(10, 1.0, 64, 48, ()))
    viewer.write_bytes(
        forge(original, lambda r: blank if r.position == target.position else r.payload)
    )
    assert main(["recording", "verify", str(viewer)]) == 0
    capsys.readouterr()
    make_ledger(tmp_path / "data", session)
    assert main(["recording", "verify", str(viewer), "--ledger", str(tmp_path / "data")]) == 1
    error = capsys.readouterr().err
    assert "NOT INTACT (ledger mismatch)" in error
    assert "disagrees" in error


def test_verify_names_the_records_of_a_rewritten_time_from_the_ledgers_file_heads(
    files, session, tmp_path, capsys
):
    viewer, _ = files
    original = viewer.read_bytes()
    target = frame_records(original)[10]
    viewer.write_bytes(
        forge(
            original,
            lambda r: r.payload,
            lambda r: r.time - 3600.0 if r.position == target.position else r.time,
        )
    )
    make_ledger(tmp_path / "data", session, with_file_heads(original, session.ledger))
    assert main(["recording", "verify", str(viewer), "--ledger", str(tmp_path / "data")]) == 1
    error = capsys.readouterr().err
    assert "NOT INTACT (ledger mismatch)" in error
    assert "was rewritten" in error


def test_a_ledger_from_before_file_heads_is_upgraded_and_still_checked(
    files, session, tmp_path, capsys
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / LEDGER_FILE) as db:
        db.execute(
            "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, "
            "side TEXT NOT NULL, records INTEGER NOT NULL, head TEXT NOT NULL, "
            "relay_time TEXT NOT NULL)"
        )
    db.close()
    make_ledger(data_dir, session)
    for path in files:
        assert main(["recording", "verify", str(path), "--ledger", str(data_dir)]) == 0
        assert "match the relay's ledger" in capsys.readouterr().out


def test_verify_names_a_flipped_byte_on_stderr(files, capsys):
    viewer, _ = files
    data = bytearray(viewer.read_bytes())
    target = frame_records(bytes(data))[1]
    data[target.offset + 25] ^= 0xFF
    viewer.write_bytes(bytes(data))
    assert main(["recording", "verify", str(viewer)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"record {target.position} at byte offset {target.offset} is altered" in captured.err


def test_verify_without_a_ledger_or_file_fails(files, tmp_path, capsys):
    viewer, _ = files
    assert main(["recording", "verify", str(viewer), "--ledger", str(tmp_path / "none")]) == 1
    assert "no ledger" in capsys.readouterr().err
    assert main(["recording", "verify", str(tmp_path / "missing.fwrec")]) == 1
    assert "not found" in capsys.readouterr().err


def test_info_as_json(files, session, capsys):
    viewer, host = files
    assert main(["recording", "info", str(viewer), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["session"] == "482139"
    assert info["technician"] == "Erika Muster"
    assert info["frames"] == session.frames == 15
    assert info["inputs"] == 14  # a pointer move and a key on every odd frame
    assert info["bytes"] == len(session.viewer_file)
    assert info["complete"] is True
    assert info["duration_seconds"] == pytest.approx(session.time - START, abs=0.002)
    assert main(["recording", "info", str(host), "--json"]) == 0
    host_info = json.loads(capsys.readouterr().out)
    assert host_info["inputs_applied"] + host_info["inputs_dropped"] == 14
    assert main(["recording", "info", str(viewer)]) == 0
    assert "Erika Muster" in capsys.readouterr().out


def test_export_to_mp4_has_every_frame_at_its_recorded_time(files, session, tmp_path, capsys):
    viewer, _ = files
    out = tmp_path / "out" / "session.mp4"
    assert main(["recording", "export", str(viewer), str(out)]) == 0
    assert "15 frames" in capsys.readouterr().out
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
    recorded = [t - session.frame_times[0] for t in session.frame_times]
    assert len(times) == len(recorded) == session.frames
    assert times == pytest.approx(recorded, abs=0.002)
    assert times[-1] == pytest.approx(session.frame_times[-1] - session.frame_times[0], abs=0.002)


def test_export_to_pngs_rebuilds_every_frame(files, session, tmp_path):
    viewer, _ = files
    out = tmp_path / "frames"
    assert main(["recording", "export", str(viewer), str(out)]) == 0
    pngs = sorted(out.glob("frame-*.png"))
    assert len(pngs) == session.frames
    lines = (out / "frames.csv").read_text().splitlines()
    assert len(lines) == session.frames + 1
    from PIL import Image

    with Image.open(pngs[0]) as first:
        assert first.size == (64, 48)
        assert first.getpixel((0, 0)) == (0, 0, 0)  # frame 0 fills the screen with shade 0
    with Image.open(pngs[1]) as second:
        assert second.getpixel((16, 16)) == (0, 37, 218)  # the PNG tile of frame 1


def test_info_counts_checkpoints_as_verify_does(files, session, tmp_path, capsys):
    """Issue 21, point 19: `verify --ledger` counts each side's reports; so does `info`."""
    viewer, _ = files
    make_ledger(tmp_path / "relay", session)
    assert main(["recording", "verify", str(viewer), "--ledger", str(tmp_path / "relay")]) == 0
    verified = capsys.readouterr().out
    assert main(["recording", "info", str(viewer), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    in_all = sum(info["checkpoints_by_side"].values())
    assert info["checkpoints_by_side"] == {"host": 2, "viewer": 2}
    assert f"all {in_all} checkpoints it covers match" in verified
    assert main(["recording", "info", str(viewer)]) == 0
    assert f"{in_all} (host 2, viewer 2)" in capsys.readouterr().out


def test_export_of_a_damaged_recording_names_the_record_and_exports_what_is_intact(
    files, tmp_path, capsys
):
    """Issue 21, point 19: one flipped byte in the 6th frame update."""
    viewer, _ = files
    data = bytearray(viewer.read_bytes())
    target = frame_records(bytes(data))[5]
    data[target.offset + 25] ^= 0xFF
    viewer.write_bytes(bytes(data))
    out = tmp_path / "pngs"
    assert main(["recording", "export", str(viewer), str(out)]) == 1
    captured = capsys.readouterr()
    assert f"record {target.position}" in captured.err and "damaged" in captured.err
    assert "no frame updates" not in captured.err
    assert "5 frames" in captured.out
    assert len(list(out.glob("frame-*.png"))) == 5


def test_player_opens_at_the_first_picture_not_the_black_before_consent(files, xvfb, monkeypatch):
    """Issue 21, point 19: `recording play` started with the time before consent."""
    tkinter = pytest.importorskip("tkinter")
    from viewer.player import Player
    from viewer.recording_timeline import scan

    monkeypatch.setenv("DISPLAY", xvfb.name)
    viewer, _ = files
    with viewer.open("rb") as stream:
        timeline = scan(stream)
        assert timeline.frames[0].time > timeline.header.start_time
        root = tkinter.Tk()
        try:
            player = Player(root, timeline, stream)
            assert player.position == pytest.approx(
                timeline.frames[0].time - timeline.header.start_time
            )
            assert player.frames_shown == 1
        finally:
            player.close()
