// The viewer's copy of the remote screen as RGBA pixels, kept up to date by applying frame
// updates, as viewer/framebuffer.py does: FrameUpdate with its tiles; ExtendedFrameUpdate
// with copies (applied first, each reading the screen as it is before it), then video
// pictures, then tiles. No DOM here: image tiles and video come through two injected
// decoders, so the same code runs in node's tests and in the page (images.js, video.js).
//
//     const screen = new Framebuffer({ decodeImage, video });
//     const regions = await screen.apply(update);   // [{x, y, width, height}, ...]
//     context.putImageData(screen.imageData(region), region.x, region.y);

import { ProtocolError } from './errors.js';
import { ExtendedFrameUpdate, FrameUpdate } from './messages.js';
import { TILE_DECODERS } from './tiles.js';

export const BACKGROUND_RGB = [0, 0, 0];

export class Framebuffer {
  /**
   * decodeImage(tile) -> Promise<{width, height, rgba}> for PNG, WebP and JPEG tiles;
   * video: {decode(packet) -> Promise<{width, height, rgba} | null>, reset()} or null.
   */
  constructor({ decodeImage = null, video = null } = {}) {
    this.decodeImage = decodeImage;
    this.video = video;
    this.width = 0;
    this.height = 0;
    this.rgba = new Uint8ClampedArray(0);
  }

  get size() {
    return [this.width, this.height];
  }

  /** Apply one update; resolves to the regions that changed (the whole screen on resize). */
  async apply(update) {
    if (update instanceof ExtendedFrameUpdate) return this.#applyExtended(update);
    if (update instanceof FrameUpdate) return this.#applyFrameUpdate(update);
    throw new ProtocolError(`this viewer cannot apply a ${update?.constructor?.name}`);
  }

  async #applyFrameUpdate(update) {
    const decoded = await this.#decodeTiles(update.tiles);
    const regions = this.#fit(update.screen_width, update.screen_height);
    this.#pasteTiles(decoded, regions);
    return regions;
  }

  async #applyExtended(update) {
    const { screen_width: width, screen_height: height } = update;
    if ((this.width !== width || this.height !== height) && this.video !== null) this.video.reset();
    const pictures = [];
    for (const packet of update.video) {
      if (this.video === null) throw new ProtocolError('this viewer cannot show video');
      pictures.push([packet, await this.video.decode(packet)]);
    }
    const decoded = await this.#decodeTiles(update.tiles);
    const regions = this.#fit(width, height);
    for (const copy of update.copies) {
      const moved = this.crop(copy.src_x, copy.src_y, copy.width, copy.height);
      this.paste(moved, copy.x, copy.y);
      regions.push({ x: copy.x, y: copy.y, width: copy.width, height: copy.height });
    }
    for (const [packet, picture] of pictures) {
      if (picture !== null) {
        this.paste(picture, packet.x, packet.y);
        regions.push({ x: packet.x, y: packet.y, width: packet.width, height: packet.height });
      }
    }
    this.#pasteTiles(decoded, regions);
    return regions;
  }

  async #decodeTiles(tiles) {
    const decoded = [];
    for (const tile of tiles) decoded.push([tile, await this.decodeTile(tile)]);
    return decoded;
  }

  /** The pixels of one tile, exactly the tile's size. */
  async decodeTile(tile) {
    const decoder = TILE_DECODERS[tile.codec];
    let pixels;
    if (decoder !== undefined) pixels = decoder(tile);
    else if (this.decodeImage !== null) pixels = await this.decodeImage(tile);
    else throw new ProtocolError(`this viewer cannot decode ${tile.codec} tiles`);
    if (pixels.width !== tile.width || pixels.height !== tile.height) {
      throw new ProtocolError(
        `a ${tile.codec} tile is ${pixels.width}x${pixels.height} pixels but announced ${tile.width}x${tile.height}`,
      );
    }
    return pixels;
  }

  /** Make the screen width x height (keeping what fits); the whole screen changed if it was not. */
  #fit(width, height) {
    if (this.width === width && this.height === height && this.rgba.length) return [];
    const old = { width: this.width, height: this.height, rgba: this.rgba };
    this.width = width;
    this.height = height;
    this.rgba = new Uint8ClampedArray(width * height * 4);
    const background = new Uint32Array(this.rgba.buffer);
    const [red, green, blue] = BACKGROUND_RGB;
    background.fill(new Uint32Array(new Uint8ClampedArray([red, green, blue, 255]).buffer)[0]);
    if (old.width && old.height) this.paste(old, 0, 0);
    return [{ x: 0, y: 0, width, height }];
  }

  #pasteTiles(decoded, regions) {
    for (const [tile, pixels] of decoded) {
      this.paste(pixels, tile.x, tile.y);
      regions.push({ x: tile.x, y: tile.y, width: tile.width, height: tile.height });
    }
  }

  /** A copy of a rectangle (clipped to the screen) as {width, height, rgba}. */
  crop(x, y, width, height) {
    const w = Math.max(0, Math.min(width, this.width - x));
    const h = Math.max(0, Math.min(height, this.height - y));
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let row = 0; row < h; row++) {
      const from = ((y + row) * this.width + x) * 4;
      rgba.set(this.rgba.subarray(from, from + w * 4), row * w * 4);
    }
    return { width: w, height: h, rgba };
  }

  /** Paint pixels at (x, y), clipped to the screen. */
  paste(pixels, x, y) {
    const w = Math.min(pixels.width, this.width - x);
    const h = Math.min(pixels.height, this.height - y);
    if (w <= 0 || h <= 0) return;
    for (let row = 0; row < h; row++) {
      const from = row * pixels.width * 4;
      this.rgba.set(pixels.rgba.subarray(from, from + w * 4), ((y + row) * this.width + x) * 4);
    }
  }

  /** One pixel's [r, g, b], or null outside the screen or before the first frame. */
  pixel(x, y) {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return null;
    const at = (y * this.width + x) * 4;
    return [this.rgba[at], this.rgba[at + 1], this.rgba[at + 2]];
  }

  /** A region as an ImageData for a canvas (browser only). */
  imageData(region) {
    const { width, height, rgba } = this.crop(region.x, region.y, region.width, region.height);
    return new ImageData(rgba, width, height);
  }
}
