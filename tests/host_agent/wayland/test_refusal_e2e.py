"""The customer consents in the agent, then declines in the portal's own dialog: the agent
must end the session as a denial (the viewer is told the customer denied, exit 6), not as
an error: the agent asks the portal right after the customer's consent in the agent."""

from __future__ import annotations

from fernwartung.processes import Child
from tests.host_agent.wayland.conftest import HEIGHT, WIDTH, backdrop

WAIT_SECONDS = 30.0
EXIT_DENIED = 6  # the viewer's status when the customer denied


def test_a_refusal_in_the_portal_dialog_ends_the_session_as_a_denial(desk_parts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    desk.start_portal(**{"node-id": source.node_id, "size": [WIDTH, HEIGHT], "response": 1})
    data_dir = tmp_path / "relay"
    children: list[Child] = []
    try:
        relay = Child("relay", ["relay", "--listen", "127.0.0.1:0", "--self-signed",
                                "--data-dir", str(data_dir)], stderr_path=tmp_path / "relay.log")  # fmt: skip
        children.append(relay)
        fingerprint = relay.wait_for_line(
            lambda s: s.startswith("FINGERPRINT "), WAIT_SECONDS
        ).split()[1]
        url = relay.wait_for_line(lambda s: s.startswith("LISTENING "), WAIT_SECONDS).split()[1]
        added = Child("technician", ["technician", "add", "Erika", "--data-dir", str(data_dir)],
                      stderr_path=tmp_path / "technician.log")  # fmt: skip
        status, output = added.finish(WAIT_SECONDS)
        assert status == 0
        host = Child("host", ["host", "--relay", url, "--fingerprint", fingerprint, "--ui",
                              "terminal", "--backend", "wayland", "--lang", "en"],
                     stderr_path=tmp_path / "host.log", stdin=True, env=dict(desk.env))  # fmt: skip
        children.append(host)
        code = host.wait_for_line(lambda s: s.startswith("CODE: "), WAIT_SECONDS)[6:]
        viewer = Child("viewer", ["viewer", "--relay", url, "--fingerprint", fingerprint,
                                  "--code", code, "--ui", "headless", "--seconds", "20",
                                  "--no-record"],
                       stderr_path=tmp_path / "viewer.log",
                       env={"FERNWARTUNG_TOKEN": output[-1]})  # fmt: skip
        children.append(viewer)
        host.wait_for_line(lambda s: s.endswith("[n/v/c]"), WAIT_SECONDS)
        host.write_line("c")
        assert viewer.wait(WAIT_SECONDS) == EXIT_DENIED
        assert host.wait(WAIT_SECONDS) == 0
        assert desk.calls("NotifyPointerMotionAbsolute") == []
    finally:
        for child in reversed(children):
            child.stop()
