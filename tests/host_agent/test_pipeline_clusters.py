"""The grouping of changed tiles that scroll detection and the video stage rely on."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from host_agent.damage.tiles import clusters


def flood_fill_groups(tiles: np.ndarray) -> list[tuple[int, tuple[int, int, int, int]]]:
    """(tile count, box) of each group, found tile by tile: the plain definition."""
    rows, columns = tiles.shape
    seen = np.zeros_like(tiles)
    groups = []
    for row, column in zip(*np.nonzero(tiles), strict=True):
        if seen[row, column]:
            continue
        seen[row, column] = True
        stack, members = [(row, column)], []
        while stack:
            r, c = stack.pop()
            members.append((r, c))
            for nr in range(max(0, r - 1), min(rows, r + 2)):
                for nc in range(max(0, c - 1), min(columns, c + 2)):
                    if tiles[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        found_rows = [r for r, _ in members]
        found_columns = [c for _, c in members]
        box = (min(found_rows), min(found_columns), max(found_rows) + 1, max(found_columns) + 1)
        groups.append((len(members), box))
    return groups


@given(arrays(np.bool_, st.tuples(st.integers(1, 17), st.integers(1, 30))))
def test_clusters_are_the_touching_groups_largest_first(tiles):
    boxes = clusters(tiles)
    expected = flood_fill_groups(tiles)
    assert sorted(boxes) == sorted(box for _, box in expected)
    sizes = {box: count for count, box in expected}
    counts = [sizes[box] for box in boxes]
    assert counts == sorted(counts, reverse=True)


def test_a_full_screen_change_is_one_cluster_and_a_diagonal_touch_joins():
    assert clusters(np.ones((17, 30), dtype=bool)) == [(0, 0, 17, 30)]
    diagonal = np.zeros((4, 4), dtype=bool)
    diagonal[0, 0] = diagonal[1, 1] = diagonal[3, 3] = True
    assert clusters(diagonal) == [(0, 0, 2, 2), (3, 3, 4, 4)]


def _grabs_for(spots: list[tuple[int, int, int]]) -> tuple[int, bool]:
    """(grabs, viewer exact) for one update that changes `spots` (x, y, side) of a screen
    whose damage is reported as separate rectangles (as the XFixes region is)."""
    from host_agent.pipeline import FramePipeline
    from protocol import messages
    from tests.host_agent.screens import DamagedSource, rgb
    from viewer.framebuffer import Framebuffer

    screen = np.full((720, 1280, 4), 200, dtype=np.uint8)
    source = DamagedSource(screen.copy(), cells=8)
    pipeline = FramePipeline(lambda: source)
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    framebuffer = Framebuffer()
    framebuffer.apply(pipeline.produce(80, now=0.0).message(1))
    for x, y, side in spots:
        screen[y : y + side, x : x + side, :3] = (40, 90, 160)
    source.frame = screen.copy()
    before = source.grabs
    update = pipeline.produce(80, now=0.1, timeout_seconds=0.0)
    assert update is not None
    framebuffer.apply(update.message(2))
    return source.grabs - before, np.array_equal(np.asarray(framebuffer.snapshot()), rgb(screen))


def test_a_few_separate_changes_are_grabbed_each_on_its_own():
    grabs, exact = _grabs_for([(20, 20, 40), (1200, 30, 40), (600, 650, 40)])
    assert (grabs, exact) == (3, True)


def test_changes_strewn_all_over_are_one_grab_not_one_each():
    """Characters strewn over a terminal (many small changes far apart) are cheaper as one
    grab of the box around them than as a grab each (pipeline.MAX_PARTS)."""
    rng = np.random.default_rng(7)
    spots = [(int(x), int(y), 6) for x, y in zip(rng.integers(0, 1270, 120),
                                                 rng.integers(0, 710, 120), strict=True)]  # fmt: skip
    grabs, exact = _grabs_for(spots)
    assert (grabs, exact) == (1, True)


@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    spots=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 299)), max_size=12),
    parts=st.lists(
        st.tuples(st.integers(0, 299), st.integers(0, 299), st.integers(1, 120), st.integers(1, 120)),
        min_size=1, max_size=4,
    ),
)  # fmt: skip
def test_changed_tiles_and_their_bounds_read_from_the_parts_equal_those_of_the_whole_mask(
    height, width, spots, parts
):
    """The pipeline reads the changed-pixel mask only inside the parts it grabbed (nothing
    was compared elsewhere); what it finds must be what the whole mask gives."""
    from host_agent.damage.tiles import Rect, tighten, tiles_of
    from host_agent.pipeline import _changed_tiles, _clip, _tightened

    box = Rect(0, 0, width, height)
    inside = tuple(
        clipped for x, y, w, h in parts if (clipped := _clip(Rect(x, y, w, h), box)) is not None
    )
    if not inside:
        return
    mask = np.zeros((height, width), dtype=bool)
    for x, y in spots:
        if any(p.x <= x < p.x + p.width and p.y <= y < p.y + p.height for p in inside):
            mask[y, x] = True
    tiles = _changed_tiles(mask, box, inside)
    assert np.array_equal(tiles, tiles_of(mask))
    assert _tightened(tiles, mask, box) == tighten(box, mask)
