"""Move stage: find a block of pixels that moved in any direction (a dragged window, a
panned map or picture), so it travels as one copy plus what the copy does not explain.

A vertical move (a scroll) is looked for first, by whole rows (scroll.py): cheap, and
unbounded in distance; while a window is being dragged sideways, the other way round
(find_copy). A move with a horizontal part keeps no row of the changed box
whole, so its motion vector is found from the pixels, in three steps:
1. anchors: in a few rows of the middle of the box (which a moved block fills), the run
   of ANCHOR_PIXELS pixels with the most colour edges that holds a changed pixel,
   counting no edge of a pattern (a stippled or striped background matches itself at
   many offsets, a flat run anywhere). Without one (a flat animation) the search ends
   here, having compared only those rows;
2. each anchor is searched in the frame last sent, inside the changed box (where a moved
   block was has changed too), NEAR_MOVE_PIXELS around first and then up to
   MAX_MOVE_PIXELS away: the pixels at its first edges over the whole search area, then
   its other pixels on the few places left. An anchor found in one or a few places
   proposes those offsets; the most proposed are checked first;
3. for a proposed offset every pixel of the changed box is compared with the old pixel
   that far away (the verification, pixel for pixel). The box of the changed pixels this
   explains is peeled at its edges, then cut to a band of whole rows or columns, until no
   pixel in it differs; that block is the copy. The offset whose block explains the most
   changed pixels wins.

Why from the pixels and not from X's window-move events (ConfigureNotify): the frame last
sent and the new grab are exactly what is compared, whereas window positions would have to
be matched to grabs that flow control may have merged over several moves, with a race
between the event stream and each grab; and pixels also find moves X does not report
(content panned inside a window, the synthetic screen, sources without X). The cost is
bounded by the anchors' search areas and a few comparisons of the changed box. Measured
on the peer benchmark's dragged 80x30 terminal: 1.4-1.7 ms per update (after 1 ms of the
vertical search), where encoding the window's pixels took 3.4 ms and 4.2 KB; a flat
full-screen change, which has no anchor, 0.8 ms. What it misses: a jump of more than
MAX_MOVE_PIXELS between two updates, and blocks with no distinctive run of pixels (a
blank window); both then go as pixels, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host_agent.damage import scroll
from host_agent.damage.tiles import Rect

ANCHOR_PIXELS = 32
# Colour edges an anchor needs: fewer (a flat block, a bar) match at too many offsets.
MIN_ANCHOR_EDGES = 4
# Periods of the patterns (stipples, checks, stripes) whose edges make no anchor: they
# match at many offsets.
PATTERN_PERIODS = (2, 3, 4)
# Rows looked at for anchors, spread over the middle half of the box, and anchors searched
# at most.
ANCHOR_ROWS = 16
MAX_ANCHORS = 6
# An anchor found in more places than this proposes nothing (repeated text, a pattern).
MAX_ANCHOR_HITS = 4
# Anchors stop being searched once one offset has this many proposals.
AGREEING_ANCHORS = 2
# How far a block may have moved between two updates, in each direction; an anchor is
# first searched NEAR_MOVE_PIXELS around (a drag moves a few pixels per update).
MAX_MOVE_PIXELS = 128
NEAR_MOVE_PIXELS = 32
# Edges of an anchor whose pixels are compared over the whole search area.
FIRST_PASS_EDGES = 2
MAX_OFFSETS_CHECKED = 3
# Offsets are checked no further once a block explains this share of the changed pixels.
EXPLAINED_ENOUGH_SHARE = 0.9
# Edge rows and columns peeled off a block before it is cut to a band instead.
MAX_PEEL_STEPS = 64
# A smaller block is not worth a copy: its pixels go as rectangles.
MIN_MOVE_ROWS = 16
MIN_MOVE_COLUMNS = 32
MIN_EXPLAINED_PIXELS = MIN_MOVE_ROWS * MIN_MOVE_COLUMNS
# A vertical move covering at least this share of the changed box is taken without a
# search for a move in any direction.
SCROLL_ENOUGH_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Move:
    """The pixels at (src_x, src_y) went to (x, y); a block of width x height."""

    src_x: int
    src_y: int
    x: int
    y: int
    width: int
    height: int

    @property
    def source(self) -> Rect:
        return Rect(self.src_x, self.src_y, self.width, self.height)

    @property
    def destination(self) -> Rect:
        return Rect(self.x, self.y, self.width, self.height)


def find_copy(
    reference: np.ndarray, frame: np.ndarray, box: Rect, shifts: scroll.ShiftMemory | None = None
) -> Move | None:
    """The move inside `box` from `reference` to `frame` (uint32 views), if any: vertical
    (scroll.py, trying the shift in `shifts` first) when that covers most of the box,
    otherwise the larger of it and a move in any direction. While a window is being
    dragged (the last copy in `shifts` went sideways), the move in any direction is looked
    for first, and taken alone when it covers most of the box."""
    sideways = shifts is not None and shifts.sideways
    moved = find_move(reference, frame, box) if sideways else None
    if moved is not None and moved.width * moved.height >= SCROLL_ENOUGH_SHARE * box.area:
        return _remembered(shifts, moved)
    scrolled = scroll.find_move(reference, frame, box, shifts)
    vertical = None
    if scrolled is not None:
        vertical = _vertical(scrolled)
        if vertical.width * vertical.height >= SCROLL_ENOUGH_SHARE * box.area:
            return _remembered(shifts, vertical)
    if not sideways:
        moved = find_move(reference, frame, box)
    if moved is None or (
        vertical is not None and vertical.width * vertical.height >= moved.width * moved.height
    ):
        return _remembered(shifts, vertical)
    return _remembered(shifts, moved)


def _remembered(shifts: scroll.ShiftMemory | None, found: Move | None) -> Move | None:
    if shifts is not None:
        shifts.sideways = found is not None and found.src_x != found.x
    return found


def reach(box: Rect) -> Rect | None:
    """The part of the frame last sent that find_copy may read for `box` (None: the box is
    too small to be searched): a source is at most MAX_MOVE_PIXELS away from its
    destination (a scroll's, inside the box)."""
    if not scroll.searchable(box) and not _searchable(box):
        return None
    return Rect(
        box.x - MAX_MOVE_PIXELS,
        box.y - MAX_MOVE_PIXELS,
        box.width + 2 * MAX_MOVE_PIXELS,
        box.height + 2 * MAX_MOVE_PIXELS,
    )


def remembered_copy(
    reference: np.ndarray, frame: np.ndarray, box: Rect, shifts: scroll.ShiftMemory
) -> Move | None:
    """The last scroll once more, over the rows of `box` (see scroll.remembered_move)."""
    scrolled = scroll.remembered_move(reference, frame, box, shifts)
    return None if scrolled is None else _vertical(scrolled)


def _vertical(scrolled: scroll.Move) -> Move:
    return Move(
        scrolled.x, scrolled.src_y, scrolled.x, scrolled.dst_y, scrolled.width, scrolled.height
    )


def _searchable(box: Rect) -> bool:
    """Whether find_move looks at the pixels of `box` at all (else it is too small)."""
    return box.width >= max(ANCHOR_PIXELS, MIN_MOVE_COLUMNS) and box.height >= MIN_MOVE_ROWS


def find_move(reference: np.ndarray, frame: np.ndarray, box: Rect) -> Move | None:
    """The block inside `box` that moved by the same (dx, dy) from `reference` to `frame`
    (uint32 views), verified pixel for pixel; None if none is worth a copy."""
    if not _searchable(box):
        return None
    # Anchors come from a few rows of the middle of the box: a moved block fills most of
    # its box, and the strips it exposed, which lie at its edges, are found nowhere in the
    # old frame. Only those rows are compared until an offset is proposed.
    spread = np.linspace(box.height // 4, box.height - box.height // 4 - 1, ANCHOR_ROWS)
    rows = box.y + np.unique(spread.astype(np.intp))
    columns = slice(box.x, box.x + box.width)
    lines = frame[rows, columns]
    votes: dict[tuple[int, int], int] = {}
    for line, column in anchors(lines, lines != reference[rows, columns]):
        segment = lines[line, column : column + ANCHOR_PIXELS]
        y, x = int(rows[line]), box.x + column
        for found_y, found_x in find_segment(reference, segment, y, x, box):
            offset = (found_x - x, found_y - y)
            if offset != (0, 0):
                votes[offset] = votes.get(offset, 0) + 1
        if votes and max(votes.values()) >= AGREEING_ANCHORS:
            break
    if not votes:
        return None
    box_rows = slice(box.y, box.y + box.height)
    changed = frame[box_rows, columns] != reference[box_rows, columns]
    enough = EXPLAINED_ENOUGH_SHARE * np.count_nonzero(changed)
    best, best_explained = None, MIN_EXPLAINED_PIXELS - 1
    for offset in sorted(votes, key=votes.__getitem__, reverse=True)[:MAX_OFFSETS_CHECKED]:
        found = moved_block(reference, frame, box, changed, offset)
        if found is not None and found[1] > best_explained:
            best, best_explained = found
            if best_explained >= enough:
                break
    return best


def anchors(lines: np.ndarray, changed: np.ndarray) -> list[tuple[int, int]]:
    """(line, column) of the distinctive runs of ANCHOR_PIXELS pixels in `lines` (rows of
    the new frame; `changed`: which of their pixels changed) to search for, the most
    distinctive first, at most one per line and none without a changed pixel.

    Distinctive means many colour edges that are not part of a pattern (an edge whose two
    colours recur PATTERN_PERIODS pixels on, twice). Taken from the middle half of the
    lines, as the rows are: the exposed strips lie at the edges."""
    width = lines.shape[1]
    if width < ANCHOR_PIXELS or lines.shape[0] == 0:
        return []
    edges = lines[:, 1:] != lines[:, :-1]
    for period in PATTERN_PERIODS:
        reach = width - 1 - 2 * period
        if reach <= 0:
            continue
        pattern = edges[:, :reach].copy()
        for repeat in (period, 2 * period):
            pattern &= lines[:, :reach] == lines[:, repeat : repeat + reach]
            pattern &= lines[:, 1 : reach + 1] == lines[:, repeat + 1 : repeat + 1 + reach]
        edges[:, :reach] &= ~pattern
    score = _window_sums(edges, ANCHOR_PIXELS - 1)
    score[_window_sums(changed, ANCHOR_PIXELS) == 0] = 0
    middle = _middle(np.arange(score.shape[1]), width)
    score = score[:, middle[0] : middle[-1] + 1]
    best_columns = score.argmax(axis=1)
    best_scores = score[np.arange(lines.shape[0]), best_columns]
    order = np.argsort(best_scores, kind="stable")[::-1]
    return [
        (int(line), int(middle[0]) + int(best_columns[line]))
        for line in order[:MAX_ANCHORS]
        if best_scores[line] >= MIN_ANCHOR_EDGES
    ]


def _middle(positions: np.ndarray, extent: int) -> np.ndarray:
    """The positions (anchor starts) in the middle half of [0, extent), or all if none is."""
    inside = positions[(positions >= extent // 4) & (positions < extent - extent // 4)]
    return inside if inside.size else positions


def _window_sums(values: np.ndarray, length: int) -> np.ndarray:
    """Per row of a (rows, n) boolean array, the count of True in each run of `length`."""
    sums = np.zeros((values.shape[0], values.shape[1] + 1), dtype=np.int32)
    np.cumsum(values, axis=1, out=sums[:, 1:])
    return sums[:, length:] - sums[:, :-length]


def find_segment(
    reference: np.ndarray, segment: np.ndarray, y: int, x: int, within: Rect
) -> list[tuple[int, int]]:
    """Where the run of pixels `segment`, now at (x, y), is in `reference` inside `within`,
    nearby first and then up to MAX_MOVE_PIXELS away; [] when nowhere, or in more than
    MAX_ANCHOR_HITS places."""
    edges = np.flatnonzero(segment[1:] != segment[:-1])
    if edges.size == 0:
        return []  # a flat run is everywhere
    for reach in (NEAR_MOVE_PIXELS, MAX_MOVE_PIXELS):
        hits = _search(reference, segment, edges, y, x, within, reach)
        if hits is None:
            return []
        if hits:
            return hits
    return []


def _search(
    reference: np.ndarray,
    segment: np.ndarray,
    edges: np.ndarray,
    y: int,
    x: int,
    within: Rect,
    reach: int,
) -> list[tuple[int, int]] | None:
    """find_segment within `reach` pixels; None when found in too many places."""
    length = segment.size
    top, bottom = max(within.y, y - reach), min(within.y + within.height, y + reach + 1)
    left = max(within.x, x - reach)
    right = min(within.x + within.width - length, x + reach) + 1  # exclusive, of starts
    if right <= left or bottom <= top:
        return []
    area = reference[top:bottom, left : right - 1 + length]
    starts = right - left
    # The pixels at the first edges over the whole area, then the other edges on the
    # places left (they rule out most cheaply), then every pixel.
    first_edges = edges[:FIRST_PASS_EDGES].tolist()
    hits = np.ones((bottom - top, starts), dtype=bool)
    for index in {*first_edges, *(edge + 1 for edge in first_edges)}:
        hits &= area[:, index : index + starts] == segment[index]
    hit_rows, hit_columns = np.nonzero(hits)
    for index in edges[FIRST_PASS_EDGES:].tolist():
        if hit_rows.size <= MAX_ANCHOR_HITS:
            break
        keep = area[hit_rows, hit_columns + index] == segment[index]
        hit_rows, hit_columns = hit_rows[keep], hit_columns[keep]
    if hit_rows.size > MAX_ANCHOR_HITS:
        return None
    whole = area[hit_rows[:, None], hit_columns[:, None] + np.arange(length)] == segment
    keep = whole.all(axis=1)
    hit_rows, hit_columns = hit_rows[keep], hit_columns[keep]
    return [(top + int(r), left + int(c)) for r, c in zip(hit_rows, hit_columns, strict=True)]


def moved_block(
    reference: np.ndarray,
    frame: np.ndarray,
    box: Rect,
    changed: np.ndarray,
    offset: tuple[int, int],
) -> tuple[Move, int] | None:
    """The block of `box` that shows the old pixels from `offset` away (source minus
    destination: the motion reversed), with the count of changed pixels it explains;
    verified pixel for pixel. None when it is too small to be worth a copy."""
    dx, dy = offset
    height, width = frame.shape
    # Destinations inside the box whose sources lie on the screen.
    left, top = max(box.x, -dx), max(box.y, -dy)
    right = min(box.x + box.width, width - dx)
    bottom = min(box.y + box.height, height - dy)
    if right - left < MIN_MOVE_COLUMNS or bottom - top < MIN_MOVE_ROWS:
        return None
    match = (
        frame[top:bottom, left:right] == reference[top + dy : bottom + dy, left + dx : right + dx]
    )
    wanted = changed[top - box.y : bottom - box.y, left - box.x : right - box.x]
    explained = match & wanted
    match_rows = np.flatnonzero(explained.any(axis=1))
    if match_rows.size == 0:
        return None
    match_columns = np.flatnonzero(explained.any(axis=0))
    block = clean_rectangle(
        match,
        int(match_rows[0]),
        int(match_rows[-1]) + 1,
        int(match_columns[0]),
        int(match_columns[-1]) + 1,
    )
    if block is None:
        return None
    row_start, row_end, column_start, column_end = block
    count = int(np.count_nonzero(wanted[row_start:row_end, column_start:column_end]))
    if count < MIN_EXPLAINED_PIXELS:
        return None
    x, y = left + column_start, top + row_start
    move = Move(x + dx, y + dy, x, y, column_end - column_start, row_end - row_start)
    if not np.array_equal(_pixels(frame, move.destination), _pixels(reference, move.source)):
        return None  # never a wrong copy
    return move, count


def _pixels(picture: np.ndarray, rect: Rect) -> np.ndarray:
    return picture[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]


def clean_rectangle(
    match: np.ndarray, row_start: int, row_end: int, column_start: int, column_end: int
) -> tuple[int, int, int, int] | None:
    """A rectangle inside the given one where `match` is all True, as (row start, row end,
    column start, column end): edge lines with the most differing pixels are peeled off
    first (a strip the move exposed), then, if a differing pixel is left inside, the
    longest band of whole clean rows or columns is kept. None if it gets too small."""
    for _ in range(MAX_PEEL_STEPS):
        rows, columns = row_end - row_start, column_end - column_start
        if rows < MIN_MOVE_ROWS or columns < MIN_MOVE_COLUMNS:
            return None
        differing = (
            1 - np.count_nonzero(match[row_start, column_start:column_end]) / columns,
            1 - np.count_nonzero(match[row_end - 1, column_start:column_end]) / columns,
            1 - np.count_nonzero(match[row_start:row_end, column_start]) / rows,
            1 - np.count_nonzero(match[row_start:row_end, column_end - 1]) / rows,
        )
        worst = max(range(4), key=differing.__getitem__)
        if differing[worst] == 0:
            break
        if worst == 0:
            row_start += 1
        elif worst == 1:
            row_end -= 1
        elif worst == 2:
            column_start += 1
        else:
            column_end -= 1
    inside = match[row_start:row_end, column_start:column_end]
    if inside.all():
        return row_start, row_end, column_start, column_end
    row_run_start, row_run = scroll.longest_run(inside.all(axis=1))
    column_run_start, column_run = scroll.longest_run(inside.all(axis=0))
    rows, columns = row_end - row_start, column_end - column_start
    if row_run * columns >= column_run * rows:
        if row_run < MIN_MOVE_ROWS or columns < MIN_MOVE_COLUMNS:
            return None
        row_start += row_run_start
        return row_start, row_start + row_run, column_start, column_end
    if column_run < MIN_MOVE_COLUMNS or rows < MIN_MOVE_ROWS:
        return None
    column_start += column_run_start
    return row_start, row_end, column_start, column_start + column_run
