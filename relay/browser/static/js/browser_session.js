// One browser viewer run, from connecting to the relay to the end of the session: the
// page's counterpart of viewer/client.py, following docs/session-contract.md the same way.
// No DOM: the page hands in how to reach the relay (`connect`), the framebuffer (with the
// browser's image and video decoders) and the evidence recording; it observes the run
// through `onEvent` and sends input, chat and requests with `send`. The node tests drive it
// with a link the test plays the relay through.
//
//     CONNECTING -> JOINING -> HANDSHAKE -> GREETING -> AWAITING_CONSENT -> ACTIVE <-> PAUSED
//     ACTIVE/PAUSED -> RECONNECTING -> ACTIVE/PAUSED            (resume without a new code)
//                                                                 any -> ENDING -> ENDED
//
// What the Python viewer does, this does: Hello with the rich capabilities and "recording";
// each frame update applied, then acked; every message recorded on its way in (before it is
// acted on) and out (right before it is sealed); checkpoints every 30 s to the host (in the
// channel) and the relay (its ledger); the end exchange with final checkpoints, the END
// record and its report before the relay's `end`; after a dropped link, resume with the
// one-time secret (the sign-in cookie authenticates the new connection).
//
// link: {sendControl(msg), sendBinary(bytes), receive() -> Promise<Control|Uint8Array>,
//        close(reason), isOpen}; connect() -> Promise<link>.

import {
  CodeVoid,
  ConnectionLost,
  ConsentDenied,
  FernwartungError,
  NotAuthorised,
  ProtocolError,
  RecordingFailed,
  RelayUnreachable,
  ResumeRefused,
  SessionEnded,
  WrongCode,
} from './errors.js';
import * as control from './control.js';
import * as messages from './messages.js';
import { PADDING_CAPABILITY, pad } from './padding.js';
import { Role } from './handshake.js';
import { Established, PeerSession, Received, Resumed, Send, SessionState } from './session.js';
import { END_EXCHANGE_TIMEOUT_SECONDS, RECORDING_CAPABILITY, termsHashFrom } from './evidence.js';

export const Phase = Object.freeze({
  CONNECTING: 'connecting',
  JOINING: 'joining',
  HANDSHAKE: 'handshake',
  GREETING: 'greeting',
  AWAITING_CONSENT: 'awaiting_consent',
  ACTIVE: 'active',
  PAUSED: 'paused',
  RECONNECTING: 'reconnecting',
  ENDING: 'ending',
  ENDED: 'ended',
});

/** How a run ended, as viewer/outcome.py's exit statuses. */
export const Ending = Object.freeze({
  ENDED: 'ended',
  ERROR: 'error',
  WRONG_CODE: 'wrong_code',
  CODE_VOID: 'code_void',
  NOT_AUTHORISED: 'not_authorised',
  DENIED: 'denied',
  RELAY_UNREACHABLE: 'relay_unreachable',
});

export const CONNECT_TIMEOUT_SECONDS = 15;
export const JOIN_TIMEOUT_SECONDS = 10;
export const HANDSHAKE_TIMEOUT_SECONDS = 15;
export const HELLO_TIMEOUT_SECONDS = 10;
export const CONSENT_TIMEOUT_SECONDS = 600;
export const CHECKPOINT_INTERVAL_SECONDS = 30;
// Reconnecting after a drop: the relay keeps the slot 60 s; the page tries a little longer.
export const GIVE_UP_AFTER_SECONDS = 75;
export const BACKOFF_SECONDS = [0.5, 1, 2, 4, 8];
export const BACKOFF_JITTER = 0.2;
export const RESUME_ANSWER_TIMEOUT_SECONDS = 10;
export const APPLY_QUEUE_UPDATES = 8;
export const VIEWER_CAPABILITIES = Object.freeze([
  'tiles.fill', 'tiles.jpeg', 'tiles.webp', 'tiles.png', 'cursor', 'chat',
  ...messages.RICH_CAPABILITIES, PADDING_CAPABILITY,
]); // prettier-ignore

// Reasons this side gives the relay, worded for the customer by the host (endpoint/ending.py).
export const END_RECORDING_FAILED = "the technician's recording failed";
export const END_MESSAGE_REFUSED = 'a damaged or altered message was refused';
const PLAIN_CUSTOMER_REASONS = new Set(['', 'the customer ended the session', 'ended by the customer']);

