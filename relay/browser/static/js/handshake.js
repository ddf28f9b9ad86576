// The PAKE handshake between host and viewer, as protocol/handshake.py has it: a state
// machine fed bytes. Both sides send one SPAKE2 message and, once they have the peer's, one
// key-confirmation MAC. Keys are only handed out after the peer's MAC checked out,
// compared in constant time.
//
//     const hs = Handshake.forViewer(code.secret, code.session);
//     send(hs.start());
//     let step = hs.receive(peerBytes);   // {outgoing: Uint8Array, keys: null}
//     step = hs.receive(peerBytes);       // {outgoing: null, keys: SessionKeys}
//
// Wire format of a handshake message: "FW", version (1 byte), kind (1 byte), body.

import { hkdf } from '../vendor/noble-hashes/hkdf.js';
import { hmac } from '../vendor/noble-hashes/hmac.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { concatBytes, equalBytes, lengthPrefixed, utf8 } from './bytes.js';
import { ProtocolError, UnsupportedVersion, WrongCode } from './errors.js';
import { PROTOCOL_VERSION, SUPPORTED_VERSIONS } from './messages.js';
import { SPAKE2_A, SPAKE2_B, SpakeError, defaultEntropy } from './spake2.js';

export const MAGIC = utf8('FW');
export const PAKE_BODY_BYTES = 33;
export const CONFIRM_BODY_BYTES = 32;
export const KEY_BYTES = 32;

export const Role = Object.freeze({ HOST: 'host', VIEWER: 'viewer' });
export const Kind = Object.freeze({ PAKE: 1, CONFIRM: 2 });
const KIND_NAMES = { 1: 'PAKE', 2: 'CONFIRM' };
const BODY_BYTES = { 1: PAKE_BODY_BYTES, 2: CONFIRM_BODY_BYTES };

export const HandshakeState = Object.freeze({
  NEW: 'new',
  AWAIT_PAKE: "awaiting the peer's PAKE message",
  AWAIT_CONFIRM: "awaiting the peer's key confirmation",
  DONE: 'done',
  FAILED: 'failed',
});

const SIDE_BYTE = { host: 0x41, viewer: 0x42 };

/** What a finished handshake yields: raw key bytes, for channel.js and resume.js only.
 * Its string and JSON forms show no key material. */
export class SessionKeys {
  constructor({ role, session, sendKey, receiveKey, resumeKey, transcriptHash }) {
    this.role = role;
    this.session = session;
    Object.defineProperties(this, {
      sendKey: { value: sendKey },
      receiveKey: { value: receiveKey },
      resumeKey: { value: resumeKey },
      transcriptHash: { value: transcriptHash },
    });
    Object.freeze(this);
  }
  toString() {
    return `SessionKeys(role=${this.role}, session=${this.session}, keys=<hidden>)`;
  }
  toJSON() {
    return { role: this.role, session: this.session };
  }
}

export function identity(role, session, version = PROTOCOL_VERSION) {
  return utf8(`fernwartung/v${version}/${role}/${session}`);
}

export function encodeMessage(kind, body, version = PROTOCOL_VERSION) {
  return concatBytes(MAGIC, Uint8Array.of(version, kind), body);
}

/** [kind, body] of a handshake message, checking framing and exact length. */
export function decodeMessage(data) {
  if (data.length < 4 || data[0] !== MAGIC[0] || data[1] !== MAGIC[1]) {
    throw new ProtocolError('this is not a fernwartung handshake message');
  }
  const version = data[2];
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new UnsupportedVersion(
      `the peer speaks protocol version ${version}; this program supports ` +
        `${SUPPORTED_VERSIONS.join(', ')}: update the older side`,
    );
  }
  const kind = data[3];
  if (!(kind in KIND_NAMES)) throw new ProtocolError(`unknown handshake message kind ${kind}`);
  const body = data.subarray(4);
  if (body.length !== BODY_BYTES[kind]) {
    throw new ProtocolError(
      `handshake ${KIND_NAMES[kind]} message must carry ${BODY_BYTES[kind]} bytes, not ${body.length}`,
    );
  }
  return [kind, body];
}

/** SPAKE2 + HKDF-SHA256 + two-way key confirmation for one side of one session. */
export class Handshake {
  #spake;
  #ids;
  #ownPake = new Uint8Array(0);
  #ownConfirm = new Uint8Array(0);
  #expectedConfirm = new Uint8Array(0);
  #pendingKeys = null;

  /** `entropy(count)` gives random bytes (tests pass a fixed one; the default is WebCrypto). */
  constructor(role, secret, session, { entropy = defaultEntropy } = {}) {
    this.role = role;
    this.session = session;
    this.state = HandshakeState.NEW;
    const idHost = identity(Role.HOST, session);
    const idViewer = identity(Role.VIEWER, session);
    this.#ids = [idHost, idViewer];
    const Spake = role === Role.HOST ? SPAKE2_A : SPAKE2_B;
    this.#spake = new Spake(utf8(secret), { idA: idHost, idB: idViewer, entropy });
  }

