// Small byte helpers shared by the modules: concatenation, hex, UTF-8, big-endian integers,
// and a comparison that takes the same time wherever two byte strings differ.

import { ProtocolError } from './errors.js';

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function concatBytes(...parts) {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function utf8(text) {
  return ENCODER.encode(text);
}

/** UTF-8 bytes to text; invalid UTF-8 raises ProtocolError (never repeats the bytes). */
export function fromUtf8(bytes, what = 'text') {
  try {
    return DECODER.decode(bytes);
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
}

export function toHex(bytes) {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

export function fromHex(text) {
  if (typeof text !== 'string' || text.length % 2 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new TypeError('expected an even number of hex digits');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

/** True if both are the same bytes; the time taken depends on the lengths only. */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}

export function u32be(value) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** An unsigned 64-bit big-endian number from a number (up to 2**53) or a BigInt. */
export function u64be(value) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

export function readU64be(bytes, offset) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getBigUint64(offset);
}

/** Each part preceded by its length as u32 big-endian (handshake.py's `_length_prefixed`). */
export function lengthPrefixed(...parts) {
  return concatBytes(...parts.flatMap((part) => [u32be(part.length), part]));
}

/** A big-endian byte string as a BigInt. */
export function bytesToBigBE(bytes) {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function bytesToBigLE(bytes) {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

export function isBytes(value) {
  return value instanceof Uint8Array;
}
