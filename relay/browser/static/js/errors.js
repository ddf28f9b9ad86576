// The one exception tree, as protocol/errors.py has it. Error texts are for people: they
// never contain a code, secret, token, key or payload. `code` names the class for the page's
// translation table (i18n.js), so a text can be shown in German or English.

export class FernwartungError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The peer (or the relay) sent something this side cannot accept. */
export class ProtocolError extends FernwartungError {}
/** The peer speaks a protocol version this side does not know. */
export class UnsupportedVersion extends ProtocolError {}
/** An encrypted message was altered, replayed, reordered, dropped or echoed. */
export class IntegrityError extends ProtocolError {}
/** Typed text is not a well-formed one-time code. */
export class InvalidCode extends FernwartungError {}
/** Key confirmation failed: host and viewer do not share the same code. */
export class WrongCode extends FernwartungError {}
/** The code is unknown, expired, or void after too many wrong tries. */
export class CodeVoid extends FernwartungError {}
/** The technician's sign-in was refused by the relay. */
export class NotAuthorised extends FernwartungError {}
/** The customer declined the session. */
export class ConsentDenied extends FernwartungError {}

/** The session is over; `reason` says why in words for people. */
export class SessionEnded extends FernwartungError {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}
/** The connection to the relay closed without the relay saying why: it may resume. */
export class ConnectionLost extends SessionEnded {}
/** The relay would not give the session's slot back. */
export class ResumeRefused extends SessionEnded {}
/** No connection to the relay could be made (or kept). */
export class RelayUnreachable extends FernwartungError {}
/** The evidence recording could not be written: the session must end. */
export class RecordingFailed extends FernwartungError {}
