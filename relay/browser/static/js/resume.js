// Resuming a session after a dropped connection, as protocol/resume.py has it.
//
// At each epoch a side gives the relay a verifier (SHA-256 of a one-time resume secret
// derived from the PAKE result); to resume it presents the secret itself. After a resume
// both sides switch to a new channel epoch with fresh per-direction keys; the first message
// of each side in it is its ResumeState: how many messages it received from and sent to the
// peer. Each side then sends again, from its SentLog, what the peer did not get.

import { hkdf } from '../vendor/noble-hashes/hkdf.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { concatBytes, equalBytes, readU64be, u64be, utf8 } from './bytes.js';
import { Channel, Direction, channelFor } from './channel.js';
import { ProtocolError } from './errors.js';

export const SECRET_BYTES = 32;
export const MAX_EPOCH = 10_000;
export const RESEND_MAX_MESSAGES = 4096;
export const RESEND_MAX_BYTES = 64 * 1024 * 1024;
export const MAX_COUNT = 2 ** 48;
const STATE_MAGIC = Uint8Array.of(0x46, 0x57, 0x52, 0x53, 0x01); // b"FWRS\x01"
const STATE_BYTES = 5 + 8 + 8;

function derive(keys, label) {
  return hkdf(sha256, keys.resumeKey, keys.transcriptHash, utf8(`fernwartung v1 ${label}`), SECRET_BYTES);
}

function checkEpoch(epoch) {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
    throw new RangeError(`a session resumes at most ${MAX_EPOCH} times`);
  }
}

/** What `role` presents to the relay to resume into `epoch` + 1. */
export function resumeSecret(keys, role, epoch) {
  checkEpoch(epoch);
  return derive(keys, `resume ${role} ${epoch}`);
}

/** What the relay stores: the hash of a resume secret. */
export function verifierFor(secret) {
  return sha256(concatBytes(utf8('fernwartung resume verifier'), secret));
}

/** The relay's check, in constant time. */
export function secretMatches(secret, verifier) {
  return equalBytes(verifierFor(secret), verifier);
}

/** The channel of `epoch` (0 is the handshake's own channel). */
export function epochChannel(keys, epoch) {
  if (epoch === 0) return channelFor(keys);
  checkEpoch(epoch);
  const hostToViewer = derive(keys, `epoch ${epoch} host-to-viewer`);
  const viewerToHost = derive(keys, `epoch ${epoch} viewer-to-host`);
  if (keys.role === 'host') return Channel.create(hostToViewer, viewerToHost, Direction.HOST_TO_VIEWER);
  return Channel.create(viewerToHost, hostToViewer, Direction.VIEWER_TO_HOST);
}

/** A side's first message in a new epoch: messages received from and sent to the peer. */
export class ResumeState {
  constructor(received, sent) {
    this.received = received;
    this.sent = sent;
    Object.freeze(this);
  }

  encode() {
    return concatBytes(STATE_MAGIC, u64be(this.received), u64be(this.sent));
  }

  static decode(data) {
    const refuse = () =>
      new ProtocolError("the peer's first message after a resume is not a resume state");
    if (data.length !== STATE_BYTES) throw refuse();
    const received = readU64be(data, 5);
    const sent = readU64be(data, 13);
    if (!equalBytes(data.subarray(0, 5), STATE_MAGIC) || received > MAX_COUNT || sent > MAX_COUNT) {
      throw refuse();
    }
    return new ResumeState(Number(received), Number(sent));
  }
}

/** The most recent plaintexts this side sent, bounded by count and bytes. */
export class SentLog {
  constructor(maxMessages = RESEND_MAX_MESSAGES, maxBytes = RESEND_MAX_BYTES) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
    this.kept = [];
    this.head = 0; // index in `kept` of the oldest kept message
    this.bytes = 0;
    this.total = 0; // messages ever sent
  }

  get keptCount() {
    return this.kept.length - this.head;
  }

  get firstKept() {
    return this.total - this.keptCount;
  }

  append(plaintext) {
    this.kept.push(plaintext);
    this.bytes += plaintext.length;
    this.total += 1;
    while (this.keptCount > 1 && (this.keptCount > this.maxMessages || this.bytes > this.maxBytes)) {
      this.bytes -= this.kept[this.head].length;
      this.kept[this.head] = undefined;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything sent from message `index` on (the peer received `index` messages). */
  since(index) {
    if (index > this.total) {
      throw new ProtocolError('after the resume the peer claims more messages than this side ever sent');
    }
    if (index < this.firstKept) {
      throw new ProtocolError(
        `${this.firstKept - index} messages lost while reconnecting can no longer be sent again`,
      );
    }
    return this.kept.slice(this.head + (index - this.firstKept));
  }
}
