// A small msgpack codec with exactly the types protocol/messages.py relies on.
//
// Why not a library: the schema must tell a float from a whole number (python `Int` refuses
// 1.0, `Float` accepts 1) and must keep 64-bit sequence numbers exact, and the encoder must
// give the very bytes python's `msgpack.packb(..., use_bin_type=True)` gives (smallest int
// form, floats always as float64), so that both sides' recordings hash the same plaintext.
// A general codec maps 1.0 and 1 to the same JS number and packs an integral float as an int.
//
// Values: whole numbers are JS numbers (BigInt beyond 2**53), floats are `MsgFloat`, bytes
// are Uint8Array, text is string, arrays are arrays, true/false/null as themselves.
// Decoding refuses what python's `unpackb(..., max_map_len=0, max_ext_len=0,
// max_array_len=N)` refuses: maps with entries, extension types, longer arrays, trailing
// bytes, invalid UTF-8, the reserved byte 0xc1.

import { fromUtf8, utf8 } from './bytes.js';

/** A msgpack float (float32 or float64 on the wire); encoded as float64. */
export class MsgFloat {
  constructor(value) {
    this.value = value;
    Object.freeze(this);
  }
}

/** The bytes are not a msgpack value this codec accepts; message says why (no payload). */
export class MsgpackError extends Error {}

const MAX_DEPTH = 1024; // python msgpack's unpacker stack

