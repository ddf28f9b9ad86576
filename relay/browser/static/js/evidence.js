// The technician's evidence recording of a live session in the page, as
// endpoint/evidence.py is the Python endpoints': RecordingWriter (the file format, chains
// and checkpoints, sans I/O) in front of a sink that owns the file. In the page the sink is
// the origin-private file system through a dedicated worker (recording_store.js); in the
// node tests a file. The order rules are the writer's: record each received message before
// acting on it, each outgoing one right before sealing it, a checkpoint's message sealed
// next.
//
//     sink: {write(bytes), sync() -> Promise, close() -> Promise, failure: string|null,
//            onFailure(callback)}
//
// Writing failures come back from the sink asynchronously; the first one is kept and every
// later call raises RecordingFailed, so the session ends without sending anything more.

import { RecordingFailed } from './errors.js';
import { Role } from './handshake.js';
import { MAX_REASON_CHARS } from './messages.js';
import { CHAIN_BYTES, CHECKPOINT_INTERVAL_SECONDS, RecordingHeader, outgoing } from './recording.js';
import { RecordingWriter } from './recording_writer.js';
import { Checkpoint as CheckpointReport } from './control.js';
import { toHex } from './bytes.js';

// Announced in Hello.capabilities by a side that records and exchanges final checkpoints.
export const RECORDING_CAPABILITY = 'recording';
export const END_EXCHANGE_TIMEOUT_SECONDS = 3.0;
export const TERMS_NOT_SHOWN = new Uint8Array(CHAIN_BYTES);
const MAX_RELAY_CHARS = 500;
const MAX_TECHNICIAN_CHARS = 64;

const TERMS_PREFIX = 'terms.';
const TERMS_PARTS = [
  [1, 0, 24],
  [2, 24, 48],
  [3, 48, 64],
];

/** The terms hash a host's Hello carries in its capabilities (protocol/terms.py), or null. */
export function termsHashFrom(capabilities) {
  const parts = new Map();
  for (const capability of capabilities) {
    if (!capability.startsWith(TERMS_PREFIX)) continue;
    const rest = capability.slice(TERMS_PREFIX.length);
    const dot = rest.indexOf('.');
    const number = dot >= 0 ? rest.slice(0, dot) : rest;
    const digits = dot >= 0 ? rest.slice(dot + 1) : '';
    const key = /^[0-9]+$/.test(number) ? Number(number) : 0;
    if (!parts.has(key)) parts.set(key, digits);
  }
  let digest = '';
  for (const [number, start, end] of TERMS_PARTS) {
    const digits = parts.get(number) ?? '';
    if (digits.length !== end - start || !/^[0-9a-f]*$/.test(digits)) return null;
    digest += digits;
  }
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(digest.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function cut(text, chars) {
  return [...text].slice(0, chars).join('');
}

/** A recording's file name as endpoint/recorder.py names it (session, side, UTC start). */
export function recordingName(session, startTime) {
  const stamp = new Date(startTime * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `session-${session}-viewer-${stamp}.fwrec`;
}

export class SessionEvidence {
  #writer = null;
  #sink;
  #ending = false;
  #openSink;

  /** `openSink(name) -> sink`: makes the file when the session's first message is due. */
  constructor({ relay, customer = '', openSink, wallClock = () => Date.now() / 1000 }) {
    this.relay = relay;
    this.customer = customer;
    this.#openSink = openSink;
    this.clock = wallClock;
    this.failure = null;
    this.finalCheckpointSent = false;
    this.name = null;
    this.checkpointIntervalSeconds = CHECKPOINT_INTERVAL_SECONDS;
  }

  get started() {
    return this.#writer !== null;
  }

  get recording() {
    return this.#writer !== null && this.#writer.state === 'recording' && this.failure === null;
  }

  get ended() {
    return this.#ending && this.failure === null;
  }

  start(session, technician, width, height, termsHash = null) {
    const startTime = this.clock();
    const header = new RecordingHeader({
      side: Role.VIEWER,
      session,
      technician: cut(technician, MAX_TECHNICIAN_CHARS),
      relay: cut(this.relay, MAX_RELAY_CHARS),
      start_time: startTime,
      screen_width: width,
      screen_height: height,
      terms_hash: termsHash ?? TERMS_NOT_SHOWN,
      customer: this.customer,
    });
    this.name = recordingName(session, startTime);
    this.#sink = this.#guard(() => this.#openSink(this.name));
    this.#sink.onFailure?.((message) => this.#fail(message));
    this.#writer = new RecordingWriter(header);
    this.#write(this.#writer.headerBytes());
  }

  #fail(message) {
    if (this.failure === null) this.failure = message || 'the recording could not be written';
  }

  #guard(action) {
    if (this.failure !== null) throw new RecordingFailed(this.failure);
    try {
      return action();
    } catch (error) {
      if (error instanceof RecordingFailed) this.#fail(error.message);
      else this.#fail('the recording could not be written');
      throw new RecordingFailed(this.failure);
    }
  }

  #write(bytes) {
    this.#guard(() => this.#sink.write(bytes));
  }

  /** Record an outgoing message; call right before sealing it. */
  sent(plaintext) {
    const bytes = this.#guard(() => this.#writer.sent(this.clock(), plaintext));
    this.#write(bytes);
  }

  /** Record a message from the peer before acting on it (a disagreeing Checkpoint raises). */
  received(plaintext) {
    const bytes = this.#guard(() => this.#writer.received(this.clock(), plaintext));
    this.#write(bytes);
  }

  gap(reason) {
    if (!this.recording) return;
    this.#write(this.#guard(() => this.#writer.gap(this.clock(), cut(reason, MAX_REASON_CHARS))));
  }

  /** A checkpoint: {message, plaintext, report} — seal `plaintext` next, then give the
   * relay `report`, then `sync()`. */
  checkpoint({ final = false } = {}) {
    const written = this.#guard(() => this.#writer.checkpoint(this.clock()));
    this.#write(written.data);
    this.finalCheckpointSent = this.finalCheckpointSent || final;
    return {
      message: written.message,
      plaintext: written.plaintext,
      report: new CheckpointReport({
        records: written.message.records,
        head: toHex(written.message.head),
        file_records: written.fileRecords,
        file_head: toHex(written.fileHead),
      }),
    };
  }

  sync() {
    return this.#sink ? this.#sink.sync() : Promise.resolve();
  }

  /** Nothing received from now on is recorded (the END record is next). */
  endNext() {
    if (this.recording) this.#ending = true;
  }

  /** The END record, the last sync and the file closed; the final report for the relay
   * (null when nothing was recorded). */
  async close(reason) {
    if (!this.recording) return null;
    this.#ending = true;
    this.#write(this.#guard(() => this.#writer.end(this.clock(), cut(reason, MAX_REASON_CHARS))));
    const heads = this.#writer.heads();
    await this.#sink.close();
    if (this.failure !== null) throw new RecordingFailed(this.failure);
    const [records, head] = heads.traffic(outgoing(Role.VIEWER));
    return new CheckpointReport({
      records,
      head: toHex(head),
      file_records: heads.file_records,
      file_head: toHex(heads.file_head),
    });
  }

  /** After a failure: close the file as it is. */
  abandon() {
    this.#sink?.close().catch(() => {});
  }
}
