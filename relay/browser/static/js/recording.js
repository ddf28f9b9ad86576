// The evidence recording's file format and hash chains, as protocol/recording.py has them
// (format 3). Read that module's text for the layout; in short:
//
//     magic    8 bytes   "\x89FWREC\r\n"
//     header   u32 length | msgpack [format version, [header fields]] | u32 CRC-32
//     record*  varint length | body | u32 CRC-32 of length and body
//     body   = u8 kind | varint sequence number | varint time step (zigzag, ms) | payload
//
// Chains: the file chain over the header and every record (a message record's traffic head
// standing in for its payload) and one traffic chain per direction over the plaintexts.
// This writer stores every message uncompressed (kinds 1 and 2): the format allows it and
// python's reader and verifier take it; compressed records (0x81, 0x82) need a DEFLATE
// stream with sync flushes, which the browser's CompressionStream cannot give.

import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { concatBytes, u32be, utf8 } from './bytes.js';
import { Direction } from './channel.js';
import { ProtocolError } from './errors.js';
import { Role } from './handshake.js';
import { Checkpoint, HEAD_BYTES, MAX_REASON_CHARS, MAX_SCREEN_PIXELS, MAX_SEQUENCE, MAX_TIMESTAMP, decode } from './messages.js';
import { pack } from './msgpack.js';
import { Blob, Choice, Flag, Float, Int, Record, Text, toValues } from './schema.js';

export const FORMAT_VERSION = 3;
export const MAGIC = Uint8Array.of(0x89, 0x46, 0x57, 0x52, 0x45, 0x43, 0x0d, 0x0a);
export const MAX_RECORDS = 2 ** 32 - 1;
export const CHECKPOINT_INTERVAL_SECONDS = 30.0;
export const CHAIN_BYTES = HEAD_BYTES;
export const SESSION_PATTERN = '[0-9]{4,12}';
const FILE_DOMAIN = utf8('fernwartung-recording-v1\x00');
const TRAFFIC_DOMAIN = utf8('fernwartung-traffic-v1\x00');
const HEAD = new Blob(CHAIN_BYTES, CHAIN_BYTES);
const COUNT = new Int(0, MAX_SEQUENCE);

export const RecordKind = Object.freeze({
  HOST_TO_VIEWER: 1,
  VIEWER_TO_HOST: 2,
  INPUT_OUTCOME: 3,
  CHECKPOINT: 4,
  GAP: 5,
  END: 6,
});

