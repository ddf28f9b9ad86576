"""The Tk UI: terms and backup note, the code in large digits, the consent dialog, an
always-visible indicator (shared with whom, how long, running cost), the activity log,
pause/resume, level change, monitor choice, End session, the control request dialog, and
at the end a screen that says who ended, why, how long, what it costs and where the
recording is (or, when the session could not start, what to do). The window stays until
the customer closes it.

Tk owns the main thread; the agent's asyncio loop runs in a thread. They talk through a
queue plus a pipe that wakes Tk when an event is queued (agent -> UI; where Tk cannot watch
a pipe, Windows, Tk polls the queue instead) and `HostAgent.command_threadsafe` /
`HostAgent.kill` (UI -> agent). Closing the window during a session is the kill switch.
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
from collections.abc import Callable, Mapping
from tkinter import font as tkfont
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
WRAP_CHARACTERS = 70  # text wraps at this many average characters, at any scaling
TERMS_LINES = 8
LOG_LINES = 10
SHARING_COLOUR = "#b00020"
PAUSED_COLOUR = "#555555"
NOTICE_COLOUR = "#ffd54a"
WARNING_COLOUR = "#8a4b00"
ERROR_COLOUR = "#b00020"
WORKER_JOIN_SECONDS = 10


def apply_scaling(root: tk.Misc, environ: Mapping[str, str] | None = None) -> float:
    """Follow the desktop's scaling (GDK_SCALE, as GNOME and others set it at 200 %):
    fonts are given in points, so they grow with Tk's scaling. Returns the factor."""
    env = os.environ if environ is None else environ
    try:
        factor = float(env.get("GDK_SCALE", "1") or "1")
    except ValueError:
        factor = 1.0
    if factor > 1:
        root.tk.call("tk", "scaling", float(root.tk.call("tk", "scaling")) * factor)
    return factor


def use_theme(root: tk.Misc) -> ttk.Style:
    """ttk's "clam" theme (on every platform, unlike the native ones) with larger type."""
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")
    base = tkfont.nametofont("TkDefaultFont", root=root)
    base.configure(size=11)
    for name in ("TkTextFont", "TkFixedFont", "TkHeadingFont", "TkMenuFont"):
        with contextlib.suppress(tk.TclError):
            tkfont.nametofont(name, root=root).configure(size=11)
    style.configure("Title.TLabel", font=(base.actual("family"), 16, "bold"))
    style.configure("Code.TLabel", font=("Courier", 36, "bold"))
    style.configure("Strong.TLabel", font=(base.actual("family"), 12, "bold"))
    style.configure("Warning.TLabel", foreground=WARNING_COLOUR)
    style.configure(
        "Error.TLabel", foreground=ERROR_COLOUR, font=(base.actual("family"), 12, "bold")
    )
    return style


def wrap_pixels(root: tk.Misc) -> int:
    """A wrap length that holds WRAP_CHARACTERS characters at the current scaling."""
    return tkfont.nametofont("TkDefaultFont", root=root).measure("0") * WRAP_CHARACTERS


def place_over(dialog: tk.Toplevel, window: tk.Misc) -> None:
    """Put a dialog in the middle of the window it belongs to, wholly on the screen."""
    dialog.transient(window)  # type: ignore[arg-type]
    dialog.update_idletasks()
    width, height = dialog.winfo_reqwidth(), dialog.winfo_reqheight()
    x = window.winfo_rootx() + (window.winfo_width() - width) // 2
    y = window.winfo_rooty() + (window.winfo_height() - height) // 3
    x = max(0, min(x, dialog.winfo_screenwidth() - width))
    y = max(0, min(y, dialog.winfo_screenheight() - height))
    dialog.geometry(f"+{x}+{y}")


class AgentFinished:
    """The agent's thread has ended (queued to the window like a UI event)."""


