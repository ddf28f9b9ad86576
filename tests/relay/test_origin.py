"""The Origin check (issue 20, point 2): a web page of a foreign origin cannot make its
visitors' browsers open sessions; programs (no Origin header) and the relay's own origin
can. Real upgrades against the real relay."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from protocol import control
from relay.http import origin_of
from relay.main import UsageError, origins_from
from tests.relay.conftest import WAIT_SECONDS, host_link, insecure_context, receive, viewer_link
from tests.support.relay import RelayInfo, add_technician, running_relay

FOREIGN = [
    "https://evil.example",
    "null",
    "http://127.0.0.1:{port}",  # the relay's host and port, but not over TLS
    "https://127.0.0.1:{port}.evil.example",
    "https://127.0.0.1",  # another port
    "https://127.0.0.1:{port}/path",
]


async def upgrade_with(
    relay: RelayInfo, path: str, headers: list[tuple[str, str]], token: str
) -> ClientConnection:
    """A real upgrade with these headers (a viewer's with its token)."""
    if path == "/v1/viewer":
        headers = [*headers, ("Authorization", f"Bearer {token}")]
    return await connect(
        relay.url + path, ssl=insecure_context(), additional_headers=headers, compression=None
    )


async def register_over(websocket) -> None:  # noqa: ANN001
    await websocket.send(control.encode(control.Register(version=1)))
    async with asyncio.timeout(WAIT_SECONDS):
        assert isinstance(control.decode(await websocket.recv()), control.Registered)


@pytest.mark.parametrize("path", ["/v1/host", "/v1/viewer"])
async def test_upgrades_from_a_foreign_origin_are_refused(tmp_path: Path, path: str) -> None:
    log = io.StringIO()
    async with running_relay(tmp_path, log_to=log) as relay:
        token = add_technician(tmp_path, "Alice")
        refused = [[("Origin", origin.format(port=relay.port))] for origin in FOREIGN]
        refused.append([("Origin", f"https://127.0.0.1:{relay.port}"), ("Origin", "null")])
        for headers in refused:
            with pytest.raises(InvalidStatus) as raised:
                await upgrade_with(relay, path, headers, token)
            response = raised.value.response
            assert response.status_code == 403, headers
            assert b"origin may not connect" in response.body
        metrics = relay.relay.metrics
        assert metrics.origins_refused == len(refused)
        assert metrics.connections_refused_http["403"] == len(refused)
        assert log.getvalue().count(" origin_refused ") == len(refused)
        assert "origin=https://evil.example" in log.getvalue()
        assert "Alice" not in log.getvalue() and token not in log.getvalue()
        assert relay.relay.metrics.registers == 0  # nothing was registered


async def test_programs_and_the_relays_own_origin_pass(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay:
        token = add_technician(tmp_path, "Alice")
        host = await host_link(relay)  # the host agent and the Python viewer send no Origin
        await host.send_control(control.Register(version=1))
        assert isinstance(await receive(host), control.Registered)
        viewer = await viewer_link(relay, token)
        await viewer.close()
        own = f"https://127.0.0.1:{relay.port}"  # where the relay will serve the browser viewer
        for origin in (own, own.upper().replace("HTTPS", "https"), f"{own}/"):
            websocket = await upgrade_with(relay, "/v1/host", [("Origin", origin)], token)
            await register_over(websocket)
            await websocket.close()
        websocket = await upgrade_with(relay, "/v1/viewer", [("Origin", own)], token)
        await websocket.close()
        assert relay.relay.metrics.origins_refused == 0
        await host.close()


async def test_public_url_and_allowed_origins_are_the_allow_list(tmp_path: Path) -> None:
    async with running_relay(
        tmp_path,
        public_url="wss://support.example:8765",
        allow_origins=("https://portal.example",),
    ) as relay:
        for origin in ("https://support.example:8765", "https://portal.example"):
            websocket = await upgrade_with(relay, "/v1/host", [("Origin", origin)], "")
            await register_over(websocket)
            await websocket.close()
        # With a public URL, the listening address is not the relay's origin for browsers.
        for origin in (f"https://127.0.0.1:{relay.port}", "https://support.example"):
            with pytest.raises(InvalidStatus, match="403"):
                await upgrade_with(relay, "/v1/host", [("Origin", origin)], "")
        assert relay.relay.metrics.origins_refused == 2


def test_origins_are_compared_as_browsers_write_them() -> None:
    assert origin_of("HTTPS://Support.Example:443/", strict=True) == "https://support.example"
    assert origin_of("http://[::1]:8080", strict=True) == "http://[::1]:8080"
    assert origin_of("wss://support.example:8765") == "https://support.example:8765"
    assert origin_of("ws://support.example:80/v1/host") == "http://support.example"
    for not_an_origin in (
        "null", "https://a.example/path", "file:///etc", "https://user@a.example",
        "wss://a.example", "https://a.example:99999", "",
    ):  # fmt: skip
        with pytest.raises(ValueError):
            origin_of(not_an_origin, strict=True)


def test_origin_flags_are_checked() -> None:
    from fernwartung.cli import build_parser

    args = build_parser().parse_args(
        ["relay", "--public-url", "https://support.example:8765", "--allow-origin",
         "https://portal.example", "--allow-origin", "http://localhost:3000"]
    )  # fmt: skip
    assert origins_from(args) == (
        "https://support.example:8765",
        ("https://portal.example", "http://localhost:3000"),
    )
    for bad in (["--allow-origin", "null"], ["--allow-origin", "*"], ["--public-url", "support"]):
        with pytest.raises(UsageError):
            origins_from(build_parser().parse_args(["relay", *bad]))
