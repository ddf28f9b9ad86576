"""The terminal UI: code, consent question and activity log as lines on stdout.

Contract (DESIGN.md): prints a line `CODE: <code>`; once a technician has connected (the
handshake succeeded) prints the consent question as a line ending in `[n/v/c]` and reads
one line: n = deny, v = view only, c = view and control. Anything typed before the
question was shown is discarded, never taken as consent.

Commands while sharing, one per line:
    p      pause sharing            r      resume sharing
    v      view only (no control)   c      view and control
    m N    share monitor N          q      end the session (so does Ctrl+C)
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
import termios
import threading
import time
from typing import TextIO

from host_agent import events as ui
from host_agent.agent import HostAgent
from host_agent.consent import Sharing
from host_agent.texts import Texts
from protocol.billing import bill
from protocol.messages import ConsentLevel

READ_CHUNK_BYTES = 4096
MAX_LINE_CHARS = 200
_ANSWERS = {"n": ConsentLevel.DENIED, "v": ConsentLevel.VIEW, "c": ConsentLevel.CONTROL}


def _stamp() -> str:
    """The local time of a log line, with its zone."""
    return time.strftime("%H:%M:%S %Z")


class TerminalUi:
    def __init__(self, texts: Texts, terms: str, out: TextIO = sys.stdout, stdin_fd: int = 0):
        self.texts = texts
        self.terms = terms
        self.out = out
        self.stdin_fd = stdin_fd
        self.agent: HostAgent | None = None
        # Nothing reads stdin before the consent question: what was typed until then stays
        # in the pipe (or the terminal) and is thrown away when the question is shown.
        self._reading = threading.Event()
        self._answered = False
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._sharing: ui.SharingChanged | None = None

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- agent -> terminal ------------------------------------------------------------------

    def notify(self, event: ui.UiEvent) -> None:
        t = self.texts
        if isinstance(event, ui.Connecting):
            self.print(f"== {t('title')} ==")
            self.print(f"{t('terms_heading')}:")
            for line in self.terms.strip().splitlines():
                self.print(f"  {line}")
            self.print(t("backup_note"))
            self.print(t("connecting"))
        elif isinstance(event, ui.CodeReady):
            if event.why_new is not None:
                self.print(t(event.why_new))
            self.print(t("code_label"))
            self.print(f"CODE: {event.spoken}")
            self.print(t("code_expires", duration=t.span(event.expires_in_seconds)))
        elif isinstance(event, ui.WrongCodeTried):
            self.print(t("wrong_code", tries=event.tries, limit=event.limit))
        elif isinstance(event, ui.TechnicianConnecting):
            self.print(t("technician_connecting"))
        elif isinstance(event, ui.ConsentAsked):
            question = t(
                "consent_question", technician=event.technician, price=t.price(event.tariff)
            )
            if not self._reading.is_set():
                self._discard_typed_ahead()
                self._reading.set()
            self.print(f"{question} [n/v/c]")
        elif isinstance(event, ui.SharingChanged):
            self._sharing = event
            self.print(self.indicator())
        elif isinstance(event, ui.ActivityLine):
            self.print(f"[{_stamp()}] {event.text}")
        elif isinstance(event, ui.ControlRequested):
            self.print(f"[{_stamp()}] {t('control_request_terminal')}")
        elif isinstance(event, ui.Reconnecting):
            key = "reconnecting" if event.own_link else "reconnecting_technician"
            self.print(f"[{_stamp()}] {t(key)}")
        elif isinstance(event, ui.Reconnected):
            pass  # the activity line that comes with it says so (once)
        elif isinstance(event, ui.Ended):
            self.print_end(event)

    def print_end(self, event: ui.Ended) -> None:
        """The end screen as lines: the same as the Tk window's, then the program exits."""
        self.print(f"[{_stamp()}] {event.reason}")
        self.print(f"== {event.title or self.texts('end_title')} ==")
        self.print(event.reason)
        for line in event.details:
            self.print(line)
        if event.advice:
            self.print(event.advice)

    def indicator(self) -> str:
        event = self._sharing
        assert event is not None
        seconds = max(0.0, time.monotonic() - event.started_monotonic)
        cost = bill(seconds, event.tariff).gross
        minutes, rest = divmod(int(seconds), 60)
        key = "indicator" if event.consent.sharing is Sharing.ACTIVE else "indicator_paused"
        level = "level_control" if event.consent.level is ConsentLevel.CONTROL else "level_view"
        return "*** " + self.texts(
            key,
            technician=event.technician,
            level=self.texts(level),
            duration=f"{minutes}:{rest:02d}",
            cost=self.texts.money(cost),
        )

    def _discard_typed_ahead(self) -> None:
        """Throw away everything typed before the question: a terminal's pending input, or
        whatever waits in a pipe (nothing has read stdin until now)."""
        if os.isatty(self.stdin_fd):
            termios.tcflush(self.stdin_fd, termios.TCIFLUSH)
            return
        while select.select([self.stdin_fd], [], [], 0)[0]:
            try:
                if not os.read(self.stdin_fd, READ_CHUNK_BYTES):
                    return  # end of input
            except OSError:
                return

    # -- terminal -> agent ------------------------------------------------------------------

    def _read_stdin(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: from the consent question on, each line to the agent's loop."""
        self._reading.wait()
        pending = b""
        while True:
            try:
                chunk = os.read(self.stdin_fd, READ_CHUNK_BYTES)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            pending = pending[-MAX_LINE_CHARS:]
            for raw in lines:
                text = raw.decode("utf-8", "replace").strip()[:MAX_LINE_CHARS]
                loop.call_soon_threadsafe(self._lines.put_nowait, text)

    async def run(self, agent: HostAgent) -> int:
        """Run the agent with this UI until the session ends."""
        self.agent = agent
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_stdin, args=(loop,), daemon=True).start()
        session = asyncio.create_task(agent.run())
        commands = asyncio.create_task(self._commands(agent))
        try:
            return await session
        finally:
            commands.cancel()

    async def _commands(self, agent: HostAgent) -> None:
        while True:
            line = await self._lines.get()
            word, _, rest = line.lower().partition(" ")
            if not self._answered:
                if word in _ANSWERS:
                    self._answered = True
                    agent.command(ui.Answer(_ANSWERS[word]))
                    if word != "n":
                        self.print(self.texts("terminal_commands"))
                else:
                    self.print(self.texts("unknown_answer") + " [n/v/c]")
                continue
            if word == "p":
                agent.command(ui.PauseSharing())
            elif word == "r":
                agent.command(ui.ResumeSharing())
            elif word in ("v", "c"):
                agent.command(ui.ChangeLevel(_ANSWERS[word]))
            elif word == "m" and rest.strip().isdigit():
                agent.command(ui.SelectMonitor(int(rest.strip())))
            elif word == "q":
                agent.command(ui.EndSession())
            elif word == "" and self._sharing is not None:
                self.print(self.indicator())
            else:
                self.print(self.texts("terminal_commands"))
