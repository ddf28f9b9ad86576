// Relay control, as protocol/control.py has it: the JSON text frames between the relay and
// a host or viewer. Each is an object with a `type`; the fields of each type are exact
// (unknown fields are refused, optional ones have defaults). Binary frames are end-to-end
// ciphertext and never pass through this module.
//
// Two differences from python's decoder, both from JSON.parse: a duplicated key is not
// refused (the last one wins), and 1.0 cannot be told from 1 (python's `Int` refuses 1.0).
// The page only reads what its own relay writes, so neither lets a peer say anything else.

import { ProtocolError } from './errors.js';
import { Choice, Flag, HexDigest, Int, ListOf, Nested, Record, Text, characterCount } from './schema.js';

export const MAX_CONTROL_BYTES = 4096;
export const MAX_TECHNICIAN_CHARS = 64;
const SESSION = new Text(12, '[0-9]{4,12}');
const VERSION = new Int(0, 255);
const REASON = new Text(500);
const AMOUNT = new Text(12, '([0-9]{1,6}(\\.[0-9]{1,4})?)?');
const ROUNDING = new Text(20, '(started-minute|exact)?');
const TERMS_HASH = new Text(64, '([0-9a-f]{64})?');
const FILE_HEAD = new Text(64, '([0-9a-f]{64})?');
const EPOCH = new Int(0, 10_000);
const RESUME_HEX = new HexDigest(32);
const CUSTOMER = new Text(100, '[^\\x00-\\x1f\\x7f]*');
const TARIFF = [
  ['rate_per_minute', AMOUNT, ''],
  ['vat_percent', AMOUNT, ''],
  ['rounding', ROUNDING, ''],
  ['minimum_charge', AMOUNT, ''],
];
// Another relay of the operator: a WebSocket base URL (no path) and its certificate pin.
export const MAX_OTHER_RELAYS = 8;
const RELAY_URL = new Text(200, 'wss?://[^\\s/?#@\\\\]+');
const PIN = new Text(64, '([0-9a-f]{64})?');

/** Another relay of the same operator, where a side may go on with its session when its
 * own relay is gone (several relays on one database); travels as [url, fingerprint]. */
export class OtherRelay extends Record {
  static FIELDS = [['url', RELAY_URL], ['fingerprint', PIN, '']];
}

const OTHER_RELAYS = ['relays', new ListOf(new Nested(OtherRelay), MAX_OTHER_RELAYS), []];

export const ErrorCode = Object.freeze({
  UNKNOWN_SESSION: 'unknown_session',
  EXPIRED: 'expired',
  VOID: 'void',
  BUSY: 'busy',
  UNAUTHORIZED: 'unauthorized',
  RATE_LIMITED: 'rate_limited',
  TOO_LARGE: 'too_large',
  BAD_MESSAGE: 'bad_message',
  UNSUPPORTED_VERSION: 'unsupported_version',
  SERVER_FULL: 'server_full',
  TIMEOUT: 'timeout',
  REVOKED: 'revoked',
  SHUTTING_DOWN: 'shutting_down',
  RESUME_REFUSED: 'resume_refused',
  DATABASE_UNAVAILABLE: 'database_unavailable',
});

export const ReportedConsent = Object.freeze({ DENIED: 'denied', VIEW: 'view', CONTROL: 'control' });

/** Base of every relay control message; `static TYPE` is its `type`. */
export class Control extends Record {}

/** The tariff a `registered` or `joined` carries, or null from an older relay. Amounts stay
 * decimal text ("1.40"): billing.js (to come) computes with them as python's Decimal does. */
function tariffOf(message) {
  if (!message.rate_per_minute) return null;
  return {
    ratePerMinute: message.rate_per_minute,
    vatPercent: message.vat_percent || '0',
    rounding: message.rounding || 'started-minute',
    minimumCharge: message.minimum_charge || '0',
  };
}

export class Register extends Control {
  static TYPE = 'register';
  static FIELDS = [['version', VERSION]];
}

export class Registered extends Control {
  static TYPE = 'registered';
  static FIELDS = [['session', SESSION], ['expires_in', new Int(0, 86_400)], ...TARIFF, OTHER_RELAYS];
  static OMITTED_AT_DEFAULT = new Set(['relays']);
  tariff() {
    return tariffOf(this);
  }
}

export class Join extends Control {
  static TYPE = 'join';
  static FIELDS = [['session', SESSION], ['version', VERSION], ['customer', CUSTOMER, '']];
}

/** Relay -> viewer: joined. `technician`: the name the relay verified the token of (the
 * viewer's recording holds it); empty from an older relay. */
export class Joined extends Control {
  static TYPE = 'joined';
  static FIELDS = [...TARIFF, ['technician', new Text(MAX_TECHNICIAN_CHARS), ''], OTHER_RELAYS];
  static OMITTED_AT_DEFAULT = new Set(['relays']);
  tariff() {
    return tariffOf(this);
  }
}

export class PeerJoined extends Control {
  static TYPE = 'peer_joined';
  static FIELDS = [['technician', new Text(64)]];
}

export class FailedAttempt extends Control {
  static TYPE = 'failed_attempt';
}

export class Void extends Control {
  static TYPE = 'void';
}

export class Consent extends Control {
  static TYPE = 'consent';
  static FIELDS = [
    ['level', new Choice(ReportedConsent)],
    ['technician', new Text(64), ''],
    ['rate_per_minute', AMOUNT, ''],
    ['vat_percent', AMOUNT, ''],
    ['terms_hash', TERMS_HASH, ''],
  ];
}

