"""The page's BrowserSession (relay/browser/static/js/browser_session.js) in node against the
python host side, live, as viewer/client.py is checked: the test plays the relay (join,
the relay's answers, a dropped link and the resume) and the host (the real PeerSession and
recording writer), and the session must do what the Python viewer does: Hello with the
rich capabilities and "recording", an Ack after each applied update, checkpoints to the
host and the relay, input only under control, a resume without a new code, the end
exchange with both final checkpoints, the END record and its report before `end`. Its
recording then verifies against the reports the relay would hold.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from host_agent.damage.tiles import Rect
from protocol import codes, control, messages
from protocol.billing import Tariff
from protocol.errors import FernwartungError, WrongCode
from protocol.handshake import Role
from protocol.recording_verify import LedgerCheckpoint, verify
from protocol.resume import verifier_for
from tests.browser.make_vectors import to_json
from tests.browser.node_peer import node_binary
from tests.browser.test_js_live import (
    HEIGHT,
    WIDTH,
    Clock,
    Host,
    rects_tile,
    rgb_sha256,
    screen_frame,
    tiles_of,
)

M = messages
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DRIVER = HERE / "session_driver.mjs"
EVENT_TIMEOUT_SECONDS = 20.0


class Driver:
    """The node process and the relay the test plays for it."""

    def __init__(
        self, code: codes.Code, recording: Path, host: Host, checkpoint_seconds: str = "Infinity"
    ) -> None:
        self.process = subprocess.Popen(
            [node_binary(), str(DRIVER), code.spoken(), str(recording), checkpoint_seconds],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=HERE,
            env={**os.environ, "NODE_OPTIONS": ""},
        )
        self.host = host
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.events: list[dict] = []
        self.controls: list[dict] = []
        self.ledger: list[LedgerCheckpoint] = []
        self.link_open = False
        self.host_error: FernwartungError | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def command(self, cmd: str, **fields: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.process.stdin.flush()

    def to_page(self, item: control.Control | bytes | None) -> None:
        if item is None:
            return
        if isinstance(item, bytes):
            self.command("binary", hex=item.hex())
        else:
            self.command("text", text=control.encode(item))

    def pump(self, until: Callable[[], bool], timeout: float = EVENT_TIMEOUT_SECONDS) -> None:
        """Carry what the page sends (binary frames to the host, whose answers go back)
        until `until()` holds."""
        deadline = time.monotonic() + timeout
        while not until():
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(
                    f"the page did not get there; last: {self.events[-5:]}"
                ) from None
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise RuntimeError(f"the page ended: {self.events[-6:]} {stderr[-3000:]}")
            event = json.loads(line)
            kind = event["ev"]
            if kind == "binary":
                try:
                    answers = self.host.receive(bytes.fromhex(event["hex"]))
                except FernwartungError as error:
                    self.host_error = error
                    continue
                for answer in answers:
                    self.to_page(answer)
            elif kind == "text":
                message = control.decode(event["text"])
                self.controls.append(event)
                if isinstance(message, control.Checkpoint):
                    self.ledger.append(
                        LedgerCheckpoint(
                            message.records, message.head, Role.VIEWER, time.time(),
                            message.file_records, bytes.fromhex(message.file_head),
                        )
                    )  # fmt: skip
            else:
                if kind == "connect":
                    self.link_open = False
                self.events.append(event)

    def last_control(self) -> control.Control | None:
        return control.decode(self.controls[-1]["text"]) if self.controls else None

    def controls_of(self, kind: type[control.Control]) -> list[control.Control]:
        found = [control.decode(c["text"]) for c in self.controls]
        return [m for m in found if isinstance(m, kind)]

    def saw(self, kind: str, **fields: object) -> bool:
        return any(
            e["ev"] == kind and all(e.get(k) == v for k, v in fields.items()) for e in self.events
        )

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e["ev"] == kind)

    def accept_link(self) -> None:
        self.pump(lambda: self.saw("connect") and not self.link_open)
        self.command("accept")
        self.link_open = True

    def outcome(self) -> dict:
        self.pump(lambda: self.saw("outcome"))
        return next(e for e in self.events if e["ev"] == "outcome")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def drivers():
    started: list[Driver] = []
    yield started
    for driver in started:
        driver.close()


def host_checkpoint(host: Host, clock: Clock, ledger: list[LedgerCheckpoint]) -> bytes:
    written = host.writer.checkpoint(clock())
    ledger.append(
        LedgerCheckpoint(written.message.records, written.message.head, Role.HOST, clock.now)
    )
    frame = host.session.seal_plaintext(written.plaintext)
    assert frame is not None
    return frame


def joined_and_greeted(
    drivers: list, tmp_path: Path, code: codes.Code, checkpoint_seconds: str = "Infinity"
) -> tuple[Driver, Host, Clock]:
    """A page that joined, ran the handshake and exchanged Hellos with the host."""
    clock = Clock()
    host = Host(code, clock)
    page = Driver(code, tmp_path / "page.fwrec", host, checkpoint_seconds)
    drivers.append(page)
    page.accept_link()
    page.pump(lambda: isinstance(page.last_control(), control.Join))
    join = page.last_control()
    assert join == control.Join(session=code.session, version=1, customer="")
    page.to_page(control.Joined(technician="Erika Muster", **control.tariff_fields(Tariff())))
    page.to_page(host.session.start())
    page.pump(lambda: bool(page.controls_of(control.ResumeVerifier)))
    assert host.session.keys is not None
    page.to_page(host.seal(M.Hello((1,), ("recording", *M.RICH_CAPABILITIES), WIDTH, HEIGHT)))
    page.pump(lambda: bool(host.received))
    return page, host, clock


def test_the_page_session_does_what_the_python_viewer_does(drivers, tmp_path):
    code = codes.new_code("48213")
    page, host, clock = joined_and_greeted(drivers, tmp_path, code)
    ledger = page.ledger

    # Hello: the rich capabilities and "recording", screen 0x0.
    hello = host.received[0].message
    assert isinstance(hello, M.Hello) and hello.screen_width == hello.screen_height == 0
    assert set(M.RICH_CAPABILITIES) | {"recording", "tiles.png", "tiles.jpeg"} <= set(
        hello.capabilities
    )
    [verifier] = page.controls_of(control.ResumeVerifier)
    assert verifier.epoch == 0

    # View only: input is not sent; then control, and it is.
    page.to_page(host.seal(M.ConsentState(M.ConsentLevel.VIEW)))
    page.pump(lambda: page.saw("status", phase="active", consent="view"))
    page.command("send", message=to_json(M.Key("a", True)))
    page.command("send", message=to_json(M.Chat("Guten Tag")))
    page.pump(lambda: len(host.received) == 2)
    assert host.received[1].message == M.Chat("Guten Tag")  # the key was not sent
    page.to_page(host.seal(M.ConsentState(M.ConsentLevel.CONTROL)))
    page.pump(lambda: page.saw("status", consent="control"))

    # Frame updates: applied (the screen as the python framebuffer has it), then acked.
    frame = screen_frame()
    first = M.FrameUpdate(
        1, clock(), WIDTH, HEIGHT,
        (*tiles_of(frame, [Rect(0, 0, WIDTH, 8), Rect(0, 8, WIDTH, 40)]),
         rects_tile(0, 48, WIDTH, 48)),
    )  # fmt: skip
    second = M.ExtendedFrameUpdate(
        2, clock(), WIDTH, HEIGHT, tiles_of(np.roll(frame, -6, axis=0), [Rect(0, 42, WIDTH, 6)]),
        (M.CopyRect(0, 14, 0, 8, WIDTH, 34),), (),
    )  # fmt: skip
    for update in (first, second):
        host.expected_screen.apply(update)
        page.to_page(host.seal(update))
        page.pump(lambda seq=update.seq: host.received[-1].message == M.Ack(seq))
        applied = [e for e in page.events if e["ev"] == "applied"][-1]
        assert applied["seq"] == update.seq
        assert applied["rgbSha256"] == rgb_sha256(host.expected_screen)

    # Input under control, and chat from the customer.
    inputs = [M.PointerMove(12, 34), M.Key("Return", True), M.Key("Return", False)]
    for message in inputs:
        page.command("send", message=to_json(message))
    page.pump(lambda: [r.message for r in host.received[-3:]] == inputs)
    page.to_page(host.seal(M.Chat("Bitte einen Moment")))
    page.pump(lambda: page.saw("chat", text="Bitte einen Moment"))

    # A checkpoint: its message in the channel (the host's writer checks it), the same
    # heads to the relay.
    page.command("checkpoint")
    page.pump(lambda: len(page.controls_of(control.Checkpoint)) == 1)
    assert isinstance(host.received[-1].message, M.Checkpoint)
    assert host.received[-1].message.records == ledger[-1].records
    assert host.received[-1].message.head == ledger[-1].head
    page.to_page(host_checkpoint(host, clock, ledger))

    # The link drops; the page reconnects and resumes with its one-time secret; a chat sent
    # while away goes out after the resume, a frame lost on the wire arrives again.
    lost = host.seal(M.Chat("lost on the wire"))
    assert lost is not None
    page.command("drop")
    page.pump(lambda: page.saw("status", phase="reconnecting"))
    host.session.detach()
    page.accept_link()
    page.pump(lambda: isinstance(page.last_control(), control.Resume))
    resume = page.last_control()
    assert resume.session == code.session and resume.epoch == 0
    assert verifier_for(resume.secret) == verifier.verifier
    page.to_page(control.Resumed(epoch=1))
    page.pump(lambda: len(page.controls_of(control.ResumeVerifier)) == 2)
    page.to_page(host.session.switch_epoch(1))  # the host's resume state, its first frame
    page.pump(
        lambda: page.saw("chat", text="lost on the wire") and page.saw("status", phase="active")
    )
    third = M.FrameUpdate(3, clock(), WIDTH, HEIGHT, first.tiles)
    host.expected_screen.apply(third)
    page.to_page(host.seal(third))
    page.pump(lambda: host.received[-1].message == M.Ack(3))

    # The technician ends: final checkpoint and Bye; the host answers with its own; then
    # the END record, its report and the relay's `end`.
    page.command("end", reason="the technician ended the session")
    page.pump(lambda: isinstance(host.received[-1].message, M.Bye))
    assert isinstance(host.received[-2].message, M.Checkpoint)
    page.to_page(host_checkpoint(host, clock, ledger))
    page.to_page(host.seal(M.Bye("the technician ended the session")))
    page.pump(lambda: isinstance(page.last_control(), control.End))
    final_report, end = page.controls_of(control.Checkpoint)[-1], page.last_control()
    assert end == control.End("the technician ended the session")
    assert final_report.file_records > ledger[-3].file_records
    page.to_page(control.PeerLeft(reason="viewer_ended"))
    outcome = page.outcome()
    assert outcome == {
        "ev": "outcome",
        "ending": "ended",
        "reason": "the technician ended the session",
    }
    assert page.saw("close")

    # The traffic chains agree with the host's, and the file verifies against the ledger.
    data = (tmp_path / "page.fwrec").read_bytes()
    result = verify(data, ledger)
    assert result.intact, result.reason
    assert result.ledger_matched == len(ledger)
    assert result.end_reason == "the technician ended the session"
    checked = subprocess.run(
        [sys.executable, "-m", "fernwartung", "recording", "verify", str(tmp_path / "page.fwrec")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_the_customer_ending_is_answered_with_checkpoint_and_bye(drivers, tmp_path):
    code = codes.new_code("7310")
    page, host, clock = joined_and_greeted(drivers, tmp_path, code)
    page.to_page(host.seal(M.ConsentState(M.ConsentLevel.VIEW)))
    page.pump(lambda: page.saw("status", phase="active"))
    page.to_page(host_checkpoint(host, clock, page.ledger))
    page.to_page(host.seal(M.Bye("the customer ended the session")))
    page.pump(lambda: isinstance(host.received[-1].message, M.Bye))
    assert isinstance(host.received[-2].message, M.Checkpoint)
    page.to_page(control.End(reason="the customer ended the session"))
    outcome = page.outcome()
    assert outcome["ending"] == "ended"
    assert outcome["reason"] == "the customer ended the session"
    result = verify((tmp_path / "page.fwrec").read_bytes(), page.ledger)
    assert result.intact, result.reason


def test_a_wrong_code_ends_the_page_session_with_wrong_code(drivers, tmp_path):
    code = codes.new_code("48213")
    wrong = codes.parse_code(code.session + f"{(int(code.secret) + 1) % 10**6:06d}")
    clock = Clock()
    host = Host(code, clock)
    page = Driver(wrong, tmp_path / "page.fwrec", host)
    drivers.append(page)
    page.accept_link()
    page.pump(lambda: isinstance(page.last_control(), control.Join))
    page.to_page(control.Joined(technician="Erika Muster"))
    page.to_page(host.session.start())
    assert page.outcome()["ending"] == "wrong_code"
    assert isinstance(page.host_error, WrongCode)


def test_checkpoints_come_by_themselves_at_the_interval(drivers, tmp_path):
    """The page checkpoints on its own timer (30 s in the page; shortened here), each to
    the host in the channel and to the relay, and the host's writer accepts each."""
    code = codes.new_code("5521")
    page, host, _clock = joined_and_greeted(drivers, tmp_path, code, checkpoint_seconds="0.2")
    page.to_page(host.seal(M.ConsentState(M.ConsentLevel.VIEW)))
    page.pump(lambda: len(page.controls_of(control.Checkpoint)) >= 3)
    reported = page.controls_of(control.Checkpoint)
    sent = [r.message for r in host.received if isinstance(r.message, M.Checkpoint)]
    assert len(sent) >= 3
    assert [(c.records, c.head) for c in reported[:3]] == [(m.records, m.head) for m in sent[:3]]
    assert [c.file_records for c in reported[:3]] == sorted({c.file_records for c in reported[:3]})
