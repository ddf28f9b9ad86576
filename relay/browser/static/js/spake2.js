// SPAKE2 as python-spake2 0.9 does it (its default Ed25519 parameters), so that a page and
// python `spake2` agree on a key. Not RFC 9382: python-spake2 has its own M and N points
// (hashed from the seeds b"M" and b"N" by HKDF, then searched for a curve point and
// multiplied by the cofactor), a side byte before each 32-byte element (33-byte messages),
// a password scalar from HKDF-SHA256, and its own transcript hash:
//
//     key = SHA256(SHA256(pw) || SHA256(idA) || SHA256(idB) || X* || Y* || K)
//
// The curve arithmetic is @noble/curves' (vendored); what is ported here is the rest:
// python-spake2's src/spake2/{spake2.py, groups.py, ed25519_basic.py, util.py}.
// Element decoding accepts what python's `bytes_to_element` accepts (any y below 2**255,
// as zip215; the all-but-canonical zero; then only points of the prime-order subgroup).

import { ed25519 } from '../vendor/noble-curves/ed25519.js';
import { hkdf } from '../vendor/noble-hashes/hkdf.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { bytesToBigBE, concatBytes, equalBytes, utf8 } from './bytes.js';

const Point = ed25519.Point;
export const Q = 2n ** 255n - 19n;
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inverse(121666n));
const I = power(2n, (Q - 1n) / 4n);

export const SIDE_A = 0x41; // b"A"
export const SIDE_B = 0x42; // b"B"
const EMPTY = new Uint8Array(0);

/** What python-spake2 raises as SPAKEError (or ValueError/NotOnCurve for an element). */
export class SpakeError extends Error {}

function mod(value, modulus = Q) {
  const result = value % modulus;
  return result >= 0n ? result : result + modulus;
}

