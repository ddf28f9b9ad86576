// One side's end-to-end session over the relay's binary frames, without any I/O, as
// protocol/session.py has it. The whole flow: docs/session-contract.md.
//
//     const session = new PeerSession(Role.VIEWER, code);
//     send(session.start());
//     for (const event of await session.receive(frame)) { ... }  // Send | Established | Received | Resumed
//     send(await session.seal(new Chat({ text: 'hallo' })));
//
// It runs the handshake, then seals and opens messages with the channel. Any error ends the
// session for good: a wrong code, a tampered frame or a malformed message.
//
//     OPEN --detach()--> DETACHED --switchEpoch(n)--> RESUMING --peer's state--> OPEN
//     OPEN --switchEpoch(n)--> RESUMING
//
// The asynchronous calls (receive, seal, sealPlaintext, switchEpoch) run one at a time in
// call order, so their promises settle in that order: send each frame as soon as its
// promise settles and the frames leave in channel order.

import { SerialQueue, channelFor } from './channel.js';
import { FernwartungError, ProtocolError } from './errors.js';
import { Handshake } from './handshake.js';
import * as messages from './messages.js';
import { ResumeState, SentLog, epochChannel, resumeSecret, verifierFor } from './resume.js';

export const SessionState = Object.freeze({
  NEW: 'new',
  HANDSHAKE: 'handshake',
  OPEN: 'open',
  DETACHED: 'detached',
  RESUMING: 'resuming',
  CLOSED: 'closed',
});

/** Bytes to put on the wire as one binary frame. */
export class Send {
  constructor(data) {
    this.data = data;
    Object.freeze(this);
  }
}

/** The peer proved it knows the same code; messages may flow. */
export class Established {
  constructor(keys) {
    this.keys = keys;
    Object.freeze(this);
  }
}

/** A message from the peer, with its plaintext exactly as it arrived. */
export class Received {
  constructor(message, plaintext, redelivered = false) {
    this.message = message;
    this.plaintext = plaintext;
    this.redelivered = redelivered; // sent before a resume, delivered after it
    Object.freeze(this);
  }
}

/** The peer's resume state arrived: open again in `epoch`; the Send events that follow
 * carry the `resent` messages the peer had not received. */
export class Resumed {
  constructor(epoch, resent, redelivered) {
    this.epoch = epoch;
    this.resent = resent;
    this.redelivered = redelivered;
    Object.freeze(this);
  }
}

const SENDING = [SessionState.OPEN];
const KEEPING = [SessionState.DETACHED, SessionState.RESUMING];
const ACTIVE = [...SENDING, ...KEEPING];

export class PeerSession {
  #handshake;
  #channel = null;
  #sent = new SentLog();
  #redeliveredUntil = 0;
  #queue = new SerialQueue();
  #nextEpoch = 0;

  /** `options.entropy` only for tests with fixed randomness. */
  constructor(role, code, options = {}) {
    this.role = role;
    this.sessionNumber = code.session;
    this.state = SessionState.NEW;
    this.#handshake = new Handshake(role, code.secret, code.session, options);
    this.keys = null;
    this.epoch = 0;
    this.receivedTotal = 0;
  }

  get sentTotal() {
    return this.#sent.total;
  }

  start() {
    if (this.state !== SessionState.NEW) {
      throw new ProtocolError(`session already started (state: ${this.state})`);
    }
    this.state = SessionState.HANDSHAKE;
    return this.#guard(() => this.#handshake.start());
  }

