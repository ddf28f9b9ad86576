"""The screen pipeline: detect -> capture -> scroll -> video -> rectangles -> classify -> encode.

It runs in the capture thread; sending under flow control is the streaming task's part
(agent.py, flow.py). Each stage is a module of its own:
- detect: X DAMAGE events (damage/xdamage.py) say where to look; with no events nothing is
  grabbed or compared. Where DAMAGE is missing (the synthetic screen, other platforms) the
  whole screen is grabbed and compared each time (polling). XInput 2 motion events say
  when to ask where the pointer is. `next_change` sleeps until one of these, a `wake`
  from another thread, or a deadline of the pipeline's own (a lossless follow-up, the end
  of a video region, the occasional pointer check), so an idle desktop costs about one
  wakeup a second.
- capture: only what DAMAGE reported is grabbed into the current picture: the box around
  it, or, when it lies in separate places (blocks bouncing about the screen), each place
  on its own (_damaged, _grab).
- scroll: a block that moved inside the changed box (a scroll: damage/scroll.py; a dragged
  window, in any direction: damage/move.py) becomes a copy; the copy is applied to the
  reference, so only what it does not explain is sent as pixels.
  An active video region is not searched: its pixels go to the encoder anyway.
  A scroll that goes on (a log) is tried again before anything else is compared, and
  when the viewer then has the whole frame, frame and reference swap buffers instead of
  copying the scrolled rows (_scroll_again, _settle_scroll).
- video: a hot region whose tiles cost more than H.264 would becomes an H.264 stream
  (video_stage.py, video.py, video_cost.py).
- rectangles, classify, encode: tight boxes of changed pixels (damage/tiles.py), one codec
  each (encode.py).
The reference is the picture the viewer has (the frame last sent; picture.py), so changes
made while the flow-control window was full merge into the next update. What is sent goes
out as a PreparedUpdate (updates.py).

Copies, video packets and palette tiles go only to a viewer that announced them
(`accept_capabilities`); to others the pipeline sends plain `FrameUpdate`s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from host_agent.capture import Monitor, ScreenSource
from host_agent.damage import move as moves
from host_agent.damage import tiles as damage
from host_agent.damage.scroll import ShiftMemory
from host_agent.damage.tiles import TILE_PIXELS, Rect
from host_agent.damage.xdamage import DamageWatcher
from host_agent.encode import encode_rect, solid_rects
from host_agent.picture import ViewerPicture, pixel_slices, tile_slices
from host_agent.updates import Change, Pointer, PreparedUpdate
from host_agent.video import prepare_video
from host_agent.video_stage import VideoStage
from protocol import messages
from protocol.messages import Codec, CopyRect, Tile, VideoPacket

# How long produce() waits for DAMAGE by default before it returns None.
DAMAGE_WAIT_SECONDS = 0.05
# With XInput 2 motion events the pointer is still asked this often: a warp onto a window
# whose client takes motion events makes no event this agent can see.
POINTER_CHECK_SECONDS = 1.0
# Without them (an X server with DAMAGE but no XInput 2) it is asked this often.
POINTER_POLL_SECONDS = 0.05
# A changed box at least this large is first checked for being one colour (one fill tile).
ONE_FILL_MIN_PIXELS = 256 * 256
# Damage in separate places (blocks bouncing about the screen) is grabbed and compared part
# by part, each part the box of touching damage on a grid of DAMAGE_CELL_PIXELS, when the
# damage covers at most PARTS_MAX_SHARE of the box around it all and makes at most
# MAX_PARTS parts: a grab costs about 0.1 ms however small, one of the whole 1920x1080
# screen with its comparison about 4 ms (characters strewn over a terminal are one box).
PARTS_MAX_SHARE = 0.5
DAMAGE_CELL_PIXELS = 16
MAX_PARTS = 32


class FramePipeline:
    """Owns the screen source, the current picture and the reference (the frame last sent)."""

    def __init__(self, make_source: Callable[[], ScreenSource]) -> None:
        self._make_source = make_source
        self._source: ScreenSource | None = None
        self._watcher: DamageWatcher | None = None  # opened with the source
        self._damage: list[Rect] = []  # seen by the watcher, not yet grabbed (root coordinates)
        self._pointer: Pointer = None
        self._pointer_asked_at = -float("inf")  # monotonic
        self._pointer_stale = True  # moved (or another monitor) since it was last asked
        self._frame: np.ndarray | None = None  # the screen as last grabbed
        # A part of _frame that holds the viewer's picture from before a scroll instead of
        # the screen (see _settle_scroll), until the next grab covers or mends it.
        self._stale: Rect | None = None
        self._picture: ViewerPicture | None = None  # the screen as the viewer has it
        self._full_requested = True
        self._capabilities: frozenset[str] = frozenset()
        self._video = VideoStage()
        self._shifts = ShiftMemory()  # the last scroll's shift, tried first

    # All methods below run in the capture thread, except wake, request_full and
    # accept_capabilities, which only set a value the capture thread reads and wake it.

    def open(self) -> Monitor:
        if self._source is None:
            self._source = self._make_source()
            make_watcher = getattr(self._source, "damage_watcher", None)
            self._watcher = make_watcher() if make_watcher is not None else None
        return self._source.monitor

    def start_sharing(self) -> Monitor:
        """Call once the customer has consented, before the first capture: a backend that
        asks the customer itself (the Wayland portal's dialog) asks now, and the monitor
        shared is returned (its real size). Raises SharingRefused when the customer says
        no there. Other backends have nothing to ask: their monitor as it is."""
        assert self._source is not None
        start = getattr(self._source, "start", None)
        monitor: Monitor = start() if start is not None else self._source.monitor
        self._pointer_stale = True
        return monitor

    def stop_asking(self) -> None:
        """From any thread (the kill switch): a `start_sharing` waiting for the customer's
        answer in the system's dialog ends at once with SharingRefused."""
        cancel = getattr(self._source, "cancel", None)
        if cancel is not None:
            cancel()

    @property
    def damage_driven(self) -> bool:
        """True when X DAMAGE drives capture; False when the pipeline polls."""
        return self._watcher is not None

    def monitors(self) -> list[Monitor]:
        assert self._source is not None
        return self._source.monitors()

    def select(self, number: int) -> Monitor:
        assert self._source is not None
        monitor = self._source.select(number)
        self._pointer_stale = True
        self.request_full()
        return monitor

    def wake(self) -> None:
        """From any thread: end the capture thread's wait in `next_change` (or its next
        one), so it takes up other work (another monitor, the end of the session)."""
        watcher = self._watcher
        if watcher is not None:
            watcher.wake()

    def request_full(self) -> None:
        """The next update covers the whole screen (after consent, resume or on request),
        and a video region restarts with a key frame."""
        self._full_requested = True
        self.wake()

    def accept_capabilities(self, capabilities: Iterable[str]) -> None:
        """What the viewer announced in its Hello: copies, video, palette tiles. A change in
        what may be sent starts over with a full update."""
        announced = frozenset(capabilities)
        rich = frozenset(messages.RICH_CAPABILITIES)
        changed = announced & rich != self._capabilities & rich
        self._capabilities = announced
        if changed:
            self.request_full()

    def pointer(self) -> Pointer:
        """Where the pointer is. Asked from the screen only when it may have moved (a motion
        event, another monitor), when the check is due, or always when it is polled."""
        assert self._source is not None
        now = time.monotonic()
        if self._pointer_stale or now >= self._pointer_due():
            self._pointer = self._source.pointer()
            self._pointer_asked_at = now
            self._pointer_stale = False
        return self._pointer

    def _pointer_due(self) -> float:
        if self._watcher is None:
            return self._pointer_asked_at  # polled: every time
        if self._watcher.pointer_events:
            return self._pointer_asked_at + POINTER_CHECK_SECONDS
        return self._pointer_asked_at + POINTER_POLL_SECONDS

    def next_change(
        self, jpeg_quality: int, pointer_shown: Pointer, timeout_seconds: float | None = None
    ) -> Change:
        """Wait until there is something to send, and return it: an update, or a pointer
        position other than `pointer_shown` (the one the viewer has). Also returns, with
        neither, when woken (`wake`) or after `timeout_seconds` (None: no limit).

        Without DAMAGE this is one poll: it returns at once, the caller paces.
        """
        assert self._source is not None
        if self._watcher is None:
            return Change(self.produce(jpeg_quality), self.pointer())
        end = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while True:
            woken = False
            if not self._full_due():
                woken = self._watch(self._sleep_seconds(end), until_pointer_moves=True)
            update = self._produce(jpeg_quality, None)
            pointer = self.pointer()
            if update is not None or pointer != pointer_shown or woken:
                return Change(update, pointer)
            if end is not None and time.monotonic() >= end:
                return Change(None, pointer)

    def produce(
        self,
        jpeg_quality: int,
        now: float | None = None,
        timeout_seconds: float = DAMAGE_WAIT_SECONDS,
    ) -> PreparedUpdate | None:
        """Capture what changed and return it as an update (None: nothing to send).

        With DAMAGE this first waits up to `timeout_seconds` for the screen to change (or
        for a `wake`); pointer motion does not end the wait.
        """
        assert self._source is not None
        if self._watcher is not None and not self._full_due():
            self._watch(timeout_seconds, until_pointer_moves=False)
        return self._produce(jpeg_quality, now)

    # -- detect: when to look -------------------------------------------------------------

    def _full_due(self) -> bool:
        return self._full_requested or self._picture is None

    def _watch(self, timeout_seconds: float | None, *, until_pointer_moves: bool) -> bool:
        """Sleep until damage, a wake, pointer motion (if asked) or the timeout; collects
        the damage for `_produce`. True when woken."""
        assert self._watcher is not None
        end = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            seen = self._watcher.wait(left)
            self._damage.extend(seen.rects)
            self._pointer_stale = self._pointer_stale or seen.pointer_moved
            if seen.rects or seen.woken or (until_pointer_moves and seen.pointer_moved):
                return seen.woken
            if end is not None and time.monotonic() >= end:
                return False

    def _sleep_seconds(self, end: float | None) -> float:
        """How long `next_change` may sleep without an event: until the caller's end or
        the pipeline's next deadline of its own (the pointer check at the latest)."""
        deadlines = [self._pointer_due(), *self._work_due()]
        if end is not None:
            deadlines.append(end)
        return max(0.0, min(deadlines) - time.monotonic())

    def _work_due(self) -> list[float]:
        """When work falls due with no change on the screen: a lossy region to send again
        losslessly, the video region to end."""
        due = [self._video.idle_due()]
        if self._picture is not None:
            due.append(self._picture.lossless_due(self._video.rect))
        return [when for when in due if when is not None]

    # -- produce: capture and the stages after it -----------------------------------------

    def _produce(self, jpeg_quality: int, now: float | None) -> PreparedUpdate | None:
        assert self._source is not None
        if self._full_due():
            return self._produce_full(now)
        damaged = self._damaged()
        now = time.monotonic() if now is None else now
        capture_time = time.time()
        tiles: list[Tile] = []
        copies: list[CopyRect] = []
        video: list[VideoPacket] = []
        if damaged is not None:
            box, parts = damaged
            self._grab(box, parts)
            if self._picture is None or self._frame is None:
                return self._produce_full(now)
            self._changes(box, parts, jpeg_quality, now, tiles, copies, video)
        due = self._video.idle_due()
        if due is not None and now > due:
            self._video.stop()
        tiles.extend(self._lossless_again(now))
        if not tiles and not copies and not video:
            return None
        assert self._frame is not None
        height, width = self._frame.shape[:2]
        return PreparedUpdate(
            capture_time, width, height, tuple(tiles), tuple(copies), tuple(video)
        )

    # -- capture ------------------------------------------------------------------------

    def _damaged(self) -> tuple[Rect, tuple[Rect, ...]] | None:
        """The tile-aligned box to look at, and the parts of it to grab and compare: the box
        itself, or the separate places DAMAGE reported in it (None: nothing changed)."""
        assert self._source is not None and self._frame is not None
        height, width = self._frame.shape[:2]
        screen = Rect(0, 0, width, height)
        if self._watcher is None:
            return screen, (screen,)
        bounds = self._source.monitor.bounds
        rects, self._damage = self._damage, []
        moved = (Rect(r.x - bounds.left, r.y - bounds.top, r.width, r.height) for r in rects)
        inside = [clipped for rect in moved if (clipped := _clip(rect, screen)) is not None]
        if not inside:
            return None
        box = _tile_aligned(_bounding(inside), screen)
        # The rectangles are the damage's own, which do not overlap, or boxes that grew one
        # from the other, whose areas add up to more than what changed (damage/xdamage.py).
        if sum(r.area for r in inside) <= PARTS_MAX_SHARE * box.area:
            parts = _parts(inside, box)
            if len(parts) <= MAX_PARTS and sum(p.area for p in parts) <= PARTS_MAX_SHARE * box.area:
                return box, parts
        return box, (box,)

    def _grab(self, box: Rect, parts: tuple[Rect, ...]) -> None:
        assert self._source is not None and self._frame is not None
        height, width = self._frame.shape[:2]
        if (box.x, box.y, box.width, box.height) == (0, 0, width, height) and parts == (box,):
            frame = self._source.grab()
            if frame.shape != self._frame.shape:
                self._picture = None  # the screen changed size: a full update follows
            self._frame, self._stale = frame, None
            return
        grab_region = getattr(self._source, "grab_region", None)
        if grab_region is None:
            self._frame, self._stale = self._source.grab(), None
            return
        if not self._frame.flags.writeable:
            self._frame = self._frame.copy()
        stale = self._stale
        if stale is not None and not any(_clip(stale, part) == stale for part in parts):
            # Outside this grab the frame must hold the screen: the reference has it there.
            assert self._picture is not None
            window = pixel_slices(stale)
            self._frame[window] = self._picture.reference[window]
        self._stale = None
        for part in parts:
            self._frame[pixel_slices(part)] = grab_region(part)

    def _produce_full(self, now: float | None) -> PreparedUpdate:
        assert self._source is not None
        self._full_requested = False
        if messages.CAPABILITY_VIDEO_H264 in self._capabilities:
            prepare_video()
        if self._watcher is not None:
            # Damage from before this grab is covered by it; pointer motion is kept.
            seen = self._watcher.wait(0.0)
            self._pointer_stale = self._pointer_stale or seen.pointer_moved
            self._damage = []
        now = time.monotonic() if now is None else now
        capture_time = time.time()
        frame = self._source.grab()
        height, width = frame.shape[:2]
        self._frame, self._stale = frame, None
        self._picture = ViewerPicture(frame, now)
        self._video.stop()  # a video region restarts with a key frame
        rects = damage.tiles_to_rects(np.ones(self._picture.grid, dtype=bool), height, width)
        tiles = [self._encode(rect, 80) for rect in rects]
        self._picture.mark_lossy(tiles)
        return PreparedUpdate(capture_time, width, height, tuple(tiles))

    # -- what changed inside the grabbed box ----------------------------------------------

    def _changes(
        self,
        box: Rect,
        parts: tuple[Rect, ...],
        jpeg_quality: int,
        now: float,
        tiles: list[Tile],
        copies: list[CopyRect],
        video: list[VideoPacket],
    ) -> None:
        assert self._frame is not None and self._picture is not None
        picture = self._picture
        frame, reference = damage.as_pixels(self._frame), picture.pixels
        scrolled = self._scroll_again(box, now, copies)
        mask = _changed_mask(frame, reference, box, parts, scrolled)
        box_dirty = _changed_tiles(mask, box, parts)
        if not copies and not box_dirty.any():
            return
        copy = messages.CAPABILITY_COPY in self._capabilities
        solid = messages.CAPABILITY_RECTS in self._capabilities
        searched = self._scroll_tiles(box, box_dirty) if copy or solid else None
        for cluster in _cluster_rects(searched, box) if searched is not None else ():
            changed = damage.tighten(cluster, mask)
            if changed is None:
                continue
            changed = Rect(changed.x + box.x, changed.y + box.y, changed.width, changed.height)
            # A backdrop with a few blocks on it (moving or not) is one small rects tile;
            # anything else may have moved.
            tile = self._solid_tile(changed) if solid else None
            if tile is not None:
                tiles.append(tile)
                _sent(mask, box, changed)
            elif copy and len(copies) < messages.MAX_COPIES_PER_UPDATE:
                read = moves.reach(changed)
                if scrolled is not None and read is not None and _clip(scrolled, read):
                    # The search may read the reference there: it must show the scroll.
                    picture.take_pixels(self._frame, scrolled)
                    scrolled = None
                move = moves.find_copy(reference, frame, changed, self._shifts)
                if move is not None:
                    copies.append(picture.apply_move(move, now))
                    _sent(mask, box, move.destination)  # verified pixel for pixel
        dirty = np.zeros(picture.grid, dtype=bool)
        top, left = box.y // TILE_PIXELS, box.x // TILE_PIXELS
        box_dirty = _changed_tiles(mask, box, parts)
        dirty[top : top + box_dirty.shape[0], left : left + box_dirty.shape[1]] = box_dirty
        picture.changed(dirty, now)
        self._video.observe(dirty, now)
        packet = None
        if messages.CAPABILITY_VIDEO_H264 in self._capabilities:
            packet = self._video.packet(self._frame, reference, dirty, jpeg_quality, now)
        if packet is not None:
            video.append(packet)
            streamed = Rect(packet.x, packet.y, packet.width, packet.height)
            picture.took_video(self._frame, streamed)
            _sent(mask, box, streamed)
            box_dirty = _changed_tiles(mask, box, parts)
        whole = _tightened(box_dirty, mask, box)
        if whole is not None and whole.area >= ONE_FILL_MIN_PIXELS:
            region = frame[
                box.y + whole.y : box.y + whole.y + whole.height,
                box.x + whole.x : box.x + whole.x + whole.width,
            ]
            if (region == region.flat[0]).all():  # a flat animation: one fill, not many
                box_dirty = np.zeros_like(box_dirty)
                tiles.append(
                    self._encode(
                        Rect(whole.x + box.x, whole.y + box.y, whole.width, whole.height),
                        jpeg_quality,
                    )
                )
        for rect in damage.rectangles(box_dirty, box.height, box.width, mask):
            moved = Rect(rect.x + box.x, rect.y + box.y, rect.width, rect.height)
            tiles.append(self._encode(moved, jpeg_quality))
        # The viewer now has the new pixels: the copies' destinations (equal already, see
        # above), the video region (taken above) and the tiles, which cover every other
        # changed pixel; the rest of the box did not change.
        picture.took_tiles(self._frame, tiles)
        self._video.spent(tiles)  # what the changes cost as tiles: one side of the video verdict
        if scrolled is not None:
            self._settle_scroll(scrolled)

    def _scroll_again(self, box: Rect, now: float, copies: list[CopyRect]) -> Rect | None:
        """The last scroll once more, tried before any other comparison (a log or a page
        that keeps scrolling): its rows are then compared once instead of twice, first
        with the reference as it was and then under the shift. Returns its destination,
        equal to the new frame already."""
        if messages.CAPABILITY_COPY not in self._capabilities or self._video.rect is not None:
            return None
        assert self._frame is not None and self._picture is not None
        frame, reference = damage.as_pixels(self._frame), self._picture.pixels
        move = moves.remembered_copy(reference, frame, box, self._shifts)
        if move is None:
            return None
        # The reference's destination keeps its old pixels until _settle_scroll, or until
        # a search for another copy would read them: the changed pixels are looked for
        # outside it, the tiles are taken from the frame.
        copies.append(self._picture.apply_move(move, now, pixels=False))
        return move.destination

    def _settle_scroll(self, destination: Rect) -> None:
        """Give the reference the remembered scroll's destination, at the end of the update.

        When the viewer now has the whole frame (no lossy tile, no video: the frame equals
        the reference everywhere but there), the frame becomes the reference and the former
        reference buffer the frame, so no pixel is copied. That buffer is out of date only
        at the destination, which the next grab covers (a scroll goes on) or mends (_grab).
        Otherwise the reference takes the destination's pixels from the frame."""
        assert self._frame is not None and self._picture is not None
        if self._picture.lossless and self._video.rect is None:
            self._frame = self._picture.exchange(self._frame)
            self._stale = destination
        else:
            self._picture.take_pixels(self._frame, destination)

    def _solid_tile(self, rect: Rect) -> Tile | None:
        """A rects tile of `rect` if it is a backdrop and a few solid blocks."""
        assert self._frame is not None
        pixels = damage.as_pixels(self._frame)
        data = solid_rects(pixels[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width])
        if data is None:
            return None
        return Tile(rect.x, rect.y, rect.width, rect.height, Codec.RECTS, data)

    def _scroll_tiles(self, box: Rect, changed_tiles: np.ndarray) -> np.ndarray:
        """The changed tiles of the box to look for moves in: not those of the video region,
        whose pixels go to the video encoder anyway (hashing them is the costliest part of
        a video frame, and a copy there would only be overwritten)."""
        box_dirty = changed_tiles.copy()
        if self._video.rect is None:
            return box_dirty
        inside = _clip(self._video.rect, box)
        if inside is None:
            return box_dirty
        # Only tiles wholly inside the video region: a tile it shares with its
        # surroundings may hold a move of theirs.
        top = -(-(inside.y - box.y) // TILE_PIXELS)
        left = -(-(inside.x - box.x) // TILE_PIXELS)
        bottom = (inside.y - box.y + inside.height) // TILE_PIXELS
        right = (inside.x - box.x + inside.width) // TILE_PIXELS
        if inside.y + inside.height == box.y + box.height:
            bottom = box_dirty.shape[0]  # the box's last, partial tile row
        if inside.x + inside.width == box.x + box.width:
            right = box_dirty.shape[1]
        box_dirty[top:bottom, left:right] = False
        return box_dirty

    # -- encoding and the lossless follow-up ------------------------------------------------

    def _encode(self, rect: Rect, jpeg_quality: int, *, lossless_only: bool = False) -> Tile:
        assert self._frame is not None
        return encode_rect(
            self._frame,
            rect,
            jpeg_quality,
            lossless_only=lossless_only,
            palette=messages.CAPABILITY_PALETTE in self._capabilities,
            rects=messages.CAPABILITY_RECTS in self._capabilities,
        )

    def _lossless_again(self, now: float) -> list[Tile]:
        """Lossy regions that have been still for LOSSLESS_AFTER_SECONDS, now lossless."""
        if self._picture is None or self._frame is None:
            return []
        still_lossy = self._picture.still_lossy(now, self._video.rect)
        if not still_lossy.any():
            return []
        height, width = self._frame.shape[:2]
        tiles = [
            self._encode(rect, 80, lossless_only=True)
            for rect in damage.tiles_to_rects(still_lossy, height, width)
        ]
        self._picture.took_tiles(self._frame, tiles)
        self._picture.made_lossless(still_lossy)
        return tiles

    def close(self) -> None:
        self._video.stop()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self._source is not None:
            self._source.close()
            self._source = None


def _cluster_rects(box_tiles: np.ndarray, box: Rect) -> list[Rect]:
    """The pixel boxes (relative to `box`) of the groups of touching changed tiles of
    `box`, largest first."""
    return [
        Rect(
            left * TILE_PIXELS,
            top * TILE_PIXELS,
            min(box.width, right * TILE_PIXELS) - left * TILE_PIXELS,
            min(box.height, bottom * TILE_PIXELS) - top * TILE_PIXELS,
        )
        for top, left, bottom, right in damage.clusters(box_tiles)
    ]


def _changed_mask(
    frame: np.ndarray,
    reference: np.ndarray,
    box: Rect,
    parts: tuple[Rect, ...],
    equal: Rect | None,
) -> np.ndarray:
    """Which pixels of `box` differ between frame and reference, compared in `parts` (the
    rest did not change) but not in `equal` (known equal)."""
    if parts == (box,) and equal is None:
        window = pixel_slices(box)
        return frame[window] != reference[window]
    mask = np.zeros((box.height, box.width), dtype=bool)
    for part in parts:
        for piece in _outside(part, equal):
            window = pixel_slices(piece)
            np.not_equal(
                frame[window], reference[window], out=mask[pixel_slices(_within(piece, box))]
            )
    return mask


def _changed_tiles(mask: np.ndarray, box: Rect, parts: tuple[Rect, ...]) -> np.ndarray:
    """damage.tiles_of(mask), reading the mask only in the tiles `parts` touch (elsewhere
    nothing was compared, so nothing changed)."""
    if parts == (box,):
        return damage.tiles_of(mask)
    tiles = np.zeros(damage.tile_grid(box.height, box.width), dtype=bool)
    for part in parts:
        rows, columns = tile_slices(_within(part, box))
        window = mask[
            rows.start * TILE_PIXELS : rows.stop * TILE_PIXELS,
            columns.start * TILE_PIXELS : columns.stop * TILE_PIXELS,
        ]
        tiles[rows, columns] |= damage.tiles_of(window)
    return tiles


def _tightened(box_tiles: np.ndarray, mask: np.ndarray, box: Rect) -> Rect | None:
    """The bounding box (relative to `box`) of the changed pixels of `mask`, looked for only
    in the changed tiles' bounding box."""
    rows, columns = np.flatnonzero(box_tiles.any(axis=1)), np.flatnonzero(box_tiles.any(axis=0))
    if rows.size == 0:
        return None
    top, left = int(rows[0]) * TILE_PIXELS, int(columns[0]) * TILE_PIXELS
    bottom = min(box.height, (int(rows[-1]) + 1) * TILE_PIXELS)
    right = min(box.width, (int(columns[-1]) + 1) * TILE_PIXELS)
    return damage.tighten(Rect(left, top, right - left, bottom - top), mask)


def _outside(rect: Rect, hole: Rect | None) -> list[Rect]:
    """`rect` without `hole`: at most four pieces (above, below, left, right of it)."""
    inside = None if hole is None else _clip(hole, rect)
    if inside is None:
        return [rect]
    bottom, right = inside.y + inside.height, inside.x + inside.width
    pieces = (
        Rect(rect.x, rect.y, rect.width, inside.y - rect.y),
        Rect(rect.x, bottom, rect.width, rect.y + rect.height - bottom),
        Rect(rect.x, inside.y, inside.x - rect.x, inside.height),
        Rect(right, inside.y, rect.x + rect.width - right, inside.height),
    )
    return [piece for piece in pieces if piece.width > 0 and piece.height > 0]


def _parts(rects: list[Rect], box: Rect) -> tuple[Rect, ...]:
    """The boxes of touching `rects` inside `box`, on a grid of DAMAGE_CELL_PIXELS."""
    cell = DAMAGE_CELL_PIXELS
    cells = np.zeros((-(-box.height // cell), -(-box.width // cell)), dtype=bool)
    for rect in rects:
        x, y = rect.x - box.x, rect.y - box.y
        cells[
            y // cell : -(-(y + rect.height) // cell), x // cell : -(-(x + rect.width) // cell)
        ] = True
    return tuple(
        Rect(
            box.x + left * cell,
            box.y + top * cell,
            min(box.width, right * cell) - left * cell,
            min(box.height, bottom * cell) - top * cell,
        )
        for top, left, bottom, right in damage.clusters(cells)
    )


def _sent(mask: np.ndarray, box: Rect, rect: Rect) -> None:
    """The viewer will have the pixels of `rect`: they leave the changed-pixel `mask` of
    `box`."""
    inside = _clip(rect, box)
    if inside is not None:
        mask[pixel_slices(_within(inside, box))] = False


def _bounding(rects: list[Rect]) -> Rect:
    left, top = min(r.x for r in rects), min(r.y for r in rects)
    right = max(r.x + r.width for r in rects)
    bottom = max(r.y + r.height for r in rects)
    return Rect(left, top, right - left, bottom - top)


def _tile_aligned(rect: Rect, screen: Rect) -> Rect:
    """`rect` grown to whole tiles (the last row and column of tiles may be cut by the
    screen's edge)."""
    rows, columns = tile_slices(rect)
    left, top = columns.start * TILE_PIXELS, rows.start * TILE_PIXELS
    right = min(screen.width, columns.stop * TILE_PIXELS)
    bottom = min(screen.height, rows.stop * TILE_PIXELS)
    return Rect(left, top, right - left, bottom - top)


def _within(rect: Rect, box: Rect) -> Rect:
    """`rect` (inside `box`) in coordinates relative to `box`."""
    return Rect(rect.x - box.x, rect.y - box.y, rect.width, rect.height)


def _clip(rect: Rect, box: Rect) -> Rect | None:
    left, top = max(rect.x, box.x), max(rect.y, box.y)
    right = min(rect.x + rect.width, box.x + box.width)
    bottom = min(rect.y + rect.height, box.y + box.height)
    if right <= left or bottom <= top:
        return None
    return Rect(left, top, right - left, bottom - top)
