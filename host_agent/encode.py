"""Classify and encode stages: pick a codec for each rectangle from its pixels, encode it.

Measured on this machine (benchmarks/host.py --codecs, 256x256 tiles):
a tile of text is 26 KB as JPEG q75 but 1.1 KB as lossless WebP (method 0); a photo-like
tile is 31 KB as JPEG q75 but 188 KB as lossless WebP. One typed character of xterm's
bitmap font (about 12x13 pixels, two colours) is 60 bytes as lossless WebP (its container
alone is ~40) but 26 bytes as a 1-bit palette. So, in this order:
- one colour -> FILL (3 bytes);
- a background and at most MAX_SOLID_RECTS solid rectangles -> RECTS, if the viewer
  announced it (a moving block: 14 bytes where a 1-bit palette took about 40);
- a small rectangle (at most PALETTE_MAX_PIXELS) of at most MAX_PALETTE_COLOURS colours
  -> PALETTE (indices packed to 1/2/4 bits, deflated when that is shorter), if the viewer
  announced it;
- many equal neighbouring pixels (text, UI) -> a palette too when the region, however
  large, has at most FEW_COLOURS colours and the viewer takes palettes (measured: blocks
  moving over a backdrop 140 bytes vs 300 as WebP, whose container alone is ~40; 8 lines
  of two-colour bitmap text 499 vs 546, 30 lines 1244 vs 1680), otherwise lossless WebP;
- otherwise -> JPEG at the quality flow control chooses.
The share of pixels equal to their left neighbour separates text/UI from photo cleanly
(text 0.76, photo 0.00002) and costs one vectorised compare.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from endpoint.tile_decode import decode_tile as endpoint_decode_tile
from host_agent.damage.tiles import Rect, as_pixels
from protocol.messages import MAX_PALETTE_COLOURS, PALETTE_DEFLATED_FLAG, Codec, Tile

# Share of pixels equal to their left neighbour above which a region counts as text/UI.
LOSSLESS_FLAT_SHARE = 0.5
WEBP_METHOD = 0  # fastest lossless WebP effort; measured 1.1 KB per text tile
WEBP_LOSSLESS_QUALITY = 0
# Palette only for small rectangles: counting colours costs a sort of the pixels.
PALETTE_MAX_PIXELS = 64 * 64
PALETTE_DEFLATE_LEVEL = 6
# A region of any size with 2 to FEW_COLOURS colours goes as a palette; its colours are
# looked for in every FEW_COLOURS_SAMPLE_STEP-th pixel (row after row: a step prime to the
# periods of stipples and checks, so the sample does not see only one of their colours).
FEW_COLOURS = 4
FEW_COLOURS_SAMPLE_STEP = 13
# A region that is a background and at most MAX_SOLID_RECTS solid rectangles goes as a
# rects tile (3 bytes and 11 per rectangle): a moving block is 14 bytes, as a 1-bit
# palette about 40 (measured on the peer benchmark's animation).
MAX_SOLID_RECTS = 16
# Two rectangles or fewer: shorter than any palette of a region worth a rects tile.
SURELY_SHORTER_RECTS_BYTES = 3 + 2 * 11
# Text and photos are ruled out on every SOLID_SAMPLE_ROWS-th row and SOLID_SAMPLE_COLUMNS-th
# column first: each break between two sampled rows is at least one between full rows.
SOLID_SAMPLE_ROWS = 4
SOLID_SAMPLE_COLUMNS = 8
_RECT = struct.Struct(">3B4H")


def classify(pixels: np.ndarray, *, lossless_only: bool = False, palette: bool = False) -> Codec:
    """Codec for a (height, width, 4) BGRA region."""
    values = as_pixels(pixels)
    if (values == values.flat[0]).all():
        return Codec.FILL
    if (
        palette
        and values.size <= PALETTE_MAX_PIXELS
        and np.unique(values & 0x00FFFFFF).size <= MAX_PALETTE_COLOURS
    ):
        return Codec.PALETTE
    return _lossless_or_jpeg(values, lossless_only)


def _lossless_or_jpeg(values: np.ndarray, lossless_only: bool) -> Codec:
    """Lossless WebP for text and UI (many pixels equal to their left neighbour), JPEG for
    the photo-like rest, of (rows, columns) uint32 pixels of more than one colour."""
    if lossless_only:
        return Codec.WEBP_LOSSLESS
    if values.shape[1] >= 2:
        flat_share = float(np.count_nonzero(values[:, 1:] == values[:, :-1])) / (
            values.shape[0] * (values.shape[1] - 1)
        )
    else:
        flat_share = float(np.count_nonzero(values[1:] == values[:-1])) / max(
            1, values.shape[0] - 1
        )
    return Codec.WEBP_LOSSLESS if flat_share >= LOSSLESS_FLAT_SHARE else Codec.JPEG


def _image(pixels: np.ndarray) -> Image.Image:
    height, width = pixels.shape[:2]
    data = np.ascontiguousarray(pixels)
    return Image.frombuffer("RGB", (width, height), data, "raw", "BGRX", 0, 1)


def encode_region(pixels: np.ndarray, codec: Codec, jpeg_quality: int) -> bytes:
    """The bytes of one region in `codec` (BGRA pixels in, RGB codecs out)."""
    if codec is Codec.FILL:
        blue, green, red = (int(v) for v in pixels[0, 0, :3])
        return bytes((red, green, blue))
    if codec is Codec.PALETTE:
        return encode_palette(pixels)
    buffer = io.BytesIO()
    image = _image(pixels)
    if codec is Codec.JPEG:
        image.save(buffer, "JPEG", quality=jpeg_quality)
    elif codec is Codec.WEBP_LOSSLESS:
        image.save(buffer, "WEBP", lossless=True, method=WEBP_METHOD, quality=WEBP_LOSSLESS_QUALITY)
    else:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def palette_bits(colours: int) -> int:
    """Bits per index for a palette of `colours` colours."""
    return 1 if colours <= 2 else 2 if colours <= 4 else 4


def encode_palette(pixels: np.ndarray) -> bytes:
    """A region of few colours as Codec.PALETTE bytes (see protocol/messages.py)."""
    data = _sorted_palette(as_pixels(pixels))
    if data is None:
        raise ValueError("too many colours for a palette tile")
    return data


def _sorted_palette(values: np.ndarray) -> bytes | None:
    """Codec.PALETTE bytes of (rows, columns) uint32 pixels, every pixel's colour sorted
    (costly for large regions), or None for more than MAX_PALETTE_COLOURS colours."""
    colours, indices = np.unique(values & 0x00FFFFFF, return_inverse=True)
    if colours.size > MAX_PALETTE_COLOURS:
        return None
    return _palette_bytes(colours, indices.reshape(values.shape).astype(np.uint8))


def few_colour_palette(pixels: np.ndarray) -> bytes | None:
    """Codec.PALETTE bytes of a region of 2 to FEW_COLOURS colours, or None. Cheap for large
    regions: the colours come from a sparse sample (no sort of every pixel), then one compare
    per colour checks that they are all there is."""
    return _few_colour_palette(as_pixels(pixels))


def _few_colour_palette(raw: np.ndarray) -> bytes | None:
    """few_colour_palette of (rows, columns) uint32 pixels."""
    values = raw & 0x00FFFFFF
    if np.unique(values[0, ::FEW_COLOURS_SAMPLE_STEP]).size > FEW_COLOURS:
        return None  # the first row alone rules out a photo
    colours = np.unique(values.ravel()[::FEW_COLOURS_SAMPLE_STEP])
    if not 2 <= colours.size <= FEW_COLOURS:
        return None
    indices = np.zeros(values.shape, dtype=np.uint8)
    covered = values == colours[0]
    for index, colour in enumerate(colours[1:].tolist(), start=1):
        matches = values == colour
        indices[matches] = index
        covered |= matches
    if not covered.all():
        return None
    return _palette_bytes(colours, indices)


def solid_rects(raw: np.ndarray) -> bytes | None:
    """Codec.RECTS bytes of a region ((rows, columns) uint32 pixels, a view will do) that is
    one background colour and at most MAX_SOLID_RECTS solid rectangles on it, and not longer
    than as a palette (a typed glyph is a dozen one-pixel rectangles but 20 bytes as a 1-bit
    palette); or None."""
    blocks = _solid_rects(raw)
    if blocks is None:
        return None
    data = blocks.data()
    if len(data) <= SURELY_SHORTER_RECTS_BYTES:
        return data
    palette = blocks.palette()
    return data if palette is None or len(data) < len(palette) else None


@dataclass(frozen=True, slots=True)
class _Blocks:
    """A region as one background colour and solid rectangles on it that do not overlap."""

    height: int
    width: int
    background: int
    rects: list[tuple[int, int, int, int, int]]  # colour, x, y, width, height
    sampled: np.ndarray  # the colours of every FEW_COLOURS_SAMPLE_STEP-th pixel, sorted

    def data(self) -> bytes:
        """As Codec.RECTS bytes."""
        return self.background.to_bytes(3, "big") + b"".join(
            _RECT.pack(colour >> 16, (colour >> 8) & 255, colour & 255, x, y, w, h)
            for colour, x, y, w, h in self.rects
        )

    def palette(self) -> bytes | None:
        """The same bytes as few_colour_palette of the region, from the rectangles instead
        of one compare of every pixel per colour. That finds a palette when the sample saw
        every colour there is, 2 to FEW_COLOURS of them, with the sorted sampled colours
        as its colours; the sample sees only colours there are, and the rectangles and the
        background have them all, so the sample saw them all when it saw as many."""
        colours = {self.background, *(colour for colour, *_ in self.rects)}
        if len(colours) != self.sampled.size or not 2 <= len(colours) <= FEW_COLOURS:
            return None
        index = {colour: number for number, colour in enumerate(self.sampled.tolist())}
        indices = np.full((self.height, self.width), index[self.background], dtype=np.uint8)
        for colour, x, y, width, height in self.rects:
            indices[y : y + height, x : x + width] = index[colour]
        return _palette_bytes(self.sampled, indices)


def _solid_rects(raw: np.ndarray) -> _Blocks | None:
    """The region as a background colour and at most MAX_SOLID_RECTS solid rectangles on
    it, or None. The region is cut into bands of equal rows (one compare of each row with
    the next); each band's runs of colour continue the rectangles of the band above or
    start new ones."""
    sample = raw[::SOLID_SAMPLE_ROWS, ::SOLID_SAMPLE_COLUMNS]
    if np.count_nonzero((sample[1:] != sample[:-1]).any(axis=1)) > 2 * MAX_SOLID_RECTS:
        return None  # text, a photo: far too many different rows, seen in a sample
    values = raw & 0x00FFFFFF
    # A row with E colour edges has at least (E + 1) // 2 runs that are not the background,
    # each a rectangle of its own: a line of text needs far more than MAX_SOLID_RECTS.
    # Seen on every SOLID_SAMPLE_ROWS-th row, before any row is walked in Python.
    rows = values[::SOLID_SAMPLE_ROWS]
    if np.count_nonzero(rows[:, 1:] != rows[:, :-1], axis=1).max() > 2 * MAX_SOLID_RECTS:
        return None
    height, width = values.shape
    breaks = np.flatnonzero((values[1:] != values[:-1]).any(axis=1)) + 1
    if breaks.size > 2 * MAX_SOLID_RECTS:
        return None
    colours, counts = np.unique(values.ravel()[::FEW_COLOURS_SAMPLE_STEP], return_counts=True)
    background = int(colours[np.argmax(counts)])
    done: list[tuple[int, int, int, int, int]] = []  # colour, x, y, width, height
    open_runs: dict[tuple[int, int, int], int] = {}  # (x, end, colour) -> first row
    for top in [0, *breaks.tolist()]:
        row = values[top]
        edges = [0, *(np.flatnonzero(row[1:] != row[:-1]) + 1).tolist(), width]
        runs = {
            (start, end, colour)
            for start, end in zip(edges[:-1], edges[1:], strict=True)
            if (colour := int(row[start])) != background
        }
        for run in [run for run in open_runs if run not in runs]:
            start, end, colour = run
            first = open_runs.pop(run)
            done.append((colour, start, first, end - start, top - first))
        for run in runs:
            open_runs.setdefault(run, top)
        if len(done) + len(open_runs) > MAX_SOLID_RECTS:
            return None
    for (start, end, colour), first in open_runs.items():
        done.append((colour, start, first, end - start, height - first))
    return _Blocks(height, width, background, done, colours)


def _palette_bytes(colours: np.ndarray, indices: np.ndarray) -> bytes:
    """Header, RGB colours and packed (deflated when shorter) indices of a palette tile."""
    packed = _packed(indices, palette_bits(colours.size))
    rgb = bytes(
        channel
        for value in colours.tolist()
        for channel in ((value >> 16) & 255, (value >> 8) & 255, value & 255)
    )
    header = colours.size - 1
    deflated = zlib.compress(packed, PALETTE_DEFLATE_LEVEL)
    if len(deflated) < len(packed):
        return bytes((header | PALETTE_DEFLATED_FLAG,)) + rgb + deflated
    return bytes((header,)) + rgb + packed


def _packed(indices: np.ndarray, bits: int) -> bytes:
    """Row-major (rows, columns) uint8 indices at `bits` bits each, the first in the high
    bits, every row padded to whole bytes. One vectorised step per index in a byte: a
    reduce over the few indices of each byte was ten times slower (450 us against 50 for
    a 330x340 region of four colours)."""
    if bits == 1:
        return np.packbits(indices, axis=1).tobytes()
    height, width = indices.shape
    per_byte = 8 // bits
    padded = np.zeros((height, -(-width // per_byte) * per_byte), dtype=np.uint8)
    padded[:, :width] = indices
    groups = padded.reshape(height, -1, per_byte)
    packed = groups[..., 0] << (8 - bits)
    for place in range(1, per_byte):
        packed |= groups[..., place] << (8 - bits * (place + 1))
    return packed.tobytes()


def encode_rect(
    frame: np.ndarray,
    rect: Rect,
    jpeg_quality: int,
    *,
    lossless_only: bool = False,
    palette: bool = False,
    rects: bool = False,
) -> Tile:
    pixels = frame[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]
    # What classify() would choose, each pixel sorted at most once: 2 to FEW_COLOURS
    # colours (text, UI, but also a stipple, which classify() alone would take for a photo)
    # are found without a sort; only then does a small region get its colours sorted.
    values = as_pixels(pixels)
    data = None
    if (values == values.flat[0]).all():
        codec = Codec.FILL
    elif rects and (data := solid_rects(values)) is not None:
        codec = Codec.RECTS
    elif palette and (data := _few_or_small_palette(values)) is not None:
        codec = Codec.PALETTE
    else:
        codec = _lossless_or_jpeg(values, lossless_only)
    return Tile(
        x=rect.x,
        y=rect.y,
        width=rect.width,
        height=rect.height,
        codec=codec,
        data=data if data is not None else encode_region(pixels, codec, jpeg_quality),
    )


def _few_or_small_palette(values: np.ndarray) -> bytes | None:
    """Palette bytes of 2 to FEW_COLOURS colours in a region of any size, or of up to
    MAX_PALETTE_COLOURS in a small one (at most PALETTE_MAX_PIXELS); else None."""
    data = _few_colour_palette(values)
    if data is None and values.size <= PALETTE_MAX_PIXELS:
        data = _sorted_palette(values)
    return data


def decode_tile(tile: Tile) -> np.ndarray:
    """RGB pixels of a tile as a viewer shows them (for tests and the benchmark)."""
    return np.asarray(endpoint_decode_tile(tile))