// -- CRC-32 (zlib's), varints, times --------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** zlib.crc32(bytes, start) for each part in turn. */
export function crc32(...parts) {
  let crc = 0xffffffff;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) crc = CRC_TABLE[(crc ^ part[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** An unsigned LEB128 number, shortest form. */
export function encodeVarint(value) {
  const out = [];
  let rest = BigInt(value);
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return Uint8Array.from(out);
}

/** A signed time step as stored: 0, -1, 1, -2 ... as 0, 1, 2, 3 ... */
export function zigzag(step) {
  return step >= 0 ? step * 2 : -step * 2 - 1;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** A record's time as stored: whole milliseconds since the epoch. */
export function milliseconds(time) {
  if (!(Number.isFinite(time) && time >= 0 && time <= MAX_TIMESTAMP)) {
    throw new RangeError("a record's time is seconds since the epoch");
  }
  return roundHalfEven(time * 1000);
}

export function outgoing(side) {
  return side === Role.HOST ? Direction.HOST_TO_VIEWER : Direction.VIEWER_TO_HOST;
}

export function incoming(side) {
  return side === Role.HOST ? Direction.VIEWER_TO_HOST : Direction.HOST_TO_VIEWER;
}

// -- payloads -------------------------------------------------------------------------

/** Who, where and when: the first thing in every recording. */
export class RecordingHeader extends Record {
  static FIELDS = [
    ['side', new Choice(Role)],
    ['session', new Text(12, SESSION_PATTERN)],
    ['technician', new Text(64)],
    ['relay', new Text(500)],
    ['start_time', new Float(0.0, MAX_TIMESTAMP)],
    ['screen_width', new Int(0, MAX_SCREEN_PIXELS)],
    ['screen_height', new Int(0, MAX_SCREEN_PIXELS)],
    ['terms_hash', HEAD],
    ['customer', new Text(100, '[^\\x00-\\x1f\\x7f]*'), ''],
  ];
}

/** Where all three chains stand; also the payload of a CHECKPOINT record. */
export class Heads extends Record {
  static FIELDS = [
    ['file_records', COUNT],
    ['file_head', HEAD],
    ['host_to_viewer_messages', COUNT],
    ['host_to_viewer_head', HEAD],
    ['viewer_to_host_messages', COUNT],
    ['viewer_to_host_head', HEAD],
  ];

  /** [messages, head] of one direction's traffic chain. */
  traffic(direction) {
    return direction === Direction.HOST_TO_VIEWER
      ? [this.host_to_viewer_messages, this.host_to_viewer_head]
      : [this.viewer_to_host_messages, this.viewer_to_host_head];
  }
}

export class InputOutcome extends Record {
  static FIELDS = [['message_index', COUNT], ['applied', new Flag()], ['reason', new Text(MAX_REASON_CHARS)]];
}

export class Gap extends Record {
  static FIELDS = [['reason', new Text(MAX_REASON_CHARS)]];
}

export class End extends Record {
  static FIELDS = [['reason', new Text(MAX_REASON_CHARS)]];
}

export function packPayload(instance) {
  return pack(toValues(instance));
}

export function encodeHeaderBlock(header) {
  const payload = pack([FORMAT_VERSION, toValues(header)]);
  const framed = concatBytes(u32be(payload.length), payload);
  return concatBytes(framed, u32be(crc32(framed)));
}

/** The type number of an encoded message without decoding it (null if not plain). */
export function messageType(plaintext) {
  if (plaintext.length >= 2 && plaintext[0] >= 0x91 && plaintext[0] <= 0x9f && plaintext[1] < 0x80) {
    return plaintext[1];
  }
  return null;
}

// -- chains ---------------------------------------------------------------------------

/** The file chain and both traffic chains, advanced record by record. */
export class Chains {
  constructor(header, headerBlock) {
    this.fileRecords = 0;
    this.fileHead = sha256(concatBytes(FILE_DOMAIN, headerBlock));
    const session = utf8(header.session);
    this.traffic = new Map(
      Object.values(Direction).map((direction) => [
        direction,
        [0, sha256(concatBytes(TRAFFIC_DOMAIN, Uint8Array.of(direction), session))],
      ]),
    );
  }

  #countRecord() {
    if (this.fileRecords >= MAX_RECORDS) throw new ProtocolError(`a recording holds at most ${MAX_RECORDS} records`);
    this.fileRecords += 1;
  }

  /** Advance over a local record (not a message), all its bytes. */
  extendLocal(recordBytes) {
    this.#countRecord();
    this.fileHead = sha256(concatBytes(this.fileHead, recordBytes));
  }

  /** Advance over a message record given as its framing, payload and CRC. */
  extendMessage(direction, framing, payload, checksum) {
    this.#countRecord();
    const [count, head] = this.traffic.get(direction);
    const trafficHead = sha256.create().update(head).update(payload).digest();
    this.traffic.set(direction, [count + 1, trafficHead]);
    this.fileHead = sha256(concatBytes(this.fileHead, framing, trafficHead, checksum));
  }

  messages(direction) {
    return this.traffic.get(direction)[0];
  }

  heads() {
    const [h2vCount, h2vHead] = this.traffic.get(Direction.HOST_TO_VIEWER);
    const [v2hCount, v2hHead] = this.traffic.get(Direction.VIEWER_TO_HOST);
    return new Heads({
      file_records: this.fileRecords,
      file_head: this.fileHead,
      host_to_viewer_messages: h2vCount,
      host_to_viewer_head: h2vHead,
      viewer_to_host_messages: v2hCount,
      viewer_to_host_head: v2hHead,
    });
  }
}

const DIRECTION_NAMES = { 1: 'host_to_viewer', 2: 'viewer_to_host' };

/** A Checkpoint message must name its direction's chain exactly as it stands before it. */
export function checkTrafficCheckpoint(chains, direction, plaintext) {
  if (messageType(plaintext) !== Checkpoint.TYPE) return;
  const message = decode(plaintext);
  const [records, head] = chains.traffic.get(direction);
  const same = message.records === records && message.head.every((byte, i) => byte === head[i]);
  if (!same) {
    throw new ProtocolError(
      `the checkpoint after ${message.records} messages ${DIRECTION_NAMES[direction]} ` +
        'disagrees with the messages recorded in that direction',
    );
  }
}
