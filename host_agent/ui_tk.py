"""The Tk UI: terms and backup note, the code in large digits, the consent dialog, an
always-visible indicator (shared with whom, how long, running cost), the activity log,
pause/resume, level change, monitor choice and End session.

Tk owns the main thread; the agent's asyncio loop runs in a thread. They talk through a
queue plus a pipe that wakes Tk when an event is queued (agent -> UI; where Tk cannot watch
a pipe, Windows, Tk polls the queue instead) and `HostAgent.command_threadsafe` /
`HostAgent.kill` (UI -> agent). Closing the window is the kill switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import threading
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.capture import ScreenSource
from host_agent.consent import Sharing
from host_agent.inject import Bounds, InputBackend
from host_agent.texts import Texts
from protocol.billing import bill
from protocol.messages import ConsentLevel

# Only where Tk cannot watch a pipe: polling every 50 ms costs ~0.75 % of a core when idle.
POLL_MILLISECONDS = 50
INDICATOR_REFRESH_MILLISECONDS = 1000
MAX_LOG_LINES = 500


class HostWindow:
    """The customer's window. Every method runs on Tk's thread."""

    def __init__(self, root: tk.Tk, texts: Texts, terms: str, agent: HostAgent) -> None:
        self.root = root
        self.texts = texts
        self.agent = agent
        self.events: queue.Queue[ui.UiEvent] = queue.Queue()
        self._sharing: ui.SharingChanged | None = None
        self._dialog: tk.Toplevel | None = None
        t = texts
        root.title(t("title"))
        root.protocol("WM_DELETE_WINDOW", self.end_session)
        root.attributes("-topmost", True)

        # Red with text while shared (see _refresh_indicator); invisible before.
        self.indicator = tk.Label(root, text="", fg="white", font=("", 12, "bold"))
        self.indicator.pack(fill="x")
        terms_frame = ttk.LabelFrame(root, text=t("terms_heading"))
        terms_frame.pack(fill="x", padx=8, pady=4)
        terms_text = tk.Text(terms_frame, height=6, wrap="word")
        terms_text.insert("1.0", terms.strip())
        terms_text.configure(state="disabled")
        terms_text.pack(fill="x")
        tk.Label(root, text=t("backup_note"), fg="#8a4b00", wraplength=560).pack(padx=8)

        self.code_label = tk.Label(root, text=t("connecting"), wraplength=560)
        self.code_label.pack(pady=(8, 0))
        self.code = tk.Label(root, text="", font=("Courier", 36, "bold"))
        self.code.pack()
        self.status = tk.Label(root, text="", wraplength=560)
        self.status.pack()

        controls = ttk.Frame(root)
        controls.pack(pady=4)
        self.pause_button = ttk.Button(controls, text=t("pause"), command=self._toggle_pause)
        self.level = tk.StringVar(value=ConsentLevel.VIEW.value)
        self.view_radio = ttk.Radiobutton(
            controls, text=t("answer_view"), variable=self.level,
            value=ConsentLevel.VIEW.value, command=self._level_changed,
        )  # fmt: skip
        self.control_radio = ttk.Radiobutton(
            controls, text=t("answer_control"), variable=self.level,
            value=ConsentLevel.CONTROL.value, command=self._level_changed,
        )  # fmt: skip
        self.monitor = tk.IntVar(value=agent.settings.monitor)
        self.monitor_box = ttk.Spinbox(
            controls, from_=1, to=1, width=3, textvariable=self.monitor,
            command=self._monitor_changed,
        )  # fmt: skip
        self.end_button = ttk.Button(controls, text=t("end_session"), command=self.end_session)
        for widget in (self.pause_button, self.view_radio, self.control_radio):
            widget.pack(side="left", padx=4)
        ttk.Label(controls, text=t("monitor")).pack(side="left")
        self.monitor_box.pack(side="left", padx=4)
        self.end_button.pack(side="left", padx=4)
        self._set_sharing_controls(False)

        ttk.Label(root, text=t("activity_heading")).pack(anchor="w", padx=8)
        self.log = tk.Listbox(root, height=10, width=80)
        self.log.pack(fill="both", expand=True, padx=8, pady=(0, 8))

        self._wake_read, self._wake_write = os.pipe()
        self._closed = False
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        if hasattr(root.tk, "createfilehandler"):
            root.tk.createfilehandler(self._wake_read, tk.READABLE, self._woken)
        else:
            root.after(POLL_MILLISECONDS, self._poll)
        root.after(INDICATOR_REFRESH_MILLISECONDS, self._refresh_indicator)

    # -- agent -> UI ----------------------------------------------------------------------

    def notify_threadsafe(self, event: ui.UiEvent) -> None:
        self.events.put(event)
        if self._closed:
            return
        # A full pipe means Tk is woken already.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    def _woken(self, descriptor: int, mask: int) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        self._show_queued()

    def _poll(self) -> None:
        self._show_queued()
        self.root.after(POLL_MILLISECONDS, self._poll)

    def _show_queued(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self.show(event)

    def close(self) -> None:
        """Stop watching the pipe and close it (after Tk's main loop ended)."""
        self._closed = True
        if hasattr(self.root.tk, "deletefilehandler"):
            self.root.tk.deletefilehandler(self._wake_read)
        for descriptor in (self._wake_read, self._wake_write):
            os.close(descriptor)

    def show(self, event: ui.UiEvent) -> None:
        t = self.texts
        if isinstance(event, ui.CodeReady):
            self.code_label.configure(text=t("code_label"))
            self.code.configure(text=event.spoken)
            note = t("code_expires", minutes=max(1, event.expires_in_seconds // 60))
            if event.why_new is not None:
                note = t(event.why_new) + "\n" + note
            self.status.configure(text=note)
        elif isinstance(event, ui.WrongCodeTried):
            self.status.configure(text=t("wrong_code", tries=event.tries, limit=event.limit))
        elif isinstance(event, ui.TechnicianConnecting):
            self.status.configure(text=t("technician_connecting"))
        elif isinstance(event, ui.ConsentAsked):
            self._ask(event)
        elif isinstance(event, ui.SharingChanged):
            self._sharing = event
            self.code.configure(text="")
            self.code_label.configure(text="")
            self.level.set(event.consent.level.value)
            self.monitor_box.configure(to=event.monitors)
            self.monitor.set(event.monitor)
            self.pause_button.configure(
                text=t("resume") if event.consent.sharing is Sharing.PAUSED else t("pause")
            )
            self._set_sharing_controls(True)
            self._refresh_indicator(reschedule=False)
        elif isinstance(event, ui.ActivityLine):
            self.log.insert("end", f"{time.strftime('%H:%M:%S')}  {event.text}")
            if self.log.size() > MAX_LOG_LINES:
                self.log.delete(0)
            self.log.see("end")
        elif isinstance(event, ui.Reconnecting):
            key = "reconnecting" if event.own_link else "reconnecting_technician"
            self.status.configure(text=t(key))
        elif isinstance(event, ui.Reconnected):
            self.status.configure(text=t("ev_reconnected"))
        elif isinstance(event, ui.Ended):
            self._close_dialog()
            self._sharing = None
            self.indicator.configure(text="", bg=self.root.cget("bg"))
            self.status.configure(text=t("ev_ended", reason=event.reason))
            self._set_sharing_controls(False)
            self.end_button.configure(state="disabled")

    def _ask(self, event: ui.ConsentAsked) -> None:
        t = self.texts
        dialog = tk.Toplevel(self.root)
        self._dialog = dialog
        dialog.title(t("consent_title"))
        dialog.attributes("-topmost", True)
        dialog.protocol("WM_DELETE_WINDOW", lambda: self._answer(ConsentLevel.DENIED))
        intro = t("consent_intro", technician=event.technician, rate=t.money(event.rate_per_minute))
        tk.Label(dialog, text=intro, font=("", 12, "bold"), wraplength=480).pack(padx=12, pady=8)
        for level, label, help_key in (
            (ConsentLevel.DENIED, "answer_deny", "answer_deny_help"),
            (ConsentLevel.VIEW, "answer_view", "answer_view_help"),
            (ConsentLevel.CONTROL, "answer_control", "answer_control_help"),
        ):
            row = ttk.Frame(dialog)
            row.pack(fill="x", padx=12, pady=2)
            button = ttk.Button(
                row, text=t(label), width=22, command=lambda chosen=level: self._answer(chosen)
            )
            button.pack(side="left")
            ttk.Label(row, text=t(help_key), wraplength=300).pack(side="left", padx=8)

    def _answer(self, level: ConsentLevel) -> None:
        self._close_dialog()
        self.agent.command_threadsafe(ui.Answer(level))

    def _close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.destroy()
            self._dialog = None

    def _refresh_indicator(self, reschedule: bool = True) -> None:
        event = self._sharing
        if event is not None:
            t = self.texts
            seconds = max(0.0, time.monotonic() - event.started_monotonic)
            tariff = event.tariff
            minutes, rest = divmod(int(seconds), 60)
            paused = event.consent.sharing is Sharing.PAUSED
            control = event.consent.level is ConsentLevel.CONTROL
            level = "level_control" if control else "level_view"
            self.indicator.configure(
                text=t(
                    "indicator_paused" if paused else "indicator",
                    technician=event.technician,
                    level=t(level),
                    duration=f"{minutes}:{rest:02d}",
                    cost=t.money(bill(seconds, tariff).gross),
                ),
                bg="#555555" if paused else "#b00020",
            )
        if reschedule:
            self.root.after(INDICATOR_REFRESH_MILLISECONDS, self._refresh_indicator)

    # -- UI -> agent ------------------------------------------------------------------------

    def _set_sharing_controls(self, enabled: bool) -> None:
        state = "normal" if enabled else "disabled"
        for widget in (self.pause_button, self.view_radio, self.control_radio, self.monitor_box):
            widget.configure(state=state)

    def _toggle_pause(self) -> None:
        event = self._sharing
        if event is None:
            return
        paused = event.consent.sharing is Sharing.PAUSED
        self.agent.command_threadsafe(ui.ResumeSharing() if paused else ui.PauseSharing())

    def _level_changed(self) -> None:
        self.agent.command_threadsafe(ui.ChangeLevel(ConsentLevel(self.level.get())))

    def _monitor_changed(self) -> None:
        self.agent.command_threadsafe(ui.SelectMonitor(int(self.monitor.get())))

    def end_session(self) -> None:
        """The kill switch: window close and the End button."""
        self.agent.kill()
        self.end_button.configure(state="disabled")


def run_tk(
    settings: AgentSettings,
    texts: Texts,
    terms: str,
    make_source: Callable[[], ScreenSource],
    make_backend: Callable[[Bounds], InputBackend],
) -> int:
    root = tk.Tk()
    holder: list[HostWindow] = []
    agent = HostAgent(
        settings, texts, lambda event: holder[0].notify_threadsafe(event), make_source,
        make_backend,
    )  # fmt: skip
    window = HostWindow(root, texts, terms, agent)
    holder.append(window)
    result: list[int] = []

    def session() -> None:
        try:
            result.append(asyncio.run(agent.run()))
        finally:
            root.after(0, root.quit)

    worker = threading.Thread(target=session, name="host-session", daemon=True)
    signal.signal(signal.SIGINT, lambda signum, frame: window.end_session())
    worker.start()
    root.mainloop()
    agent.kill()
    worker.join(timeout=10)
    window.close()
    root.destroy()
    return result[0] if result else 1
