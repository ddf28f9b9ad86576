// The page's connection to its relay, as endpoint/relay_link.py is the Python endpoints':
// one WebSocket to /v1/viewer on the page's own origin (the browser sends the sign-in
// cookie with it), text frames for relay control, binary frames for end-to-end ciphertext.
//
//     const link = await openLink(relayUrl('/v1/viewer'));
//     link.sendControl(new Join({...}));
//     const frame = await link.receive();   // a Control or a Uint8Array
//
// An `error` from the relay is raised as the matching exception (as error_for in python);
// a closed connection as ConnectionLost. Browser only (WebSocket).

import {
  CodeVoid,
  ConnectionLost,
  NotAuthorised,
  ProtocolError,
  RelayUnreachable,
  ResumeRefused,
  SessionEnded,
} from './errors.js';
import * as control from './control.js';

export const OPEN_TIMEOUT_MS = 15_000;
// Above this many bytes waiting in the browser, the sender waits (flow control).
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** wss://HOST/PATH of the page's own origin (ws:// when the page is plain http). */
export function relayUrl(path, location = globalThis.location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/** The exception that matches a relay error (its message is written for people). */
export function errorFor(message) {
  const code = message.code;
  const E = control.ErrorCode;
  if (code === E.RESUME_REFUSED) return new ResumeRefused(message.message);
  if ([E.UNKNOWN_SESSION, E.EXPIRED, E.VOID].includes(code)) return new CodeVoid(message.message);
  if ([E.UNAUTHORIZED, E.REVOKED].includes(code)) return new NotAuthorised(message.message);
  if ([E.BAD_MESSAGE, E.UNSUPPORTED_VERSION, E.TOO_LARGE].includes(code)) return new ProtocolError(message.message);
  return new SessionEnded(message.message);
}

export class RelayLink {
  #socket;
  #frames = [];
  #waiting = [];
  #closed = null; // the reason, once closed

  constructor(socket) {
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (event) => this.#push(event.data));
    socket.addEventListener('close', (event) => this.#end(event.reason || 'the connection to the relay was closed'));
    socket.addEventListener('error', () => this.#end('the connection to the relay was closed'));
  }

  get isOpen() {
    return this.#closed === null;
  }

  get bufferedAmount() {
    return this.#socket.bufferedAmount;
  }

  #push(data) {
    const item = typeof data === 'string' ? data : new Uint8Array(data);
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(item);
    else this.#frames.push(item);
  }

  #end(reason) {
    if (this.#closed !== null) return;
    this.#closed = reason;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new ConnectionLost(reason));
  }

  sendControl(message) {
    this.#send(control.encode(message));
  }

  sendBinary(data) {
    this.#send(data);
  }

  #send(data) {
    if (this.#closed !== null || this.#socket.readyState !== WebSocket.OPEN) {
      throw new ConnectionLost(this.#closed ?? 'the connection to the relay was closed');
    }
    this.#socket.send(data);
  }

  /** The next frame: a relay control message or the bytes of a binary frame. */
  async receive() {
    let item;
    if (this.#frames.length) item = this.#frames.shift();
    else if (this.#closed !== null) throw new ConnectionLost(this.#closed);
    else item = await new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
    if (typeof item !== 'string') return item;
    const message = control.decode(item);
    if (message instanceof control.RelayError) throw errorFor(message);
    return message;
  }

  close(reason = '') {
    this.#end(reason || 'closed');
    try {
      this.#socket.close(1000, [...reason].slice(0, 100).join(''));
    } catch {
      // already closing
    }
  }
}

/** Open a WebSocket to `url` and resolve once it is open. A refused upgrade (a sign-in
 * that ended, say) looks like any failed connection to the page: RelayUnreachable. */
export function openLink(url, { timeoutMs = OPEN_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    let socket;
    try {
      socket = new WebSocket(url);
    } catch {
      reject(new RelayUnreachable('the relay address is not valid'));
      return;
    }
    const timer = setTimeout(() => {
      socket.close();
      reject(new RelayUnreachable('the relay did not answer in time'));
    }, timeoutMs);
    const link = new RelayLink(socket);
    socket.addEventListener('open', () => {
      clearTimeout(timer);
      resolve(link);
    });
    socket.addEventListener('close', () => {
      clearTimeout(timer);
      reject(new RelayUnreachable('the relay refused or closed the connection'));
    });
  });
}