function power(base, exponent, modulus = Q) {
  let result = 1n;
  let b = mod(base, modulus);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

function inverse(value) {
  return power(value, Q - 2n);
}

/** ed25519_basic.xrecover: the even x for y (not checked to lie on the curve). */
function xrecover(y) {
  const xx = mod((y * y - 1n) * inverse(D * y * y + 1n));
  let x = power(xx, (Q + 3n) / 8n);
  if (mod(x * x - xx) !== 0n) x = mod(x * I);
  if (x % 2n !== 0n) x = Q - x;
  return x;
}

function isOnCurve(x, y) {
  return mod(-x * x + y * y - 1n - D * x * x * y * y) === 0n;
}

/** groups.expand_arbitrary_element_seed / expand_password: HKDF-SHA256 with empty salt. */
function expand(data, info, length) {
  return hkdf(sha256, data, EMPTY, utf8(info), length);
}

/** groups.password_to_scalar for Ed25519: 48 bytes of HKDF, big-endian, modulo L. */
export function passwordToScalar(password) {
  return bytesToBigBE(expand(password, 'SPAKE2 pw', 32 + 16)) % L;
}

/** ed25519_basic.arbitrary_element: a point of unknown discrete log from a seed. */
export function arbitraryElement(seed) {
  const y = bytesToBigBE(expand(seed, 'SPAKE2 arbitrary element', 32 + 16)) % Q;
  for (let plus = 0n; ; plus++) {
    const yPlus = (y + plus) % Q;
    const x = xrecover(yPlus);
    if (!isOnCurve(x, yPlus)) continue;
    const p8 = Point.fromAffine({ x, y: yPlus }).multiplyUnsafe(8n);
    if (p8.is0()) continue;
    if (!p8.isTorsionFree()) throw new Error('arbitrary element outside the subgroup');
    return p8;
  }
}

/** ed25519_basic.random_scalar: 64 bytes of entropy, big-endian, modulo L. */
export function randomScalar(entropy) {
  return bytesToBigBE(entropy(64)) % L;
}

export function defaultEntropy(count) {
  return crypto.getRandomValues(new Uint8Array(count));
}

const ZERO_BYTES = Point.ZERO.toBytes();

/** ed25519_basic.bytes_to_element: only elements of the prime-order subgroup, not zero. */
export function bytesToElement(bytes) {
  if (bytes.length !== 32) throw new SpakeError('an element is 32 bytes');
  if (equalBytes(bytes, ZERO_BYTES)) throw new SpakeError('element was Zero');
  let point;
  try {
    point = Point.fromBytes(bytes, true);
  } catch {
    throw new SpakeError('decoding point that is not on curve');
  }
  if (!point.isTorsionFree()) throw new SpakeError('element is not in the right group');
  return point;
}

/** Element.scalarmult: the scalar modulo L; zero gives the neutral element. */
function times(point, scalar) {
  const s = mod(scalar, L);
  return s === 0n ? Point.ZERO : point.multiply(s);
}

let parameters = null;

/** ParamsEd25519: M, N (and S) from their seeds, computed once. */
export function params() {
  if (parameters === null) {
    parameters = Object.freeze({
      M: arbitraryElement(utf8('M')),
      N: arbitraryElement(utf8('N')),
      S: arbitraryElement(utf8('symmetric')),
    });
  }
  return parameters;
}

/** spake2.finalize_SPAKE2. */
export function finalizeSpake2(idA, idB, xMessage, yMessage, kBytes, password) {
  return sha256(
    concatBytes(sha256(password), sha256(idA), sha256(idB), xMessage, yMessage, kBytes),
  );
}

class Spake2Asymmetric {
  #password;
  #passwordScalar;
  #xyScalar = null;
  #started = false;
  #finished = false;

  constructor(password, { idA = EMPTY, idB = EMPTY, entropy = defaultEntropy } = {}) {
    this.#password = password;
    this.#passwordScalar = passwordToScalar(password);
    this.idA = idA;
    this.idB = idB;
    this.entropy = entropy;
    this.outboundMessage = null;
    this.inboundMessage = null;
  }

  /** Side byte and element: 33 bytes for the peer. */
  start() {
    if (this.#started) throw new SpakeError('start() can only be called once');
    this.#started = true;
    const { M, N } = params();
    this.#xyScalar = randomScalar(this.entropy);
    const blinding = this.side === SIDE_A ? M : N;
    const element = times(Point.BASE, this.#xyScalar).add(times(blinding, this.#passwordScalar));
    this.outboundMessage = element.toBytes();
    return concatBytes(Uint8Array.of(this.side), this.outboundMessage);
  }

  /** The shared key (32 bytes) from the peer's 33-byte message. */
  finish(inbound) {
    if (this.#finished) throw new SpakeError('finish() can only be called once');
    this.#finished = true;
    if (!this.#started) throw new SpakeError('start() must come before finish()');
    const otherSide = inbound[0];
    if (otherSide !== SIDE_A && otherSide !== SIDE_B) {
      throw new SpakeError("I don't know what side they're on");
    }
    if (otherSide === this.side) throw new SpakeError('the message comes from my own side');
    this.inboundMessage = inbound.slice(1);
    const element = bytesToElement(this.inboundMessage);
    if (equalBytes(element.toBytes(), this.outboundMessage)) {
      throw new SpakeError('reflection thwarted');
    }
    const { M, N } = params();
    const unblinding = this.side === SIDE_A ? N : M;
    const shared = times(element.add(times(unblinding, -this.#passwordScalar)), this.#xyScalar);
    const [xMessage, yMessage] =
      this.side === SIDE_A
        ? [this.outboundMessage, this.inboundMessage]
        : [this.inboundMessage, this.outboundMessage];
    return finalizeSpake2(this.idA, this.idB, xMessage, yMessage, shared.toBytes(), this.#password);
  }
}

export class SPAKE2_A extends Spake2Asymmetric {
  get side() {
    return SIDE_A;
  }
}

export class SPAKE2_B extends Spake2Asymmetric {
  get side() {
    return SIDE_B;
  }
}

/** For the compat vectors: the scalars python's test peeks at. Not for use in a session. */
export const _forTests = { xrecover, times };