  static forHost(secret, session, options) {
    return new Handshake(Role.HOST, secret, session, options);
  }

  static forViewer(secret, session, options) {
    return new Handshake(Role.VIEWER, secret, session, options);
  }

  #fail(error) {
    this.state = HandshakeState.FAILED;
    this.#pendingKeys = null;
    return error;
  }

  /** The PAKE message to send to the peer; call once. */
  start() {
    if (this.state !== HandshakeState.NEW) {
      throw new ProtocolError(`handshake already started (state: ${this.state})`);
    }
    this.#ownPake = encodeMessage(Kind.PAKE, this.#spake.start());
    this.state = HandshakeState.AWAIT_PAKE;
    return this.#ownPake;
  }

  /** Feed one message from the peer: {outgoing, keys}. */
  receive(data) {
    if ([HandshakeState.NEW, HandshakeState.DONE, HandshakeState.FAILED].includes(this.state)) {
      throw this.#fail(new ProtocolError(`unexpected handshake message in state '${this.state}'`));
    }
    let kind;
    let body;
    try {
      [kind, body] = decodeMessage(data);
    } catch (error) {
      throw this.#fail(error);
    }
    if (this.state === HandshakeState.AWAIT_PAKE) {
      if (kind !== Kind.PAKE) {
        throw this.#fail(new ProtocolError('the peer sent a key confirmation before its PAKE message'));
      }
      return this.#receivePake(body, data);
    }
    if (kind !== Kind.CONFIRM) throw this.#fail(new ProtocolError('the peer sent a second PAKE message'));
    return this.#receiveConfirm(body, data);
  }

  #receivePake(body, data) {
    const peerRole = this.role === Role.HOST ? Role.VIEWER : Role.HOST;
    if (equalBytes(data, this.#ownPake) || body[0] !== SIDE_BYTE[peerRole]) {
      throw this.#fail(new ProtocolError('the PAKE message was reflected back to its sender'));
    }
    let pakeKey;
    try {
      pakeKey = this.#spake.finish(body);
    } catch (error) {
      if (!(error instanceof SpakeError)) throw error;
      throw this.#fail(new ProtocolError("the peer's PAKE message is not valid"));
    }
    const [pakeHost, pakeViewer] =
      this.role === Role.HOST ? [this.#ownPake, data] : [data, this.#ownPake];
    const session = utf8(this.session);
    const salt = sha256(lengthPrefixed(utf8('fernwartung-salt'), session, pakeHost, pakeViewer));
    const transcript = sha256(
      lengthPrefixed(
        utf8('fernwartung-transcript'),
        Uint8Array.of(PROTOCOL_VERSION),
        session,
        ...this.#ids,
        pakeHost,
        pakeViewer,
      ),
    );
    const derive = (label) =>
      hkdf(sha256, pakeKey, salt, utf8(`fernwartung v${PROTOCOL_VERSION} ${label}`), KEY_BYTES);
    const hostToViewer = derive('host-to-viewer');
    const viewerToHost = derive('viewer-to-host');
    const confirmHost = hmac(sha256, derive('confirm-host'), concatBytes(utf8('host confirms'), transcript));
    const confirmViewer = hmac(
      sha256,
      derive('confirm-viewer'),
      concatBytes(utf8('viewer confirms'), transcript),
    );
    const host = this.role === Role.HOST;
    this.#ownConfirm = encodeMessage(Kind.CONFIRM, host ? confirmHost : confirmViewer);
    this.#expectedConfirm = host ? confirmViewer : confirmHost;
    this.#pendingKeys = new SessionKeys({
      role: this.role,
      session: this.session,
      sendKey: host ? hostToViewer : viewerToHost,
      receiveKey: host ? viewerToHost : hostToViewer,
      resumeKey: derive('resume'),
      transcriptHash: transcript,
    });
    this.state = HandshakeState.AWAIT_CONFIRM;
    return { outgoing: this.#ownConfirm, keys: null };
  }

  #receiveConfirm(body, data) {
    if (equalBytes(data, this.#ownConfirm)) {
      throw this.#fail(new ProtocolError('the key confirmation was reflected back to its sender'));
    }
    if (!equalBytes(body, this.#expectedConfirm)) {
      throw this.#fail(new WrongCode('the code does not match: key confirmation failed'));
    }
    const keys = this.#pendingKeys;
    this.#pendingKeys = null;
    this.state = HandshakeState.DONE;
    return { outgoing: null, keys };
  }
}
