// Browser only: the host's H.264 video regions through WebCodecs, one VideoDecoder per video
// stream, as viewer/video_decode.py does with PyAV. Packets of a stream are decoded strictly
// in order; a key frame, or a packet for another rectangle, starts the stream's decoder
// afresh; a stream must begin with a key frame. The host encodes with libx264's zerolatency
// tuning (no B-frames), so each packet gives its picture at once; the picture comes back as
// RGBA of exactly the rectangle's size for the framebuffer to paste.
//
//     const video = new VideoDecoders();          // the Framebuffer's `video`
//     const picture = await video.decode(packet);  // {width, height, rgba} or null

import { ProtocolError } from './errors.js';

// Constrained Baseline, as libx264's ultrafast preset writes it; Debian's chromium decodes it
// in software (FFmpeg), no GPU needed.
export const CODEC = 'avc1.42E01E';
// A picture that does not come within this long is given up (nothing shown for that packet,
// the next one is awaited); only a broken decoder takes this long.
export const PICTURE_TIMEOUT_MS = 2000;

export function videoSupported() {
  return typeof globalThis.VideoDecoder === 'function';
}

class Stream {
  #decoder;
  #pending = []; // {resolve, reject, expired}
  #canvas;
  #context;
  #failure = null;

  constructor(rect) {
    this.rect = rect;
    this.#canvas = new OffscreenCanvas(rect.width, rect.height);
    this.#context = this.#canvas.getContext('2d', { willReadFrequently: true, alpha: false });
    this.#decoder = new VideoDecoder({
      output: (frame) => this.#picture(frame),
      error: () => this.#fail(new ProtocolError('a video packet could not be decoded')),
    });
    this.#decoder.configure({ codec: CODEC, optimizeForLatency: true });
  }

  #picture(frame) {
    const waiter = this.#pending.shift();
    try {
      if (waiter === undefined || waiter.expired) return;
      if (frame.displayWidth !== this.rect.width || frame.displayHeight !== this.rect.height) {
        waiter.reject(
          new ProtocolError(
            `a video picture is ${frame.displayWidth}x${frame.displayHeight} pixels but announced ${this.rect.width}x${this.rect.height}`,
          ),
        );
        return;
      }
      this.#context.drawImage(frame, 0, 0);
      const { data } = this.#context.getImageData(0, 0, this.rect.width, this.rect.height);
      waiter.resolve({ width: this.rect.width, height: this.rect.height, rgba: data });
    } finally {
      frame.close();
    }
  }

  #fail(error) {
    this.#failure = error;
    for (const waiter of this.#pending.splice(0)) waiter.reject(error);
  }

  decode(packet) {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, expired: false };
      this.#pending.push(waiter);
      setTimeout(() => {
        if (this.#pending.includes(waiter) && !waiter.expired) {
          waiter.expired = true;
          resolve(null);
        }
      }, PICTURE_TIMEOUT_MS);
      try {
        this.#decoder.decode(
          new EncodedVideoChunk({ type: packet.keyframe ? 'key' : 'delta', timestamp: 0, data: packet.data }),
        );
      } catch {
        this.#fail(new ProtocolError('a video packet could not be decoded'));
      }
    });
  }

  close() {
    if (this.#decoder.state !== 'closed') this.#decoder.close();
  }
}

export class VideoDecoders {
  #streams = new Map();

  /** Forget every stream (a new screen size): the next packets must be key frames. */
  reset() {
    for (const stream of this.#streams.values()) stream.close();
    this.#streams.clear();
  }

  /** The RGBA picture of `packet` at its rectangle's size (null: nothing to show yet). */
  async decode(packet) {
    if (!videoSupported()) throw new ProtocolError('this browser cannot decode video (no WebCodecs)');
    const rect = { x: packet.x, y: packet.y, width: packet.width, height: packet.height };
    let stream = this.#streams.get(packet.stream);
    const sameRect =
      stream !== undefined && ['x', 'y', 'width', 'height'].every((side) => stream.rect[side] === rect[side]);
    if (packet.keyframe || !sameRect) {
      if (!packet.keyframe) throw new ProtocolError('a video stream must start with a key frame');
      stream?.close();
      stream = new Stream(rect);
      this.#streams.set(packet.stream, stream);
    }
    try {
      return await stream.decode(packet);
    } catch (error) {
      stream.close();
      this.#streams.delete(packet.stream);
      throw error;
    }
  }
}