class Writer {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  byte(value) {
    this.bytes(Uint8Array.of(value));
  }
  bytes(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
  withView(size, fill) {
    const out = new Uint8Array(size);
    fill(new DataView(out.buffer));
    this.bytes(out);
  }
  result() {
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function packInteger(writer, value) {
  const big = typeof value === 'bigint' ? value : BigInt(value);
  if (big >= 0n) {
    if (big < 0x80n) return writer.byte(Number(big));
    if (big <= 0xffn) return writer.withView(2, (v) => { v.setUint8(0, 0xcc); v.setUint8(1, Number(big)); });
    if (big <= 0xffffn) return writer.withView(3, (v) => { v.setUint8(0, 0xcd); v.setUint16(1, Number(big)); });
    if (big <= 0xffffffffn) return writer.withView(5, (v) => { v.setUint8(0, 0xce); v.setUint32(1, Number(big)); });
    if (big <= 0xffffffffffffffffn) return writer.withView(9, (v) => { v.setUint8(0, 0xcf); v.setBigUint64(1, big); });
    throw new MsgpackError('a whole number is too large for msgpack');
  }
  if (big >= -32n) return writer.byte(Number(big) & 0xff);
  if (big >= -0x80n) return writer.withView(2, (v) => { v.setUint8(0, 0xd0); v.setInt8(1, Number(big)); });
  if (big >= -0x8000n) return writer.withView(3, (v) => { v.setUint8(0, 0xd1); v.setInt16(1, Number(big)); });
  if (big >= -0x80000000n) return writer.withView(5, (v) => { v.setUint8(0, 0xd2); v.setInt32(1, Number(big)); });
  if (big >= -0x8000000000000000n) return writer.withView(9, (v) => { v.setUint8(0, 0xd3); v.setBigInt64(1, big); });
  throw new MsgpackError('a whole number is too small for msgpack');
}

function packLength(writer, length, fix, fixMax, codes) {
  // codes: [8-bit code or null, 16-bit code, 32-bit code]
  if (fix !== null && length <= fixMax) return writer.byte(fix | length);
  if (codes[0] !== null && length <= 0xff) return writer.bytes(Uint8Array.of(codes[0], length));
  if (length <= 0xffff) return writer.withView(3, (v) => { v.setUint8(0, codes[1]); v.setUint16(1, length); });
  if (length <= 0xffffffff) return writer.withView(5, (v) => { v.setUint8(0, codes[2]); v.setUint32(1, length); });
  throw new MsgpackError('a value is too long for msgpack');
}

function packValue(writer, value, depth) {
  if (depth > MAX_DEPTH) throw new MsgpackError('a value is nested too deeply');
  if (value === null) return writer.byte(0xc0);
  if (value === false) return writer.byte(0xc2);
  if (value === true) return writer.byte(0xc3);
  if (typeof value === 'bigint') return packInteger(writer, value);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) {
      throw new MsgpackError('a JS number to encode must be whole: wrap a float in MsgFloat');
    }
    return packInteger(writer, value);
  }
  if (value instanceof MsgFloat) {
    return writer.withView(9, (v) => { v.setUint8(0, 0xcb); v.setFloat64(1, value.value); });
  }
  if (typeof value === 'string') {
    const bytes = utf8(value);
    packLength(writer, bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
    return writer.bytes(bytes);
  }
  if (value instanceof Uint8Array) {
    packLength(writer, value.length, null, 0, [0xc4, 0xc5, 0xc6]);
    return writer.bytes(value);
  }
  if (Array.isArray(value)) {
    packLength(writer, value.length, 0x90, 15, [null, 0xdc, 0xdd]);
    for (const item of value) packValue(writer, item, depth + 1);
    return undefined;
  }
  throw new MsgpackError(`cannot encode a ${typeof value} as msgpack`);
}

/** The msgpack bytes of `value` (see the module's text for the types). */
export function pack(value) {
  const writer = new Writer();
  packValue(writer, value, 0);
  return writer.result();
}

class Reader {
  constructor(bytes, limits) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = 0;
    this.maxArrayLength = limits.maxArrayLength;
  }
  need(size) {
    if (this.offset + size > this.bytes.length) throw new MsgpackError('it ends in the middle of a value');
    const at = this.offset;
    this.offset += size;
    return at;
  }
  u8() { return this.view.getUint8(this.need(1)); }
  u16() { return this.view.getUint16(this.need(2)); }
  u32() { return this.view.getUint32(this.need(4)); }
  take(length) {
    const at = this.need(length);
    return this.bytes.subarray(at, at + length);
  }
  text(length) {
    try {
      return fromUtf8(this.take(length));
    } catch (error) {
      if (error instanceof MsgpackError) throw error;
      throw new MsgpackError('a text is not valid UTF-8');
    }
  }
  array(length, depth) {
    if (length > this.maxArrayLength) throw new MsgpackError(`an array is longer than ${this.maxArrayLength}`);
    const out = new Array(length);
    for (let i = 0; i < length; i++) out[i] = this.value(depth + 1);
    return out;
  }
  map(length) {
    if (length > 0) throw new MsgpackError('maps are not allowed');
    return new Map();
  }
  value(depth) {
    if (depth > MAX_DEPTH) throw new MsgpackError('values are nested too deeply');
    const code = this.u8();
    if (code <= 0x7f) return code;
    if (code >= 0xe0) return code - 0x100;
    if ((code & 0xf0) === 0x90) return this.array(code & 0x0f, depth);
    if ((code & 0xf0) === 0x80) return this.map(code & 0x0f);
    if ((code & 0xe0) === 0xa0) return this.text(code & 0x1f);
    switch (code) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.take(this.u8());
      case 0xc5: return this.take(this.u16());
      case 0xc6: return this.take(this.u32());
      case 0xca: return new MsgFloat(this.view.getFloat32(this.need(4)));
      case 0xcb: return new MsgFloat(this.view.getFloat64(this.need(8)));
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return whole(this.view.getBigUint64(this.need(8)));
      case 0xd0: return this.view.getInt8(this.need(1));
      case 0xd1: return this.view.getInt16(this.need(2));
      case 0xd2: return this.view.getInt32(this.need(4));
      case 0xd3: return whole(this.view.getBigInt64(this.need(8)));
      case 0xd9: return this.text(this.u8());
      case 0xda: return this.text(this.u16());
      case 0xdb: return this.text(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16());
      case 0xdf: return this.map(this.u32());
      case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        throw new MsgpackError('extension types are not allowed');
      default:
        throw new MsgpackError(`byte 0x${code.toString(16)} starts no msgpack value`);
    }
  }
}

function whole(big) {
  return big >= -BigInt(Number.MAX_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** The one value in `bytes`; raises MsgpackError for anything else (trailing bytes too). */
export function unpack(bytes, { maxArrayLength = 0xffffffff } = {}) {
  const { value, length } = unpackFirst(bytes, { maxArrayLength });
  if (length !== bytes.length) throw new MsgpackError('bytes follow the value');
  return value;
}

/** The first value of `bytes` and how many bytes it takes (what follows is the caller's). */
export function unpackFirst(bytes, { maxArrayLength = 0xffffffff } = {}) {
  const reader = new Reader(bytes, { maxArrayLength });
  const value = reader.value(0);
  return { value, length: reader.offset };
}
