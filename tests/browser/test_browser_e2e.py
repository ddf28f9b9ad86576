"""The browser viewer end to end in real headless Chromium (issue 22): the relay (TLS,
self-signed, trusted by Chromium through its public key) serves the page; a host agent
process shares a real Xvfb screen with an xterm; the page signs in with token and TOTP,
takes the code, the customer grants control (the terminal UI answers `c`), the page types
into the xterm (the shell there writes the line to a file: checked outside the browser),
the canvas equals the X screen pixel for pixel where the picture is lossless (read with
getImageData, the screen grabbed with ImageMagick from outside), a scroll arrives as copies
and a video region as H.264 through WebCodecs, the session ends, and the recording
downloaded from the page verifies against the relay's ledger. The relay's own view of the
session (every text and binary message it got, after TLS) holds neither the code's secret,
nor the typed text, nor a pixel pattern of the screen.

A second test: in full screen with the keyboard locked, Tab goes to the customer's
computer (a tab character arrives in the xterm) instead of moving the page's focus.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from relay.server import Relay
from tests.browser.chromium import (
    add_technician_with_totp,
    chromium,
    page_url,
    sign_in,
    totp_code,
)
from tests.conftest import Display, stop_process
from tests.support.relay import running_relay
from tests.viewer.processes import LineReader, host_process

ROOT = Path(__file__).resolve().parents[2]
X_CLIENT = ROOT / "tests" / "host_agent" / "x_client.py"
TECHNICIAN = "Erika Muster"
WAIT_MS = 30_000
TYPED = "echo fernwartung-typed-4711 > {path}"
CHAT = "Grüß Gott, hier spricht der Techniker"
SCROLL = "for i in $(seq 1 100); do echo scrolling line $i; sleep 0.05; done"


@dataclass
class RelayTap:
    """Every message the relay received, as it saw it (after TLS)."""

    seen: list[bytes]

    def holds(self, needle: bytes) -> bool:
        return any(needle in data for data in self.seen)


def tap_relay(monkeypatch: pytest.MonkeyPatch) -> RelayTap:
    tap = RelayTap([])
    on_text, on_binary = Relay.on_text, Relay.on_binary

    def text(self, connection, data):  # type: ignore[no-untyped-def]
        tap.seen.append(bytes(data))
        return on_text(self, connection, data)

    def binary(self, connection, data):  # type: ignore[no-untyped-def]
        tap.seen.append(bytes(data))
        return on_binary(self, connection, data)

    monkeypatch.setattr(Relay, "on_text", text)
    monkeypatch.setattr(Relay, "on_binary", binary)
    return tap


def start_x(display: Display, *command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        list(command), env=display.env(), stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


@asynccontextmanager
async def xterm(display: Display, shell: str) -> AsyncIterator[subprocess.Popen[str]]:
    """An xterm over the whole screen (no window manager: it sits where it is told), its
    window mapped before this returns."""
    process = start_x(
        display, "xterm", "-geometry", "200x60+0+0", "-bg", "white", "-fg", "black",
        "-fa", "Monospace", "-fs", "11", "-e", "sh", "-c", shell,
    )  # fmt: skip
    try:
        await asyncio.to_thread(
            subprocess.run,
            ["xdotool", "search", "--sync", "--onlyvisible", "--pid", str(process.pid)],
            env=display.env(), check=True, timeout=30, capture_output=True,
        )  # fmt: skip
        yield process
    finally:
        stop_process(process)  # type: ignore[arg-type]


def grab_screen(display: Display) -> Image.Image:
    """The X screen as the X server has it, taken from outside the session."""
    png = subprocess.run(
        ["import", "-window", "root", "png:-"], env=display.env(), check=True,
        capture_output=True, timeout=30,
    ).stdout  # fmt: skip
    return Image.open(io.BytesIO(png)).convert("RGB")


CANVAS_RGB_SHA256 = """async () => {
    const canvas = document.getElementById('remote');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    const rgb = new Uint8Array(canvas.width * canvas.height * 3);
    for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
        rgb[j] = data[i]; rgb[j + 1] = data[i + 1]; rgb[j + 2] = data[i + 2];
    }
    const digest = await crypto.subtle.digest('SHA-256', rgb);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}"""
MATCH_ROUNDS = 10
MATCH_POLLS = 30
MATCH_POLL_SECONDS = 0.1


async def canvas_image(page) -> Image.Image:  # type: ignore[no-untyped-def]
    data = await page.evaluate(
        "() => document.getElementById('remote').toDataURL('image/png').split(',')[1]"
    )
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


async def wait_for_screen_to_match(page, display: Display) -> Image.Image:  # type: ignore[no-untyped-def]
    """Until the canvas equals the X screen as grabbed from outside; that screen. Each
    round grabs the screen again (it may still have been changing) and waits for the
    canvas to show it."""
    screen = None
    for _ in range(MATCH_ROUNDS):
        screen = await asyncio.to_thread(grab_screen, display)
        want = hashlib.sha256(screen.tobytes()).hexdigest()
        for _ in range(MATCH_POLLS):  # the update showing it may still be on its way
            if await page.evaluate(CANVAS_RGB_SHA256) == want:
                return screen
            await asyncio.sleep(MATCH_POLL_SECONDS)
    assert screen is not None
    canvas = await canvas_image(page)
    if canvas.size != screen.size:
        raise AssertionError(f"the canvas is {canvas.size}, the X screen {screen.size}")
    differing = sum(1 for a, b in zip(canvas.getdata(), screen.getdata(), strict=True) if a != b)
    raise AssertionError(f"the canvas never matched the X screen ({differing} pixels differ)")


async def frames(page) -> list[dict]:  # type: ignore[no-untyped-def]
    return await page.evaluate(
        "() => window.pageState().frames.map((f) => ({...f, seq: Number(f.seq)}))"
    )


async def wait_for_frame(page, what: str) -> None:  # type: ignore[no-untyped-def]
    """Until a frame update with `what` (copies, video) has been painted."""
    await page.wait_for_function(
        f"() => window.pageState().frames.some((f) => f.{what} > 0)",
        timeout=WAIT_MS,
        polling=100,
    )


async def wait_for_file(path: Path, predicate: Callable[[str], bool]) -> str:
    for _ in range(300):
        if path.exists():
            text = path.read_text(errors="replace")
            if predicate(text):
                return text
        await asyncio.sleep(0.1)  # polled: the shell in the xterm writes it when it runs
    raise AssertionError(f"{path} never held what was typed")


async def open_session(page, relay, display: Display, token: str, secret: str):  # type: ignore[no-untyped-def]
    """Sign in, start the host, enter its code, grant control: (host, code)."""
    await page.goto(page_url(relay.url))
    await page.wait_for_selector("#signin-view:not([hidden])")
    # The page's state, reachable from the test's predicates (the page itself sets no global).
    await page.evaluate(
        "async () => { window.pageState = (await import('/js/app.js')).pageState; }"
    )
    await sign_in(page, TECHNICIAN, token, totp_code(secret))


async def wait_for_line(reader: LineReader, predicate: Callable[[str], bool]) -> str:
    return await asyncio.to_thread(reader.wait_for, predicate, 60)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator:
    async with running_relay(tmp_path / "relay") as info:
        yield info


async def test_the_browser_viewer_end_to_end(relay, fresh_xvfb, tmp_path, monkeypatch):
    display = fresh_xvfb
    tap = tap_relay(monkeypatch)
    token, secret = add_technician_with_totp(relay.data_dir, TECHNICIAN)
    typed_file = tmp_path / "typed.txt"
    async with (
        xterm(display, "PS1='$ ' exec bash --norc --noprofile -i"),
        chromium(tmp_path / "profile", relay.data_dir) as context,
    ):
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await open_session(page, relay, display, token, secret)
        with host_process(relay.url, relay.fingerprint, display.env()) as host:
            code = await asyncio.to_thread(host.code)
            # The code as a customer reads it out and a technician types it: with dashes.
            await page.fill("#code", code.replace(" ", "-"))
            await page.click("#code-form button[type=submit]")
            await page.wait_for_selector("#session-view:not([hidden])")
            await asyncio.to_thread(host.answer, "c")
            await page.wait_for_function(
                "() => window.pageState().session?.status.consent === 'control'",
                timeout=WAIT_MS,
            )
            await page.wait_for_function(
                "() => window.pageState().frames.length > 0",
                timeout=WAIT_MS,
            )

            # Typing: the page's keys reach the shell in the xterm, which writes the file.
            await page.click("#remote")
            line = TYPED.format(path=typed_file)
            await page.keyboard.type(line, delay=15)
            await page.keyboard.press("Enter")
            assert (
                await wait_for_file(typed_file, lambda t: "\n" in t)
            ) == "fernwartung-typed-4711\n"

            # The picture: the canvas is the X screen, pixel for pixel (text is lossless).
            matched = await wait_for_screen_to_match(page, display)
            assert len(matched.getcolors(1 << 16) or []) > 2  # text, not a blank screen
            codecs = {c for f in await frames(page) for c in f["codecs"]}
            assert codecs <= {"fill", "palette", "rects", "png", "webp"}, codecs

            # A scroll arrives as copies: a log of 20 lines a second in the xterm.
            await page.keyboard.type(SCROLL, delay=5)
            await page.keyboard.press("Enter")
            await wait_for_frame(page, "copies")

            # A video region arrives as H.264 and is decoded by WebCodecs.
            video = start_x(display, sys.executable, str(X_CLIENT), "video")
            try:
                assert video.stdout is not None
                assert (await asyncio.to_thread(video.stdout.readline)).strip() == "ready"
                await wait_for_frame(page, "video")
            finally:
                stop_process(video)  # type: ignore[arg-type]
            seen = await frames(page)
            painted = [f for f in seen if f["video"] > 0]
            assert painted, (len(seen), seen[-3:])
            assert all(f["paintedAt"] >= f["receivedAt"] for f in painted)

            # A chat line to the customer (its text is in one message, whole).
            await page.fill("#chat-input", CHAT)
            await page.click("#chat-form button[type=submit]")
            await asyncio.to_thread(host.output.wait_for, lambda text: CHAT in text, 30)

            # The technician ends; the end screen names the cost; the recording downloads.
            await page.click("#end")
            await page.wait_for_selector("#end-view:not([hidden])", timeout=WAIT_MS)
            assert await page.text_content("#end-headline") == "Session ended"
            assert "Cost:" in (await page.text_content("#end-cost") or "")
            async with page.expect_download() as download_info:
                await page.click("#end-download")
            download = await download_info.value
            recording = tmp_path / download.suggested_filename
            await download.save_as(recording)
    assert not errors, errors
    assert recording.name.startswith("session-") and recording.suffix == ".fwrec"
    verified = subprocess.run(
        [sys.executable, "-m", "fernwartung", "recording", "verify", str(recording),
         "--ledger", str(relay.data_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr

    # What the relay saw (after TLS): its own control messages in the clear, and binary
    # frames of the whole session, in which no secret, chat, typed text or image appears.
    assert tap.holds(b'"type": "join"') or tap.holds(b'"type":"join"')
    assert sum(len(data) for data in tap.seen) > 100_000
    secret_digits = code.replace(" ", "")[-6:]
    for needle in (
        secret_digits.encode(),
        CHAT.encode(),
        b"fernwartung-typed",
        b"scrolling line",
        b"\x89PNG\r\n\x1a\n",  # PNG tiles
        b"WEBPVP8L",  # lossless WebP tiles
        b"JFIF\x00",  # JPEG tiles (their APP0 segment)
        b"\x00\x00\x00\x01\x67",  # an H.264 sequence parameter set (Annex B)
    ):
        assert not tap.holds(needle), needle


async def test_tab_reaches_the_customer_in_full_screen(relay, fresh_xvfb, tmp_path):
    display = fresh_xvfb
    token, secret = add_technician_with_totp(relay.data_dir, TECHNICIAN)
    typed_file = tmp_path / "tab.txt"
    async with (
        xterm(display, f"exec cat > {typed_file}"),
        chromium(tmp_path / "profile", relay.data_dir) as context,
    ):
        page = await context.new_page()
        await open_session(page, relay, display, token, secret)
        with host_process(relay.url, relay.fingerprint, display.env()) as host:
            code = await asyncio.to_thread(host.code)
            await page.fill("#code", code)
            await page.click("#code-form button[type=submit]")
            await asyncio.to_thread(host.answer, "c")
            await page.wait_for_function(
                "() => window.pageState().session?.status.consent === 'control'",
                timeout=WAIT_MS,
            )
            await page.click("#fullscreen")
            await page.wait_for_function(
                "() => document.fullscreenElement?.id === 'screen'"
                " && window.pageState().keyboardLocked",
                timeout=WAIT_MS,
            )
            # A click on the customer's screen first, as a technician would: it puts the
            # customer's pointer, and so the keyboard focus (no window manager), on the xterm.
            box = await page.locator("#remote").bounding_box()
            assert box is not None
            await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            await page.keyboard.type("a")
            await page.keyboard.press("Tab")
            await page.keyboard.type("b")
            await page.keyboard.press("Enter")
            assert await wait_for_file(typed_file, lambda t: "\n" in t) == "a\tb\n"
            # The page kept the focus on the screen: Tab did not move it.
            assert await page.evaluate("document.activeElement.id") == "remote"