/** Why the session ended when the host said goodbye (viewer/outcome.py customer_ended). */
export function customerEnded(reason) {
  const line = String(reason).replace(/\s+/g, ' ').trim();
  if (PLAIN_CUSTOMER_REASONS.has(line.toLowerCase())) return 'the customer ended the session';
  return `the customer ended the session: ${line}`;
}

// Events the page receives.
export class FrameApplied {
  constructor(stat, regions) {
    // {seq, captureTime, receivedAt, appliedAt, bytes, tiles, codecs, copies, video}
    this.stat = stat;
    this.regions = regions;
  }
}
export class CursorMoved {
  constructor(x, y, visible) {
    Object.assign(this, { x, y, visible });
  }
}
export class StatusChanged {
  constructor(status) {
    this.status = status;
  }
}
export class ChatReceived {
  constructor(text) {
    this.text = text;
  }
}

class Timeout extends Error {}

function within(seconds, promise) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), seconds * 1000);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve at hand. */
function signal() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve, set: false };
}

function setSignal(s) {
  s.set = true;
  s.resolve();
}

export class BrowserSession {
  #connect;
  #onEvent;
  #link = null;
  #session = null;
  #established = false;
  #peerRecords = false;
  #padForPeer = false; // the host's Hello announced padding
  #peerSaidBye = signal();
  #endFinished = signal();
  #ending = signal();
  #endRequested = signal();
  #runDone = signal();
  #requestedReason = '';
  #endReason = '';
  #finalReport = null;
  #closingSends = false;
  #updates = [];
  #updateWaiter = null;
  #applying = null;
  #checkpointTimer = null;
  #phaseBeforeDrop = Phase.ACTIVE;
  #interruptedAt = null;
  #sleep;

  /**
   * code: a parsed Code; connect(): a new link to /v1/viewer; framebuffer: a Framebuffer;
   * evidence: a SessionEvidence or null; customer: the customer reference for the ledger;
   * clock: {wall() seconds since the epoch, monotonic() seconds}.
   */
  constructor({
    code,
    connect,
    framebuffer,
    evidence = null,
    customer = '',
    onEvent = () => {},
    clock = { wall: () => Date.now() / 1000, monotonic: () => performance.now() / 1000 },
    checkpointIntervalSeconds = CHECKPOINT_INTERVAL_SECONDS,
    giveUpAfterSeconds = GIVE_UP_AFTER_SECONDS,
    sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
  }) {
    this.code = code;
    this.#connect = connect;
    this.framebuffer = framebuffer;
    this.evidence = evidence;
    this.customer = customer;
    this.#onEvent = onEvent;
    this.clock = clock;
    this.checkpointIntervalSeconds = checkpointIntervalSeconds;
    this.giveUpAfterSeconds = giveUpAfterSeconds;
    this.#sleep = sleep;
    this.technician = '';
    this.status = Object.freeze({
      phase: Phase.CONNECTING,
      sessionNumber: code.session,
      consent: messages.ConsentLevel.PENDING,
      consentSince: null, // clock.monotonic() of the first consent: billable time starts
      recording: evidence !== null,
      tariff: null,
    });
  }

  // ---- for the page ------------------------------------------------------------------

