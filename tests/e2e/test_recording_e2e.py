"""Evidence recording end to end (issue 6): the real relay, host agent and viewer.

The process tests run `fernwartung relay|host|viewer` as child processes (the host on
its synthetic screen) and check the two recordings of one session against each other,
against the viewer's `--stats` and against the relay's ledger. The in-process test runs
host agent and viewer in this event loop with a short checkpoint interval, so periodic
checkpoints and input outcomes are covered in seconds. The full disk is a 200 KiB tmpfs
mounted for the test (root only; skipped otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import msgpack
import pytest

from endpoint.evidence import EvidenceSettings, SessionEvidence
from fernwartung.recording_cli import read_ledger_checkpoints
from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.evidence import terms_hash
from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from protocol import messages
from protocol.channel import Direction
from protocol.codes import parse_code
from protocol.handshake import Role
from protocol.recording import End, RecordKind, decode_local, message_type
from protocol.recording_reader import Record, RecordReader
from protocol.schema import to_values
from tests.host_agent.harness import UiRecorder
from tests.protocol.test_recording import forge
from tests.support.relay import (
    add_technician,
    running_relay,
    start_relay_process,
    stop_relay_process,
)
from tests.viewer.processes import REPO_ROOT, LineReader, python_env
from viewer.client import ClientSettings, Phase, StatusChanged, ViewerClient

TECHNICIAN = "Erika Muster"
EXIT_TIMEOUT_SECONDS = 30.0
WAIT_SECONDS = 20.0


# ---- reading recordings ------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoints:
    """The Checkpoint messages in a recording, per direction, in order: (records, head)."""

    host_to_viewer: list[tuple[int, bytes]]
    viewer_to_host: list[tuple[int, bytes]]


def checkpoints_in(path: Path) -> Checkpoints:
    found: dict[Direction, list[tuple[int, bytes]]] = {direction: [] for direction in Direction}
    with path.open("rb") as stream:
        reader = RecordReader(stream)
        reader.read_header()
        for record in reader:
            direction = record.direction
            if direction is None or message_type(record.payload) != messages.Checkpoint.TYPE:
                continue
            message = messages.decode(record.payload)
            assert isinstance(message, messages.Checkpoint)
            found[direction].append((message.records, message.head))
    return Checkpoints(found[Direction.HOST_TO_VIEWER], found[Direction.VIEWER_TO_HOST])


def outcomes_in(path: Path) -> list[tuple[int, bool, str]]:
    with path.open("rb") as stream:
        reader = RecordReader(stream)
        reader.read_header()
        return [
            (outcome.message_index, outcome.applied, outcome.reason)
            for record in reader
            if record.kind is RecordKind.INPUT_OUTCOME
            for outcome in [decode_local(RecordKind.INPUT_OUTCOME, record.payload)]
        ]


def fernwartung(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fernwartung", *args],
        capture_output=True,
        text=True,
        env=python_env(),
        cwd=REPO_ROOT,
        timeout=EXIT_TIMEOUT_SECONDS,
        check=False,
    )


def info(path: Path) -> dict[str, object]:
    result = fernwartung("recording", "info", str(path), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def only_file(directory: Path) -> Path:
    files = sorted(directory.glob("*.fwrec"))
    assert len(files) == 1, f"expected one recording in {directory}, found {files}"
    return files[0]


# ---- processes ---------------------------------------------------------------------------


@dataclass
class Relay:
    url: str
    fingerprint: str | None
    data_dir: Path


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[Relay]:
    data_dir = tmp_path / "relay"
    process, url, fingerprint = start_relay_process(data_dir)
    try:
        yield Relay(url, fingerprint, data_dir)
    finally:
        stop_relay_process(process)


@contextlib.contextmanager
def host_process(
    relay: Relay, record: Path | None
) -> Iterator[tuple[subprocess.Popen[str], LineReader]]:
    command = [sys.executable, "-m", "fernwartung", "host", "--relay", relay.url,
               "--ui", "terminal", "--screen", "synthetic", "--lang", "en"]  # fmt: skip
    if record is not None:
        command += ["--record", str(record)]
    if relay.fingerprint:
        command += ["--fingerprint", relay.fingerprint]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=python_env(),
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    try:
        yield process, LineReader(process).start(process.stdout)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(EXIT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_viewer(relay: Relay, code: str, *extra: str) -> tuple[subprocess.Popen[str], LineReader]:
    token = add_technician(relay.data_dir, TECHNICIAN)
    command = [sys.executable, "-m", "fernwartung", "viewer", "--relay", relay.url,
               "--code", code, "--ui", "headless", *extra]  # fmt: skip
    if relay.fingerprint:
        command += ["--fingerprint", relay.fingerprint]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(FERNWARTUNG_TOKEN=token),
        cwd=REPO_ROOT,
    )
    assert process.stderr is not None
    return process, LineReader(process).start(process.stderr)


def run_session(
    relay: Relay, host_record: Path | None, *viewer_args: str
) -> tuple[int, list[str], int, list[str]]:
    """Host (synthetic screen, view only) and headless viewer; both exit statuses and outputs."""
    with host_process(relay, host_record) as (host, host_output):
        line = host_output.wait_for(lambda text: text.startswith("CODE: "))
        code = line.removeprefix("CODE: ").strip()
        viewer, viewer_output = start_viewer(relay, code, *viewer_args)
        try:
            host_output.wait_for(lambda text: text.rstrip().endswith("[n/v/c]"))
            assert host.stdin is not None
            host.stdin.write("v\n")
            host.stdin.flush()
            viewer_status = viewer.wait(EXIT_TIMEOUT_SECONDS)
            host_status = host.wait(EXIT_TIMEOUT_SECONDS)
        finally:
            if viewer.poll() is None:
                viewer.kill()
                viewer.wait()
        for output in (host_output, viewer_output):
            with contextlib.suppress(EOFError, TimeoutError):
                output.wait_for(lambda text: False, timeout=5)
    return host_status, host_output.lines, viewer_status, viewer_output.lines


# ---- the tests ---------------------------------------------------------------------------


def test_a_real_session_is_recorded_alike_on_both_sides_and_matches_the_ledger(
    relay_process: Relay, tmp_path: Path
) -> None:
    stats = tmp_path / "stats.jsonl"
    host_dir, viewer_dir = tmp_path / "host-recording", tmp_path / "viewer-recording"
    host_status, host_lines, viewer_status, viewer_lines = run_session(
        relay_process, host_dir, "--seconds", "3", "--stats", str(stats),
        "--record", str(viewer_dir), "--customer", "K-1001",
    )  # fmt: skip
    assert viewer_status == 0, viewer_lines
    assert host_status == 0, "\n".join(host_lines)
    host_file, viewer_file = only_file(host_dir), only_file(viewer_dir)
    assert host_file.stat().st_mode & 0o777 == 0o600

    # Every frame update the viewer received is in its recording, and in the host's.
    received = len(stats.read_text().splitlines())
    viewer_info, host_info = info(viewer_file), info(host_file)
    assert received > 0
    assert viewer_info["frames"] == received
    assert host_info["frames"] == received
    assert viewer_info["complete"] and host_info["complete"]

    # The header says who, where and which terms (the host was shown them).
    sample_terms = resources.files("host_agent").joinpath("terms_sample.txt").read_text("utf-8")
    assert host_info["technician"] == TECHNICIAN
    assert host_info["terms_hash"] == hashlib.sha256(sample_terms.encode()).hexdigest()
    assert viewer_info["customer"] == "K-1001"
    assert viewer_info["screen"] == host_info["screen"] == "1280x720"

    # The final checkpoint exchange of this short session is in both files, and the two
    # copies agree on every checkpoint head in both directions.
    host_heads, viewer_heads = checkpoints_in(host_file), checkpoints_in(viewer_file)
    assert host_heads == viewer_heads
    assert len(host_heads.host_to_viewer) >= 1 and len(host_heads.viewer_to_host) >= 1

    # Both copies verify, against the relay's ledger too.
    for path in (host_file, viewer_file):
        result = fernwartung(
            "recording", "verify", str(path), "--ledger", str(relay_process.data_dir)
        )
        assert result.returncode == 0, result.stderr
        assert "match the relay's ledger" in result.stdout
    # Each side reported its file chain too, so every record up to its last checkpoint is
    # anchored, not only the traffic.
    for path in (host_file, viewer_file):
        header = RecordReader(path.read_bytes()).read_header()
        reported = read_ledger_checkpoints(relay_process.data_dir, header)
        own = [c for c in reported if c.side is header.side]
        assert own and all(c.file_head is not None and c.file_records for c in own)


def test_a_rewritten_end_record_fails_against_the_ledger_while_the_original_verifies(
    relay_process: Relay, tmp_path: Path
) -> None:
    host_dir, viewer_dir = tmp_path / "host-recording", tmp_path / "viewer-recording"
    host_status, host_lines, viewer_status, viewer_lines = run_session(
        relay_process, host_dir, "--seconds", "2", "--record", str(viewer_dir)
    )
    assert viewer_status == 0, viewer_lines
    assert host_status == 0, "\n".join(host_lines)
    for path in (only_file(host_dir), only_file(viewer_dir)):
        original = path.read_bytes()
        reader = RecordReader(original)
        header = reader.read_header()
        records = list(reader)
        assert records[-1].kind is RecordKind.END
        # Each side reported its final heads after writing the END record.
        own = [
            c
            for c in read_ledger_checkpoints(relay_process.data_dir, header)
            if c.side is header.side
        ]
        assert own[-1].file_records == len(records)

        def new_reason(record: Record) -> bytes:
            if record.kind is not RecordKind.END:
                return record.payload
            return msgpack.packb(to_values(End("the customer declined")), use_bin_type=True)

        forged_path = path.with_name("forged-" + path.name)
        forged_path.write_bytes(forge(original, new_reason))
        assert fernwartung("recording", "verify", str(forged_path)).returncode == 0
        forged = fernwartung(
            "recording", "verify", str(forged_path), "--ledger", str(relay_process.data_dir)
        )
        assert forged.returncode == 1, forged.stdout
        assert "NOT INTACT (ledger mismatch)" in forged.stderr
        assert f"record {len(records)} is the end record" in forged.stderr
        untouched = fernwartung(
            "recording", "verify", str(path), "--ledger", str(relay_process.data_dir)
        )
        assert untouched.returncode == 0, untouched.stderr


# Room left on the small disk for the host's recording: its header and a few updates.
FULL_DISK_ROOM_BYTES = 16 * 1024


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 200 KiB tmpfs already filled but for FULL_DISK_ROOM_BYTES: the host's
    recording fills it within the first updates, however small they are encoded."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        free = os.statvfs(mount_point)
        (mount_point / "filler").write_bytes(
            bytes(free.f_bavail * free.f_frsize - FULL_DISK_ROOM_BYTES)
        )
        recordings = mount_point / "recordings"
        recordings.mkdir()
        yield recordings
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, timeout=30)


def test_a_full_disk_ends_the_session_at_once_and_tells_the_customer(
    relay_process: Relay, tmp_path: Path, full_disk: Path
) -> None:
    viewer_dir = tmp_path / "viewer-recording"
    host_status, host_lines, viewer_status, viewer_lines = run_session(
        relay_process, full_disk, "--seconds", "25", "--record", str(viewer_dir)
    )
    host_text = "\n".join(host_lines)
    assert "your recording could not be saved (is the disk full?)" in host_text
    assert "the disk is full" in host_text
    assert host_status == 1
    # The viewer was told through the relay and ended normally, long before --seconds.
    assert viewer_status == 0, viewer_lines
    assert any("recording could not be saved" in line for line in viewer_lines), viewer_lines

    # The host's copy is cut where the disk ran out; the viewer's is complete and intact,
    # and the viewer got no frame the host's copy does not hold.
    host_file = only_file(full_disk)
    verified = fernwartung("recording", "verify", str(host_file))
    assert verified.returncode == 3  # cut
    assert "cut" in verified.stderr
    viewer_file = only_file(viewer_dir)
    assert fernwartung("recording", "verify", str(viewer_file)).returncode == 0
    assert info(viewer_file)["frames"] <= info(host_file)["frames"]


def test_the_customer_is_told_when_the_technicians_recording_fails(
    relay_process: Relay, tmp_path: Path, full_disk: Path
) -> None:
    # Issue 20, point 10: the viewer stopped correctly, but the customer only read "the
    # technician left", not that the technician's recording had failed.
    host_status, host_lines, viewer_status, viewer_lines = run_session(
        relay_process, tmp_path / "host-recording", "--seconds", "25", "--record", str(full_disk)
    )
    assert viewer_status == 1, viewer_lines
    host_text = "\n".join(host_lines)
    assert "the technician's recording failed" in host_text, host_text
    assert host_status == 0, host_text


@dataclass
class CheckpointCounter:
    """A viewer MessageTap: wakes the test when the host's n-th checkpoint arrived."""

    wanted: int
    seen: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def sent(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None:
        pass

    def received(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None:
        if isinstance(message, messages.Checkpoint):
            self.seen += 1
            if self.seen >= self.wanted:
                self.reached.set()


async def test_periodic_checkpoints_and_input_outcomes_agree_in_both_copies(
    tmp_path: Path,
) -> None:
    interval = 0.5
    async with running_relay(tmp_path / "relay") as relay:
        token = add_technician(relay.data_dir, TECHNICIAN)
        host_ui = UiRecorder()
        host_recording = SessionEvidence(Role.HOST, EvidenceSettings(
            tmp_path / "host", relay.url, terms_hash("terms"), checkpoint_interval_seconds=interval
        ))  # fmt: skip
        agent = HostAgent(
            AgentSettings(relay.url, relay.fingerprint), Texts("en"), host_ui.notify,
            lambda: SyntheticSource(1), NoInjectionBackend, evidence=host_recording,
        )  # fmt: skip
        host_task = asyncio.create_task(agent.run())
        try:
            code = await host_ui.wait_for(ui.CodeReady)
            viewer_recording = SessionEvidence(Role.VIEWER, EvidenceSettings(
                tmp_path / "viewer", relay.url, checkpoint_interval_seconds=interval
            ))  # fmt: skip
            in_control = asyncio.Event()
            counter = CheckpointCounter(wanted=3)

            def on_event(event: object) -> None:
                if isinstance(event, StatusChanged) and event.status == dataclasses.replace(
                    event.status, phase=Phase.ACTIVE, consent=messages.ConsentLevel.CONTROL
                ):
                    in_control.set()

            client = ViewerClient(
                ClientSettings(relay.url, parse_code(code.spoken), token, relay.fingerprint),
                on_event=on_event,
                taps=[counter],
                evidence=viewer_recording,
            )
            viewer_task = asyncio.create_task(client.run())
            await host_ui.wait_for(ui.ConsentAsked)
            agent.command(ui.Answer(messages.ConsentLevel.CONTROL))
            async with asyncio.timeout(WAIT_SECONDS):
                await in_control.wait()
            for x in range(5):
                await client.send(messages.PointerMove(10 + x, 20))
            async with asyncio.timeout(WAIT_SECONDS):
                await counter.reached.wait()
            client.request_end("the test is over")
            async with asyncio.timeout(WAIT_SECONDS):
                outcome = await viewer_task
                status = await host_task
        finally:
            agent.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAIT_SECONDS):
                    await host_task
    assert outcome.status == 0, outcome
    assert status == 0
    host_file, viewer_file = host_recording.path, viewer_recording.path
    assert host_file is not None and viewer_file is not None
    host_heads, viewer_heads = checkpoints_in(host_file), checkpoints_in(viewer_file)
    assert host_heads == viewer_heads
    # Three periodic ones from the host, and the final exchange in both directions.
    assert len(host_heads.host_to_viewer) >= 4 and len(host_heads.viewer_to_host) >= 2
    outcomes = outcomes_in(host_file)
    assert [(applied, reason) for _index, applied, reason in outcomes] == [(True, "applied")] * 5
    assert host_file.stat().st_mode & 0o777 == 0o600
