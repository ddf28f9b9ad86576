// End-to-end messages between host and viewer, as protocol/messages.py has them.
//
// On the wire (inside the encrypted channel) a message is a msgpack array
// [type number, field, field, ...] in the order of the class's FIELDS. Decoding is strict:
// unknown types, wrong field types, values out of range and oversize payloads all raise
// ProtocolError with the same sentence python gives.

import { ProtocolError, UnsupportedVersion } from './errors.js';
import { MsgpackError, pack, unpackFirst } from './msgpack.js';
import { Blob, Choice, Flag, Float, Int, ListOf, Nested, Record, Text, fromValues, toValues } from './schema.js';

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_SCREEN_PIXELS = 16384;
export const MAX_PADDING_BYTES = 1024;
// A screen's area is bounded too (an 8K screen fits): a viewer allocates the screen as
// the update announces it, before it has read a pixel. As protocol/messages.py.
export const MAX_SCREEN_AREA_PIXELS = 32 * 1024 * 1024;
export const MAX_TILE_AREA_SCREENS = 2;
export const MAX_COPY_AREA_SCREENS = 8;
export const MAX_TILES_PER_UPDATE = 8192;
export const MAX_COPIES_PER_UPDATE = 64;
export const MAX_VIDEO_PACKETS_PER_UPDATE = 4;
export const MAX_VIDEO_STREAM = 255;
export const MAX_VIDEO_PACKET_BYTES = 4 * 1024 * 1024;
export const MAX_PALETTE_COLOURS = 16;
export const PALETTE_DEFLATED_FLAG = 0x80;
export const RECTS_BACKGROUND_BYTES = 3;
export const RECTS_ENTRY_BYTES = 11;
export const MAX_RECTS_PER_TILE = 64;
export const MAX_CHAT_CHARS = 2000;
export const MAX_REASON_CHARS = 500;
export const MAX_SEQUENCE = 2n ** 63n - 1n;
export const MAX_TIMESTAMP = 16_725_225_600.0;
export const HEAD_BYTES = 32;
export const KEY_PATTERN = '[^\\x00-\\x1f\\x7f]|[A-Za-z][A-Za-z0-9_]{1,31}';

const COORDINATE = new Int(0, MAX_SCREEN_PIXELS - 1);
const SIZE = new Int(1, MAX_SCREEN_PIXELS);
const SCREEN_SIDE = new Int(0, MAX_SCREEN_PIXELS);
const SEQUENCE = new Int(0, MAX_SEQUENCE);

export const Codec = Object.freeze({
  FILL: 'fill',
  JPEG: 'jpeg',
  WEBP_LOSSLESS: 'webp',
  PNG: 'png',
  PALETTE: 'palette',
  RECTS: 'rects',
});

export const CAPABILITY_PALETTE = 'tiles.palette';
export const CAPABILITY_RECTS = 'tiles.rects';
export const CAPABILITY_COPY = 'copy';
export const CAPABILITY_VIDEO_H264 = 'video.h264';
export const RICH_CAPABILITIES = Object.freeze([
  CAPABILITY_PALETTE,
  CAPABILITY_RECTS,
  CAPABILITY_COPY,
  CAPABILITY_VIDEO_H264,
]);

export const ConsentLevel = Object.freeze({
  PENDING: 'pending',
  DENIED: 'denied',
  VIEW: 'view',
  CONTROL: 'control',
});

export const Button = Object.freeze({ LEFT: 'left', MIDDLE: 'middle', RIGHT: 'right' });

/** Base of every end-to-end message; `static TYPE` is its number on the wire. */
export class Message extends Record {}

/** A rectangle of the screen and its encoded pixels. */
export class Tile extends Record {
  static FIELDS = [
    ['x', COORDINATE],
    ['y', COORDINATE],
    ['width', SIZE],
    ['height', SIZE],
    ['codec', new Choice(Codec)],
    ['data', new Blob(MAX_MESSAGE_BYTES)],
  ];
  validate() {
    if (this.x + this.width > MAX_SCREEN_PIXELS || this.y + this.height > MAX_SCREEN_PIXELS) {
      throw new ProtocolError('a tile reaches beyond the largest screen supported');
    }
    if (this.codec === Codec.FILL && this.data.length !== 3) {
      throw new ProtocolError('a fill tile carries exactly 3 bytes of colour');
    }
    if (this.codec === Codec.RECTS) {
      const room = this.data.length - RECTS_BACKGROUND_BYTES;
      const entries = Math.floor(room / RECTS_ENTRY_BYTES);
      const rest = room - entries * RECTS_ENTRY_BYTES;
      if (entries < 0 || rest || entries > MAX_RECTS_PER_TILE) {
        throw new ProtocolError(
          `a rects tile carries a colour and 0 to ${MAX_RECTS_PER_TILE} rectangles of ${RECTS_ENTRY_BYTES} bytes`,
        );
      }
    }
  }
}

