"""The end of a session, run many times: the evidence of each side is complete and
anchored in the ledger whoever ends and however the messages race (issue 20, points 11,
12 and 14). Real processes: relay, host agent (terminal UI, synthetic screen) and
headless viewer ending on --seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from fernwartung.recording_cli import read_ledger_checkpoints
from protocol.recording_reader import RecordReader
from protocol.recording_verify import verify
from tests.e2e.test_recording_e2e import Relay, only_file, relay_process, run_session
from tests.support.resume_sessions import session_rows

__all__ = ["relay_process"]  # the fixture, used by name
RUNS = 6


def final_report_is_anchored(path: Path, data_dir: Path) -> tuple[bool, str]:
    """The file ends with its END record and the ledger holds this side's report of it."""
    data = path.read_bytes()
    reader = RecordReader(data)
    header = reader.read_header()
    records = sum(1 for _ in reader)
    ledger = read_ledger_checkpoints(data_dir, header)
    result = verify(data, ledger)
    own = [c.file_records for c in ledger if c.side is header.side and c.file_records]
    anchored = bool(own) and max(own) == records
    return result.intact and anchored, f"{records} records, ledger {own}: {result.reason}"


@pytest.mark.parametrize("run", range(RUNS))
def test_both_recordings_end_complete_and_anchored_when_the_viewer_ends(
    relay_process: Relay, tmp_path: Path, run: int
) -> None:
    host_dir, viewer_dir = tmp_path / "host", tmp_path / "viewer"
    host_status, host_lines, viewer_status, viewer_lines = run_session(
        relay_process, host_dir, "--seconds", "2", "--record", str(viewer_dir)
    )
    assert viewer_status == 0 and host_status == 0, (viewer_lines, host_lines)
    for path in (only_file(viewer_dir), only_file(host_dir)):
        ok, detail = final_report_is_anchored(path, relay_process.data_dir)
        assert ok, f"{path.name}: {detail}"
    assert session_rows(relay_process.data_dir)[-1]["end_reason"] == "viewer_ended"


@pytest.mark.parametrize("run", range(RUNS))
def test_the_ledger_names_the_viewer_when_it_ends_and_the_host_keeps_no_recording(
    relay_process: Relay, tmp_path: Path, run: int
) -> None:
    viewer_dir = tmp_path / "viewer"
    host_status, host_lines, viewer_status, viewer_lines = run_session(
        relay_process, None, "--seconds", "2", "--record", str(viewer_dir)
    )
    assert viewer_status == 0 and host_status == 0, (viewer_lines, host_lines)
    ok, detail = final_report_is_anchored(only_file(viewer_dir), relay_process.data_dir)
    assert ok, detail
    assert session_rows(relay_process.data_dir)[-1]["end_reason"] == "viewer_ended"