class HostWindow:
    """The customer's window. Every method runs on Tk's thread."""

    def __init__(self, root: tk.Tk, texts: Texts, terms: str, agent: HostAgent) -> None:
        self.root = root
        self.texts = texts
        self.agent = agent
        self.events: queue.Queue[ui.UiEvent] = queue.Queue()
        self._sharing: ui.SharingChanged | None = None
        self._dialog: tk.Toplevel | None = None
        self._control_dialog: tk.Toplevel | None = None
        self.ended: ui.Ended | None = None
        self.closed_by_customer = threading.Event()
        self._session_over = False
        t = texts
        use_theme(root)
        wrap = wrap_pixels(root)
        root.title(t("title"))
        root.protocol("WM_DELETE_WINDOW", self.close_window)
        root.attributes("-topmost", True)

        # Red with text while shared (see _refresh_indicator); not shown before.
        self.indicator = tk.Label(root, text="", fg="white", font=("", 13, "bold"), pady=4)
        self.notice = tk.Label(root, text="", bg=NOTICE_COLOUR, wraplength=wrap, pady=2)

        # Before sharing: terms, backup note, the code and what happens with it.
        self.start_view = ttk.Frame(root, padding=(8, 4))
        self.start_view.pack(fill="x")
        terms_frame = ttk.LabelFrame(self.start_view, text=t("terms_heading"), padding=4)
        terms_frame.pack(fill="x")
        self.terms = tk.Text(
            terms_frame, height=TERMS_LINES, wrap="word", relief="flat", takefocus=0
        )
        terms_scroll = ttk.Scrollbar(terms_frame, orient="vertical", command=self.terms.yview)
        self.terms.configure(yscrollcommand=terms_scroll.set)
        self.terms.insert("1.0", terms.strip())
        self.terms.configure(state="disabled")
        terms_scroll.pack(side="right", fill="y")
        self.terms.pack(side="left", fill="both", expand=True)
        ttk.Label(self.start_view, text=t("terms_scroll_hint"), wraplength=wrap).pack(anchor="w")
        ttk.Label(
            self.start_view, text=t("backup_note"), style="Warning.TLabel", wraplength=wrap
        ).pack(anchor="w", pady=(4, 0))
        self.code_label = ttk.Label(self.start_view, text=t("connecting"), wraplength=wrap)
        self.code_label.pack(pady=(8, 0))
        self.code = ttk.Label(self.start_view, text="", style="Code.TLabel")
        self.code.pack()
        self.status = ttk.Label(self.start_view, text="", wraplength=wrap, justify="center")
        self.status.pack()

        # While sharing: pause, level, monitor, end.
        self.controls = ttk.Frame(root, padding=4)
        self.controls.pack()
        self.pause_button = ttk.Button(self.controls, text=t("pause"), command=self._toggle_pause)
        self.level = tk.StringVar(value=ConsentLevel.VIEW.value)
        self.view_radio = ttk.Radiobutton(
            self.controls, text=t("answer_view"), variable=self.level,
            value=ConsentLevel.VIEW.value, command=self._level_changed,
        )  # fmt: skip
        self.control_radio = ttk.Radiobutton(
            self.controls, text=t("answer_control"), variable=self.level,
            value=ConsentLevel.CONTROL.value, command=self._level_changed,
        )  # fmt: skip
        self.monitor = tk.IntVar(value=agent.settings.monitor)
        self.monitor_box = ttk.Spinbox(
            self.controls, from_=1, to=1, width=3, textvariable=self.monitor,
            command=self._monitor_changed,
        )  # fmt: skip
        self.end_button = ttk.Button(self.controls, text=t("end_session"), command=self.end_session)
        for widget in (self.pause_button, self.view_radio, self.control_radio):
            widget.pack(side="left", padx=4)
        ttk.Label(self.controls, text=t("monitor")).pack(side="left")
        self.monitor_box.pack(side="left", padx=4)
        self.end_button.pack(side="left", padx=4)
        self._set_sharing_controls(False)

        # At the end: who, why, how long, what it costs, the recording; or what to do.
        self.end_view = ttk.Frame(root, padding=(12, 8))
        self.end_title = ttk.Label(self.end_view, text="", style="Title.TLabel")
        self.end_title.pack(anchor="w")
        self.end_reason = ttk.Label(
            self.end_view, text="", style="Strong.TLabel", wraplength=wrap, justify="left"
        )
        self.end_reason.pack(anchor="w", pady=(4, 4))
        self.end_details = ttk.Label(self.end_view, text="", wraplength=wrap, justify="left")
        self.end_details.pack(anchor="w")
        self.end_advice = ttk.Label(
            self.end_view, text="", style="Error.TLabel", wraplength=wrap, justify="left"
        )
        self.end_advice.pack(anchor="w", pady=(6, 0))
        ttk.Label(self.end_view, text=t("end_close_hint")).pack(anchor="w", pady=(8, 0))
        self.close_button = ttk.Button(self.end_view, text=t("close"), command=self.close_window)
        self.close_button.pack(anchor="e")

        self.log_frame = ttk.Frame(root, padding=(8, 0, 8, 8))
        self.log_frame.pack(fill="both", expand=True)
        ttk.Label(self.log_frame, text=t("activity_heading", zone=time.strftime("%Z"))).pack(
            anchor="w"
        )
        self.log = tk.Listbox(self.log_frame, height=LOG_LINES, width=WRAP_CHARACTERS + 10)
        log_scroll = ttk.Scrollbar(self.log_frame, orient="vertical", command=self.log.yview)
        self.log.configure(yscrollcommand=log_scroll.set)
        log_scroll.pack(side="right", fill="y")
        self.log.pack(side="left", fill="both", expand=True)

        self._wake_read, self._wake_write = os.pipe()
        self._closed = False
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        if hasattr(root.tk, "createfilehandler"):
            root.tk.createfilehandler(self._wake_read, tk.READABLE, self._woken)
        else:
            root.after(POLL_MILLISECONDS, self._poll)
        self._refresh_timer = root.after(INDICATOR_REFRESH_MILLISECONDS, self._refresh_indicator)

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
        with contextlib.suppress(tk.TclError):
            self.root.after_cancel(self._refresh_timer)
        if hasattr(self.root.tk, "deletefilehandler"):
            self.root.tk.deletefilehandler(self._wake_read)
        for descriptor in (self._wake_read, self._wake_write):
            os.close(descriptor)

    def show(self, event: ui.UiEvent | AgentFinished) -> None:
        t = self.texts
        if isinstance(event, ui.CodeReady):
            self.code_label.configure(text=t("code_label"))
            self.code.configure(text=event.spoken)
            note = t("code_expires", duration=t.span(event.expires_in_seconds))
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
            self.start_view.pack_forget()  # the code has done its work; so has the status
            self.level.set(event.consent.level.value)
            self.monitor_box.configure(to=event.monitors)
            self.monitor.set(event.monitor)
            self.pause_button.configure(
                text=t("resume") if event.consent.sharing is Sharing.PAUSED else t("pause")
            )
            if event.consent.level is ConsentLevel.CONTROL:
                self._close_control_dialog()
            self._set_sharing_controls(True)
            self._refresh_indicator(reschedule=False)
        elif isinstance(event, ui.ActivityLine):
            self._log(event.text)
        elif isinstance(event, ui.ControlRequested):
            self._ask_control(event)
        elif isinstance(event, ui.Reconnecting):
            key = "reconnecting" if event.own_link else "reconnecting_technician"
            self.notice.configure(text=t(key))
            self.notice.pack(fill="x", after=self.indicator if self._sharing else None)
        elif isinstance(event, ui.Reconnected):
            self.notice.pack_forget()
        elif isinstance(event, ui.Ended):
            self._show_end(event)
        elif isinstance(event, AgentFinished):
            self._session_over = True

    def _log(self, text: str) -> None:
        self.log.insert("end", f"{time.strftime('%H:%M:%S')}  {text}")
        if self.log.size() > MAX_LOG_LINES:
            self.log.delete(0)
        self.log.see("end")

    def _show_end(self, event: ui.Ended) -> None:
        t = self.texts
        self.ended = event
        self._close_dialog()
        self._close_control_dialog()
        self._sharing = None
        for widget in (self.indicator, self.notice, self.start_view, self.controls):
            widget.pack_forget()
        self.end_title.configure(text=event.title or t("end_title"))
        self.end_reason.configure(text=event.reason)
        self.end_details.configure(text="\n".join(event.details))
        self.end_advice.configure(text=event.advice)
        if not event.advice:
            self.end_advice.pack_forget()
        self.end_view.pack(fill="x", before=self.log_frame)
        self._log(event.reason)
        self.close_button.focus_set()

    def _ask(self, event: ui.ConsentAsked) -> None:
        t = self.texts
        self.status.configure(text="")
        dialog = tk.Toplevel(self.root)
        self._dialog = dialog
        dialog.title(t("consent_title"))
        dialog.attributes("-topmost", True)
        dialog.protocol("WM_DELETE_WINDOW", lambda: self._answer(ConsentLevel.DENIED))
        body = ttk.Frame(dialog, padding=12)
        body.pack(fill="both", expand=True)
        wrap = wrap_pixels(self.root)
        ttk.Label(
            body, text=t("consent_intro", technician=event.technician), style="Strong.TLabel",
            wraplength=wrap,
        ).pack(anchor="w")  # fmt: skip
        ttk.Label(body, text=t("consent_price", price=t.price(event.tariff)), wraplength=wrap).pack(
            anchor="w", pady=(4, 8)
        )
        for level, label, help_key in (
            (ConsentLevel.DENIED, "answer_deny", "answer_deny_help"),
            (ConsentLevel.VIEW, "answer_view", "answer_view_help"),
            (ConsentLevel.CONTROL, "answer_control", "answer_control_help"),
        ):
            row = ttk.Frame(body)
            row.pack(fill="x", pady=2)
            button = ttk.Button(
                row, text=t(label), width=22, command=lambda chosen=level: self._answer(chosen)
            )
            button.pack(side="left")
            ttk.Label(row, text=t(help_key), wraplength=wrap * 2 // 3).pack(side="left", padx=8)
        ttk.Label(body, text=t("consent_hint"), wraplength=wrap).pack(anchor="w", pady=(8, 0))
        place_over(dialog, self.root)

    def _answer(self, level: ConsentLevel) -> None:
        self._close_dialog()
        self.agent.command_threadsafe(ui.Answer(level))

    def _close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.destroy()
            self._dialog = None

    def _ask_control(self, event: ui.ControlRequested) -> None:
        """The technician asks for control: a dialog with two buttons, nothing else."""
        if self._control_dialog is not None or self.ended is not None:
            return
        t = self.texts
        dialog = tk.Toplevel(self.root)
        self._control_dialog = dialog
        dialog.title(t("control_request_title"))
        dialog.attributes("-topmost", True)
        dialog.protocol("WM_DELETE_WINDOW", self._keep_view)
        body = ttk.Frame(dialog, padding=12)
        body.pack(fill="both", expand=True)
        ttk.Label(
            body, text=t("control_request_text", technician=event.technician),
            style="Strong.TLabel", wraplength=wrap_pixels(self.root),
        ).pack(anchor="w", pady=(0, 4))  # fmt: skip
        ttk.Label(body, text=t("answer_control_help"), wraplength=wrap_pixels(self.root)).pack(
            anchor="w", pady=(0, 8)
        )
        buttons = ttk.Frame(body)
        buttons.pack(fill="x")
        self.allow_control_button = ttk.Button(
            buttons, text=t("control_allow"), command=self._allow_control
        )
        self.keep_view_button = ttk.Button(
            buttons, text=t("control_keep_view"), command=self._keep_view
        )
        self.keep_view_button.pack(side="right", padx=4)
        self.allow_control_button.pack(side="right", padx=4)
        place_over(dialog, self.root)

    def _allow_control(self) -> None:
        self._close_control_dialog()
        self.level.set(ConsentLevel.CONTROL.value)
        self.agent.command_threadsafe(ui.ChangeLevel(ConsentLevel.CONTROL))

    def _keep_view(self) -> None:
        self._close_control_dialog()
        self._log(self.texts("ev_control_kept_view"))

    def _close_control_dialog(self) -> None:
        if self._control_dialog is not None:
            self._control_dialog.destroy()
            self._control_dialog = None

    def _refresh_indicator(self, reschedule: bool = True) -> None:
        event = self._sharing
        if event is not None:
            t = self.texts
            seconds = max(0.0, time.monotonic() - event.started_monotonic)
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
                    cost=t.money(bill(seconds, event.tariff).gross),
                ),
                bg=PAUSED_COLOUR if paused else SHARING_COLOUR,
                wraplength=wrap_pixels(self.root),
            )
            if not self.indicator.winfo_ismapped():
                self.indicator.pack(fill="x", before=self.controls)
        if reschedule and not self._closed:
            self._refresh_timer = self.root.after(
                INDICATOR_REFRESH_MILLISECONDS, self._refresh_indicator
            )

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
        """The kill switch (End button, Ctrl+C): the window stays and shows the end."""
        self.agent.kill()
        self.end_button.configure(state="disabled")

    def close_window(self) -> None:
        """The customer closes the window: during a session that ends it at once."""
        if not self._session_over:
            self.agent.kill()
        self.closed_by_customer.set()
        self.root.withdraw()
        self.root.quit()


