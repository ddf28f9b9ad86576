"""The XFixes region requests python-xlib lacks (damage/xregion.py), on a real X server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import damage

from host_agent.damage import xregion
from host_agent.damage.tiles import Rect

SQUARES = [Rect(10 + 40 * i, 10 + 20 * i, 8, 8) for i in range(30)]


@pytest.fixture
def connection(fresh_xvfb) -> Iterator[tuple]:
    client = xdisplay.Display(fresh_xvfb.name)
    client.damage_query_version()
    root = client.screen().root
    tracked = root.damage_create(damage.DamageReportBoundingBox)
    region = xregion.create(client)
    assert region is not None, "Xvfb has XFixes 2"
    client.sync()
    try:
        yield client, root, tracked, region
    finally:
        xregion.destroy(client, region)
        client.close()


def draw_squares(client, root) -> None:
    pen = root.create_gc(foreground=0x3070C0, subwindow_mode=X.IncludeInferiors)
    for square in SQUARES:
        root.fill_rectangle(pen, square.x, square.y, square.width, square.height)
    client.sync()


def test_the_damage_handed_to_a_region_reads_back_as_what_was_drawn(connection):
    client, root, tracked, region = connection
    client.damage_subtract(tracked)  # whatever the server drew before
    draw_squares(client, root)
    client.damage_subtract(tracked, X.NONE, region)
    assert sorted(xregion.fetch(client, region, 512), key=lambda r: r.y) == SQUARES


def test_more_rectangles_than_wanted_read_back_as_their_box(connection):
    client, root, tracked, region = connection
    client.damage_subtract(tracked)
    draw_squares(client, root)
    client.damage_subtract(tracked, X.NONE, region)
    last = SQUARES[-1]
    box = Rect(10, 10, last.x + last.width - 10, last.y + last.height - 10)
    assert xregion.fetch(client, region, 10) == [box]
