"""The socket shell around `rfb.RfbClient`: a viewer that counts instead of drawing.

It keeps one incremental FramebufferUpdateRequest in flight, as a real viewer does: a new
request goes out the moment an update has completed. Every update and every chunk read is
stamped with the wall clock, which the workload uses too.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from . import rfb, rfb_wire
from .processes import LOOPBACK, START_TIMEOUT_SECONDS, StartFailed
from .records import Capture, Delivery, WireChunk

RECEIVE_BUFFER_BYTES = 1024 * 1024
STOP_TIMEOUT_SECONDS = 5.0


class CountingViewer:
    """Connects to a VNC server on loopback and records updates until stopped."""

    def __init__(
        self, port: int, capture: Capture, encodings: tuple[int, ...] = rfb_wire.BENCHMARK_ENCODINGS
    ) -> None:
        self.port = port
        self.encodings = encodings
        self.capture = capture
        self.error: BaseException | None = None
        self.screen: rfb.ServerReady | None = None
        self._client = rfb.RfbClient()
        self._first_update = threading.Event()
        self._stopping = threading.Event()
        self._socket = socket.create_connection((LOOPBACK, port), timeout=START_TIMEOUT_SECONDS)
        self._socket.settimeout(None)
        self._thread = threading.Thread(target=self._run, name="rfb-viewer", daemon=True)
        self._thread.start()

    def wait_first_update(self) -> None:
        """Block until the first (full-screen) update has arrived."""
        if not self._first_update.wait(START_TIMEOUT_SECONDS):
            raise StartFailed(f"no first update from the VNC server: {self.error!r}")
        if self.error is not None:
            raise StartFailed(f"the VNC connection failed: {self.error}") from self.error

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):  # the server may have closed it already
            self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._socket.close()
        if self.error is not None:
            raise RuntimeError(f"the VNC connection failed: {self.error}") from self.error

    def _send(self, data: bytes) -> None:
        if data:
            self._socket.sendall(data)
            self.capture.wire.append(WireChunk(time.time(), 0, len(data)))

    def _run(self) -> None:
        client = self._client
        try:
            while not self._stopping.is_set():
                data = self._socket.recv(RECEIVE_BUFFER_BYTES)
                now = time.time()
                if not data:
                    break
                self.capture.wire.append(WireChunk(now, len(data), 0))
                events = client.receive(data)
                self._send(client.take_outgoing())  # handshake answers come before all else
                for event in events:
                    self._on_event(event, now)
        except (OSError, rfb.RfbError) as error:
            if not self._stopping.is_set():
                self.error = error
        finally:
            self._first_update.set()

    def _on_event(self, event: rfb.Event, now: float) -> None:
        if isinstance(event, rfb.ServerReady):
            self.screen = event
            self._send(self._client.set_pixel_format())
            self._send(rfb_wire.set_encodings_message(self.encodings))
            self._send(
                rfb_wire.update_request_message(event.width, event.height, incremental=False)
            )
        elif isinstance(event, rfb.UpdateCompleted):
            assert self.screen is not None
            self._send(
                rfb_wire.update_request_message(
                    self.screen.width, self.screen.height, incremental=True
                )
            )
            if event.has_pixels:
                regions = tuple(
                    (rect.x, rect.y, rect.width, rect.height)
                    for rect in event.rects
                    if rect.is_pixels
                )
                self.capture.deliveries.append(Delivery(now, event.bytes, regions))
            self._first_update.set()