class TkHost:
    """The agent in a thread of its own and the window on Tk's: what `run_tk` runs, and
    what tests drive step by step."""

    def __init__(
        self,
        settings: AgentSettings,
        texts: Texts,
        terms: str,
        make_source: Callable[[], ScreenSource],
        make_backend: Callable[[Bounds], InputBackend],
        root: tk.Tk | None = None,
    ) -> None:
        self.root = root if root is not None else tk.Tk(className="fernwartung")
        apply_scaling(self.root)
        holder: list[HostWindow] = []
        self.agent = HostAgent(
            settings, texts, lambda event: holder[0].notify_threadsafe(event), make_source,
            make_backend,
        )  # fmt: skip
        self.window = HostWindow(self.root, texts, terms, self.agent)
        holder.append(self.window)
        self.result: list[int] = []
        self.finished = threading.Event()
        self._worker = threading.Thread(target=self._session, name="host-session", daemon=True)

    def _session(self) -> None:
        try:
            self.result.append(asyncio.run(self.agent.run()))
        finally:
            self.finished.set()
            # The window stays: it shows the end until the customer closes it.
            self.window.notify_threadsafe(AgentFinished())  # type: ignore[arg-type]

    def start(self) -> None:
        self._worker.start()

    def finish(self) -> int:
        """After the window closed: wait for the agent, let go of Tk; the exit status."""
        self.agent.kill()
        self._worker.join(timeout=WORKER_JOIN_SECONDS)
        self.window.close()
        with contextlib.suppress(tk.TclError):
            self.root.destroy()
        return self.result[0] if self.result else 1


def run_tk(
    settings: AgentSettings,
    texts: Texts,
    terms: str,
    make_source: Callable[[], ScreenSource],
    make_backend: Callable[[Bounds], InputBackend],
) -> int:
    host = TkHost(settings, texts, terms, make_source, make_backend)
    signal.signal(signal.SIGINT, lambda signum, frame: host.window.end_session())
    host.start()
    host.root.mainloop()
    return host.finish()
