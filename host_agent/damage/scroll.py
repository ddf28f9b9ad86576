"""Scroll stage: find a block of rows that moved vertically, so it travels as a copy.

Inside the box of changed pixels, every row of the frame last sent and of the new frame
gets a hash. A changed new row whose content occurs a few times among the old rows
proposes the shifts to them; the most proposed shifts are scored by how many rows match
under each, and the longest run of rows matching under the best one (verified pixel for
pixel) becomes the copy.
Only vertical moves are looked for: that is what scrolling terminals, logs, editors and
web pages do. A run shorter than MIN_SCROLL_ROWS is not worth a copy: the pixels go as
rectangles instead.

A log or a page that keeps scrolling moves by the same shift update after update. So the
move found last (a `ShiftMemory`) is tried first, by comparing every row with the row
that far away: that comparison is the verification pixel for pixel anyway, and when the
longest run of equal rows under it fills most of the rows it is the copy, with no row
hashed. The pipeline tries it even before it looks for changed pixels
(`remembered_move`), so the rows it moved are compared once. Measured in-process on the
peer benchmark's log (a 1024x754 copy, 50 lines/s): hashes, shift votes and
verification took 1.66 ms per update, the comparison under the remembered shift 0.77 ms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from host_agent.damage.tiles import Rect

MIN_SCROLL_ROWS = 16
MIN_SCROLL_WIDTH_PIXELS = 32
MIN_SHIFT_VOTES = 3
HASH_COLUMN_STEP = 4
# A row content repeated more often than this in the old rows proposes no shift.
MAX_ROW_REPEATS = 16
# Shifts checked row by row, the most proposed first.
MAX_SHIFT_CANDIDATES = 8
# The last shift is taken without a search when its run of equal rows covers this share
# of the box's rows (a steady scroll: all but the line it exposed), and when at least
# this share of the rows sampled in the run did change (blank rows moved onto blank rows
# are equal under any shift but explain nothing).
REMEMBERED_ENOUGH_SHARE = 0.5
REMEMBERED_CHANGED_SHARE = 0.5
REMEMBERED_SAMPLE_ROWS = 32


@dataclass(frozen=True, slots=True)
class Move:
    """Rows [src_y, src_y + height) of columns [x, x + width) went to dst_y."""

    x: int
    src_y: int
    dst_y: int
    width: int
    height: int

    @property
    def destination(self) -> Rect:
        return Rect(self.x, self.dst_y, self.width, self.height)


class ShiftMemory:
    """The last scroll found: its shift is tried first next time. And whether the last copy
    found had a horizontal part (a dragged window): then the search in any direction goes
    first (move.find_copy)."""

    def __init__(self) -> None:
        self.last: Move | None = None
        self.sideways = False

    @property
    def shift(self) -> int:
        assert self.last is not None
        return self.last.src_y - self.last.dst_y


def row_hashes(block: np.ndarray) -> np.ndarray:
    """One uint32 per row of a (rows, columns) uint32 block, from every HASH_COLUMN_STEP-th
    column: a quarter of the bytes to hash; rows equal by it are compared in full later.
    The hash is the sum of those pixels times random odd 32-bit weights (wrapping): one
    matrix product for the whole block, where a hash per row cost a Python call each, and
    in the pixels' own width (64-bit weights made numpy convert the block first: twice the
    time). Among a screen's rows two unequal ones share a hash about once in 10^4 frames;
    such a shift then fails its check and the rows go as pixels."""
    sample = block[:, ::HASH_COLUMN_STEP]
    return sample @ _weights(sample.shape[1])


@functools.lru_cache(maxsize=8)
def _weights(count: int) -> np.ndarray:
    weights = np.random.default_rng(count).integers(0, 2**31, size=count, dtype=np.uint32)
    return weights * np.uint32(2) + np.uint32(1)


def searchable(box: Rect) -> bool:
    """Whether find_move looks at the pixels of `box` at all (else it is too small)."""
    return box.height > MIN_SCROLL_ROWS and box.width >= MIN_SCROLL_WIDTH_PIXELS


def find_move(
    reference: np.ndarray, frame: np.ndarray, box: Rect, memory: ShiftMemory | None = None
) -> Move | None:
    """The vertical move inside `box` from `reference` to `frame` (uint32 views), if any;
    the shift in `memory` is tried first, and what is found is kept there."""
    if not searchable(box):
        return None
    if memory is not None and memory.last is not None:
        found = _move_by(reference, frame, box, memory.shift)
        if found is not None:
            memory.last = found
            return found
    columns = slice(box.x, box.x + box.width)
    old = reference[box.y : box.y + box.height, columns]
    new = frame[box.y : box.y + box.height, columns]
    searched = _searched_move(old, new)
    found = None
    if searched is not None:
        shift, start, length = searched
        found = Move(box.x, box.y + start + shift, box.y + start, box.width, length)
    if memory is not None:
        memory.last = found
    return found


def remembered_move(
    reference: np.ndarray, frame: np.ndarray, box: Rect, memory: ShiftMemory
) -> Move | None:
    """The last move found, again: in its columns (widened to the columns of `box` beside
    them that moved the same way) and the rows it spanned, inside `box` (the damaged box,
    before any other comparison). A move that did not recur is forgotten, so a change
    that is no scroll pays this comparison once."""
    last = memory.last
    if last is None or last.x < box.x or last.x + last.width > box.x + box.width:
        return None
    top = max(box.y, min(last.src_y, last.dst_y))
    bottom = min(box.y + box.height, max(last.src_y, last.dst_y) + last.height)
    if bottom - top <= MIN_SCROLL_ROWS:
        return None
    found = _move_by(reference, frame, Rect(last.x, top, last.width, bottom - top), memory.shift)
    if found is not None:
        found = _widened(reference, frame, box, found)
    memory.last = found
    return found


def _widened(reference: np.ndarray, frame: np.ndarray, box: Rect, move: Move) -> Move:
    """`move` with the columns of `box` beside it that moved the same way (a line longer
    than any before it, or blank columns)."""
    new_rows = slice(move.dst_y, move.dst_y + move.height)
    old_rows = slice(move.src_y, move.src_y + move.height)
    left, right, box_right = move.x, move.x + move.width, box.x + box.width
    if left > box.x:
        equal = (frame[new_rows, box.x : left] == reference[old_rows, box.x : left]).all(axis=0)
        unequal = np.flatnonzero(~equal)
        left = box.x if unequal.size == 0 else box.x + int(unequal[-1]) + 1
    if right < box_right:
        equal = (frame[new_rows, right:box_right] == reference[old_rows, right:box_right]).all(
            axis=0
        )
        unequal = np.flatnonzero(~equal)
        right = box_right if unequal.size == 0 else right + int(unequal[0])
    return Move(left, move.src_y, move.dst_y, right - left, move.height)


def _move_by(reference: np.ndarray, frame: np.ndarray, box: Rect, shift: int) -> Move | None:
    """The longest run of rows of `box` moved by `shift`, verified pixel for pixel, if it
    covers REMEMBERED_ENOUGH_SHARE of the box and its rows did change."""
    columns = slice(box.x, box.x + box.width)
    old = reference[box.y : box.y + box.height, columns]
    new = frame[box.y : box.y + box.height, columns]
    start, length = _equal_run(old, new, shift)
    if length < max(MIN_SCROLL_ROWS, REMEMBERED_ENOUGH_SHARE * box.height):
        return None
    sample = np.linspace(start, start + length - 1, REMEMBERED_SAMPLE_ROWS).astype(np.intp)
    changed = np.count_nonzero((new[sample] != old[sample]).any(axis=1))
    if changed < REMEMBERED_CHANGED_SHARE * len(sample):
        return None
    return Move(box.x, box.y + start + shift, box.y + start, box.width, length)


def _searched_move(old: np.ndarray, new: np.ndarray) -> tuple[int, int, int] | None:
    """(shift, first destination row, row count) of the move found from row hashes."""
    old_hashes, new_hashes = row_hashes(old), row_hashes(new)
    shift = _best_shift(old_hashes, new_hashes)
    if shift is None:
        return None
    start, length = _longest_run(old_hashes, new_hashes, shift)
    if length < MIN_SCROLL_ROWS:
        return None
    if not np.array_equal(new[start : start + length], old[start + shift : start + shift + length]):
        return None  # a hash collision: send pixels, never a wrong copy
    return shift, start, length


def _equal_run(old: np.ndarray, new: np.ndarray, shift: int) -> tuple[int, int]:
    """(first destination row, row count) of the longest run of rows of `new` equal, pixel
    for pixel, to the rows of `old` `shift` further down."""
    rows = len(new)
    first, last = max(0, -shift), min(rows, rows - shift)
    if last - first < MIN_SCROLL_ROWS:
        return 0, 0
    equal = (new[first:last] == old[first + shift : last + shift]).all(axis=1)
    start, length = longest_run(equal)
    return first + start, length


def _best_shift(old_hashes: np.ndarray, new_hashes: np.ndarray) -> int | None:
    """Source row minus destination row under which most changed rows match."""
    changed = np.flatnonzero(new_hashes != old_hashes)
    if changed.size < MIN_SHIFT_VOTES:
        return None
    # Candidates: shifts proposed by rows whose content is rare in the old rows (a blank
    # row occurs everywhere and proposes nothing useful).
    order = np.argsort(old_hashes, kind="stable")
    sorted_hashes = old_hashes[order]
    wanted = new_hashes[changed]
    lower = np.searchsorted(sorted_hashes, wanted, side="left")
    upper = np.searchsorted(sorted_hashes, wanted, side="right")
    counts = upper - lower
    rare = (counts > 0) & (counts <= MAX_ROW_REPEATS)
    counts = counts[rare]
    total = int(counts.sum())
    if total == 0:
        return None
    # Each rare changed row proposes a shift to every old row with its content: old rows
    # order[lower .. upper) for it, all at once.
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    sources = order[np.repeat(lower[rare], counts) + within]
    proposals = sources - np.repeat(changed[rare], counts)
    candidates, votes = np.unique(proposals, return_counts=True)
    keep = candidates != 0
    candidates, votes = candidates[keep], votes[keep]
    best_first = np.argsort(votes)[::-1][:MAX_SHIFT_CANDIDATES]
    best, best_score = None, MIN_SHIFT_VOTES - 1
    rows = len(new_hashes)
    for shift in candidates[best_first].tolist():
        first, last = max(0, -shift), min(rows, rows - shift)
        score = int(
            np.count_nonzero(new_hashes[first:last] == old_hashes[first + shift : last + shift])
        )
        if score > best_score:
            best, best_score = shift, score
    return best


def _longest_run(old_hashes: np.ndarray, new_hashes: np.ndarray, shift: int) -> tuple[int, int]:
    """(first destination row, row count) of the longest run matching under `shift`."""
    rows = len(new_hashes)
    first, last = max(0, -shift), min(rows, rows - shift)
    if last <= first:
        return 0, 0
    start, length = longest_run(new_hashes[first:last] == old_hashes[first + shift : last + shift])
    return first + start, length


def longest_run(flags: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True in a 1-D boolean array."""
    # Run lengths of True, by the positions where it flips.
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[::2], edges[1::2]
    if starts.size == 0:
        return 0, 0
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest] - starts[longest])
