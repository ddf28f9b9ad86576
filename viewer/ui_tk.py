"""The technician's window: the remote screen, input capture, status bar and buttons, in
German or English; it opens to fit the customer's screen on the technician's, and when the
session is over it says why, how long, what it cost and where the recording is, until the
technician closes it (a run bounded by --seconds closes by itself).

Tk owns the main thread; the session (network, decoding, acks, stats) runs on asyncio in
a second thread. The two talk through a queue of `ViewerEvent`s that Tk polls with
`after`: each poll draws only the regions that changed since the last one, straight from
the framebuffer, so intermediate frames are skipped for display when Tk is slow while
every update is still applied and acked on the network side.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
import time
import tkinter as tk
import traceback
from dataclasses import dataclass
from pathlib import Path
from tkinter import font as tkfont
from tkinter import ttk

from PIL import ImageTk

from protocol import messages
from protocol.billing import bill
from protocol.peer_text import one_line
from viewer.client import (
    ChatReceived,
    ClientSettings,
    CursorMoved,
    FrameApplied,
    Phase,
    StatusChanged,
    ViewerClient,
    ViewerEvent,
)
from viewer.evidence import viewer_evidence
from viewer.framebuffer import Region, bounding_region
from viewer.input_map import (
    KeyTracker,
    ScaleMode,
    Viewport,
    button_for,
    wheel_for_button,
    wheel_for_delta,
)
from viewer.outcome import ExitStatus, Outcome
from viewer.stats import LiveMeter, StatsFile
from viewer.status_bar import phase_text, status_line
from viewer.texts import ViewerTexts

POLL_INTERVAL_MS = 10
STATUS_INTERVAL_MS = 500
RESIZE_SETTLE_MS = 60
# Beyond this many changed regions in one poll, one bounding region is cheaper to draw.
MAX_REGIONS_PER_POLL = 24
# A run bounded by --seconds closes its window this long after the end.
END_LINGER_MS = 3000
# After the window is closed, the session gets this long to say goodbye.
CLOSE_GRACE_MS = 6000
NETWORK_THREAD_JOIN_SECONDS = 10.0
INITIAL_WINDOW = (1024, 700)
# The window opens to show the customer's screen whole, on at most this much of ours.
SCREEN_SHARE_FOR_WINDOW = 0.92
MAX_CHAT_SHOWN_CHARS = 120
CURSOR_SHAPE = (0, 0, 0, 16, 4, 12, 8, 19, 10, 18, 6, 11, 12, 11)
BANNER_COLOUR = "#ffd54a"
RECORDING_COLOUR = "#d32f2f"
IDLE_DOT_COLOUR = "#9e9e9e"


@dataclass(frozen=True, slots=True)
class SessionOver:
    """The network thread has finished; the run's outcome."""

    outcome: Outcome


