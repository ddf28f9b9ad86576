"""Pictures of the browser viewer's page in German and English: sign-in, code entry, a live
session (an xterm on Xvfb shared by a real host agent) and the end screen.

    python3 docs/browser_screenshots.py [OUT_DIR]      # default /tmp/fernwartung-browser-shots

Needs what the browser tests need: Xvfb, xterm, chromium, playwright (README).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.chromium import (  # noqa: E402
    add_technician_with_totp,
    chromium,
    page_url,
    sign_in,
    totp_code,
)
from tests.conftest import start_xvfb, stop_process  # noqa: E402
from tests.support.relay import running_relay  # noqa: E402
from tests.viewer.processes import host_process  # noqa: E402

TECHNICIAN = "Erika Muster"
SHELL_TEXT = "ls -la /usr/share | head -20; echo; echo 'Hallo aus der Fernwartung'"


async def shoot(language: str, out: Path, work: Path, step: int) -> None:
    xvfb, display = start_xvfb(1280, 720)
    xterm = subprocess.Popen(
        ["xterm", "-geometry", "150x45+0+0", "-bg", "white", "-fg", "black", "-fa", "Monospace",
         "-fs", "11", "-e", "sh", "-c", f"{SHELL_TEXT}; exec bash --norc --noprofile -i"],
        env=display.env(),
    )  # fmt: skip
    try:
        async with running_relay(work / f"relay-{language}") as relay:
            token, secret = add_technician_with_totp(relay.data_dir, TECHNICIAN)
            locale = "de-DE" if language == "de" else "en-US"
            async with chromium(work / f"profile-{language}", relay.data_dir, locale=locale) as ctx:
                page = await ctx.new_page()
                await page.goto(page_url(relay.url))
                await page.wait_for_selector("#signin-view:not([hidden])")
                await page.fill("#signin-name", TECHNICIAN)
                await page.screenshot(path=out / f"{language}-1-signin.png")
                await sign_in(page, TECHNICIAN, token, totp_code(secret, step))
                with host_process(relay.url, relay.fingerprint, display.env()) as host:
                    code = await asyncio.to_thread(host.code)
                    await page.fill("#code", code)
                    await page.screenshot(path=out / f"{language}-2-code.png")
                    await page.click("#code-form button[type=submit]")
                    await page.wait_for_selector("#session-view:not([hidden])")
                    await page.screenshot(path=out / f"{language}-3-waiting.png")
                    await asyncio.to_thread(host.answer, "c")
                    await page.evaluate(
                        "async () => { window.pageState = (await import('/js/app.js')).pageState; }"
                    )
                    await page.wait_for_function("() => window.pageState().frames.length > 0")
                    await page.fill(
                        "#chat-input",
                        "Ich schaue mir das an." if language == "de" else "Let me have a look.",
                    )
                    await page.click("#chat-form button[type=submit]")
                    await page.click("#remote")
                    shown = await page.evaluate("() => window.pageState().frames.length")
                    await page.keyboard.type("echo fernwartung\n", delay=20)
                    await page.wait_for_function(
                        f"() => window.pageState().frames.length > {shown + 3}", timeout=10_000
                    )
                    await page.screenshot(path=out / f"{language}-4-session.png")
                    await page.click("#end")
                    await page.wait_for_selector("#end-view:not([hidden])")
                    await page.screenshot(path=out / f"{language}-5-end.png")
    finally:
        stop_process(xterm)  # type: ignore[arg-type]
        stop_process(xvfb)


async def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fernwartung-browser-shots")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fernwartung-shots-"))
    for step, language in enumerate(("de", "en")):
        await shoot(language, out, work, step)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