  #guard(action) {
    try {
      return action();
    } catch (error) {
      if (error instanceof FernwartungError) this.state = SessionState.CLOSED;
      throw error;
    }
  }

  async #guardAsync(action) {
    try {
      return await action();
    } catch (error) {
      if (error instanceof FernwartungError) this.state = SessionState.CLOSED;
      throw error;
    }
  }

  /** Feed one binary frame from the peer; resolves to a list of events. */
  receive(data) {
    return this.#queue.run(() => this.#receive(data));
  }

  async #receive(data) {
    if (this.state === SessionState.HANDSHAKE) {
      const step = this.#guard(() => this.#handshake.receive(data));
      const events = [];
      if (step.outgoing !== null) events.push(new Send(step.outgoing));
      if (step.keys !== null) {
        this.#channel = await channelFor(step.keys);
        this.keys = step.keys;
        this.state = SessionState.OPEN;
        events.push(new Established(step.keys));
      }
      return events;
    }
    if (this.#channel === null || !ACTIVE.includes(this.state)) {
      throw new ProtocolError(`no message can be received in state '${this.state}'`);
    }
    const plaintext = await this.#guardAsync(() => this.#channel.open(data));
    if (this.state === SessionState.RESUMING) {
      return this.#guardAsync(() => this.#peerResumed(plaintext));
    }
    const message = this.#guard(() => messages.decode(plaintext));
    const redelivered = this.receivedTotal < this.#redeliveredUntil;
    this.receivedTotal += 1;
    return [new Received(message, plaintext, redelivered)];
  }

  /** The frame that carries `message` to the peer (null: kept for a resume). */
  seal(message) {
    return this.sealPlaintext(messages.encode(message));
  }

  /** The frame to send now; null while detached or resuming: the message is kept and goes
   * out after the resume. It counts as sent at the call; whether it goes out now is decided
   * in call order, after the calls before it (a switchEpoch among them). */
  sealPlaintext(plaintext) {
    if (this.#channel === null || !ACTIVE.includes(this.state)) {
      return Promise.reject(new ProtocolError(`no message can be sent in state '${this.state}'`));
    }
    this.#sent.append(plaintext);
    return this.#queue.run(() =>
      this.state === SessionState.OPEN ? this.#guardAsync(() => this.#channel.seal(plaintext)) : null,
    );
  }

  // -- resuming ----------------------------------------------------------------------

  /** What this side presents to the relay to resume from the current epoch. */
  resumeSecret() {
    return resumeSecret(this.#keys(), this.role, this.epoch);
  }

  /** What this side gives the relay for the current epoch (the secret's hash). */
  resumeVerifier() {
    return verifierFor(this.resumeSecret());
  }

  #keys() {
    if (this.keys === null) throw new ProtocolError('a session resumes only after the handshake');
    return this.keys;
  }

  /** The link to the relay is down, or the peer is reconnecting: keep what is sent. */
  detach() {
    if (this.state === SessionState.OPEN) this.state = SessionState.DETACHED;
    else if (!KEEPING.includes(this.state)) {
      throw new ProtocolError(`a session cannot be detached in state '${this.state}'`);
    }
  }

  /** The relay said `resumed`: use the channel of `epoch` from now on. Resolves to this
   * side's resume state, to send as the first binary frame of the new epoch. Messages sealed
   * before this call count as sent before the resume; those after it are kept and go out
   * with the resend. */
  switchEpoch(epoch) {
    if (!ACTIVE.includes(this.state)) {
      return Promise.reject(new ProtocolError(`a session cannot resume in state '${this.state}'`));
    }
    if (epoch <= Math.max(this.epoch, this.#nextEpoch)) {
      return Promise.reject(new ProtocolError('the relay asked to resume into an epoch already used'));
    }
    const keys = this.#keys();
    const sent = this.#sent.total;
    this.#nextEpoch = epoch;
    return this.#queue.run(async () => {
      this.#channel = await this.#guardAsync(() => epochChannel(keys, epoch));
      this.epoch = epoch;
      this.state = SessionState.RESUMING;
      return this.#channel.seal(new ResumeState(this.receivedTotal, sent).encode());
    });
  }

  async #peerResumed(plaintext) {
    const peer = ResumeState.decode(plaintext);
    if (peer.sent < this.receivedTotal) {
      throw new ProtocolError('after the resume the peer claims fewer messages than arrived');
    }
    const missing = this.#sent.since(peer.received);
    this.state = SessionState.OPEN;
    this.#redeliveredUntil = peer.sent;
    const events = [new Resumed(this.epoch, missing.length, peer.sent - this.receivedTotal)];
    for (const message of missing) events.push(new Send(await this.#channel.seal(message)));
    return events;
  }

  close() {
    this.state = SessionState.CLOSED;
    this.#channel = null;
  }
}
