// The end-to-end AES-256-GCM channel between host and viewer, as protocol/channel.py has
// it, on WebCrypto. Each direction has its own key and a 64-bit message counter. The
// 96-bit nonce is built locally from the direction and the counter and never travels; the
// associated data binds both. The receiver only accepts the next counter, so anything
// replayed, reordered, dropped, truncated, altered or echoed back fails to open.
//
// Wire format of a sealed message: ciphertext || 16-byte GCM tag, nothing else.
//
// WebCrypto is asynchronous; `seal` and `open` each run one at a time in call order (a
// queue per direction), so their promises settle in the order of the calls: a shell that
// sends each sealed frame as soon as its promise settles sends them in counter order.

import { concatBytes, u64be, utf8 } from './bytes.js';
import { IntegrityError, SessionEnded } from './errors.js';

export const KEY_BYTES = 32;
export const TAG_BYTES = 16;
export const MAX_MESSAGES_PER_DIRECTION = 2 ** 48;
const ASSOCIATED_PREFIX = utf8('fernwartung-channel-v1');

export const Direction = Object.freeze({ HOST_TO_VIEWER: 1, VIEWER_TO_HOST: 2 });

/** 4 bytes of direction, 8 bytes of big-endian counter. */
export function nonceFor(direction, counter) {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setUint32(0, direction);
  view.setBigUint64(4, BigInt(counter));
  return out;
}

export function associatedDataFor(direction, counter) {
  return concatBytes(ASSOCIATED_PREFIX, Uint8Array.of(direction), u64be(counter));
}

async function importKey(raw, usage) {
  return crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, [usage]);
}

/** Runs async tasks one after the other, in the order they were given. */
export class SerialQueue {
  #tail = Promise.resolve();
  run(task) {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => {});
    return result;
  }
}

/** Seal outgoing and open incoming messages for one side of a session. */
export class Channel {
  #send;
  #receive;
  #sealing = new SerialQueue();
  #opening = new SerialQueue();

  /** Use `Channel.create`; the keys are WebCrypto keys that cannot be read back. */
  constructor(sendKey, receiveKey, sendDirection, { sendCounter = 0, receiveCounter = 0 } = {}) {
    this.#send = sendKey;
    this.#receive = receiveKey;
    this.sendDirection = sendDirection;
    this.receiveDirection =
      sendDirection === Direction.HOST_TO_VIEWER ? Direction.VIEWER_TO_HOST : Direction.HOST_TO_VIEWER;
    this.sendCounter = sendCounter;
    this.receiveCounter = receiveCounter;
  }

  /** A channel from raw 32-byte keys (which it does not keep). */
  static async create(sendKey, receiveKey, sendDirection, counters = {}) {
    if (sendKey.length !== KEY_BYTES || receiveKey.length !== KEY_BYTES) {
      throw new RangeError('AES-256-GCM keys are 32 bytes');
    }
    if (sendKey.every((byte, i) => byte === receiveKey[i])) {
      throw new RangeError('each direction needs its own key');
    }
    const [send, receive] = await Promise.all([importKey(sendKey, 'encrypt'), importKey(receiveKey, 'decrypt')]);
    return new Channel(send, receive, sendDirection, counters);
  }

  /** Encrypt the next outgoing message. */
  seal(plaintext) {
    return this.#sealing.run(async () => {
      const counter = this.sendCounter;
      if (counter >= MAX_MESSAGES_PER_DIRECTION) {
        throw new SessionEnded('this session has sent as many messages as one key may protect');
      }
      this.sendCounter = counter + 1;
      const sealed = await crypto.subtle.encrypt(
        {
          name: 'AES-GCM',
          iv: nonceFor(this.sendDirection, counter),
          additionalData: associatedDataFor(this.sendDirection, counter),
          tagLength: TAG_BYTES * 8,
        },
        this.#send,
        plaintext,
      );
      return new Uint8Array(sealed);
    });
  }

  /** Decrypt the next incoming message or raise IntegrityError. */
  open(message) {
    return this.#opening.run(async () => {
      const counter = this.receiveCounter;
      if (counter >= MAX_MESSAGES_PER_DIRECTION) {
        throw new SessionEnded('this session has received as many messages as one key may protect');
      }
      if (message.length < TAG_BYTES) {
        throw new IntegrityError(`encrypted message ${counter} is shorter than its ${TAG_BYTES}-byte tag`);
      }
      let plaintext;
      try {
        plaintext = await crypto.subtle.decrypt(
          {
            name: 'AES-GCM',
            iv: nonceFor(this.receiveDirection, counter),
            additionalData: associatedDataFor(this.receiveDirection, counter),
            tagLength: TAG_BYTES * 8,
          },
          this.#receive,
          message,
        );
      } catch {
        throw new IntegrityError(
          `encrypted message ${counter} does not authenticate: it was altered, replayed, ` +
            'reordered or one before it is missing',
        );
      }
      this.receiveCounter = counter + 1;
      return new Uint8Array(plaintext);
    });
  }
}

/** The channel a finished handshake's keys open, oriented for this side. */
export function channelFor(keys) {
  const send = keys.role === 'host' ? Direction.HOST_TO_VIEWER : Direction.VIEWER_TO_HOST;
  return Channel.create(keys.sendKey, keys.receiveKey, send);
}
