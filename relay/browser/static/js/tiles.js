// Tile decoders into RGBA pixels, as viewer/framebuffer.py has them, in plain JS (no DOM):
// FILL, PALETTE and RECTS. PNG, lossless WebP and JPEG need the browser's image decoders:
// see images.js. A decoded tile is {width, height, rgba} with alpha 255.

import { ProtocolError } from './errors.js';
import { InflateError, InflateTooLong, InflateTruncated, inflateZlib } from './inflate.js';
import {
  Codec,
  MAX_PALETTE_COLOURS,
  MAX_SCREEN_PIXELS,
  PALETTE_DEFLATED_FLAG,
  RECTS_BACKGROUND_BYTES,
  RECTS_ENTRY_BYTES,
} from './messages.js';

export const MAX_TILE_PIXELS = MAX_SCREEN_PIXELS * MAX_SCREEN_PIXELS;

/** `width` x `height` pixels of one RGB colour, as RGBA. */
export function solid(width, height, red, green, blue) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  const colour = new Uint32Array(rgba.buffer);
  colour.fill(packRgba(red, green, blue));
  return { width, height, rgba };
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** One RGBA pixel as the Uint32 that holds it in memory. */
function packRgba(red, green, blue) {
  return LITTLE_ENDIAN
    ? ((255 << 24) | (blue << 16) | (green << 8) | red) >>> 0
    : ((red << 24) | (green << 16) | (blue << 8) | 255) >>> 0;
}

export function decodeFill(tile) {
  const [red, green, blue] = tile.data;
  return solid(tile.width, tile.height, red, green, blue);
}

export function decodePalette(tile) {
  const data = tile.data;
  if (!data.length) throw new ProtocolError('a palette tile is empty');
  const colours = (data[0] & ~PALETTE_DEFLATED_FLAG) + 1;
  if (colours < 2 || colours > MAX_PALETTE_COLOURS) {
    throw new ProtocolError('a palette tile names 2 to 16 colours');
  }
  const start = 1 + 3 * colours;
  if (data.length < start) throw new ProtocolError('a palette tile is shorter than its colours');
  const palette = new Uint32Array(colours);
  for (let i = 0; i < colours; i++) palette[i] = packRgba(data[1 + 3 * i], data[2 + 3 * i], data[3 + 3 * i]);
  const bits = colours <= 2 ? 1 : colours <= 4 ? 2 : 4;
  const perByte = 8 / bits;
  const rowBytes = Math.ceil(tile.width / perByte);
  const expected = rowBytes * tile.height;
  let packed = data.subarray(start);
  if (data[0] & PALETTE_DEFLATED_FLAG) {
    let inflated;
    try {
      inflated = inflateZlib(packed, expected + 1);
    } catch (error) {
      if (error instanceof InflateTruncated || error instanceof InflateTooLong) {
        throw new ProtocolError("a palette tile's indices are not one whole deflate stream");
      }
      if (error instanceof InflateError) {
        throw new ProtocolError("a palette tile's indices could not be inflated");
      }
      throw error;
    }
    if (inflated.end !== packed.length) {
      throw new ProtocolError("a palette tile's indices are not one whole deflate stream");
    }
    packed = inflated.output;
  }
  if (packed.length !== expected) {
    throw new ProtocolError(`a palette tile must carry ${expected} bytes of indices`);
  }
  const { width, height } = tile;
  const rgba = new Uint8ClampedArray(width * height * 4);
  const pixels = new Uint32Array(rgba.buffer);
  const mask = (1 << bits) - 1;
  let out = 0;
  for (let row = 0; row < height; row++) {
    const base = row * rowBytes;
    for (let column = 0; column < width; column++) {
      const byte = packed[base + Math.floor(column / perByte)];
      const shift = 8 - bits * ((column % perByte) + 1);
      const index = (byte >> shift) & mask;
      if (index >= colours) throw new ProtocolError('a palette tile uses a colour it does not name');
      pixels[out++] = palette[index];
    }
  }
  return { width, height, rgba };
}

export function decodeRects(tile) {
  // The length was checked with the tile (messages.Tile): a colour and whole entries.
  const data = tile.data;
  const { width, height } = tile;
  const decoded = solid(width, height, data[0], data[1], data[2]);
  const pixels = new Uint32Array(decoded.rgba.buffer);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let offset = RECTS_BACKGROUND_BYTES; offset < data.length; offset += RECTS_ENTRY_BYTES) {
    const colour = packRgba(data[offset], data[offset + 1], data[offset + 2]);
    const x = view.getUint16(offset + 3);
    const y = view.getUint16(offset + 5);
    const w = view.getUint16(offset + 7);
    const h = view.getUint16(offset + 9);
    if (w === 0 || h === 0 || x + w > width || y + h > height) {
      throw new ProtocolError('a rects tile names a rectangle outside the tile');
    }
    for (let row = y; row < y + h; row++) pixels.fill(colour, row * width + x, row * width + x + w);
  }
  return decoded;
}

/** The decoders that need no browser: codec -> (tile) => {width, height, rgba}. */
export const TILE_DECODERS = Object.freeze({
  [Codec.FILL]: decodeFill,
  [Codec.PALETTE]: decodePalette,
  [Codec.RECTS]: decodeRects,
});

/** Codecs whose bytes are an image file (PNG, lossless WebP, JPEG): images.js. */
export const IMAGE_CODECS = Object.freeze([Codec.JPEG, Codec.WEBP_LOSSLESS, Codec.PNG]);
