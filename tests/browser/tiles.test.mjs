// Tile decoders and the framebuffer against viewer/framebuffer.py: the same pixels for
// fill, palette (1, 2, 4 bits, deflated or not) and rects tiles made by the host's encoder;
// the same refusals; and a sequence of updates with copies and a resize painting the same
// screen.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { ProtocolError } from '../../relay/browser/static/js/errors.js';
import { Framebuffer } from '../../relay/browser/static/js/framebuffer.js';
import { decode } from '../../relay/browser/static/js/messages.js';
import { TILE_DECODERS } from '../../relay/browser/static/js/tiles.js';
import { sha256 } from '../../relay/browser/static/vendor/noble-hashes/sha2.js';
import { fromJson, vectors } from './vectors.mjs';

function rgbOf(rgba) {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

test('fill, palette and rects tiles decode to python pixels', () => {
  const codecs = new Set();
  let deflated = 0;
  for (const v of vectors.tiles.valid) {
    const tile = fromJson(v.tile);
    const pixels = TILE_DECODERS[tile.codec](tile);
    assert.equal(pixels.width * pixels.height * 4, pixels.rgba.length);
    assert.equal(toHex(rgbOf(pixels.rgba)), v.rgb, `${tile.codec} ${tile.width}x${tile.height}`);
    codecs.add(tile.codec);
    if (tile.codec === 'palette' && tile.data[0] & 0x80) deflated++;
  }
  assert.deepEqual([...codecs].sort(), ['fill', 'palette', 'rects']);
  assert.ok(deflated >= 2);
});

test('bad tiles are refused with python sentences', () => {
  for (const { name, tile, error } of vectors.tiles.invalid) {
    const built = fromJson(tile);
    assert.throws(() => TILE_DECODERS[built.codec](built), (e) => e instanceof ProtocolError && e.message === error.message, name);
  }
});

test('a changed palette byte changes the pixels', () => {
  const v = vectors.tiles.valid.find((x) => x.tile.codec === 'palette' && x.tile.width === 9);
  const tile = fromJson(v.tile);
  const data = Uint8Array.from(tile.data);
  data[data.length - 1] ^= 0x80; // column 8's index (the low bits are row padding)
  const changed = { ...tile, data };
  let same = false;
  try {
    same = toHex(rgbOf(TILE_DECODERS.palette(changed).rgba)) === v.rgb;
  } catch (error) {
    assert.ok(error instanceof ProtocolError);
  }
  assert.ok(!same);
});

test('a sequence of updates paints the screen python paints', async () => {
  const screen = new Framebuffer();
  for (const step of vectors.framebuffer) {
    const regions = await screen.apply(decode(fromHex(step.encoded)));
    assert.deepEqual(regions.map((r) => [r.x, r.y, r.width, r.height]), step.regions);
    assert.deepEqual(screen.size, step.size);
    assert.equal(toHex(sha256(rgbOf(screen.rgba))), step.rgbSha256);
  }
});

test('image tiles go to the injected decoder and must be the announced size', async () => {
  const v = vectors.messages.valid.find((x) => x.message.tiles?.some((t) => t.codec === 'png'));
  const update = decode(fromHex(v.encoded));
  await assert.rejects(new Framebuffer().apply(update), /cannot decode png tiles/);
  const asked = [];
  const decodeImage = async (tile) => {
    asked.push(tile.codec);
    return { width: tile.width, height: tile.height, rgba: new Uint8ClampedArray(tile.width * tile.height * 4).fill(77) };
  };
  const screen = new Framebuffer({ decodeImage });
  await screen.apply(update);
  assert.deepEqual(asked, ['png']);
  const wrongSize = new Framebuffer({ decodeImage: async () => ({ width: 1, height: 1, rgba: new Uint8ClampedArray(4) }) });
  await assert.rejects(wrongSize.apply(update), /tile is 1x1 pixels but announced 4x4/);
});
