"""The terminal UI's end screen, the code's validity in words, and the customer's own
recording by default (issue 21, points 1, 2, 8, 9)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys

from host_agent import events as ui
from host_agent.evidence import default_recording_directory
from host_agent.texts import Texts
from host_agent.ui_terminal import TerminalUi
from protocol import messages
from tests.host_agent.test_ui_terminal import REPO, answer, relay_process  # noqa: F401
from tests.host_agent.viewer_client import TestViewer
from tests.support.relay import add_technician
from tests.support.ui_walk import closed_port_url


def test_code_validity_is_said_in_words():
    """Point 8: "Der Code gilt 1 Minuten" for 8 seconds."""
    for language, seconds, expected in (
        ("de", 8, "Der Code gilt 8 Sekunden und nur einmal."),
        ("de", 60, "Der Code gilt 1 Minute und nur einmal."),
        ("de", 600, "Der Code gilt 10 Minuten und nur einmal."),
        ("en", 90, "The code is valid for 1 minute 30 seconds and works once."),
    ):
        out = io.StringIO()
        TerminalUi(Texts(language), "Terms", out=out).notify(ui.CodeReady("1 2", seconds))
        assert expected in out.getvalue().splitlines()


def test_default_recording_folder_is_the_users_own():
    assert default_recording_directory({"HOME": "/home/kunde"}, "linux").as_posix() == (
        "/home/kunde/.local/share/fernwartung/recordings"
    )
    assert default_recording_directory(
        {"HOME": "/h", "XDG_DATA_HOME": "/d"}, "linux"
    ).as_posix() == ("/d/fernwartung/recordings")


def host(url: str, fingerprint: str | None, data_home, *extra: str, language: str = "en"):  # noqa: ANN001, ANN201
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(PYTHONPATH=str(REPO), XDG_DATA_HOME=str(data_home))
    command = [sys.executable, "-m", "fernwartung", "host", "--relay", url, "--ui", "terminal",
               "--screen", "synthetic", "--lang", language, *extra]  # fmt: skip
    if fingerprint:
        command += ["--fingerprint", fingerprint]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )


def test_terminal_ui_prints_the_error_screen_and_exits_nonzero_when_the_relay_is_away(tmp_path):
    """Point 1: nothing printed and rc 1 within 0.4 s; now the end screen says what to do."""
    url = closed_port_url()
    process = host(url, None, tmp_path, language="de")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    t = Texts("de")
    assert f"== {t('error_title')} ==" in out
    assert t("reason_relay_unreachable", relay=url) in out
    assert t("advice_relay_unreachable") in out


async def session_through_the_terminal(url, fingerprint, data_dir, data_home, *extra):  # noqa: ANN001, ANN201
    process = host(url, fingerprint, data_home, *extra)
    assert process.stdout is not None
    lines: list[str] = []

    async def line(predicate) -> str:  # noqa: ANN001
        async with asyncio.timeout(15):
            while True:
                text = await asyncio.to_thread(process.stdout.readline)
                assert text, f"the agent's output ended: {lines}"
                lines.append(text.rstrip("\n"))
                if predicate(text):
                    return text

    try:
        code = (await line(lambda text: text.startswith("CODE: "))).removeprefix("CODE: ")
        viewer = await TestViewer.join(
            url, fingerprint, add_technician(data_dir, "Rita"), code.strip()
        )
        question = await line(lambda text: text.rstrip().endswith("[n/v/c]"))
        assert "€1.40 per started minute plus 19 % VAT (€1.67 per minute incl. VAT)" in question
        answer(process, "v")
        await viewer.next_frame()
        answer(process, "q")
        await viewer.next_of(messages.Bye)
        assert await asyncio.to_thread(process.wait, 15) == 0
        lines += process.stdout.read().splitlines()
        await viewer.close()
    finally:
        process.kill()
        process.wait(15)
    return lines


async def test_the_host_records_by_default_and_the_end_screen_says_where(relay_process, tmp_path):  # noqa: F811
    """Points 1, 9: the customer keeps a copy unless they say --no-record."""
    url, fingerprint, data_dir = relay_process
    lines = await session_through_the_terminal(url, fingerprint, data_dir, tmp_path / "data")
    [recording] = (tmp_path / "data" / "fernwartung" / "recordings").glob("*.fwrec")
    t = Texts("en")
    assert f"== {t('end_title')} ==" in lines
    assert t("reason_customer") in lines
    assert t("end_recording", path=recording) in lines
    assert any(line.startswith("Cost: €1.40 net + €0.27 VAT (19 %) = €1.67") for line in lines)


async def test_no_record_keeps_no_copy_and_says_the_customer_chose_it(relay_process, tmp_path):  # noqa: F811
    url, fingerprint, data_dir = relay_process
    lines = await session_through_the_terminal(
        url, fingerprint, data_dir, tmp_path / "data", "--no-record"
    )
    assert not (tmp_path / "data" / "fernwartung").exists()
    t = Texts("en")
    assert any(line.endswith(t("ev_not_recording")) for line in lines)
    assert t("end_not_recorded") in lines
