"""Photograph every state the customer's agent and the technician's viewer show, in German
and English: the walks of tests/support/ui_walk.py on an Xvfb screen with a window manager
(openbox), a real relay in this process, one PNG per state.

    python3 docs/screenshots.py [OUT_DIR]     # default /tmp/fernwartung-screenshots

Needs (apt): xvfb, openbox, imagemagick (`import`). The list of pictures is printed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_xvfb, stop_process  # noqa: E402
from tests.support.relay import running_relay  # noqa: E402

SCREEN = (1600, 1000)
WINDOW_MANAGER_START_SECONDS = 10


def shoot(display: str, path: Path) -> None:
    subprocess.run(
        ["import", "-window", "root", "-display", display, str(path)], check=True, timeout=30
    )
    print(path, flush=True)


async def main(out: Path) -> None:
    from tests.support import ui_walk

    out.mkdir(parents=True, exist_ok=True)
    async with running_relay(Path(tempfile.mkdtemp(prefix="fernwartung-shots-"))) as relay:
        for language in ("de", "en"):
            for ending in ("customer", "technician", "unreachable"):

                def host_state(name: str, language: str = language) -> None:
                    shoot(os.environ["DISPLAY"], out / f"host-{language}-{name}.png")

                await ui_walk.walk_host(relay, language, ending, host_state)
            for ending in ("customer", "technician", "denied", "unreachable"):

                def viewer_state(name: str, language: str = language) -> None:
                    shoot(os.environ["DISPLAY"], out / f"viewer-{language}-{name}.png")

                await ui_walk.walk_viewer(relay, language, ending, viewer_state)


def run() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fernwartung-screenshots")
    if shutil.which("openbox") is None or shutil.which("import") is None:
        print(
            "needs openbox and imagemagick (apt-get install openbox imagemagick)", file=sys.stderr
        )
        return 2
    xvfb, display = start_xvfb(*SCREEN)
    os.environ["DISPLAY"] = display.name
    manager = subprocess.Popen(["openbox"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(  # openbox is up once it owns the screen's manager selection
            ["xdotool", "search", "--sync", "--limit", "1", "--class", "openbox"],
            timeout=WINDOW_MANAGER_START_SECONDS, check=False, capture_output=True,
        )  # fmt: skip
        asyncio.run(main(out))
    finally:
        stop_process(manager)
        stop_process(xvfb)
    return 0


if __name__ == "__main__":
    sys.exit(run())
