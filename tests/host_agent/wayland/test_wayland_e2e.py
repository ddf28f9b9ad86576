"""End to end on the Wayland backend: `fernwartung host --backend wayland` (a process)
against the real xdg-desktop-portal front end with mock backends and a real PipeWire test
source, a real relay, and a headless viewer. Frames arrive and an idle source sends
nothing; the technician's input reaches the portal as Notify* calls only under control,
and nothing after the kill switch."""

from __future__ import annotations

import json
import time

from fernwartung.processes import Child
from tests.host_agent.wayland.conftest import HEIGHT, WIDTH, backdrop

WAIT_SECONDS = 30.0
IDLE_SETTLE_SECONDS = 2.0  # the lossless follow-up of the last lossy update comes after 1 s
IDLE_WATCH_SECONDS = 1.5
WARM_UP_SECONDS = 2.0
CHANGES = 5


def _lines(path) -> list[dict]:  # type: ignore[no-untyped-def]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_until(condition, what: str, seconds: float = WAIT_SECONDS) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_host_on_wayland_streams_to_a_viewer_and_injects_only_under_control(
    desk_parts, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    desk, source = desk_parts
    source.draw(backdrop())
    desk.start_portal(**{"node-id": source.node_id, "size": [WIDTH, HEIGHT]})
    script = tmp_path / "input.jsonl"
    script.write_text(
        "\n".join(
            json.dumps(step)
            for step in (
                {"at": 0.2, "type": "move", "x": 11, "y": 12},  # view only: dropped
                {"at": 0.3, "type": "key", "key": "z"},  # dropped
                # Under control: the test grants it about 6.5 s after the first frame.
                {"at": 8.5, "type": "move", "x": 30, "y": 40},
                {"at": 8.6, "type": "click", "x": 31, "y": 41},
                {"at": 8.7, "type": "key", "key": "€"},
                {"at": 8.8, "type": "scroll", "x": 32, "y": 42, "dx": 0, "dy": -1},
                {"at": 14.0, "type": "move", "x": 50, "y": 60},  # after the kill switch
            )
        )
    )
    stats = tmp_path / "stats.jsonl"
    data_dir = tmp_path / "relay"
    env = {k: v for k, v in desk.env.items()}
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
                     stderr_path=tmp_path / "host.log", stdin=True, env=env)  # fmt: skip
        children.append(host)
        code = host.wait_for_line(lambda s: s.startswith("CODE: "), WAIT_SECONDS)[6:]
        viewer = Child("viewer", ["viewer", "--relay", url, "--fingerprint", fingerprint,
                                  "--code", code, "--ui", "headless", "--seconds", "30",
                                  "--stats", str(stats), "--input-script", str(script),
                                  "--no-record"],
                       stderr_path=tmp_path / "viewer.log",
                       env={"FERNWARTUNG_TOKEN": output[-1]})  # fmt: skip
        children.append(viewer)
        host.wait_for_line(lambda s: s.endswith("[n/v/c]"), WAIT_SECONDS)
        assert desk.calls("CreateSession") == []  # no portal dialog before our consent

        # While the agent opens the stream the source draws, as a compositor does for a
        # new consumer; then a few changes, then nothing. (The viewer writes its stats at
        # its end: they are read then, by their receive times.)
        host.write_line("v")
        warm_until = time.monotonic() + WARM_UP_SECONDS
        while time.monotonic() < warm_until:
            source.draw_again()
            time.sleep(0.1)
        assert len(desk.calls("CreateSession")) == 1  # the portal asked after our consent
        for step in range(CHANGES):
            frame = backdrop()
            frame[20 * step : 20 * step + 16, 40:120, :3] = (0, 200, 255)
            assert source.draw(frame)
            time.sleep(0.2)
        idle_from = time.time() + IDLE_SETTLE_SECONDS
        idle_until = idle_from + IDLE_WATCH_SECONDS
        time.sleep(IDLE_SETTLE_SECONDS + IDLE_WATCH_SECONDS)

        host.write_line("c")
        _wait_until(lambda: desk.calls("NotifyPointerAxis"), "the scroll under control")
        host.write_line("q")  # the kill switch
        assert host.wait(WAIT_SECONDS) == 0
        viewer.wait(WAIT_SECONDS)
        time.sleep(0.5)
    finally:
        for child in reversed(children):
            child.stop()

    node = source.node_id
    moves = [(s, x, y) for _h, _o, s, x, y in desk.calls("NotifyPointerMotionAbsolute")]
    # The click is a move, then press and release each at its place; the scroll too.
    assert moves == [(node, 30.0, 40.0), *[(node, 31.0, 41.0)] * 3, (node, 32.0, 42.0)]
    assert [(b, s) for _h, _o, b, s in desk.calls("NotifyPointerButton")] == [
        (0x110, 1),
        (0x110, 0),
    ]
    assert [(k, s) for _h, _o, k, s in desk.calls("NotifyKeyboardKeysym")] == [
        (0x10020AC, 1), (0x10020AC, 0),
    ]  # fmt: skip
    assert [(dx, dy) for _h, _o, dx, dy in desk.calls("NotifyPointerAxis")] == [(0.0, 10.0)]
    (session,) = [handle for _h, handle, *_ in desk.calls("CreateSession")]
    assert desk.calls("Close", path=session) == [()]  # the portal session ended with ours
    received = [line["recv_ts"] for line in _lines(stats)]
    # The first update, and one per change (the last changes may merge under flow control).
    assert len([t for t in received if t < idle_from]) >= CHANGES
    assert not [t for t in received if idle_from <= t < idle_until], "an idle source sends nothing"