/** Host or viewer -> relay: where its recording stands, for the ledger. */
export class Checkpoint extends Control {
  static TYPE = 'checkpoint';
  static FIELDS = [
    ['records', new Int(0, 2 ** 53)],
    ['head', new HexDigest(32)],
    ['file_records', new Int(0, 2 ** 53), 0],
    ['file_head', FILE_HEAD, ''],
  ];
}

export class PeerLeft extends Control {
  static TYPE = 'peer_left';
  static FIELDS = [['reason', REASON]];
}

/** Either side -> relay: the session is over. `peer_ended`: this side ends because the
 * other side said goodbye first in the channel, so the ledger names the side that ended. */
export class End extends Control {
  static TYPE = 'end';
  static FIELDS = [
    ['reason', REASON],
    ['peer_ended', new Flag(), false],
  ];
  // Left out of the JSON at its default, so it reads the same to an older relay.
  static OMITTED_AT_DEFAULT = new Set(['peer_ended']);
}

/** Relay -> anyone: why it refuses or ends (then it closes). Exported as `Error` too, the
 * name python gives it; inside this module that name would hide the global Error. */
export class RelayError extends Control {
  static TYPE = 'error';
  static FIELDS = [['code', new Choice(ErrorCode)], ['message', REASON]];
}

/** The hash of this side's one-time resume secret for `epoch` (never the secret). */
export class ResumeVerifier extends Control {
  static TYPE = 'resume_verifier';
  static FIELDS = [['epoch', EPOCH], ['verifier', RESUME_HEX]];
  toString() {
    return `ResumeVerifier(epoch=${this.epoch})`;
  }
}

/** Instead of join: take the slot back, proving it with the secret of `epoch`. */
export class Resume extends Control {
  static TYPE = 'resume';
  static FIELDS = [['session', SESSION], ['epoch', EPOCH], ['secret', RESUME_HEX], ['version', VERSION]];
  toString() {
    return `Resume(session=${this.session}, epoch=${this.epoch})`;
  }
  toJSON() {
    return { session: this.session, epoch: this.epoch };
  }
}

export class PeerReconnecting extends Control {
  static TYPE = 'peer_reconnecting';
}

export class Resumed extends Control {
  static TYPE = 'resumed';
  static FIELDS = [['epoch', EPOCH], OTHER_RELAYS];
  static OMITTED_AT_DEFAULT = new Set(['relays']);
}

/** Relay -> a join or a resume: the session is held by another relay of the operator; ask
 * there (its URL, and its certificate pin where relays use self-signed certificates). */
export class Redirect extends Control {
  static TYPE = 'redirect';
  static FIELDS = [['url', RELAY_URL], ['fingerprint', PIN, '']];
}

export { RelayError as Error };

export const CONTROL_TYPES = new Map(
  [
    Register, Registered, Join, Joined, PeerJoined, FailedAttempt, Void, Consent, Checkpoint,
    PeerLeft, End, RelayError, ResumeVerifier, Resume, PeerReconnecting, Resumed, Redirect,
  ].map((type) => [type.TYPE, type]),
);

/** The JSON text of a control message (to send as a WebSocket text frame). */
export function encode(message) {
  const object = { type: message.constructor.TYPE };
  const omitted = message.constructor.OMITTED_AT_DEFAULT ?? new Set();
  for (const [name, rule, ...defaults] of message.constructor.FIELDS) {
    if (omitted.has(name) && defaults.length && isDefault(message[name], defaults[0])) continue;
    object[name] = rule.toWire(message[name]);
  }
  return JSON.stringify(object);
}

function isDefault(value, fallback) {
  return Array.isArray(fallback) ? value.length === 0 && fallback.length === 0 : value === fallback;
}

// What only the relay sends: read leniently (unknown fields are ignored), so that a relay
// can add a field without breaking viewers that predate it. As protocol/control.py.
const FROM_RELAY = new Set([
  Registered, Joined, PeerJoined, Void, PeerLeft, RelayError, PeerReconnecting, Resumed, Redirect,
]);

/** Parse and validate one control frame. */
export function decode(text) {
  if (characterCount(text) > MAX_CONTROL_BYTES) {
    throw new ProtocolError(`control message is larger than ${MAX_CONTROL_BYTES} bytes`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('control message is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('a control message must be a JSON object');
  }
  const kind = value.type;
  if (typeof kind !== 'string') throw new ProtocolError("a control message needs a 'type' text field");
  const type = CONTROL_TYPES.get(kind);
  if (type === undefined) throw new ProtocolError(`unknown control message type '${[...kind].slice(0, 40).join('')}'`);
  return fromMapping(type, value);
}

function fromMapping(type, mapping) {
  const expected = new Set(type.FIELDS.map(([name]) => name));
  let present = new Set(Object.keys(mapping).filter((name) => name !== 'type'));
  if (FROM_RELAY.has(type)) {
    // A newer relay may tell more: fields a side does not know are left unread.
    present = new Set([...present].filter((name) => expected.has(name)));
  }
  const optional = new Set(type.FIELDS.filter((field) => field.length > 2).map(([name]) => name));
  const missing = [...expected].filter((name) => !present.has(name) && !optional.has(name)).sort();
  if (missing.length) throw new ProtocolError(`missing field(s): ${missing.join(', ')}`);
  const extra = [...present].filter((name) => !expected.has(name)).sort();
  if (extra.length) throw new ProtocolError(`unknown field(s): ${extra.slice(0, 5).join(', ')}`);
  const fields = {};
  for (const [name, rule] of type.FIELDS) {
    if (present.has(name)) fields[name] = rule.fromWire(name, mapping[name]);
  }
  return new type(fields);
}
