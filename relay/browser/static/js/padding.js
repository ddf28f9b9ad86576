// Padding of end-to-end messages, as protocol/padding.py: what a side sends to a peer whose
// Hello announced 'padding' gets zeros after its msgpack value, so lengths tell the relay
// less. Every input and cursor message INPUT_BYTES, a frame update up to the largest class
// the next of UPDATE_CLASSES, chat a multiple of CHAT_MULTIPLE.

import * as messages from './messages.js';

export const PADDING_CAPABILITY = 'padding';
export const INPUT_BYTES = 48;
export const UPDATE_CLASSES = Object.freeze([128, 256, 512, 1024]);
export const CHAT_MULTIPLE = 64;
const INPUT = [...messages.INPUT_TYPES, messages.Cursor];

/** The length `message`, encoded in `size` bytes, travels at. */
export function paddedSize(message, size) {
  if (INPUT.some((type) => message instanceof type)) return Math.max(size, INPUT_BYTES);
  if (message instanceof messages.FrameUpdate) return UPDATE_CLASSES.find((limit) => size <= limit) ?? size;
  if (message instanceof messages.Chat) return Math.ceil(size / CHAT_MULTIPLE) * CHAT_MULTIPLE;
  return size;
}

/** `plaintext` (the encoding of `message`) with its padding. */
export function pad(message, plaintext) {
  const size = paddedSize(message, plaintext.length);
  if (size === plaintext.length) return plaintext;
  const padded = new Uint8Array(size);
  padded.set(plaintext);
  return padded;
}
