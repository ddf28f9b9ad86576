"""A viewer killed mid-session (SIGKILL), and its recording cut back to its last
checkpoint with a forged end record, is named as cut by `recording verify --ledger`
(issue 20, point 13): the relay forwarded more from the viewer than the file holds.
Real processes: relay, host agent, and a viewer recording with a short checkpoint
interval (tests/support/crashing_viewer.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fernwartung.recording_cli import read_ledger
from protocol.handshake import Role
from protocol.recording_reader import RecordReader
from tests.e2e.test_recording_e2e import fernwartung, only_file
from tests.protocol.test_recording_verdicts import cut_back_with_an_end_record
from tests.support.relay import add_technician, start_relay_process, stop_relay_process
from tests.support.resume_sessions import session_rows
from tests.viewer.processes import LineReader, host_process, python_env

CRASHING_VIEWER = Path(__file__).resolve().parents[1] / "support" / "crashing_viewer.py"
CHECKPOINTS_BEFORE_THE_CRASH = 2
ACTIONS_AFTER_THE_LAST_CHECKPOINT = 3
WAIT_SECONDS = 30.0


def test_a_crashed_viewers_file_cut_back_with_a_forged_end_is_named_cut(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    relay_process, url, fingerprint = start_relay_process(data_dir, "--resume-grace-seconds", "1")
    viewer_dir = tmp_path / "viewer"
    try:
        with host_process(url, fingerprint, {}, screen="synthetic") as host:
            code = host.code()
            token = add_technician(data_dir, "Erika Muster")
            viewer = subprocess.Popen(
                [sys.executable, str(CRASHING_VIEWER), url, fingerprint or "", code,
                 str(viewer_dir)],
                stdout=subprocess.PIPE, text=True,
                env=python_env(FERNWARTUNG_TOKEN=token),
            )  # fmt: skip
            try:
                assert viewer.stdout is not None
                output = LineReader(viewer).start(viewer.stdout)
                host.answer("v")
                for _ in range(CHECKPOINTS_BEFORE_THE_CRASH):
                    output.wait_for(lambda line: line == "CHECKPOINT", WAIT_SECONDS)
                # The technician acts on (0.6 s of requests, the next checkpoint is 2 s
                # away): these are what a cut back to the checkpoint would hide.
                for _ in range(ACTIONS_AFTER_THE_LAST_CHECKPOINT):
                    output.wait_for(lambda line: line == "ACT", WAIT_SECONDS)
                viewer.kill()  # SIGKILL: no end record, no final report
                viewer.wait()
            finally:
                if viewer.poll() is None:
                    viewer.kill()
                    viewer.wait()
            # The relay ends the session after its grace period; the host says so and ends.
            host.output.wait_for(lambda line: "Session ended" in line, WAIT_SECONDS)
    finally:
        stop_relay_process(relay_process)
    assert session_rows(data_dir)[-1]["ended"] is not None

    crashed = only_file(viewer_dir)
    verdict = fernwartung("recording", "verify", str(crashed), "--ledger", str(data_dir))
    assert verdict.returncode == 3, verdict.stderr  # cut: it has no end record
    # The technician cuts the file back to its last checkpoint the relay knows of and adds
    # an end record: alone it looks whole, and its reported checkpoints all match.
    data = crashed.read_bytes()
    header = RecordReader(data).read_header()
    checkpoints, forwarded = read_ledger(data_dir, header)
    anchored = max(c.file_records or 0 for c in checkpoints if c.side is Role.VIEWER)
    assert anchored > 0 and forwarded.viewer_to_host is not None
    forged = crashed.with_name("forged-" + crashed.name)
    forged.write_bytes(cut_back_with_an_end_record(data, anchored))
    assert fernwartung("recording", "verify", str(forged)).returncode == 0
    verdict = fernwartung("recording", "verify", str(forged), "--ledger", str(data_dir))
    assert verdict.returncode == 3, (verdict.stdout, verdict.stderr)
    assert "records the viewer sent are missing" in verdict.stderr
    assert "an end record added" in verdict.stderr
