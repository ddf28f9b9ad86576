"""The relay's log names each session by its number as well as its ledger id, and the
viewer learns the technician's name the relay verified (issue 21, points 13 and 16)."""

from __future__ import annotations

import io
import json

from protocol import control
from tests.relay.conftest import host_link, receive, viewer_link, wait_for
from tests.support.relay import add_technician, running_relay


async def test_log_lines_carry_the_session_number_and_joined_names_the_technician(tmp_path):
    log = io.StringIO()
    async with running_relay(tmp_path / "data", log_to=log) as relay:
        token = add_technician(relay.data_dir, "Anna Alt")
        host = await host_link(relay)
        await host.send_control(control.Register(version=1))
        registered = await receive(host)
        assert isinstance(registered, control.Registered)
        viewer = await viewer_link(relay, token)
        await viewer.send_control(control.Join(session=registered.session, version=1))
        joined = await receive(viewer)
        assert isinstance(joined, control.Joined) and joined.technician == "Anna Alt"
        assert await receive(host) == control.PeerJoined(technician="Anna Alt")
        await host.send_control(control.End(reason="test"))
        await wait_for(lambda: "session_ended" in log.getvalue(), "the session ended")
        await viewer.close()
        await host.close()
    lines = [line for line in log.getvalue().splitlines() if "session_id=" in line]
    assert {line.split()[1] for line in lines} >= {
        "session_registered", "session_paired", "session_ended",
    }  # fmt: skip
    for line in lines:
        assert f"session={registered.session}" in line.split(), line


def test_sides_read_relay_messages_with_fields_they_do_not_know():
    """A newer relay may add a field to what it sends; hosts and viewers read on."""
    text = json.dumps({"type": "joined", "technician": "Anna", "colour": "blue"})
    assert control.decode(text) == control.Joined(technician="Anna")
    older = control.decode(json.dumps({"type": "joined"}))
    assert isinstance(older, control.Joined) and older.technician == ""
    text = json.dumps({"type": "registered", "session": "123456", "expires_in": 5, "x": 1})
    assert isinstance(control.decode(text), control.Registered)
