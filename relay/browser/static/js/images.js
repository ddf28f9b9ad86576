// Browser only: PNG, lossless WebP and JPEG tiles through the browser's own decoders
// (createImageBitmap, OffscreenCanvas), as RGBA of exactly the tile's size. The framebuffer
// takes `decodeImage` as its image decoder; node's tests give it a stand-in.
//
// No colour management and no premultiplied alpha, so lossless tiles arrive pixel for
// pixel as the host encoded them (checked end to end in Chromium).

import { ProtocolError } from './errors.js';
import { Codec } from './messages.js';
import { MAX_TILE_PIXELS } from './tiles.js';

const TYPES = Object.freeze({
  [Codec.PNG]: 'image/png',
  [Codec.WEBP_LOSSLESS]: 'image/webp',
  [Codec.JPEG]: 'image/jpeg',
});

export async function decodeImage(tile) {
  const type = TYPES[tile.codec];
  if (type === undefined) throw new ProtocolError(`this viewer cannot decode ${tile.codec} tiles`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([tile.data], { type }), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch {
    throw new ProtocolError(`a ${tile.codec} tile could not be decoded`);
  }
  try {
    if (bitmap.width * bitmap.height > MAX_TILE_PIXELS) {
      throw new ProtocolError('a tile image is larger than the largest screen');
    }
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    for (let i = 3; i < data.length; i += 4) data[i] = 255;
    return { width: bitmap.width, height: bitmap.height, rgba: data };
  } finally {
    bitmap.close();
  }
}
