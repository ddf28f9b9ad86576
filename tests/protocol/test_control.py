import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import control as c
from protocol.errors import ProtocolError

EXAMPLES = [
    c.Register(version=1),
    c.Registered(session="482139", expires_in=600),
    c.Join(session="482139", version=1),
    c.Join(session="482139", version=1, customer="Kunde 4711"),
    c.Joined(),
    c.PeerJoined(technician="Anna Schmidt"),
    c.FailedAttempt(),
    c.Void(),
    c.Consent(level=c.ReportedConsent.CONTROL),
    c.Checkpoint(records=12, head=bytes(range(32))),
    c.PeerLeft(reason="the technician closed the viewer"),
    c.End(reason="done"),
    c.Error(code=c.ErrorCode.UNKNOWN_SESSION, message="no such session"),
    c.Registered(
        session="482139", expires_in=600, relays=(c.OtherRelay("wss://b.example:8765", "ab" * 32),)
    ),
    c.Joined(technician="Anna", relays=(c.OtherRelay("wss://b.example:8765"),)),
    c.Resumed(epoch=2, relays=(c.OtherRelay("wss://[::1]:8765", "cd" * 32),)),
    c.Redirect(url="wss://relay-a.example:8765", fingerprint="ef" * 32),
    c.Redirect(url="wss://relay-a.example"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda msg: msg.TYPE)
def test_every_control_message_survives_encode_and_decode(message):
    assert c.decode(c.encode(message)) == message


def test_design_examples_decode():
    assert c.decode('{"type": "register", "version": 1}') == c.Register(1)
    assert c.decode('{"type": "join", "session": "48213", "version": 1}') == c.Join("48213", 1)
    assert c.decode('{"type": "consent", "level": "view"}') == c.Consent(c.ReportedConsent.VIEW)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"version": 1}', "needs a 'type'"),
        ('{"type": "launch_missiles"}', "unknown control message type"),
        ('{"type": "register"}', "missing field"),
        ('{"type": "register", "version": 1, "x": 2}', "unknown field"),
        ('{"type": "register", "version": "1"}', "whole number"),
        ('{"type": "register", "version": 1, "version": 2}', "not valid JSON"),
        ('{"type": "join", "session": "12ab", "version": 1}', "expected form"),
        ('{"type": "registered", "session": "482139", "expires_in": NaN}', "not valid JSON"),
        ('{"type": "checkpoint", "records": 1, "head": "zz"}', "hex digits"),
        ('{"type": "consent", "level": "root"}', "must be one of"),
        ('{"type": "error", "code": "nope", "message": "x"}', "must be one of"),
        ('{"type": "redirect", "url": "wss://a.example/path"}', "expected form"),
        ('{"type": "redirect", "url": "https://a.example"}', "expected form"),
        ('{"type": "redirect", "url": "wss://a", "fingerprint": "AB"}', "expected form"),
        ('{"type": "resumed", "epoch": 1, "relays": [["wss://a"]] }', "must have 2 fields"),
        ('{"type": "resumed", "epoch": 1, "relays": "wss://a"}', "a list"),
    ],
)
def test_bad_control_messages_get_a_readable_reason(text, reason):
    with pytest.raises(ProtocolError, match=reason):
        c.decode(text)


def test_the_other_relays_are_left_out_when_there_are_none():
    # A relay alone sends exactly what relays before issue 24 sent.
    assert "relays" not in c.encode(c.Registered(session="482139", expires_in=600))
    assert c.encode(c.Resumed(epoch=1)) == '{"type":"resumed","epoch":1}'


def test_a_relay_may_tell_at_most_eight_others_in_one_message():
    many = tuple(c.OtherRelay(f"wss://r{i}.example:8765", "ab" * 32) for i in range(8))
    text = c.encode(c.Joined("1.40", "19", "started-minute", "0", "Anna Schmidt", many))
    assert len(text) <= c.MAX_CONTROL_BYTES and c.decode(text).relays == many
    with pytest.raises(ProtocolError, match="more than 8"):
        c.Joined(relays=(*many, many[0]))


def test_oversize_control_message_is_refused():
    text = json.dumps({"type": "end", "reason": "x" * c.MAX_CONTROL_BYTES})
    with pytest.raises(ProtocolError, match="larger than"):
        c.decode(text)


def test_deeply_nested_json_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        c.decode("[" * 3000 + "]" * 3000)


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_raises_protocol_error(text):
    with contextlib.suppress(ProtocolError):
        c.decode(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(c.CONTROL_TYPES)),
    st.dictionaries(st.text(max_size=12), json_values, max_size=4),
)
def test_objects_with_a_known_type_and_random_fields_only_raise_protocol_error(kind, fields):
    with contextlib.suppress(ProtocolError):
        c.decode(json.dumps({**fields, "type": kind}))