  /** Seal and send one message (input only while the customer granted control). */
  async send(message) {
    if (messages.INPUT_TYPES.some((type) => message instanceof type) && !this.#maySendInput()) return;
    if (this.#session === null) return;
    if ([Phase.ENDING, Phase.ENDED].includes(this.status.phase) && !(message instanceof messages.Bye)) return;
    await this.#wireSend(message);
  }

  /** End the session from the page (the End button, closing the tab). */
  requestEnd(reason = 'the technician ended the session') {
    if (!this.#endRequested.set) {
      this.#requestedReason = reason;
      setSignal(this.#endRequested);
    }
  }

  #maySendInput() {
    return this.status.consent === messages.ConsentLevel.CONTROL && this.status.phase === Phase.ACTIVE;
  }

  #setStatus(changes) {
    this.status = Object.freeze({ ...this.status, ...changes });
    this.#onEvent(new StatusChanged(this.status));
  }

  // ---- the one place every message passes (endpoint/wire.py) ------------------------

  #wireSend(message) {
    const session = this.#session;
    if (session === null) return Promise.resolve();
    if (this.#closingSends && !(message instanceof messages.Bye)) return Promise.resolve();
    let plaintext = messages.encode(message);
    if (this.#padForPeer) plaintext = pad(message, plaintext); // protocol/padding.py
    if (this.evidence !== null && this.evidence.started) this.evidence.sent(plaintext); // first
    return this.#putOnWire(session.sealPlaintext(plaintext));
  }

  async #putOnWire(sealing) {
    const link = this.#link; // the link of the moment the message was sealed for
    const frame = await sealing;
    if (frame === null || link === null || link !== this.#link) return; // kept: sent after a resume
    try {
      link.sendBinary(frame);
    } catch (error) {
      if (!(error instanceof ConnectionLost)) throw error; // the reader notices the drop
    }
  }

  #noteReceived(event) {
    if (this.evidence !== null && this.evidence.started) this.evidence.received(event.plaintext);
  }

  /** Record a checkpoint, send its message next, report it to the relay, sync the file. */
  async checkpoint({ final = false } = {}) {
    const evidence = this.evidence;
    const session = this.#session;
    const link = this.#link;
    if (evidence === null || !evidence.recording || session === null || link === null) return;
    if (final && evidence.finalCheckpointSent) return;
    if (session.state !== SessionState.OPEN) return;
    const written = evidence.checkpoint({ final });
    await this.#putOnWire(session.sealPlaintext(written.plaintext));
    try {
      link.sendControl(written.report);
    } catch (error) {
      if (!(error instanceof ConnectionLost)) throw error;
    }
    await evidence.sync();
  }

  #scheduleCheckpoints() {
    if (this.evidence === null || !Number.isFinite(this.checkpointIntervalSeconds)) return;
    const tick = () => {
      this.#checkpointTimer = setTimeout(async () => {
        if (!this.evidence.recording) return;
        try {
          await this.checkpoint();
        } catch (error) {
          this.#fail(error);
          return;
        }
        tick();
      }, this.checkpointIntervalSeconds * 1000);
    };
    tick();
  }

  // A failure outside the receive loop (a checkpoint's recording) ends the run through it.
  #fail(error) {
    this.#backgroundError = error;
    this.#link?.close('failed');
  }

  #backgroundError = null;

  // ---- the run -----------------------------------------------------------------------

  /** Run the whole session; resolves to {ending, reason, message} (never rejects for a
   * session error). */
  async run() {
    const watcher = this.#endWhenAsked();
    let outcome;
    try {
      await this.#run();
      outcome = { ending: Ending.ENDED, reason: this.#endReason };
    } catch (caught) {
      const error = this.#backgroundError ?? caught;
      if (!(error instanceof FernwartungError)) throw error;
      if (error instanceof RecordingFailed) {
        this.#setStatus({ recording: false });
        this.#endWithReason(END_RECORDING_FAILED);
      } else if (error instanceof ProtocolError) {
        this.#endWithReason(END_MESSAGE_REFUSED);
      }
      outcome = this.#outcome(error);
    } finally {
      clearTimeout(this.#checkpointTimer);
      setSignal(this.#runDone); // the watcher stops unless it is ending the session
      await watcher;
      await this.#closeRecording(this.#endReason || 'the session ended');
      this.#closeLink();
      this.#setStatus({ phase: Phase.ENDED });
    }
    return outcome;
  }

  #outcome(error) {
    const established = this.#established;
    if (error instanceof RecordingFailed) return { ending: Ending.ERROR, reason: error.message };
    if (this.status.phase === Phase.ENDING && error instanceof SessionEnded) {
      return { ending: Ending.ENDED, reason: this.#endReason };
    }
    if (error instanceof SessionEnded) {
      return { ending: established ? Ending.ENDED : Ending.ERROR, reason: error.reason };
    }
    const table = [
      [WrongCode, Ending.WRONG_CODE],
      [CodeVoid, Ending.CODE_VOID],
      [NotAuthorised, Ending.NOT_AUTHORISED],
      [ConsentDenied, Ending.DENIED],
      [RelayUnreachable, Ending.RELAY_UNREACHABLE],
    ];
    for (const [kind, ending] of table) if (error instanceof kind) return { ending, reason: error.message };
    return { ending: Ending.ERROR, reason: error.message };
  }

  async #endWhenAsked() {
    await Promise.race([this.#endRequested.promise, this.#runDone.promise]);
    if (this.#runDone.set || this.#ending.set) return;
    await this.end(this.#requestedReason || 'the technician ended the session');
  }

  #endWithReason(reason) {
    this.#endReason = reason;
    const link = this.#link;
    if (link === null) return;
    try {
      link.sendControl(new control.End({ reason }));
    } catch {
      // the link is gone already
    }
  }

  async #closeRecording(reason) {
    const evidence = this.evidence;
    if (evidence === null) return;
    if (evidence.recording) {
      evidence.endNext();
      try {
        this.#finalReport = await evidence.close(reason);
      } catch (error) {
        if (!(error instanceof RecordingFailed)) throw error;
        this.#setStatus({ recording: false });
      }
    }
    const report = this.#finalReport;
    const link = this.#link;
    if (report === null || link === null) return;
    try {
      link.sendControl(report);
      this.#finalReport = null;
    } catch {
      // the link is gone: the file is anchored up to its last reported checkpoint
    }
  }

  #closeLink() {
    const link = this.#link;
    if (link !== null) link.close(this.#endReason);
  }

  /** Say goodbye to the host (when there is one) and close the link. */
  async end(reason = 'the technician ended the session') {
    if ([Phase.ENDING, Phase.ENDED].includes(this.status.phase)) return;
    this.#endReason = reason;
    setSignal(this.#ending);
    const established = this.#established;
    const open = this.#session !== null && this.#session.state === SessionState.OPEN;
    this.#setStatus({ phase: Phase.ENDING });
    try {
      await this.#sayGoodbye(reason, established && open);
    } finally {
      setSignal(this.#endFinished);
    }
  }

  async #sayGoodbye(reason, open) {
    const link = this.#link;
    if (link === null) return;
    try {
      if (open && (this.evidence === null || this.evidence.failure === null)) {
        const exchange = this.#recordingNow() && this.#peerRecords;
        await this.checkpoint({ final: true });
        this.#closingSends = true;
        await this.#wireSend(new messages.Bye({ reason }));
        if (exchange) {
          await within(END_EXCHANGE_TIMEOUT_SECONDS, this.#peerSaidBye.promise).catch(() => {});
        }
      }
    } catch (error) {
      if (!(error instanceof FernwartungError)) throw error; // the link is gone already
    }
    // The END record before the relay's End: its final report anchors the end too.
    await this.#closeRecording(reason);
    try {
      link.sendControl(new control.End({ reason }));
    } catch {
      // gone already
    }
    link.close(reason);
  }

  #recordingNow() {
    return this.evidence !== null && this.evidence.recording;
  }

  async #run() {
    try {
      this.#link = await within(CONNECT_TIMEOUT_SECONDS, this.#connect());
    } catch (error) {
      if (error instanceof Timeout) throw new RelayUnreachable('the relay did not answer in time');
      throw error;
    }
    if (this.#ending.set) throw new SessionEnded(this.#endReason);
    const link = this.#link;
    this.#setStatus({ phase: Phase.JOINING });
    link.sendControl(
      new control.Join({ session: this.code.session, version: messages.PROTOCOL_VERSION, customer: this.customer }),
    );
    let joined;
    try {
      joined = await within(JOIN_TIMEOUT_SECONDS, link.receive());
    } catch (error) {
      if (error instanceof Timeout) throw new RelayUnreachable('the relay did not confirm the join in time');
      throw error;
    }
    if (!(joined instanceof control.Joined)) throw new ProtocolError('the relay did not confirm the join');
    const tariff = joined.tariff();
    if (tariff !== null) this.#setStatus({ tariff });
    this.technician = joined.technician;
    await this.#timed(HANDSHAKE_TIMEOUT_SECONDS, this.#handshake(link), "the code check did not finish in time: the customer's agent did not answer");
    await this.#timed(HELLO_TIMEOUT_SECONDS, this.#greet(link), "the customer's agent did not greet in time");
    this.#setStatus({ phase: Phase.AWAITING_CONSENT });
    await this.#timed(CONSENT_TIMEOUT_SECONDS, this.#awaitConsent(link), 'the customer did not answer in time');
    this.#scheduleCheckpoints();
    this.#applying = this.#applyUpdates();
    this.#applying.catch(() => {}); // its failure ends the run through the receive loop
    for (;;) {
      await this.#dispatch(await this.#receiveOrReconnect());
    }
  }

  async #timed(seconds, promise, text) {
    try {
      await within(seconds, promise);
    } catch (error) {
      if (error instanceof Timeout) throw new SessionEnded(text);
      throw error;
    }
  }

  async #awaitConsent(link) {
    while (this.status.phase === Phase.AWAITING_CONSENT) await this.#dispatch(await link.receive());
  }

  async #handshake(link) {
    this.#setStatus({ phase: Phase.HANDSHAKE });
    const session = new PeerSession(Role.VIEWER, this.code);
    link.sendBinary(session.start());
    while (session.keys === null) {
      const frame = await link.receive();
      if (!(frame instanceof Uint8Array)) {
        this.#handleControl(frame);
        continue;
      }
      for (const event of await session.receive(frame)) {
        if (event instanceof Send) link.sendBinary(event.data);
        else if (event instanceof Established) {
          this.#session = session;
          this.#established = true;
          this.#sendVerifier(session, link);
        } else throw new ProtocolError('the host sent a message before the handshake ended');
      }
    }
  }

  #sendVerifier(session, link) {
    link.sendControl(new control.ResumeVerifier({ epoch: session.epoch, verifier: session.resumeVerifier() }));
  }

  /** The host's Hello first (its screen size heads the recording), then ours. */
  async #greet(link) {
    this.#setStatus({ phase: Phase.GREETING });
    const received = await this.#receiveFirst(link);
    const hello = received.message;
    if (!(hello instanceof messages.Hello)) throw new ProtocolError('the host did not start with a Hello');
    const capabilities = [...VIEWER_CAPABILITIES];
    if (this.evidence !== null) {
      this.evidence.start(
        this.code.session,
        this.technician,
        hello.screen_width,
        hello.screen_height,
        termsHashFrom(hello.capabilities),
      );
      capabilities.push(RECORDING_CAPABILITY);
    }
    this.#noteReceived(received);
    messages.negotiateVersion(messages.SUPPORTED_VERSIONS, hello.versions);
    this.#peerRecords = hello.capabilities.includes(RECORDING_CAPABILITY);
    this.#padForPeer = hello.capabilities.includes(PADDING_CAPABILITY);
    await this.send(
      new messages.Hello({ versions: [...messages.SUPPORTED_VERSIONS], capabilities, screen_width: 0, screen_height: 0 }),
    );
  }

  async #receiveFirst(link) {
    for (;;) {
      const frame = await link.receive();
      if (!(frame instanceof Uint8Array)) {
        this.#handleControl(frame);
        continue;
      }
      return this.#decrypt(frame);
    }
  }

  async #decrypt(frame) {
    if (this.#session === null) throw new ProtocolError('a message arrived before the session was established');
    const events = await this.#session.receive(frame);
    if (events.length !== 1 || !(events[0] instanceof Received)) {
      throw new ProtocolError('the host sent handshake data after the handshake');
    }
    return events[0];
  }

  async #open(frame) {
    const event = await this.#decrypt(frame);
    this.#noteReceived(event);
    return event;
  }

  #handleControl(message) {
    if (message instanceof control.PeerLeft || message instanceof control.End) throw new SessionEnded(message.reason);
    throw new ProtocolError(`the relay sent an unexpected '${message.constructor.TYPE}' message`);
  }

  async #dispatch(frame) {
    if ((frame instanceof control.End || frame instanceof control.PeerLeft) && this.#ending.set) {
      // The host answered our goodbye and ended: our own end() writes the END record and
      // reports it before the session is torn down.
      setSignal(this.#peerSaidBye);
      await within(END_EXCHANGE_TIMEOUT_SECONDS + 10, this.#endFinished.promise).catch(() => {});
    }
    if (frame instanceof control.PeerReconnecting) {
      if (this.#mayResume()) this.#interrupted(false);
      return;
    }
    if (frame instanceof control.Resumed) {
      await this.#onResumed(frame.epoch);
      return;
    }
    if (!(frame instanceof Uint8Array)) {
      this.#handleControl(frame);
      return;
    }
    if (this.#session !== null && this.#session.state === SessionState.RESUMING) {
      await this.#peerState(frame);
      return;
    }
    if (this.evidence !== null && this.evidence.ended) return; // after the END record
    const receivedAt = this.clock.wall();
    const received = await this.#open(frame);
    const message = received.message;
    if (message instanceof messages.FrameUpdate) {
      this.#queueUpdate(message, {
        seq: message.seq,
        captureTime: message.capture_time,
        receivedAt,
        bytes: received.plaintext.length,
        tiles: message.tiles.length,
        codecs: [...new Set(message.tiles.map((tile) => tile.codec))],
        copies: message.copies?.length ?? 0,
        video: message.video?.length ?? 0,
      });
    } else if (message instanceof messages.Cursor) {
      this.#onEvent(new CursorMoved(message.x, message.y, message.visible));
    } else if (message instanceof messages.ConsentState) {
      this.#changeConsent(message.level);
    } else if (message instanceof messages.Pause) {
      this.#setStatus({ phase: Phase.PAUSED });
    } else if (message instanceof messages.Resume) {
      this.#setStatus({ phase: Phase.ACTIVE });
    } else if (message instanceof messages.Chat) {
      this.#onEvent(new ChatReceived(message.text));
    } else if (message instanceof messages.Bye) {
      if (this.status.phase === Phase.ENDING) {
        setSignal(this.#peerSaidBye); // the host's answer to our Bye: end() goes on
        return;
      }
      await this.#answerBye(message.reason);
      throw new SessionEnded(customerEnded(message.reason));
    } else if (message instanceof messages.Checkpoint) {
      // the recording checked it against its own incoming chain; nothing else to do
    } else {
      throw new ProtocolError(`a host does not send ${message.constructor.name} messages`);
    }
  }

  /** The host ended: our final checkpoint and Bye, then the relay's End. */
  async #answerBye(reason) {
    if (!(this.#recordingNow() && this.#peerRecords) || this.#link === null) return;
    this.#endReason = customerEnded(reason);
    this.#setStatus({ phase: Phase.ENDING });
    const link = this.#link;
    const exchange = async () => {
      await this.checkpoint({ final: true });
      this.#closingSends = true;
      await this.#wireSend(new messages.Bye({ reason: 'the customer ended the session' }));
      for (;;) {
        const frame = await link.receive();
        if (!(frame instanceof Uint8Array)) return; // the relay's End (or PeerLeft)
        await this.#open(frame);
      }
    };
    try {
      await within(END_EXCHANGE_TIMEOUT_SECONDS, exchange());
    } catch (error) {
      if (!(error instanceof Timeout || error instanceof SessionEnded)) throw error;
    }
  }

  #changeConsent(level) {
    if (level === messages.ConsentLevel.DENIED) throw new ConsentDenied('the customer declined the session');
    if (level === messages.ConsentLevel.PENDING) throw new ProtocolError('the host sent a pending consent level');
    const since = this.status.consentSince ?? this.clock.monotonic();
    const phase = this.status.phase === Phase.AWAITING_CONSENT ? Phase.ACTIVE : this.status.phase;
    this.#setStatus({ consent: level, consentSince: since, phase });
  }

  // ---- frame updates: applied in order, each followed by its Ack ----------------------

  #queueUpdate(update, stat) {
    if (this.#updates.length >= APPLY_QUEUE_UPDATES) {
      throw new ProtocolError('the host sent more frame updates than it may have in flight');
    }
    this.#updates.push([update, stat]);
    const waiter = this.#updateWaiter;
    this.#updateWaiter = null;
    waiter?.();
  }

  async #applyUpdates() {
    for (;;) {
      while (!this.#updates.length) {
        if (this.status.phase === Phase.ENDED) return;
        await new Promise((resolve) => {
          this.#updateWaiter = resolve;
        });
      }
      const [update, stat] = this.#updates.shift();
      let regions;
      try {
        regions = await this.framebuffer.apply(update);
      } catch (error) {
        this.#fail(error instanceof FernwartungError ? error : new ProtocolError('a frame update could not be shown'));
        return;
      }
      this.#onEvent(new FrameApplied({ ...stat, appliedAt: this.clock.wall() }, regions));
      await this.send(new messages.Ack({ seq: update.seq }));
    }
  }

  // ---- resuming after a dropped connection --------------------------------------------

  async #receiveOrReconnect() {
    for (;;) {
      if (this.#backgroundError !== null) throw this.#backgroundError;
      const link = this.#link;
      if (link === null) throw new SessionEnded(this.#endReason || 'the connection to the relay is closed');
      try {
        return await link.receive();
      } catch (error) {
        if (this.#backgroundError !== null) throw this.#backgroundError;
        if (!(error instanceof ConnectionLost) || !this.#mayResume()) throw error;
      }
      await this.#reconnect();
    }
  }

  #mayResume() {
    const session = this.#session;
    return (
      [Phase.ACTIVE, Phase.PAUSED, Phase.RECONNECTING].includes(this.status.phase) &&
      session !== null &&
      session.keys !== null &&
      !this.#ending.set
    );
  }

  #interrupted(ownLink) {
    this.#session.detach();
    if (this.status.phase !== Phase.RECONNECTING) {
      this.#phaseBeforeDrop = this.status.phase;
      this.#setStatus({ phase: Phase.RECONNECTING });
    }
    if (this.#interruptedAt === null) {
      this.#interruptedAt = this.clock.monotonic();
      const who = ownLink ? "this side's" : "the host's";
      this.evidence?.gap(`${who} connection to the relay dropped; reconnecting`);
    }
  }

  async #reconnect() {
    this.#interrupted(true);
    this.#link?.close('reconnecting');
    this.#link = null;
    const giveUpAt = this.clock.monotonic() + this.giveUpAfterSeconds;
    let attempt = 0;
    for (;;) {
      if (this.#endRequested.set || this.#ending.set) {
        this.#endReason ||= this.#requestedReason || 'the technician ended the session';
        throw new SessionEnded(this.#endReason);
      }
      try {
        const [link, answer] = await this.#attemptResume();
        this.#link = link;
        if (answer instanceof control.Resumed) await this.#onResumed(answer.epoch);
        return;
      } catch (error) {
        if (error instanceof ResumeRefused) {
          throw new SessionEnded(`the session ended while the connection was interrupted (${error.reason})`);
        }
        if (!(error instanceof RelayUnreachable || error instanceof SessionEnded || error instanceof Timeout)) {
          throw error;
        }
      }
      const base = BACKOFF_SECONDS[Math.min(attempt, BACKOFF_SECONDS.length - 1)];
      attempt += 1;
      const delay = base * (1 + (Math.random() * 2 - 1) * BACKOFF_JITTER);
      if (this.clock.monotonic() + delay >= giveUpAt) {
        throw new RelayUnreachable('the connection to the relay could not be restored in time');
      }
      // Back-off between attempts (not a wait for an event); an end request cuts it short.
      await Promise.race([this.#sleep(delay), this.#endRequested.promise]);
    }
  }

  async #attemptResume() {
    const link = await within(CONNECT_TIMEOUT_SECONDS, this.#connect());
    try {
      const session = this.#session;
      link.sendControl(
        new control.Resume({
          session: this.code.session,
          epoch: session.epoch,
          secret: session.resumeSecret(),
          version: messages.PROTOCOL_VERSION,
        }),
      );
      const answer = await within(RESUME_ANSWER_TIMEOUT_SECONDS, link.receive());
      if (!(answer instanceof control.Resumed || answer instanceof control.PeerReconnecting)) {
        throw new ProtocolError('the relay did not answer the resume');
      }
      return [link, answer];
    } catch (error) {
      link.close('resume failed');
      throw error;
    }
  }

  /** Both sides are back: switch epochs, give the new verifier, then our resume state. */
  async #onResumed(epoch) {
    const session = this.#session;
    const link = this.#link;
    if (session === null || link === null) return;
    const frame = await session.switchEpoch(epoch);
    try {
      this.#sendVerifier(session, link);
      link.sendBinary(frame);
    } catch (error) {
      if (!(error instanceof ConnectionLost)) throw error;
    }
  }

  /** The host's resume state: what it missed goes out, then the session carries on. */
  async #peerState(frame) {
    const link = this.#link;
    const events = await this.#session.receive(frame);
    const resumed = events[0];
    if (!(resumed instanceof Resumed)) throw new ProtocolError('the host did not send its resume state');
    try {
      for (const event of events.slice(1)) link?.sendBinary(event.data);
    } catch (error) {
      if (!(error instanceof ConnectionLost)) throw error;
    }
    const since = this.#interruptedAt ?? this.clock.monotonic();
    this.#interruptedAt = null;
    const seconds = this.clock.monotonic() - since;
    this.evidence?.gap(
      `resumed after ${seconds.toFixed(1)} s (channel epoch ${resumed.epoch}); ${resumed.resent} messages sent again`,
    );
    this.#setStatus({ phase: this.#phaseBeforeDrop });
  }
}
