import errno
import io
import os
import stat

import pytest

from endpoint.recorder import RecordingFile
from protocol import messages
from protocol.errors import RecordingFailed
from protocol.handshake import Role
from protocol.recording_verify import Problem, verify
from tests.support.recording_sessions import START, frame_update, header


def record_a_little(recording: RecordingFile, frames: int = 3) -> None:
    recording.sent(START + 0.1, messages.encode(messages.Hello((1,), (), 0, 0)))
    for seq in range(frames):
        recording.received(START + 1 + seq, messages.encode(frame_update(seq, START)))
        recording.sent(START + 1.01 + seq, messages.encode(messages.Ack(seq)))


def test_a_recording_file_is_created_private_and_verifies_once_closed(tmp_path):
    recording = RecordingFile.create(tmp_path / "recordings", header(Role.VIEWER))
    assert recording.path.name == "session-482139-viewer-20240501T140000Z.fwrec"
    assert stat.S_IMODE(recording.path.stat().st_mode) == 0o600
    record_a_little(recording)
    written = recording.checkpoint(START + 10)
    assert written.message.records == 4  # hello and three acks before it
    heads = recording.close(START + 11, "done")
    assert recording.closed
    assert heads.viewer_to_host_messages == 5
    data = recording.path.read_bytes()
    assert len(data) == recording.bytes_written
    assert verify(data).intact


def test_a_second_recording_of_the_same_second_never_overwrites_the_first(tmp_path):
    first = RecordingFile.create(tmp_path, header(Role.HOST))
    second = RecordingFile.create(tmp_path, header(Role.HOST))
    assert first.path != second.path
    assert second.path.name.endswith("-2.fwrec")


def test_received_returns_the_index_an_input_outcome_refers_to(tmp_path):
    recording = RecordingFile.create(tmp_path, header(Role.HOST))
    index = recording.received(START + 1, messages.encode(messages.Key("a", True)))
    assert index == 0
    recording.input_outcome(START + 1.1, index, False, "view only")
    recording.close(START + 2, "done")
    assert verify(recording.path.read_bytes()).intact


def test_a_crash_leaves_a_file_that_verifies_up_to_its_last_record(tmp_path):
    recording = RecordingFile.create(tmp_path, header(Role.VIEWER))
    record_a_little(recording, frames=5)
    recording.checkpoint(START + 20)
    record_a_little(recording, frames=2)
    # No close: the process died here. Every record reached the file as it was written.
    data = recording.path.read_bytes()
    result = verify(data)
    assert result.problem is Problem.CUT
    assert result.verified_bytes == len(data) == recording.bytes_written
    assert result.records == recording.heads().file_records
    recording.abandon()


def test_each_message_reaches_the_file_with_one_system_call(tmp_path, monkeypatch):
    gathered = []
    real_writev = os.writev

    def counting_writev(descriptor, pieces):  # type: ignore[no-untyped-def]
        gathered.append(sum(map(len, pieces)))
        return real_writev(descriptor, pieces)

    monkeypatch.setattr(os, "writev", counting_writev)
    recording = RecordingFile.create(tmp_path, header(Role.VIEWER))
    header_bytes = recording.bytes_written
    record_a_little(recording, frames=3)  # a Hello, three frame updates, three acks
    assert len(gathered) == 7
    assert sum(gathered) == recording.bytes_written - header_bytes
    # In the file already (for the OS to keep should this process die), before any close.
    assert recording.path.stat().st_size == recording.bytes_written
    recording.close(START + 10, "done")
    assert verify(recording.path.read_bytes()).intact


def test_a_short_gathered_write_is_completed_before_the_next_record(tmp_path, monkeypatch):
    def short_writev(descriptor, pieces):  # type: ignore[no-untyped-def]
        data = b"".join(pieces)
        return os.write(descriptor, data[: max(1, len(data) // 3)])

    monkeypatch.setattr(os, "writev", short_writev)
    recording = RecordingFile.create(tmp_path, header(Role.VIEWER))
    record_a_little(recording, frames=3)
    recording.close(START + 10, "done")
    data = recording.path.read_bytes()
    assert len(data) == recording.bytes_written
    assert verify(data).intact


def test_a_disk_full_during_a_gathered_write_stops_the_recording_for_good(tmp_path, monkeypatch):
    recording = RecordingFile.create(tmp_path, header(Role.VIEWER))

    def full(descriptor, pieces):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "writev", full)
    with pytest.raises(RecordingFailed, match="disk is full"):
        record_a_little(recording)
    monkeypatch.undo()
    with pytest.raises(RecordingFailed, match="disk is full"):
        recording.sent(START + 50, messages.encode(messages.Ack(99)))
    recording.abandon()
    assert verify(recording.path.read_bytes()).problem is Problem.CUT


def test_a_full_disk_at_the_start_is_a_clear_recording_failure():
    with (
        open("/dev/full", "wb", buffering=0) as full,
        pytest.raises(RecordingFailed, match="disk is full"),
    ):
        RecordingFile(full, header(Role.VIEWER))


class FillingDisk(io.RawIOBase):
    """A disk with room for `room` bytes; then every write fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        self.data += data
        return len(data)

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "no descriptor")


def test_a_disk_filling_up_mid_session_stops_the_recording_for_good():
    disk = FillingDisk(room=600)
    recording = RecordingFile(disk, header(Role.VIEWER))
    with pytest.raises(RecordingFailed, match="disk is full") as failure:
        record_a_little(recording, frames=20)
    assert "482139" not in str(failure.value)  # no session data in the message
    with pytest.raises(RecordingFailed, match="disk is full"):
        recording.sent(START + 50, messages.encode(messages.Ack(99)))
    with pytest.raises(RecordingFailed):
        recording.close(START + 60, "disk full")
    recording.abandon()
    result = verify(bytes(disk.data))
    assert result.problem is Problem.CUT
    assert result.verified_bytes == len(disk.data)


def test_an_unwritable_folder_is_a_recording_failure(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    with pytest.raises(RecordingFailed):
        RecordingFile.create(blocked / "recordings", header(Role.VIEWER))