export class Hello extends Message {
  static TYPE = 1;
  static FIELDS = [
    ['versions', new ListOf(new Int(1, 255), 16)],
    ['capabilities', new ListOf(new Text(32, '[a-z0-9_.-]+'), 64)],
    ['screen_width', SCREEN_SIDE],
    ['screen_height', SCREEN_SIDE],
  ];
}

export class FrameUpdate extends Message {
  static TYPE = 2;
  static FIELDS = [
    ['seq', SEQUENCE],
    ['capture_time', new Float(0.0, MAX_TIMESTAMP)],
    ['screen_width', SIZE],
    ['screen_height', SIZE],
    ['tiles', new ListOf(new Nested(Tile), MAX_TILES_PER_UPDATE)],
  ];
  validate() {
    const screen = this.screen_width * this.screen_height;
    if (screen > MAX_SCREEN_AREA_PIXELS) {
      throw new ProtocolError(
        `a screen of ${this.screen_width}x${this.screen_height} pixels is larger ` +
          `than the largest supported (${MAX_SCREEN_AREA_PIXELS} pixels)`,
      );
    }
    let area = 0;
    for (const tile of this.tiles) {
      if (tile.x + tile.width > this.screen_width || tile.y + tile.height > this.screen_height) {
        throw new ProtocolError('a tile of the frame update lies outside the screen');
      }
      area += tile.width * tile.height;
    }
    if (area > MAX_TILE_AREA_SCREENS * screen) {
      throw new ProtocolError('the tiles of a frame update cover the screen more than twice');
    }
  }
}

/** Move the pixels at (src_x, src_y) to (x, y), read from the screen before this copy. */
export class CopyRect extends Record {
  static FIELDS = [
    ['src_x', COORDINATE],
    ['src_y', COORDINATE],
    ['x', COORDINATE],
    ['y', COORDINATE],
    ['width', SIZE],
    ['height', SIZE],
  ];
  validate() {
    if (this.src_x === this.x && this.src_y === this.y) {
      throw new ProtocolError('a copy must move its pixels somewhere else');
    }
  }
}

/** One H.264 access unit (Annex B) of the video stream shown at the rectangle. */
export class VideoPacket extends Record {
  static FIELDS = [
    ['stream', new Int(0, MAX_VIDEO_STREAM)],
    ['x', COORDINATE],
    ['y', COORDINATE],
    ['width', SIZE],
    ['height', SIZE],
    ['keyframe', new Flag()],
    ['data', new Blob(MAX_VIDEO_PACKET_BYTES)],
  ];
  validate() {
    if (this.width % 2 || this.height % 2) {
      throw new ProtocolError('a video rectangle must have even width and height');
    }
    if (!this.data.length) throw new ProtocolError('a video packet carries at least one byte');
  }
}

function inside(parts, width, height) {
  return parts.every((p) => p.x + p.width <= width && p.y + p.height <= height);
}

/** A FrameUpdate that also carries copies and video packets (applied copies, video, tiles). */
export class ExtendedFrameUpdate extends FrameUpdate {
  static TYPE = 17;
  static FIELDS = [
    ...FrameUpdate.FIELDS,
    ['copies', new ListOf(new Nested(CopyRect), MAX_COPIES_PER_UPDATE)],
    ['video', new ListOf(new Nested(VideoPacket), MAX_VIDEO_PACKETS_PER_UPDATE)],
  ];
  validate() {
    super.validate();
    const width = this.screen_width;
    const height = this.screen_height;
    const sources = this.copies.map((c) => ({ x: c.src_x, y: c.src_y, width: c.width, height: c.height }));
    if (!(inside(this.copies, width, height) && inside(sources, width, height))) {
      throw new ProtocolError('a copy of the frame update reaches outside the screen');
    }
    const moved = this.copies.reduce((sum, c) => sum + c.width * c.height, 0);
    if (moved > MAX_COPY_AREA_SCREENS * width * height) {
      throw new ProtocolError('the copies of a frame update move too many pixels');
    }
    if (!inside(this.video, width, height)) {
      throw new ProtocolError('a video rectangle of the frame update lies outside the screen');
    }
    const streams = this.video.map((packet) => packet.stream);
    if (new Set(streams).size !== streams.length) {
      throw new ProtocolError('a frame update carries at most one packet per video stream');
    }
  }
}

