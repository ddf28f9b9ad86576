"""Test vectors for the browser viewer's JavaScript, made with the real protocol/ code.

    python3 tests/browser/make_vectors.py OUT.json

The node tests (tests/browser/*.test.mjs) read them (tests/browser/vectors.mjs runs this
script when FERNWARTUNG_VECTORS does not name a file already made). Nothing is copied by
hand: each expected value is what protocol/, viewer/ or python-spake2 computes here.

Fixed randomness: protocol.handshake.Handshake draws its SPAKE2 scalar from os.urandom; for
a reproducible transcript the generator swaps in python-spake2's own deterministic PRG (the
one its test_compat.py uses) on the private `_spake` object. protocol/ is not changed.

JSON forms: bytes {"$bytes": hex}; whole numbers beyond 2**53 {"$int": digits}; a record
{"$type": name, field: value, ...}; enumerations by value.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
import sys
import zlib
from pathlib import Path

import msgpack
import numpy as np
from PIL import Image
from spake2 import SPAKE2_A, SPAKE2_B
from spake2.ed25519_group import Ed25519Group
from spake2.test.common import PRG
from spake2.test.test_compat import AE_TEST_VECTORS, P2S_TEST_VECTORS

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from host_agent.damage.tiles import Rect  # noqa: E402
from host_agent.encode import encode_rect  # noqa: E402
from protocol import codes, control, keys, messages, recording_writer  # noqa: E402
from protocol.channel import Channel, Direction  # noqa: E402
from protocol.errors import FernwartungError  # noqa: E402
from protocol.handshake import Handshake, Role  # noqa: E402
from protocol.recording import RecordingHeader  # noqa: E402
from protocol.recording_writer import RecordingWriter  # noqa: E402
from protocol.resume import ResumeState, epoch_channel, resume_secret, verifier_for  # noqa: E402
from viewer.framebuffer import Framebuffer, decode_tile  # noqa: E402

M = messages


def to_json(value):
    if isinstance(value, bytes | bytearray):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else {"$int": str(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(value):
        fields = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, **fields}
    raise TypeError(type(value))


def error_of(action):
    try:
        action()
    except FernwartungError as error:
        return {"class": type(error).__name__, "message": str(error)}
    return None


# -- SPAKE2 ------------------------------------------------------------------------------


def spake2_vectors():
    a = SPAKE2_A(b"password", entropy_f=PRG(b"A"))
    b = SPAKE2_B(b"password", entropy_f=PRG(b"B"))
    m1a, m1b = a.start(), b.start()
    ka, kb = a.finish(m1b), b.finish(m1a)
    assert ka == kb
    # The same numbers python-spake2's test_compat.py asserts (so these vectors are its own).
    assert m1a.hex() == "416fc960df73c9cf8ed7198b0c9534e2e96a5984bfc5edc023fd24dacf371f2af9"
    assert ka.hex() == "a480bca13fa04464bb644f10e340125e96c9494f7399fef7c2bda67eb0fdf06d"
    with_ids = []
    for password, id_a, id_b, seed in (
        (b"907226", b"fernwartung/v1/host/48213", b"fernwartung/v1/viewer/48213", b"x"),
        (b"", b"", b"", b"empty"),
        (bytes(range(256)), b"A" * 100, b"\xff", b"long"),
    ):
        sa = SPAKE2_A(password, idA=id_a, idB=id_b, entropy_f=PRG(seed + b"a"))
        sb = SPAKE2_B(password, idA=id_a, idB=id_b, entropy_f=PRG(seed + b"b"))
        ma, mb = sa.start(), sb.start()
        with_ids.append(
            {
                "password": password.hex(),
                "idA": id_a.hex(),
                "idB": id_b.hex(),
                "seedA": (seed + b"a").hex(),
                "seedB": (seed + b"b").hex(),
                "messageA": ma.hex(),
                "messageB": mb.hex(),
                "key": sa.finish(mb).hex(),
            }
        )
        assert sb.finish(ma).hex() == with_ids[-1]["key"]
    return {
        "asymmetric": {
            "password": b"password".hex(),
            "seedA": b"A".hex(),
            "seedB": b"B".hex(),
            "messageA": m1a.hex(),
            "messageB": m1b.hex(),
            "pwScalar": str(a.pw_scalar),
            "xyScalarA": str(a.xy_scalar),
            "xyScalarB": str(b.xy_scalar),
            "key": ka.hex(),
        },
        "passwordToScalar": [v for v in P2S_TEST_VECTORS if v["group"] == "Ed25519"],
        "arbitraryElement": [v for v in AE_TEST_VECTORS if v["group"] == "Ed25519"],
        "M": Ed25519Group.arbitrary_element(b"M").to_bytes().hex(),
        "N": Ed25519Group.arbitrary_element(b"N").to_bytes().hex(),
        "withIdentities": with_ids,
    }


# -- handshake, channel, resume ----------------------------------------------------------


def fixed_handshake(role: Role, secret: str, session: str, seed: bytes) -> Handshake:
    hs = Handshake(role, secret, session)
    spake_class = SPAKE2_A if role is Role.HOST else SPAKE2_B
    hs._spake = spake_class(  # the one private attribute touched: see the module's text
        secret.encode(), idA=hs._ids[0], idB=hs._ids[1], entropy_f=PRG(seed)
    )
    return hs


def keys_json(k):
    return {
        "sendKey": k.send_key.hex(),
        "receiveKey": k.receive_key.hex(),
        "resumeKey": k.resume_key.hex(),
        "transcriptHash": k.transcript_hash.hex(),
    }


def handshake_vectors():
    out = []
    for session, host_secret, viewer_secret in (
        ("48213", "907226", "907226"),
        ("123456789012", "000000", "000000"),
        ("48213", "907226", "907227"),  # a wrong code
    ):
        seed_host, seed_viewer = f"host-{session}".encode(), f"viewer-{session}".encode()
        host = fixed_handshake(Role.HOST, host_secret, session, seed_host)
        viewer = fixed_handshake(Role.VIEWER, viewer_secret, session, seed_viewer)
        pake_host, pake_viewer = host.start(), viewer.start()
        confirm_host = host.receive(pake_viewer).outgoing
        confirm_viewer = viewer.receive(pake_host).outgoing
        vector = {
            "session": session,
            "hostSecret": host_secret,
            "viewerSecret": viewer_secret,
            "seedHost": seed_host.hex(),
            "seedViewer": seed_viewer.hex(),
            "pakeHost": pake_host.hex(),
            "pakeViewer": pake_viewer.hex(),
            "confirmHost": confirm_host.hex(),
            "confirmViewer": confirm_viewer.hex(),
        }
        if host_secret == viewer_secret:
            vector["hostKeys"] = keys_json(host.receive(confirm_viewer).keys)
            vector["viewerKeys"] = keys_json(viewer.receive(confirm_host).keys)
        else:
            vector["hostError"] = error_of(lambda h=host, c=confirm_viewer: h.receive(c))
            vector["viewerError"] = error_of(lambda v=viewer, c=confirm_host: v.receive(c))
        out.append(vector)
    bad = fixed_handshake(Role.VIEWER, "907226", "48213", b"bad")
    own = bad.start()
    host_pake = bytes.fromhex(out[0]["pakeHost"])
    malformed = {
        "not handshake": b"XX\x01\x01" + bytes(33),
        "version 2": b"FW\x02\x01" + host_pake[4:],
        "kind 3": b"FW\x01\x03" + bytes(33),
        "short pake": host_pake[:-1],
        "confirm first": b"FW\x01\x02" + bytes(32),
        "reflected": own,
        "side byte of the viewer": b"FW\x01\x01B" + host_pake[5:],
        "zero element": b"FW\x01\x01A" + bytes([1]) + bytes(31),
        "not on the curve": b"FW\x01\x01A" + bytes([2]) + bytes(31),
        "small order": b"FW\x01\x01A" + bytes(31) + b"\x80",
    }
    errors = []
    for name, data in malformed.items():
        hs = fixed_handshake(Role.VIEWER, "907226", "48213", b"bad")
        hs.start()
        errors.append(
            {"name": name, "data": data.hex(), "error": error_of(lambda h=hs, d=data: h.receive(d))}
        )
    return {"exchanges": out, "malformedForViewer": errors}


def channel_vectors(keys_host: dict):
    sequences = []
    host = Channel(
        bytes.fromhex(keys_host["sendKey"]),
        bytes.fromhex(keys_host["receiveKey"]),
        Direction.HOST_TO_VIEWER,
    )
    viewer = Channel(
        bytes.fromhex(keys_host["receiveKey"]),
        bytes.fromhex(keys_host["sendKey"]),
        Direction.VIEWER_TO_HOST,
    )
    for index, plaintext in enumerate([b"", b"hallo", bytes(range(256)) * 9]):
        sequences.append(
            {"from": "host", "plaintext": plaintext.hex(), "sealed": host.seal(plaintext).hex()}
        )
        sequences.append(
            {
                "from": "viewer",
                "plaintext": (plaintext + bytes([index])).hex(),
                "sealed": viewer.seal(plaintext + bytes([index])).hex(),
            }
        )
    fixed = json.loads((ROOT / "tests" / "protocol" / "channel_vectors.json").read_text())
    return {"fixed": fixed["vectors"], "sequence": sequences}


class _Keys:
    """SessionKeys-like from the JSON of a handshake vector."""

    def __init__(self, role: Role, data: dict, session: str) -> None:
        from protocol.handshake import SessionKeys

        self.keys = SessionKeys(
            role,
            session,
            bytes.fromhex(data["sendKey"]),
            bytes.fromhex(data["receiveKey"]),
            bytes.fromhex(data["resumeKey"]),
            bytes.fromhex(data["transcriptHash"]),
        )


def resume_vectors(exchange: dict):
    session = exchange["session"]
    out = {"secrets": [], "epochs": [], "states": []}
    for role, name in ((Role.HOST, "hostKeys"), (Role.VIEWER, "viewerKeys")):
        k = _Keys(role, exchange[name], session).keys
        for epoch in (0, 1, 2, 10_000):
            secret = resume_secret(k, role, epoch)
            out["secrets"].append(
                {
                    "role": role.value,
                    "epoch": epoch,
                    "secret": secret.hex(),
                    "verifier": verifier_for(secret).hex(),
                }
            )
        for epoch in (1, 2):
            channel = epoch_channel(k, epoch)
            state = ResumeState(received=3, sent=5).encode()
            out["epochs"].append(
                {
                    "role": role.value,
                    "epoch": epoch,
                    "state": state.hex(),
                    "sealed": channel.seal(state).hex(),
                }
            )
    for received, sent in ((0, 0), (3, 5), (2**48, 1)):
        out["states"].append(
            {
                "received": received,
                "sent": sent,
                "encoded": ResumeState(received, sent).encode().hex(),
            }
        )
    out["badStates"] = [
        {"data": data.hex(), "error": error_of(lambda d=data: ResumeState.decode(d))}
        for data in (
            b"FWRS\x01" + bytes(15),
            b"FWRS\x02" + bytes(16),
            b"FWRS\x01" + (2**48 + 1).to_bytes(8, "big") + bytes(8),
        )
    ]
    return out


# -- messages ----------------------------------------------------------------------------


def tile_examples():
    rng = np.random.default_rng(22)
    out = []

    def frame_of(colours, width, height):
        values = rng.integers(0, 2**24, colours, dtype=np.uint32) | np.uint32(0xFF000000)
        picked = values[rng.integers(0, colours, (height, width))]
        return picked.view(np.uint8).reshape(height, width, 4)

    for colours, width, height in (
        (2, 17, 5),
        (3, 9, 9),
        (4, 33, 2),
        (9, 16, 16),
        (16, 31, 7),
        (2, 200, 40),
    ):
        frame = frame_of(colours, width, height)
        out.append(encode_rect(frame, Rect(0, 0, width, height), 80, palette=True))
    for colours, width, height in ((2, 120, 30), (5, 64, 33)):  # patterns: deflated indices
        values = rng.integers(0, 2**24, colours, dtype=np.uint32) | np.uint32(0xFF000000)
        yy, xx = np.mgrid[0:height, 0:width]
        picked = values[((xx // 7) + (yy // 5)) % colours]
        frame = picked.view(np.uint8).reshape(height, width, 4)
        tile = encode_rect(frame, Rect(0, 0, width, height), 80, palette=True)
        assert tile.codec is M.Codec.PALETTE and tile.data[0] & M.PALETTE_DEFLATED_FLAG
        out.append(tile)
    blocks = np.zeros((24, 40, 4), np.uint8)
    blocks[..., :] = (10, 20, 30, 255)
    blocks[2:9, 3:20] = (200, 100, 0, 255)
    blocks[10:24, 30:40] = (1, 2, 3, 255)
    blocks[5:12, 10:14] = (9, 9, 250, 255)
    out.append(encode_rect(blocks, Rect(0, 0, 40, 24), 80, rects=True))
    out.append(M.Tile(1, 2, 3, 4, M.Codec.FILL, bytes((250, 128, 7))))
    # By hand: palette without deflate, 1/2/4 bits, padding bits set.
    out.append(
        M.Tile(
            0,
            0,
            3,
            2,
            M.Codec.PALETTE,
            bytes([1, 255, 0, 0, 0, 0, 255]) + bytes([0b10111111, 0b01011111]),
        )
    )
    out.append(
        M.Tile(0, 0, 3, 1, M.Codec.PALETTE, bytes([2]) + bytes(range(9)) + bytes([0b10011011]))
    )
    out.append(M.Tile(0, 0, 1, 2, M.Codec.RECTS, bytes((5, 6, 7))))
    out.append(
        M.Tile(
            0,
            0,
            4,
            4,
            M.Codec.RECTS,
            bytes((5, 6, 7, 1, 1, 1, 0, 1, 0, 1, 0, 2, 0, 2, 9, 9, 9, 0, 0, 0, 0, 0, 4, 0, 1)),
        )
    )
    return out


def message_examples():
    tiles = tile_examples()
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (77, 78, 79)).save(buffer, "PNG")
    png = M.Tile(0, 0, 4, 4, M.Codec.PNG, buffer.getvalue())
    video = M.VideoPacket(0, 0, 0, 16, 8, True, b"\x00\x00\x00\x01\x67")
    copy = M.CopyRect(0, 10, 0, 0, 40, 30)
    return [
        M.Hello((1,), ("tiles.fill", "tiles.palette", "video.h264", "recording"), 1920, 1080),
        M.Hello((1, 2, 255), (), 0, 0),
        M.FrameUpdate(1, 1_700_000_000.123456, 200, 100, tuple(tiles[:3])),
        M.FrameUpdate(M.MAX_SEQUENCE, 0.0, 16384, 2048, ()),
        M.FrameUpdate(7, 1_700_000_000.0, 50, 40, (tiles[-5], png)),
        M.ExtendedFrameUpdate(8, 1_700_000_001.5, 200, 100, tuple(tiles[3:8]), (copy,), (video,)),
        M.ExtendedFrameUpdate(9, 2.0, 64, 64, (), (), ()),
        M.Cursor(0, 16383, True),
        M.PointerMove(640, 480),
        M.PointerButton(1, 2, M.Button.MIDDLE, False),
        M.Scroll(3, 4, -100, 100),
        M.Key("a", True),
        M.Key("ä", False),
        M.Key("😀", True),
        M.Key("ISO_Level3_Shift", True),
        M.Key("ab", True),
        M.Key("\x85", True),
        M.Ack(0),
        M.Ack(2**53 + 1),
        M.Ack(300),
        M.Ack(70000),
        M.Ack(2**32 + 5),
        M.ConsentState(M.ConsentLevel.CONTROL),
        M.Pause(),
        M.Resume(),
        M.Chat(""),
        M.Chat("Grüße aus Köln – 👋" * 3),
        M.Chat("😀" * 2000),
        M.Chat("x" * 300),
        M.Chat("y" * 2000),
        M.Checkpoint(12, bytes(range(32))),
        M.Bye("the customer ended the session"),
        M.RefreshRequest(),
        M.ControlRequest(),
    ]


def bad_messages():
    pack = lambda value: msgpack.packb(value, use_bin_type=True)  # noqa: E731
    fill = [5, 5, 10, 10, "fill", b"\0\0\0"]
    cases = {
        "unknown type": pack([99]),
        "empty array": pack([]),
        "not an array": pack(8),
        "a map": pack({1: 2}),
        "an empty map": pack({}),
        "float for int": pack([8, 1.0]),
        "bool for int": pack([8, True]),
        "negative seq": pack([8, -1]),
        "seq too big": pack([8, 2**63]),
        "bool type number": pack([True]),
        "float type number": pack([8.0, 1]),
        "too few fields": pack([8]),
        "too many fields": pack([10, 1]),
        "key with newline": pack([7, "ab\n", True]),
        "key too long": pack([7, "A" + "b" * 32, True]),
        "key unknown form": pack([7, "1abc", True]),
        "chat too long": pack([12, "😀" * 2001]),
        "checkpoint short head": pack([13, 5, b"short"]),
        "text for bytes": pack([13, 0, "x" * 32]),
        "bytes for text": pack([12, b"hi"]),
        "capability pattern": pack([1, [1], ["UPPER"], 0, 0]),
        "version zero": pack([1, [0], [], 0, 0]),
        "coordinate out of range": pack([4, 16384, 0]),
        "scroll too far": pack([6, 0, 0, 101, 0]),
        "unknown button": pack([5, 0, 0, "side", True]),
        "unknown consent": pack([9, "maybe"]),
        "tile outside the screen": pack([2, 1, 1.0, 10, 10, [fill]]),
        "screen larger than the largest": pack([2, 1, 1.0, 16384, 16384, []]),
        "tiles covering the screen thrice": pack(
            [2, 1, 1.0, 10, 10, [[0, 0, 10, 10, "fill", b"\0\0\0"]] * 3]
        ),
        "tile beyond the largest screen": pack(
            [2, 1, 1.0, 10, 10, [[16383, 0, 2, 1, "fill", b"\0\0\0"]]]
        ),
        "fill of 2 bytes": pack([2, 1, 1.0, 20, 20, [[0, 0, 1, 1, "fill", b"\0\0"]]]),
        "rects bad length": pack([2, 1, 1.0, 20, 20, [[0, 0, 1, 1, "rects", b"\0\0\0\0"]]]),
        "unknown codec": pack([2, 1, 1.0, 20, 20, [[0, 0, 1, 1, "gif", b"\0\0\0"]]]),
        "tile of 5 fields": pack([2, 1, 1.0, 20, 20, [[0, 0, 1, 1, "fill"]]]),
        "negative time": pack([2, 1, -1.0, 20, 20, []]),
        "infinite time": pack([2, 1, float("inf"), 20, 20, []]),
        "time as text": pack([2, 1, "now", 20, 20, []]),
        "copy to itself": pack([17, 1, 1.0, 20, 20, [], [[1, 1, 1, 1, 2, 2]], []]),
        "copy outside": pack([17, 1, 1.0, 20, 20, [], [[0, 0, 15, 0, 10, 2]], []]),
        "copy source outside": pack([17, 1, 1.0, 20, 20, [], [[15, 0, 0, 0, 10, 2]], []]),
        "video odd width": pack([17, 1, 1.0, 20, 20, [], [], [[0, 0, 0, 3, 2, True, b"x"]]]),
        "video empty": pack([17, 1, 1.0, 20, 20, [], [], [[0, 0, 0, 2, 2, True, b""]]]),
        "video twice one stream": pack(
            [
                17,
                1,
                1.0,
                20,
                20,
                [],
                [],
                [[0, 0, 0, 2, 2, True, b"x"], [0, 2, 2, 2, 2, False, b"y"]],
            ]
        ),
        "video outside": pack([17, 1, 1.0, 20, 20, [], [], [[0, 18, 0, 4, 2, True, b"x"]]]),
        "trailing bytes": pack([8, 1]) + b"\x01",
        "too much padding": pack([8, 1]) + bytes(1025),
        "cut short": pack([12, "hallo"])[:-1],
        "invalid utf-8": bytes([0x92, 12, 0xA2, 0xC3, 0x28]),
        "encoded surrogate": bytes([0x92, 12, 0xA3, 0xED, 0xA0, 0x80]),
        "extension type": bytes([0x92, 8, 0xD4, 1, 0]),
        "reserved byte": bytes([0x92, 8, 0xC1]),
        "nothing": b"",
        "too many tiles": pack([2, 1, 1.0, 20, 20, [fill] * 8193]),
    }
    out = []
    for name, data in cases.items():
        error = error_of(lambda d=data: M.decode(d))
        assert error is not None, name
        out.append({"name": name, "data": data.hex(), "error": error})
    accepted = {
        "int for float": pack([2, 1, 5, 10, 10, []]),
        "padded": pack([8, 1]) + bytes(40),
        "float32 time": bytes([0x96, 2, 1, 0xCA])
        + np.float32(2.5).tobytes()[::-1]
        + bytes([10, 10, 0x90]),
        "uint64 small": bytes([0x92, 8, 0xCF]) + (7).to_bytes(8, "big"),
        "str8 for a short text": bytes([0x92, 12, 0xD9, 2]) + b"hi",
        "bin16 for a head": bytes([0x93, 13, 0]) + b"\xc5\x00\x20" + bytes(32),
    }
    return out, [
        {"name": name, "data": data.hex(), "message": to_json(M.decode(data))}
        for name, data in accepted.items()
    ]


def message_vectors():
    valid = []
    for message in message_examples():
        data = M.encode(message)
        assert M.decode(data) == message
        valid.append({"message": to_json(message), "encoded": data.hex()})
    invalid, accepted = bad_messages()
    built = []
    for name, build in {
        "tile beyond the largest screen": lambda: M.Tile(16383, 0, 2, 1, M.Codec.FILL, b"\0\0\0"),
        "copy to itself": lambda: M.CopyRect(1, 1, 1, 1, 2, 2),
        "key control character": lambda: M.Key("\x07", True),
        "hello capability": lambda: M.Hello((1,), ("Bad",), 0, 0),
    }.items():
        built.append({"name": name, "error": error_of(build)})
    return {"valid": valid, "invalid": invalid, "accepted": accepted, "invalidBuilt": built}


# -- codes, keys -------------------------------------------------------------------------


def code_vectors():
    inputs = [
        "482 139 072 261",
        "482-139-072-261",
        "482.139.072.261",
        "  4821 39072261 \n",
        "482\u00a0139\u2009072\u3000261",
        "482\x1c139\x85072261",
        "4821390722",
        "1234567890123456789",
        "12345678901234567890",
        "123456789",
        "48213907226a",
        "482\ufeff139072261",
        "١٢٣٤٥٦٧٨٩٠١٢",
        "",
        " - . ",
        "482_139_072_261",
    ]
    out = []
    for text in inputs:
        try:
            code = codes.parse_code(text)
        except FernwartungError as error:
            out.append(
                {"text": text, "error": {"class": type(error).__name__, "message": str(error)}}
            )
        else:
            out.append(
                {
                    "text": text,
                    "session": code.session,
                    "secret": code.secret,
                    "spoken": code.spoken(),
                }
            )
    formatted = [
        {"digits": d, "spoken": codes.format_digits(d)}
        for d in ("1234", "1234567", "12345678901", "1")
    ]
    return {"parse": out, "format": formatted}


def key_vectors():
    candidates = [
        "a", "Ä", "€", " ", "\t", "\x7f", "\u200b", "\u00a0", "\u2028", "Return", "F12", "F13",
        "return", "ab", "😀", "\ue000", "\U0010ffff", "ISO_Left_Tab", "Caps_Lock", "ß", "\u0301",
    ]  # fmt: skip
    return [{"key": k, "known": keys.is_known_key(k)} for k in candidates]


# -- tiles, framebuffer ------------------------------------------------------------------


def tile_vectors():
    valid = []
    for tile in tile_examples():
        rgb = np.asarray(decode_tile(tile).convert("RGB")).tobytes()
        valid.append({"tile": to_json(tile), "rgb": rgb.hex()})
    palette_data = bytearray(valid[0]["tile"]["data"]["$bytes"].encode())
    deflated = next(
        v
        for v in valid
        if v["tile"]["codec"] == "palette" and int(v["tile"]["data"]["$bytes"][:2], 16) & 0x80
    )
    raw = bytes.fromhex(deflated["tile"]["data"]["$bytes"])
    width, height = deflated["tile"]["width"], deflated["tile"]["height"]
    colours = (raw[0] & 0x7F) + 1
    head = raw[: 1 + 3 * colours]
    packed = zlib.decompress(raw[1 + 3 * colours :])
    del palette_data
    bad = {
        "empty": (3, 2, b""),
        "one colour": (3, 2, bytes([0, 1, 2, 3, 0])),
        "seventeen colours": (3, 2, bytes([16]) + bytes(48) + bytes(2)),
        "short colours": (3, 2, bytes([1, 1, 2, 3, 4])),
        "short indices": (3, 2, bytes([1]) + bytes(6) + bytes([0])),
        "long indices": (3, 2, bytes([1]) + bytes(6) + bytes(3)),
        "index beyond colours": (2, 1, bytes([2]) + bytes(9) + bytes([0b11000000])),
        "deflate garbage": (width, height, head + b"\x01\x02\x03\x04"),
        "deflate cut": (width, height, head + zlib.compress(packed)[:-2]),
        "deflate junk after": (width, height, head + zlib.compress(packed) + b"\x00"),
        "deflate too long": (width, height, head + zlib.compress(packed + bytes(10))),
        "deflate bad check": (
            width,
            height,
            head + zlib.compress(packed)[:-1] + bytes([zlib.compress(packed)[-1] ^ 1]),
        ),
    }
    invalid = []
    for name, (w, h, data) in bad.items():
        tile = M.Tile(0, 0, w, h, M.Codec.PALETTE, data)
        error = error_of(lambda t=tile: decode_tile(t))
        assert error is not None, name
        invalid.append({"name": name, "tile": to_json(tile), "error": error})
    rects_bad = M.Tile(0, 0, 4, 4, M.Codec.RECTS, bytes((5, 6, 7, 1, 1, 1, 0, 3, 0, 0, 0, 2, 0, 1)))
    invalid.append(
        {
            "name": "rect outside the tile",
            "tile": to_json(rects_bad),
            "error": error_of(lambda: decode_tile(rects_bad)),
        }
    )
    rects_zero = M.Tile(
        0, 0, 4, 4, M.Codec.RECTS, bytes((5, 6, 7, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1))
    )
    invalid.append(
        {
            "name": "rect of no width",
            "tile": to_json(rects_zero),
            "error": error_of(lambda: decode_tile(rects_zero)),
        }
    )
    return {"valid": valid, "invalid": invalid}


def framebuffer_vectors():
    """A sequence of updates (fill, palette, rects tiles; overlapping copies; a resize) and
    the screen after each, as viewer/framebuffer.py paints it."""
    tiles = tile_examples()
    T, C = M.Tile, M.Codec
    updates = [
        M.FrameUpdate(
            1,
            1.0,
            64,
            48,
            (T(0, 0, 64, 48, C.FILL, b"\x10\x20\x30"), T(3, 4, 17, 5, C.PALETTE, tiles[0].data)),
        ),
        M.ExtendedFrameUpdate(
            2,
            2.0,
            64,
            48,
            (T(0, 40, 40, 24 - 16, C.FILL, b"\xff\x00\x00"),),
            (M.CopyRect(0, 0, 2, 3, 30, 20), M.CopyRect(5, 5, 4, 4, 20, 20)),
            (),
        ),
        M.ExtendedFrameUpdate(
            3,
            3.0,
            64,
            48,
            (T(10, 10, 40, 24, C.RECTS, tiles[8].data),),
            (M.CopyRect(0, 1, 0, 0, 64, 47),),
            (),
        ),
        M.FrameUpdate(4, 4.0, 80, 30, (T(70, 20, 10, 10, C.FILL, b"\x01\x02\x03"),)),
        M.FrameUpdate(5, 5.0, 80, 30, ()),
    ]
    screen = Framebuffer()
    out = []
    for update in updates:
        regions = screen.apply(update)
        image = screen.snapshot()
        assert image is not None
        out.append(
            {
                "encoded": M.encode(update).hex(),
                "regions": [[r.x, r.y, r.width, r.height] for r in regions],
                "size": list(image.size),
                "rgbSha256": hashlib.sha256(image.convert("RGB").tobytes()).hexdigest(),
            }
        )
    return out


# -- recording ---------------------------------------------------------------------------


def recording_vector():
    """A viewer's recording as protocol/recording_writer.py writes it with compression off
    (the JS writer stores every message uncompressed): the same events must give the same
    bytes."""
    header = RecordingHeader(
        side=Role.VIEWER,
        session="48213",
        technician="",
        relay="wss://relay.example:8443",
        start_time=1_700_000_000.25,
        screen_width=1920,
        screen_height=1080,
        terms_hash=bytes(32),
        customer="Kunde 42 – Müller",
    )
    saved = recording_writer.COMPRESS_FROM_BYTES
    recording_writer.COMPRESS_FROM_BYTES = 10**9
    try:
        writer = RecordingWriter(header)
        events = []
        parts = [writer.header_bytes()]
        t = 1_700_000_000.25
        host_messages = [
            M.Hello((1,), ("recording",), 1920, 1080),
            M.ConsentState(M.ConsentLevel.VIEW),
            M.FrameUpdate(
                1, 1_700_000_000.3, 1920, 1080, (M.Tile(0, 0, 1920, 1080, M.Codec.FILL, b"\0\0\0"),)
            ),
        ]
        own = [M.Hello((1,), ("recording",), 0, 0), M.Ack(1), M.Chat("x" * 200)]
        for index in range(3):
            t += 0.0125
            plaintext = M.encode(host_messages[index])
            events.append({"kind": "received", "time": t, "plaintext": plaintext.hex()})
            parts.append(writer.received(t, plaintext))
            t -= 0.004 if index == 1 else -0.5  # a clock stepping back once
            plaintext = M.encode(own[index])
            events.append({"kind": "sent", "time": t, "plaintext": plaintext.hex()})
            parts.append(writer.sent(t, plaintext))
        t += 200.0  # a long pause: multi-byte time step
        events.append(
            {"kind": "gap", "time": t, "reason": "connection to the relay dropped; reconnecting"}
        )
        parts.append(writer.gap(t, "connection to the relay dropped; reconnecting"))
        written = writer.checkpoint(t)
        events.append({"kind": "checkpoint", "time": t})
        parts.append(written.data)
        big = M.encode(M.Chat("z" * 1999))
        for _ in range(130):  # past 127 records: two-byte sequence numbers
            t += 0.001
            events.append({"kind": "sent", "time": t, "plaintext": big.hex()})
            parts.append(writer.sent(t, big))
        t += 0.0005  # a half millisecond: python rounds halves to even
        peer = writer.heads().traffic(Direction.HOST_TO_VIEWER)
        peer_checkpoint = M.encode(M.Checkpoint(peer[0], peer[1]))
        events.append({"kind": "received", "time": t, "plaintext": peer_checkpoint.hex()})
        parts.append(writer.received(t, peer_checkpoint))
        events.append({"kind": "end", "time": t + 1, "reason": "the technician ended the session"})
        parts.append(writer.end(t + 1, "the technician ended the session"))
    finally:
        recording_writer.COMPRESS_FROM_BYTES = saved
    file = b"".join(parts)
    heads = writer.heads()
    return {
        "header": to_json(header),
        "events": events,
        "file": file.hex(),
        "checkpoint": {
            "records": written.message.records,
            "head": written.message.head.hex(),
            "fileRecords": written.file_records,
            "fileHead": written.file_head.hex(),
        },
        "heads": to_json(heads),
        "wrongPeerCheckpoint": M.encode(M.Checkpoint(peer[0], bytes(32))).hex(),
    }


def control_vectors():
    C = control
    examples = [
        C.Register(1),
        C.Registered("48213", 600),
        C.Registered("48213", 600, "1.40", "19", "started-minute", "0.5"),
        C.Join("48213", 1),
        C.Join("123456789012", 1, "Kunde 42 – Müller"),
        C.Joined(),
        C.Joined("1.40", "19", "exact", ""),
        C.Joined("1.40", "19", "started-minute", "", technician="Technik Tina"),
        C.PeerJoined("Technik Tina"),
        C.FailedAttempt(),
        C.Void(),
        C.Consent(C.ReportedConsent.CONTROL, "Tina", "1.40", "19", "ab" * 32),
        C.Checkpoint(12, bytes(range(32)), 40, "cd" * 32),
        C.Checkpoint(0, bytes(32)),
        C.PeerLeft("the technician left"),
        C.End("the customer ended the session"),
        C.End("the technician ended the session", peer_ended=True),
        C.Error(C.ErrorCode.RESUME_REFUSED, "Die Sitzung kann nicht fortgesetzt werden."),
        C.ResumeVerifier(3, bytes(range(32))),
        C.Resume("48213", 2, bytes(range(32, 64)), 1),
        C.PeerReconnecting(),
        C.Resumed(4),
        C.Registered("48213", 600, relays=(C.OtherRelay("wss://b.example:8765", "ab" * 32),)),
        C.Joined(technician="Technik Tina", relays=(C.OtherRelay("wss://[::1]:8766"),)),
        C.Resumed(5, relays=(C.OtherRelay("wss://b.example:8765"), C.OtherRelay("wss://c.x"))),
        C.Redirect("wss://relay-a.example:8765", "cd" * 32),
        C.Redirect("ws://127.0.0.1:8765"),
    ]
    valid = [{"message": to_json(m), "text": C.encode(m)} for m in examples]
    # What only a relay sends is read leniently: a newer relay's extra fields are ignored.
    newer = '{"type": "peer_joined", "technician": "Tina", "team": "Nord"}'
    lenient = [{"text": newer, "message": to_json(C.decode(newer))}]
    bad_texts = {
        "not JSON": "{type: join}",
        "an array": '["join"]',
        "no type": '{"session": "48213"}',
        "type not text": '{"type": 1}',
        "unknown type": '{"type": "hello"}',
        "missing fields": '{"type": "join"}',
        "unknown field": '{"type": "join", "session": "48213", "version": 1, "extra": 1}',
        "session letters": '{"type": "join", "session": "48a13", "version": 1}',
        "version text": '{"type": "join", "session": "48213", "version": "1"}',
        "version too big": '{"type": "join", "session": "48213", "version": 256}',
        "amount form": '{"type": "joined", "rate_per_minute": "1,40"}',
        "unknown error code": '{"type": "error", "code": "oops", "message": ""}',
        "verifier upper hex": '{"type": "resume_verifier", "epoch": 0, "verifier": "'
        + "AB" * 32
        + '"}',
        "epoch too big": '{"type": "resumed", "epoch": 10001}',
        "NaN": '{"type": "resumed", "epoch": NaN}',
        "too large": '{"type": "end", "reason": "' + "x" * 4100 + '"}',
        "reason too long": '{"type": "end", "reason": "' + "ü" * 501 + '"}',
        "customer control character": '{"type": "join", "session": "48213", "version": 1, "customer": "a\\u0007"}',
        "redirect with a path": '{"type": "redirect", "url": "wss://a.example/x"}',
        "redirect to https": '{"type": "redirect", "url": "https://a.example"}',
        "other relay of one field": '{"type": "resumed", "epoch": 1, "relays": [["wss://a"]]}',
    }
    invalid = []
    for name, text in bad_texts.items():
        error = error_of(lambda t=text: C.decode(t))
        assert error is not None, name
        invalid.append({"name": name, "text": text, "error": error})
    return {"valid": valid, "lenient": lenient, "invalid": invalid}


def billing_vectors():
    """Bills, money and price wordings as protocol/billing.py gives them."""
    from decimal import Decimal

    from protocol.billing import Rounding, Tariff, bill, format_euro, format_percent, price_text

    tariffs = [
        Tariff(),
        Tariff(Decimal("0.85"), Decimal("7.5"), Rounding.EXACT_SECONDS),
        Tariff(Decimal("2"), Decimal("0"), Rounding.PER_STARTED_MINUTE, Decimal("15.00")),
        Tariff(Decimal("1234.5678"), Decimal("19.00"), Rounding.EXACT_SECONDS, Decimal("0.01")),
        Tariff(Decimal("0.0049"), Decimal("100"), Rounding.EXACT_SECONDS),
    ]
    seconds = [0, 0.4, 1, 59.999, 60, 60.0001, 61.5, 119, 3599.5, 7200, 86399.25, -5, 1e-7, 33.3]

    def tariff_json(t: Tariff) -> dict:
        return {
            "ratePerMinute": str(t.rate_per_minute),
            "vatPercent": str(t.vat_percent),
            "rounding": t.rounding.value,
            "minimumCharge": str(t.minimum_charge),
        }

    bills = []
    for tariff in tariffs:
        for second in seconds:
            b = bill(second, tariff)
            bills.append({
                "tariff": tariff_json(tariff), "seconds": second,
                "net": str(b.net), "vat": str(b.vat), "gross": str(b.gross),
                "minutes": str(b.minutes) if tariff.rounding is Rounding.PER_STARTED_MINUTE else None,
            })  # fmt: skip
    amounts = ["0", "1.67", "1234.5", "1234567.891", "0.005", "0.004", "999.995", "-3.2"]
    money = [
        {"amount": a, "language": lang, "text": format_euro(Decimal(a), lang)}
        for a in amounts
        for lang in ("de", "en")
    ]
    percents = [
        {"percent": p, "language": lang, "text": format_percent(Decimal(p), lang)}
        for p in ("19", "7.5", "19.00", "100", "0", "0.25")
        for lang in ("de", "en")
    ]
    prices = [
        {"tariff": tariff_json(t), "language": lang, "text": price_text(t, lang)}
        for t in tariffs
        for lang in ("de", "en")
    ]
    return {"bills": bills, "money": money, "percents": percents, "prices": prices}


def padding_vectors():
    """protocol/padding.py: every example message, encoded and padded as a side pads it."""
    from protocol.padding import pad

    return [
        {"message": to_json(message), "padded": pad(message, M.encode(message)).hex()}
        for message in message_examples()
    ]


def make() -> dict:
    handshake = handshake_vectors()
    exchange = handshake["exchanges"][0]
    return {
        "spake2": spake2_vectors(),
        "handshake": handshake,
        "channel": channel_vectors(exchange["hostKeys"]),
        "resume": resume_vectors(exchange),
        "messages": message_vectors(),
        "control": control_vectors(),
        "codes": code_vectors(),
        "keys": key_vectors(),
        "tiles": tile_vectors(),
        "framebuffer": framebuffer_vectors(),
        "recording": recording_vector(),
        "billing": billing_vectors(),
        "padding": padding_vectors(),
    }


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: make_vectors.py OUT.json", file=sys.stderr)
        return 2
    Path(sys.argv[1]).write_text(
        json.dumps(make(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
