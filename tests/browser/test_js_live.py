"""The browser viewer's modules (in node, tests/browser/peer.mjs) against the real python
host side, live: a random code, SPAKE2 with fresh randomness on both sides, the channel,
every kind of update the host sends a rich viewer, input, chat, checkpoints checked by both
recording writers, a resume with messages lost on the wire and kept while detached, the
end; then the JS recording is verified by protocol/recording_verify.py (with the ledger the
relay would hold) and by `fernwartung recording verify`.

The test plays the relay: it carries each binary frame from one side to the other, in
order, and drops the ones "on the wire" when the connection breaks.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from host_agent.damage.tiles import Rect
from host_agent.encode import encode_rect
from protocol import codes, messages
from protocol.errors import WrongCode
from protocol.handshake import Role
from protocol.recording import RecordingHeader
from protocol.recording_verify import LedgerCheckpoint, verify
from protocol.recording_writer import RecordingWriter
from protocol.resume import resume_secret, verifier_for
from protocol.session import Established, PeerSession, Received, Resumed, Send
from tests.browser.make_vectors import to_json
from tests.browser.node_peer import JsError, NodePeer
from viewer.framebuffer import Framebuffer

M = messages
ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 160, 96
START = 1_790_000_000.0


@pytest.fixture
def js():
    peer = NodePeer()
    try:
        yield peer
    finally:
        peer.close()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        self.now += 0.0173
        return self.now


def screen_frame() -> np.ndarray:
    """A BGRA screen: a backdrop, bands of text-like stripes, blocks."""
    frame = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    frame[...] = (240, 240, 240, 255)
    yy, xx = np.mgrid[0:40, 0:WIDTH]
    frame[8:48][((xx // 3 + yy // 2) % 5) == 0] = (20, 20, 20, 255)
    frame[8:48][((xx // 7) % 11) == 3] = (200, 60, 10, 255)
    frame[60:80, 10:50] = (0, 128, 255, 255)
    frame[64:70, 20:30] = (255, 255, 0, 255)
    frame[70:90, 100:150] = (90, 10, 200, 255)
    return frame


def tiles_of(frame: np.ndarray, rects: list[Rect]) -> tuple[M.Tile, ...]:
    return tuple(encode_rect(frame, r, 80, palette=True, rects=True) for r in rects)


def rects_tile(x: int, y: int, width: int, height: int) -> M.Tile:
    """A rects tile (layout: protocol/messages.py) of the blocks screen_frame() draws there:
    the host encoder sends one when it is shorter than a palette, which deflate often
    beats on this synthetic screen."""
    entries = [
        ((0, 128, 255), 10, 12, 40, 20),
        ((255, 255, 0), 20, 16, 10, 6),
        ((90, 10, 200), 100, 22, 50, 20),
    ]
    data = bytes((240, 240, 240)) + b"".join(
        bytes(colour) + struct.pack(">4H", ex, ey, ew, eh) for colour, ex, ey, ew, eh in entries
    )
    return M.Tile(x, y, width, height, M.Codec.RECTS, data)


def rgb_sha256(screen: Framebuffer) -> str:
    image = screen.snapshot()
    assert image is not None
    return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


class Host:
    """The python host side: PeerSession, its own recording writer, a framebuffer of what
    the viewer should see."""

    def __init__(self, code: codes.Code, clock: Clock) -> None:
        self.session = PeerSession(Role.HOST, code)
        self.clock = clock
        header = RecordingHeader(
            Role.HOST,
            code.session,
            "Technik Tina",
            "wss://relay.test",
            START,
            WIDTH,
            HEIGHT,
            bytes(32),
        )
        self.writer = RecordingWriter(header)
        self.writer.header_bytes()
        self.expected_screen = Framebuffer()
        self.received: list[Received] = []

    def seal(self, message: M.Message) -> bytes | None:
        if self.session.keys is not None and not isinstance(message, M.Checkpoint):
            self.writer.sent(self.clock(), M.encode(message))
        return self.session.seal(message)

    def receive(self, frame: bytes) -> list[bytes]:
        """Feed a frame; the frames the host sends in answer."""
        out = []
        for event in self.session.receive(frame):
            if isinstance(event, Send):
                out.append(event.data)
            elif isinstance(event, Received):
                self.writer.received(self.clock(), event.plaintext)  # checks JS checkpoints
                self.received.append(event)
            else:
                assert isinstance(event, Established | Resumed)
        return out


class Viewer:
    """The JS side, through peer.mjs."""

    def __init__(self, js: NodePeer, clock: Clock) -> None:
        self.js = js
        self.clock = clock
        self.received: list[dict] = []
        self.screens: list[dict] = []

    def receive(self, frame: bytes) -> list[bytes]:
        reply = self.js.call("receive", frame=frame.hex(), time=self.clock())
        out = []
        for event in reply["events"]:
            if event["kind"] == "send":
                out.append(bytes.fromhex(event["frame"]))
            elif event["kind"] == "received":
                self.received.append(event)
                if "screen" in event:
                    self.screens.append(event["screen"])
        return out

    def seal(self, message: M.Message) -> bytes | None:
        frame = self.js.call("seal", message=to_json(message), time=self.clock())["frame"]
        return None if frame is None else bytes.fromhex(frame)


def carry(host: Host, viewer: Viewer, to_viewer: list[bytes], to_host: list[bytes]) -> None:
    """The relay: deliver frames both ways, in order, answers included, until none is left."""
    while to_viewer or to_host:
        if to_viewer:
            to_host.extend(viewer.receive(to_viewer.pop(0)))
        else:
            to_viewer.extend(host.receive(to_host.pop(0)))


def handshake(host: Host, viewer: Viewer) -> None:
    js_start = bytes.fromhex(viewer.js.call("start")["frame"])
    carry(host, viewer, [host.session.start()], [js_start])
    assert host.session.keys is not None


def test_a_live_session_with_the_python_host_and_its_recording_verifies(js, tmp_path):
    clock = Clock()
    code = codes.new_code("48213")
    path = tmp_path / "viewer.fwrec"
    header = RecordingHeader(
        Role.VIEWER, code.session, "", "wss://relay.test", START, WIDTH, HEIGHT, bytes(32)
    )
    js.call("new", role="viewer", code=code.spoken(), header=to_json(header), path=str(path))
    host, viewer = Host(code, clock), Viewer(js, clock)
    handshake(host, viewer)
    ledger: list[LedgerCheckpoint] = []

    def viewer_checkpoint() -> bytes:
        report = js.call("checkpoint", time=clock())
        ledger.append(
            LedgerCheckpoint(
                report["records"], bytes.fromhex(report["head"]), Role.VIEWER, clock.now,
                report["fileRecords"], bytes.fromhex(report["fileHead"]),
            )
        )  # fmt: skip
        return bytes.fromhex(report["frame"])

    def host_checkpoint() -> bytes:
        written = host.writer.checkpoint(clock())
        ledger.append(
            LedgerCheckpoint(written.message.records, written.message.head, Role.HOST, clock.now)
        )
        frame = host.session.seal_plaintext(written.plaintext)
        assert frame is not None
        return frame

    # Greeting and consent.
    carry(host, viewer, [host.seal(M.Hello((1,), ("recording",), WIDTH, HEIGHT))], [])
    capabilities = ("tiles.fill", "tiles.png", *M.RICH_CAPABILITIES, "recording")
    carry(
        host,
        viewer,
        [host.seal(M.ConsentState(M.ConsentLevel.CONTROL))],
        [viewer.seal(M.Hello((1,), capabilities, 0, 0))],
    )
    assert host.received[0].message == M.Hello((1,), capabilities, 0, 0)
    assert viewer.received[0]["message"]["$type"] == "Hello"

    # Frame updates: every pure-JS tile codec, a scroll as a copy; the JS screen must be the
    # python viewer's screen after each, and each is acked.
    frame = screen_frame()
    first = M.FrameUpdate(
        1, clock(), WIDTH, HEIGHT,
        (*tiles_of(frame, [Rect(0, 0, WIDTH, 8), Rect(0, 8, WIDTH, 40)]), rects_tile(0, 48, WIDTH, 48)),
    )  # fmt: skip
    scrolled = np.roll(frame, -6, axis=0)
    second = M.ExtendedFrameUpdate(
        2, clock(), WIDTH, HEIGHT, tiles_of(scrolled, [Rect(0, 42, WIDTH, 6)]),
        (M.CopyRect(0, 14, 0, 8, WIDTH, 34),), (),
    )  # fmt: skip
    codecs_sent = {tile.codec for update in (first, second) for tile in update.tiles}
    assert {M.Codec.PALETTE, M.Codec.RECTS} <= codecs_sent
    for update in (first, second):
        host.expected_screen.apply(update)
        carry(host, viewer, [host.seal(update)], [])
        assert viewer.screens[-1]["rgbSha256"] == rgb_sha256(host.expected_screen)
        carry(host, viewer, [], [viewer.seal(M.Ack(update.seq))])
        assert host.received[-1].message == M.Ack(update.seq)

    # Input and chat, both ways.
    inputs = [
        M.PointerMove(12, 34),
        M.PointerButton(12, 34, M.Button.LEFT, True),
        M.Scroll(12, 34, 0, -3),
        M.Key("ä", True),
        M.Key("ISO_Level3_Shift", False),
        M.Chat("Grüß Gott 👋"),
    ]
    carry(
        host, viewer, [host.seal(M.Chat("Hallo, bitte warten …"))], [viewer.seal(m) for m in inputs]
    )
    assert [r.message for r in host.received[-len(inputs) :]] == inputs
    assert viewer.received[-1]["message"] == {"$type": "Chat", "text": "Hallo, bitte warten …"}

    # Checkpoints: each side's writer checks the other's against its own incoming chain.
    carry(host, viewer, [host_checkpoint()], [viewer_checkpoint()])

    # The resume secret of the viewer is what python derives from the common resume key.
    verifier = js.call("verifier")
    assert bytes.fromhex(verifier["verifier"]) == verifier_for(
        resume_secret(host.session.keys, Role.VIEWER, 0)
    )

    # The connection drops: one frame each way is lost on the wire; more is sent while away.
    lost_to_viewer = host.seal(M.Chat("lost on the wire"))
    lost_to_host = viewer.seal(M.PointerMove(1, 1))
    assert lost_to_viewer is not None and lost_to_host is not None
    host.session.detach()
    js.call("detach")
    js.call("gap", time=clock(), reason="connection to the relay dropped; reconnecting")
    assert host.seal(M.Chat("while away")) is None
    assert viewer.seal(M.Key("x", True)) is None
    host_state = host.session.switch_epoch(1)
    js_state = bytes.fromhex(js.call("switch_epoch", epoch=1)["frame"])
    js.call("gap", time=clock(), reason="resumed after 3 s (channel epoch 1); messages sent again")
    carry(host, viewer, [host_state], [js_state])
    late = [(e["message"].get("text"), e["redelivered"]) for e in viewer.received[-2:]]
    assert late == [("lost on the wire", True), ("while away", True)]
    assert [(r.message, r.redelivered) for r in host.received[-2:]] == [
        (M.PointerMove(1, 1), True),
        (M.Key("x", True), True),
    ]

    # After the resume: a full frame, checked and acked, in the new epoch.
    third = M.FrameUpdate(3, clock(), WIDTH, HEIGHT, first.tiles)  # node has no PNG/WebP decoder
    host.expected_screen.apply(third)
    carry(host, viewer, [host.seal(third)], [])
    assert viewer.screens[-1]["rgbSha256"] == rgb_sha256(host.expected_screen)
    carry(host, viewer, [], [viewer.seal(M.Ack(3))])

    # The end as the contract has it: the host's Checkpoint and Bye, the viewer's answer.
    carry(host, viewer, [host_checkpoint(), host.seal(M.Bye("the customer ended the session"))], [])
    carry(
        host,
        viewer,
        [],
        [viewer_checkpoint(), viewer.seal(M.Bye("the customer ended the session"))],
    )
    heads = js.call("end", time=clock(), reason="the customer ended the session (Bye)")["heads"]
    ledger.append(
        LedgerCheckpoint(
            heads["viewer_to_host_messages"], bytes.fromhex(heads["viewer_to_host_head"]["$bytes"]),
            Role.VIEWER, clock.now, heads["file_records"], bytes.fromhex(heads["file_head"]["$bytes"]),
        )
    )  # fmt: skip

    # Both sides hold the same traffic chains.
    python_heads = host.writer.heads()
    assert heads["host_to_viewer_messages"] == python_heads.host_to_viewer_messages
    assert bytes.fromhex(heads["host_to_viewer_head"]["$bytes"]) == python_heads.host_to_viewer_head
    assert bytes.fromhex(heads["viewer_to_host_head"]["$bytes"]) == python_heads.viewer_to_host_head

    data = path.read_bytes()
    result = verify(data, ledger)
    assert result.intact, result.reason
    assert result.ledger_matched == len(ledger) == 5
    assert result.end_reason == "the customer ended the session (Bye)"

    command = [sys.executable, "-m", "fernwartung", "recording", "verify", str(path)]
    checked = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert checked.returncode == 0, checked.stderr
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x01
    (tmp_path / "tampered.fwrec").write_bytes(bytes(tampered))
    command[-1] = str(tmp_path / "tampered.fwrec")
    refused = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert refused.returncode == 1 and refused.stderr.strip()


def test_a_wrong_code_fails_on_both_sides_live(js):
    clock = Clock()
    code = codes.new_code("48213")
    wrong_secret = f"{(int(code.secret) + 1) % 10**6:06d}"
    js.call("new", role="viewer", code=code.session + wrong_secret)
    host, viewer = Host(code, clock), Viewer(js, clock)
    js_pake = bytes.fromhex(js.call("start")["frame"])
    host_pake = host.session.start()
    [host_confirm] = host.receive(js_pake)
    [js_confirm] = viewer.receive(host_pake)
    with pytest.raises(WrongCode):
        host.receive(js_confirm)
    with pytest.raises(JsError) as error:
        viewer.receive(host_confirm)
    assert error.value.name == "WrongCode"


def test_a_tampered_frame_ends_the_js_session(js):
    clock = Clock()
    code = codes.new_code("1234")
    js.call("new", role="viewer", code=code.spoken())
    host, viewer = Host(code, clock), Viewer(js, clock)
    handshake(host, viewer)
    frame = bytearray(host.seal(M.Chat("hallo")) or b"")
    frame[3] ^= 0x40
    with pytest.raises(JsError) as error:
        viewer.receive(bytes(frame))
    assert error.value.name == "IntegrityError"
    with pytest.raises(JsError) as error:
        viewer.receive(host.seal(M.Chat("again")) or b"")
    assert error.value.name == "ProtocolError"  # the session is closed for good
