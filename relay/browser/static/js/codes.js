// One-time codes, as protocol/codes.py has them: the relay's session number followed by
// the secret drawn on the host, all digits, typed however it was read out.

import { InvalidCode } from './errors.js';

export const SECRET_DIGITS = 6;
export const SESSION_DIGITS_MIN = 4;
export const SESSION_DIGITS_MAX = 12;
export const GROUP_DIGITS = 3;

// Python's `\s` (str.isspace) plus dots and dashes: what may separate the digits.
const SEPARATORS =
  /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.\-]+/gu;
const DIGITS = /^[0-9]+$/;

/** A parsed code. It keeps its secret out of JSON and string conversion. */
export class Code {
  #secret;

  constructor(session, secret) {
    if (!DIGITS.test(session)) throw new InvalidCode('the session number must be digits only');
    if (session.length < SESSION_DIGITS_MIN || session.length > SESSION_DIGITS_MAX) {
      throw new InvalidCode(
        `the session number must have ${SESSION_DIGITS_MIN} to ${SESSION_DIGITS_MAX} digits`,
      );
    }
    if (!DIGITS.test(secret) || secret.length !== SECRET_DIGITS) {
      throw new InvalidCode(`the secret part must be exactly ${SECRET_DIGITS} digits`);
    }
    this.session = session;
    this.#secret = secret;
    Object.freeze(this);
  }

  /** The PAKE password: only the handshake asks for it. */
  get secret() {
    return this.#secret;
  }

  digits() {
    return this.session + this.#secret;
  }

  spoken() {
    return formatDigits(this.digits());
  }

  toString() {
    return `Code(session=${this.session}, secret=<hidden>)`;
  }

  toJSON() {
    return { session: this.session };
  }
}

/** Group digits in threes from the left; a last lone digit joins the group before it. */
export function formatDigits(digits) {
  const groups = [];
  for (let i = 0; i < digits.length; i += GROUP_DIGITS) groups.push(digits.slice(i, i + GROUP_DIGITS));
  if (groups.length > 1 && groups[groups.length - 1].length === 1) {
    const last = groups.pop();
    groups[groups.length - 1] += last;
  }
  return groups.join(' ');
}

/** Read a code however it was typed: whitespace, dashes and dots are ignored. The error
 * never repeats the typed text. */
export function parseCode(text) {
  const compact = text.replace(SEPARATORS, '');
  if (!compact) throw new InvalidCode('no code was given');
  if (!DIGITS.test(compact)) {
    throw new InvalidCode('a code has digits only (spaces, dashes and dots may separate them)');
  }
  const totalMin = SESSION_DIGITS_MIN + SECRET_DIGITS;
  const totalMax = SESSION_DIGITS_MAX + SECRET_DIGITS;
  if (compact.length < totalMin || compact.length > totalMax) {
    throw new InvalidCode(`a code has ${totalMin} to ${totalMax} digits; this one has ${compact.length}`);
  }
  return new Code(compact.slice(0, -SECRET_DIGITS), compact.slice(-SECRET_DIGITS));
}