class TkViewer:
    """The window of one session."""

    def __init__(
        self,
        root: tk.Tk,
        client: ViewerClient,
        events: queue.SimpleQueue,
        texts: ViewerTexts | None = None,
        *,
        close_when_over: bool = False,
    ) -> None:
        self.root = root
        self.client = client
        self.events = events
        self.texts = texts or ViewerTexts("en")
        self.close_when_over = close_when_over
        self.fitted = False
        self.ended_at: float | None = None
        self.mode = ScaleMode.FIT
        self.outcome: Outcome | None = None
        self.frames_shown = 0
        self._meter = LiveMeter()
        self._keys = KeyTracker()
        self._photo: tk.PhotoImage | None = None
        self._photo_key: tuple[int, int, int, int, ScaleMode] | None = None
        self._pending_regions: list[Region] = []
        self._pending_move: tuple[int, int] | None = None
        self._cursor = (0, 0, False)
        self._control_was_granted = False
        self._first_frame_reported = False
        self._last_phase: Phase | None = None
        self._status_text = tk.StringVar(root, self.texts("connecting"))
        self._banner_text = tk.StringVar(root, "")
        self._chat_text = tk.StringVar(root, "")
        self._build()
        root.protocol("WM_DELETE_WINDOW", self.close)
        root.after(POLL_INTERVAL_MS, self._poll)
        root.after(STATUS_INTERVAL_MS, self._tick_status)

    def _say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # ---- layout -------------------------------------------------------------------------

    def _build(self) -> None:
        root, t = self.root, self.texts
        use_theme(root)
        root.title(t("title", session=self.client.settings.code.session))
        root.geometry(f"{INITIAL_WINDOW[0]}x{INITIAL_WINDOW[1]}")
        bar = ttk.Frame(root, padding=2)
        bar.pack(side=tk.TOP, fill=tk.X)
        self.control_button = ttk.Button(
            bar, text=t("request_control"), command=self.request_control
        )
        self.control_button.pack(side=tk.LEFT)
        ttk.Button(bar, text=t("refresh"), command=self.request_refresh).pack(side=tk.LEFT)
        self.scale_button = ttk.Button(bar, text=t("scale_actual"), command=self.toggle_scale)
        self.scale_button.pack(side=tk.LEFT)
        self.end_button = ttk.Button(bar, text=t("end_session"), command=self.end_session)
        self.end_button.pack(side=tk.RIGHT)
        self.send_button = ttk.Button(bar, text=t("send"), command=self.send_chat)
        self.send_button.pack(side=tk.RIGHT)
        self.chat_entry = ttk.Entry(bar, width=40)
        self.chat_entry.pack(side=tk.RIGHT, padx=4)
        self.chat_entry.bind("<Return>", lambda event: self.send_chat())
        self.banner = tk.Label(
            root, textvariable=self._banner_text, bg=BANNER_COLOUR, font="TkHeadingFont"
        )
        self._build_end_panel()

        status = ttk.Frame(root, padding=2)
        status.pack(side=tk.BOTTOM, fill=tk.X)
        self.recording_dot = tk.Label(status, text="●", fg=IDLE_DOT_COLOUR)
        self.recording_dot.pack(side=tk.LEFT)
        ttk.Label(status, textvariable=self._status_text, anchor=tk.W).pack(side=tk.LEFT)
        ttk.Label(status, textvariable=self._chat_text, anchor=tk.E).pack(side=tk.RIGHT)

        self.screen = tk.Frame(root)
        self.screen.pack(side=tk.TOP, fill=tk.BOTH, expand=True)
        self.canvas = tk.Canvas(
            self.screen, bg="black", highlightthickness=0, takefocus=1, cursor="tcross"
        )
        self.x_scroll = tk.Scrollbar(self.screen, orient=tk.HORIZONTAL, command=self.canvas.xview)
        self.y_scroll = tk.Scrollbar(self.screen, orient=tk.VERTICAL, command=self.canvas.yview)
        self.canvas.configure(xscrollcommand=self.x_scroll.set, yscrollcommand=self.y_scroll.set)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.screen.rowconfigure(0, weight=1)
        self.screen.columnconfigure(0, weight=1)
        self.image_item = self.canvas.create_image(0, 0, anchor=tk.NW)
        self.cursor_item = self.canvas.create_polygon(
            *CURSOR_SHAPE, fill="white", outline="black", state=tk.HIDDEN
        )
        self._bind_input()
        self.canvas.bind("<Configure>", lambda event: self._schedule_full_redraw())

    def _bind_input(self) -> None:
        canvas = self.canvas
        canvas.bind("<Motion>", self._on_motion)
        canvas.bind("<ButtonPress>", self._on_button_press)
        canvas.bind("<ButtonRelease>", self._on_button_release)
        canvas.bind("<MouseWheel>", self._on_mouse_wheel)
        canvas.bind("<Shift-MouseWheel>", lambda e: self._on_mouse_wheel(e, horizontal=True))
        canvas.bind("<KeyPress>", self._on_key_press)
        canvas.bind("<KeyRelease>", self._on_key_release)
        canvas.bind("<FocusOut>", self._on_focus_out)
        canvas.bind("<Enter>", lambda event: canvas.focus_set())

    # ---- buttons ------------------------------------------------------------------------

    def _build_end_panel(self) -> None:
        """Shown above the last picture when the session is over."""
        t = self.texts
        self.end_panel = ttk.Frame(self.root, padding=(12, 8), relief="ridge")
        self.end_title = ttk.Label(self.end_panel, text="", style="Title.TLabel")
        self.end_title.pack(anchor=tk.W)
        self.end_reason = ttk.Label(self.end_panel, text="", style="Strong.TLabel")
        self.end_reason.pack(anchor=tk.W, pady=(2, 2))
        self.end_details = ttk.Label(self.end_panel, text="", justify=tk.LEFT)
        self.end_details.pack(anchor=tk.W)
        row = ttk.Frame(self.end_panel)
        row.pack(fill=tk.X, pady=(6, 0))
        ttk.Label(row, text=t("end_close_hint")).pack(side=tk.LEFT)
        self.close_button = ttk.Button(row, text=t("close"), command=self.root.destroy)
        self.close_button.pack(side=tk.RIGHT)

    def request_control(self) -> None:
        self.client.submit(messages.ControlRequest())

    def request_refresh(self) -> None:
        self.client.submit(messages.RefreshRequest())

    def send_chat(self) -> None:
        text = self.chat_entry.get().strip()[: messages.MAX_CHAT_CHARS]
        if text:
            self.client.submit(messages.Chat(text))
            self.chat_entry.delete(0, tk.END)
            self._chat_text.set(self.texts("chat_you", text=one_line(text, MAX_CHAT_SHOWN_CHARS)))

    def toggle_scale(self) -> None:
        self.mode = ScaleMode.ACTUAL if self.mode is ScaleMode.FIT else ScaleMode.FIT
        key = "scale_fit" if self.mode is ScaleMode.ACTUAL else "scale_actual"
        self.scale_button.configure(text=self.texts(key))
        if self.mode is ScaleMode.ACTUAL:
            self.x_scroll.grid(row=1, column=0, sticky="ew")
            self.y_scroll.grid(row=0, column=1, sticky="ns")
        else:
            self.x_scroll.grid_remove()
            self.y_scroll.grid_remove()
            self.canvas.xview_moveto(0)
            self.canvas.yview_moveto(0)
        self._schedule_full_redraw()

    def end_session(self) -> None:
        """The End button: end the session; the window stays and shows the end."""
        if self.outcome is not None:
            return
        self._banner_text.set(self.texts("ending"))
        self.banner.pack(side=tk.TOP, fill=tk.X, before=self.screen)
        self.end_button.configure(state=tk.DISABLED)
        self.client.request_end("the technician ended the session")

    def close(self) -> None:
        """The window is closed: end the session (if it still runs) and go."""
        if self.outcome is not None:
            self.root.destroy()
            return
        self.end_session()
        self.root.withdraw()
        self.root.after(CLOSE_GRACE_MS, self.root.destroy)

    # ---- drawing ------------------------------------------------------------------------

    def viewport(self) -> Viewport:
        width, height = self.client.framebuffer.size
        return Viewport(
            width,
            height,
            max(1, self.canvas.winfo_width()),
            max(1, self.canvas.winfo_height()),
            self.mode,
        )

    def _schedule_full_redraw(self) -> None:
        self._photo_key = None
        self.root.after(RESIZE_SETTLE_MS, lambda: self._draw([]))

    def _draw(self, regions: list[Region]) -> None:
        viewport = self.viewport()
        if viewport.remote_width == 0:
            return
        display_width, display_height = viewport.display_size
        origin = viewport.origin
        key = (display_width, display_height, *origin, viewport.mode)
        if key != self._photo_key or self._photo is None:
            self._photo = tk.PhotoImage(
                master=self.root, width=display_width, height=display_height
            )
            self._photo_key = key
            self.canvas.itemconfigure(self.image_item, image=self._photo)
            self.canvas.coords(self.image_item, *origin)
            scroll_width = max(display_width, viewport.canvas_width)
            scroll_height = max(display_height, viewport.canvas_height)
            self.canvas.configure(scrollregion=(0, 0, scroll_width, scroll_height))
            regions = [Region(0, 0, viewport.remote_width, viewport.remote_height)]
        if len(regions) > MAX_REGIONS_PER_POLL:
            merged = bounding_region(regions)
            regions = [merged] if merged is not None else []
        for region in regions:
            shown = viewport.display_region(region)
            if shown is None:
                continue
            pixels = self.client.framebuffer.render(
                viewport.source_box(shown), (shown.width, shown.height)
            )
            patch = ImageTk.PhotoImage(pixels, master=self.root)
            self.root.tk.call(str(self._photo), "copy", str(patch), "-to", shown.x, shown.y)
        self._place_cursor(viewport)

    def _place_cursor(self, viewport: Viewport) -> None:
        x, y, visible = self._cursor
        if not visible or viewport.remote_width == 0:
            self.canvas.itemconfigure(self.cursor_item, state=tk.HIDDEN)
            return
        canvas_x, canvas_y = viewport.to_canvas(x, y)
        points = [
            value + (canvas_x if index % 2 == 0 else canvas_y)
            for index, value in enumerate(CURSOR_SHAPE)
        ]
        self.canvas.coords(self.cursor_item, *points)
        self.canvas.itemconfigure(self.cursor_item, state=tk.NORMAL)
        self.canvas.tag_raise(self.cursor_item)

    # ---- the event queue ----------------------------------------------------------------

    def _poll(self) -> None:
        cursor_moved = False
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, SessionOver):
                self._finish(event.outcome)
                return
            cursor_moved |= self._take(event)
        if self._pending_regions:
            regions, self._pending_regions = self._pending_regions, []
            if not self.fitted:
                self._fit_to_screen()
            self._draw(regions)
            if not self._first_frame_reported:
                self._first_frame_reported = True
                self.root.update_idletasks()
                width, height = self.client.framebuffer.size
                self._say(
                    self.texts(
                        "said_first_frame",
                        session=self.client.status.session_number,
                        width=width,
                        height=height,
                        percent=round(self.viewport().scale * 100),
                    )
                )
        elif cursor_moved:
            self._place_cursor(self.viewport())
        self._flush_move()
        self.root.after(POLL_INTERVAL_MS, self._poll)

    def _take(self, event: ViewerEvent) -> bool:
        """Note one event; True when only the cursor needs redrawing."""
        if isinstance(event, FrameApplied):
            self._meter.add(event.stat)
            self.frames_shown += 1
            self._pending_regions.extend(event.regions)
        elif isinstance(event, CursorMoved):
            self._cursor = (event.x, event.y, event.visible)
            return True
        elif isinstance(event, StatusChanged):
            if event.status.phase is not self._last_phase:
                self._last_phase = event.status.phase
                self._say(
                    self.texts(
                        "said_phase",
                        session=event.status.session_number,
                        phase=phase_text(event.status, self.texts),
                    )
                )
            if event.status.consent is messages.ConsentLevel.CONTROL:
                self._control_was_granted = True
            self._show_status()
        elif isinstance(event, ChatReceived):
            text = one_line(event.text, MAX_CHAT_SHOWN_CHARS)
            self._chat_text.set(self.texts("chat_customer", text=text))
        return False

    def _tick_status(self) -> None:
        if self.outcome is None:
            self._show_status()
            self.root.after(STATUS_INTERVAL_MS, self._tick_status)

    def _show_status(self) -> None:
        status = self.client.status
        line = status_line(
            status,
            self._meter.figures(time.time()),
            time.monotonic(),
            control_was_granted=self._control_was_granted,
            texts=self.texts,
        )
        self._status_text.set(line.text)
        if line.banner and self.outcome is None:
            self._banner_text.set(line.banner)
            self.banner.pack(side=tk.TOP, fill=tk.X, before=self.screen)
        else:
            self.banner.pack_forget()
        self.recording_dot.configure(fg=RECORDING_COLOUR if status.recording else IDLE_DOT_COLOUR)
        can_ask = status.consent is messages.ConsentLevel.VIEW and status.phase is Phase.ACTIVE
        self.control_button.configure(state=tk.NORMAL if can_ask else tk.DISABLED)

    def _fit_to_screen(self) -> None:
        """Size the window so the customer's screen is shown whole and as large as it
        fits on ours (at most 1:1)."""
        self.fitted = True
        remote_width, remote_height = self.client.framebuffer.size
        if not remote_width or not remote_height:
            return
        self.root.update_idletasks()
        chrome_width = max(0, self.root.winfo_width() - self.canvas.winfo_width())
        chrome_height = max(0, self.root.winfo_height() - self.canvas.winfo_height())
        room_width = self.root.winfo_screenwidth() * SCREEN_SHARE_FOR_WINDOW - chrome_width
        room_height = self.root.winfo_screenheight() * SCREEN_SHARE_FOR_WINDOW - chrome_height
        scale = min(1.0, room_width / remote_width, room_height / remote_height)
        width = max(INITIAL_WINDOW[0], round(remote_width * scale) + chrome_width)
        height = round(remote_height * scale) + chrome_height
        self.root.geometry(f"{width}x{height}")
        self.root.update_idletasks()

    def _finish(self, outcome: Outcome) -> None:
        """The session is over: say so, and how it went, until the window is closed."""
        self.outcome = outcome
        self.ended_at = time.monotonic()
        t = self.texts
        self.banner.pack_forget()
        self.control_button.configure(state=tk.DISABLED)
        for widget in (self.end_button, self.send_button, self.chat_entry):
            widget.configure(state=tk.DISABLED)
        headline, _, reason = outcome.describe(t).partition(": ")
        self.end_title.configure(text=headline)
        self.end_reason.configure(text=reason)
        self.end_details.configure(text="\n".join(self.end_details_lines()))
        self.end_panel.pack(side=tk.TOP, fill=tk.X, before=self.screen)
        self._show_status()
        self.close_button.focus_set()
        if self.close_when_over:
            self.root.after(END_LINGER_MS, self.root.destroy)

    def end_details_lines(self) -> list[str]:
        """How long from consent, what it cost, the tariff, where the recording is."""
        t = self.texts
        status = self.client.status
        lines = []
        if status.consent_since is not None and self.ended_at is not None:
            seconds = max(0.0, self.ended_at - status.consent_since)
            cost = bill(seconds, status.tariff)
            lines.append(t("end_duration", duration=t.span(seconds)))
            lines.append(
                t("end_cost", net=t.money(cost.net), vat=t.money(cost.vat),
                  gross=t.money(cost.gross))
            )  # fmt: skip
            lines.append(t("end_tariff", price=t.price(status.tariff)))
        advice = {
            ExitStatus.RELAY_UNREACHABLE: "advice_relay_unreachable",
            ExitStatus.CERTIFICATE_MISMATCH: "advice_certificate",
        }.get(self.outcome.status if self.outcome else ExitStatus.ENDED)
        if advice is not None:
            lines.append(t(advice))
        evidence = self.client.evidence
        if evidence is None:
            lines.append(t("end_not_recorded"))
        elif evidence.path is not None:
            lines.append(t("end_recording", path=str(evidence.path)))
        return lines

    # ---- input --------------------------------------------------------------------------

    def _remote_point(self, event: tk.Event) -> tuple[int, int]:
        return self.viewport().to_remote(self.canvas.canvasx(event.x), self.canvas.canvasy(event.y))

    def _on_motion(self, event: tk.Event) -> None:
        self._pending_move = self._remote_point(event)

    def _flush_move(self) -> None:
        if self._pending_move is not None:
            self.client.submit(messages.PointerMove(*self._pending_move))
            self._pending_move = None

    def _on_button_press(self, event: tk.Event) -> None:
        self.canvas.focus_set()
        self._on_button(event, pressed=True)

    def _on_button_release(self, event: tk.Event) -> None:
        self._on_button(event, pressed=False)

    def _on_button(self, event: tk.Event, *, pressed: bool) -> None:
        x, y = self._remote_point(event)
        self._pending_move = None
        wheel = wheel_for_button(event.num) if isinstance(event.num, int) else None
        if wheel is not None:
            if pressed:
                self.client.submit(messages.Scroll(x, y, *wheel))
            return
        button = button_for(event.num) if isinstance(event.num, int) else None
        if button is not None:
            self.client.submit(messages.PointerMove(x, y))
            self.client.submit(messages.PointerButton(x, y, button, pressed))

    def _on_mouse_wheel(self, event: tk.Event, horizontal: bool = False) -> None:
        dx, dy = wheel_for_delta(event.delta, horizontal)
        if dx or dy:
            self.client.submit(messages.Scroll(*self._remote_point(event), dx, dy))

    def _on_key_press(self, event: tk.Event) -> str:
        key = self._keys.press(event.keycode, event.keysym, event.char)
        if key is not None:
            self.client.submit(key)
        return "break"  # Tab and friends belong to the remote screen, not to Tk's focus

    def _on_key_release(self, event: tk.Event) -> str:
        key = self._keys.release(event.keycode, event.keysym, event.char)
        if key is not None:
            self.client.submit(key)
        return "break"

    def _on_focus_out(self, event: tk.Event) -> None:
        for key in self._keys.release_all():
            self.client.submit(key)