export class Cursor extends Message {
  static TYPE = 3;
  static FIELDS = [['x', COORDINATE], ['y', COORDINATE], ['visible', new Flag()]];
}

export class PointerMove extends Message {
  static TYPE = 4;
  static FIELDS = [['x', COORDINATE], ['y', COORDINATE]];
}

export class PointerButton extends Message {
  static TYPE = 5;
  static FIELDS = [
    ['x', COORDINATE],
    ['y', COORDINATE],
    ['button', new Choice(Button)],
    ['pressed', new Flag()],
  ];
}

export class Scroll extends Message {
  static TYPE = 6;
  static FIELDS = [
    ['x', COORDINATE],
    ['y', COORDINATE],
    ['dx', new Int(-100, 100)],
    ['dy', new Int(-100, 100)],
  ];
}

export class Key extends Message {
  static TYPE = 7;
  static FIELDS = [['key', new Text(32, KEY_PATTERN)], ['pressed', new Flag()]];
}

export class Ack extends Message {
  static TYPE = 8;
  static FIELDS = [['seq', SEQUENCE]];
}

export class ConsentState extends Message {
  static TYPE = 9;
  static FIELDS = [['level', new Choice(ConsentLevel)]];
}

export class Pause extends Message {
  static TYPE = 10;
}

export class Resume extends Message {
  static TYPE = 11;
}

export class Chat extends Message {
  static TYPE = 12;
  static FIELDS = [['text', new Text(MAX_CHAT_CHARS)]];
}

/** The sender's recording chain head after `records` records. */
export class Checkpoint extends Message {
  static TYPE = 13;
  static FIELDS = [['records', SEQUENCE], ['head', new Blob(HEAD_BYTES, HEAD_BYTES)]];
}

export class Bye extends Message {
  static TYPE = 14;
  static FIELDS = [['reason', new Text(MAX_REASON_CHARS)]];
}

export class RefreshRequest extends Message {
  static TYPE = 15;
}

export class ControlRequest extends Message {
  static TYPE = 16;
}

export const MESSAGE_TYPES = new Map(
  [
    Hello, FrameUpdate, Cursor, PointerMove, PointerButton, Scroll, Key, Ack, ConsentState,
    Pause, Resume, Chat, Checkpoint, Bye, RefreshRequest, ControlRequest, ExtendedFrameUpdate,
  ].map((type) => [type.TYPE, type]),
);

export const INPUT_TYPES = Object.freeze([PointerMove, PointerButton, Scroll, Key]);

/** The plaintext bytes of a message, ready to be sealed by the channel. */
export function encode(message) {
  const data = pack([message.constructor.TYPE, ...toValues(message)]);
  if (data.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(`message is larger than ${MAX_MESSAGE_BYTES} bytes`);
  }
  return data;
}

/** Parse and validate plaintext bytes from the peer. */
export function decode(data) {
  if (data.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(`message is larger than ${MAX_MESSAGE_BYTES} bytes`);
  }
  let value;
  let length;
  try {
    ({ value, length } = unpackFirst(data, { maxArrayLength: MAX_TILES_PER_UPDATE + 8 }));
  } catch (error) {
    if (!(error instanceof MsgpackError)) throw error;
    throw new ProtocolError(`message is not well-formed msgpack (${error.message})`);
  }
  // Padding after the value: zeros only, at most MAX_PADDING_BYTES (protocol/padding.py).
  const padding = data.subarray(length);
  if (padding.length && (padding.length > MAX_PADDING_BYTES || padding.some((byte) => byte !== 0))) {
    throw new ProtocolError('a message is followed by data that is not padding');
  }
  if (!Array.isArray(value) || !value.length) {
    throw new ProtocolError('a message must be a non-empty msgpack array');
  }
  const [typeNumber, ...fields] = value;
  if (typeof typeNumber !== 'number' && typeof typeNumber !== 'bigint') {
    throw new ProtocolError('a message must start with its type number');
  }
  const type = MESSAGE_TYPES.get(Number(typeNumber));
  if (type === undefined || typeof typeNumber === 'bigint') {
    throw new ProtocolError(`unknown message type ${typeNumber}`);
  }
  return fromValues(type, fields);
}

/** The highest version both sides speak, or UnsupportedVersion with advice. */
export function negotiateVersion(own, peer) {
  const common = own.filter((version) => peer.includes(version));
  if (!common.length) {
    throw new UnsupportedVersion(
      `the peer speaks protocol version(s) ${peer.join(', ') || 'none'}, ` +
        `this program ${own.join(', ')}: update the older side`,
    );
  }
  return Math.max(...common);
}

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS = Object.freeze([1]);
