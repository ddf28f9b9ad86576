"""The framebuffer applies frame updates of every tile codec and refuses bad tiles."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from protocol import messages
from protocol.errors import ProtocolError
from viewer.framebuffer import Framebuffer, Region, bounding_region, decode_tile


def _encoded(image: Image.Image, codec: messages.Codec) -> bytes:
    out = io.BytesIO()
    if codec is messages.Codec.JPEG:
        image.save(out, "JPEG", quality=95)
    elif codec is messages.Codec.WEBP_LOSSLESS:
        image.save(out, "WEBP", lossless=True)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def _pattern(width: int, height: int, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _update(seq: int, tiles: list[messages.Tile], size: tuple[int, int] = (64, 48)):
    return messages.FrameUpdate(seq, 1.0, size[0], size[1], tuple(tiles))


def test_fill_tile_paints_its_rectangle() -> None:
    framebuffer = Framebuffer()
    regions = framebuffer.apply(
        _update(1, [messages.Tile(8, 4, 16, 10, messages.Codec.FILL, bytes([10, 20, 30]))])
    )
    image = framebuffer.snapshot()
    assert image is not None and image.size == (64, 48)
    assert image.getpixel((8, 4)) == (10, 20, 30)
    assert image.getpixel((23, 13)) == (10, 20, 30)
    assert image.getpixel((24, 13)) == (0, 0, 0)
    assert Region(0, 0, 64, 48) in regions and Region(8, 4, 16, 10) in regions


@pytest.mark.parametrize("codec", [messages.Codec.PNG, messages.Codec.WEBP_LOSSLESS])
def test_lossless_tiles_reproduce_pixels_exactly(codec: messages.Codec) -> None:
    framebuffer = Framebuffer()
    source = _pattern(32, 16)
    framebuffer.apply(_update(1, [messages.Tile(16, 8, 32, 16, codec, _encoded(source, codec))]))
    image = framebuffer.snapshot()
    assert image is not None
    assert np.array_equal(np.asarray(image.crop((16, 8, 48, 24))), np.asarray(source))


def test_jpeg_tile_is_close_to_its_source() -> None:
    framebuffer = Framebuffer()
    source = Image.new("RGB", (32, 32), (200, 100, 50))
    tile = messages.Tile(0, 0, 32, 32, messages.Codec.JPEG, _encoded(source, messages.Codec.JPEG))
    framebuffer.apply(_update(1, [tile]))
    image = framebuffer.snapshot()
    assert image is not None
    difference = np.abs(
        np.asarray(image.crop((0, 0, 32, 32)), dtype=int) - np.asarray(source, dtype=int)
    )
    assert difference.max() <= 4


def test_later_updates_change_only_their_tiles() -> None:
    framebuffer = Framebuffer()
    framebuffer.apply(
        _update(1, [messages.Tile(0, 0, 64, 48, messages.Codec.FILL, bytes([1, 2, 3]))])
    )
    regions = framebuffer.apply(
        _update(2, [messages.Tile(60, 40, 4, 8, messages.Codec.FILL, bytes([9, 9, 9]))])
    )
    image = framebuffer.snapshot()
    assert image is not None
    assert regions == [Region(60, 40, 4, 8)]
    assert image.getpixel((0, 0)) == (1, 2, 3)
    assert image.getpixel((63, 47)) == (9, 9, 9)


def test_a_new_screen_size_keeps_what_fits_and_reports_the_whole_screen() -> None:
    framebuffer = Framebuffer()
    framebuffer.apply(
        _update(1, [messages.Tile(0, 0, 64, 48, messages.Codec.FILL, bytes([5, 5, 5]))])
    )
    regions = framebuffer.apply(_update(2, [], size=(80, 60)))
    image = framebuffer.snapshot()
    assert image is not None and image.size == (80, 60)
    assert image.getpixel((10, 10)) == (5, 5, 5)
    assert regions == [Region(0, 0, 80, 60)]


def test_a_tile_whose_image_has_another_size_is_refused() -> None:
    data = _encoded(_pattern(10, 10), messages.Codec.PNG)
    with pytest.raises(ProtocolError, match="announced 12x10"):
        decode_tile(messages.Tile(0, 0, 12, 10, messages.Codec.PNG, data))


@given(
    st.binary(max_size=200),
    st.sampled_from([messages.Codec.JPEG, messages.Codec.PNG, messages.Codec.WEBP_LOSSLESS]),
)
def test_garbage_tiles_raise_protocol_error_only(data: bytes, codec: messages.Codec) -> None:
    with contextlib.suppress(ProtocolError):
        decode_tile(messages.Tile(0, 0, 4, 4, codec, data))


def test_render_scales_an_area_and_crops_at_one_to_one() -> None:
    framebuffer = Framebuffer()
    source = _pattern(64, 48)
    framebuffer.apply(
        _update(
            1,
            [messages.Tile(0, 0, 64, 48, messages.Codec.PNG, _encoded(source, messages.Codec.PNG))],
        )
    )
    exact = framebuffer.render((8.0, 8.0, 24.0, 16.0), (16, 8))
    assert np.array_equal(np.asarray(exact), np.asarray(source.crop((8, 8, 24, 16))))
    assert framebuffer.render((0.0, 0.0, 64.0, 48.0), (32, 24)).size == (32, 24)


def test_bounding_region_covers_all() -> None:
    assert bounding_region([]) is None
    assert bounding_region([Region(1, 2, 3, 4), Region(10, 0, 2, 2)]) == Region(1, 0, 11, 6)