def use_theme(root: tk.Misc) -> ttk.Style:
    """ttk's "clam" theme with type sized in points (it grows with Tk's scaling), and
    the desktop's scaling followed (GDK_SCALE, as at 200 %)."""
    factor = os.environ.get("GDK_SCALE", "1")
    if factor.isdigit() and int(factor) > 1:
        root.tk.call("tk", "scaling", float(root.tk.call("tk", "scaling")) * int(factor))
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")
    base = tkfont.nametofont("TkDefaultFont", root=root)
    base.configure(size=11)
    family = base.actual("family")
    style.configure("Title.TLabel", font=(family, 16, "bold"))
    style.configure("Strong.TLabel", font=(family, 12, "bold"))
    return style


def _run_network(client: ViewerClient, events: queue.SimpleQueue) -> None:
    try:
        outcome = asyncio.run(client.run())
    except Exception as error:  # noqa: BLE001 - a crash must still reach the window
        traceback.print_exc()
        outcome = Outcome(ExitStatus.ERROR, f"Internal error ({type(error).__name__})")
    events.put(SessionOver(outcome))


def run_tk(
    settings: ClientSettings,
    *,
    stats_path: Path | None = None,
    record_directory: Path | None = None,
    texts: ViewerTexts | None = None,
    close_when_over: bool = False,
) -> Outcome:
    """Open the window, run the session, return how it ended (once the window is closed;
    `close_when_over`: by itself, shortly after the end)."""
    events: queue.SimpleQueue = queue.SimpleQueue()
    stats = StatsFile(stats_path) if stats_path is not None else None
    evidence = (
        viewer_evidence(record_directory, settings.relay_url, settings.customer)
        if record_directory is not None
        else None
    )
    client = ViewerClient(
        settings,
        on_event=events.put,
        on_stat=stats.write if stats else lambda stat: None,
        evidence=evidence,
    )
    root = tk.Tk(className="fernwartung")
    viewer = TkViewer(root, client, events, texts, close_when_over=close_when_over)
    network = threading.Thread(
        target=_run_network, args=(client, events), name="viewer-network", daemon=True
    )
    network.start()
    try:
        root.mainloop()
    finally:
        client.request_end("the technician closed the viewer")
        network.join(NETWORK_THREAD_JOIN_SECONDS)
        if stats is not None:
            stats.close()
    if viewer.outcome is not None:
        return viewer.outcome
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return Outcome(ExitStatus.ERROR, "The session did not end in time")
        if isinstance(event, SessionOver):
            return event.outcome
