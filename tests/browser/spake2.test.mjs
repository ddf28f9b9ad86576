// The SPAKE2 port against python-spake2's own compatibility vectors (test_compat.py),
// against python-spake2 run here with fixed randomness, and its refusals.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromHex, toHex, utf8 } from '../../relay/browser/static/js/bytes.js';
import {
  L,
  SPAKE2_A,
  SPAKE2_B,
  SpakeError,
  arbitraryElement,
  bytesToElement,
  finalizeSpake2,
  params,
  passwordToScalar,
  randomScalar,
} from '../../relay/browser/static/js/spake2.js';
import { PRG, flipped, vectors } from './vectors.mjs';

const V = vectors.spake2;

function scalarToBytesLE(scalar) {
  const out = new Uint8Array(32);
  let rest = scalar % L;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

test('the test PRG is python-spake2 test_compat TestPRG', () => {
  assert.equal(toHex(PRG(utf8('A'))(16)), 'c1d59d78903e9d7874d9064e12d36c58');
  assert.equal(toHex(PRG(utf8('B'))(16)), '2af6d4b843a9e6cd1d185eb5de870f77');
});

test('password to scalar: test_compat P2S vectors for Ed25519', () => {
  assert.ok(V.passwordToScalar.length >= 2);
  for (const vector of V.passwordToScalar) {
    const scalar = passwordToScalar(fromHex(vector.pw_hex));
    assert.equal(toHex(scalarToBytesLE(scalar)), vector.bytes_hex);
  }
});

test('arbitrary element: test_compat AE vectors, and the M and N points', () => {
  for (const vector of V.arbitraryElement) {
    assert.equal(toHex(arbitraryElement(fromHex(vector.seed_hex)).toBytes()), vector.element_hex);
  }
  assert.equal(toHex(params().M.toBytes()), V.M);
  assert.equal(toHex(params().N.toBytes()), V.N);
});

test('asymmetric exchange: test_compat messages, scalars and key', () => {
  const v = V.asymmetric;
  const a = new SPAKE2_A(fromHex(v.password), { entropy: PRG(fromHex(v.seedA)) });
  const b = new SPAKE2_B(fromHex(v.password), { entropy: PRG(fromHex(v.seedB)) });
  assert.equal(passwordToScalar(fromHex(v.password)), BigInt(v.pwScalar));
  assert.equal(randomScalar(PRG(fromHex(v.seedA))), BigInt(v.xyScalarA));
  assert.equal(randomScalar(PRG(fromHex(v.seedB))), BigInt(v.xyScalarB));
  const messageA = a.start();
  const messageB = b.start();
  assert.equal(toHex(messageA), v.messageA);
  assert.equal(toHex(messageB), v.messageB);
  assert.equal(toHex(a.finish(messageB)), v.key);
  assert.equal(toHex(b.finish(messageA)), v.key);
});

test('exchanges with identities, empty and long passwords match python-spake2', () => {
  for (const v of V.withIdentities) {
    const options = { idA: fromHex(v.idA), idB: fromHex(v.idB) };
    const a = new SPAKE2_A(fromHex(v.password), { ...options, entropy: PRG(fromHex(v.seedA)) });
    const b = new SPAKE2_B(fromHex(v.password), { ...options, entropy: PRG(fromHex(v.seedB)) });
    assert.equal(toHex(a.start()), v.messageA);
    assert.equal(toHex(b.start()), v.messageB);
    assert.equal(toHex(a.finish(fromHex(v.messageB))), v.key);
    assert.equal(toHex(b.finish(fromHex(v.messageA))), v.key);
  }
});

test('a flipped byte in the peer message gives another key or a refusal, never the key', () => {
  const v = V.asymmetric;
  for (const index of [1, 5, 17, 32]) {
    const a = new SPAKE2_A(fromHex(v.password), { entropy: PRG(fromHex(v.seedA)) });
    a.start();
    let key = null;
    try {
      key = toHex(a.finish(flipped(fromHex(v.messageB), index)));
    } catch (error) {
      assert.ok(error instanceof SpakeError);
    }
    assert.notEqual(key, v.key);
  }
});

test('finalize is python-spake2 finalize_SPAKE2 (test_compat Finalize)', () => {
  const key = finalizeSpake2(utf8('idA'), utf8('idB'), utf8('X_msg'), utf8('Y_msg'), utf8('K_bytes'), utf8('pw'));
  assert.equal(toHex(key), 'aa02a627537543399bb1b4b430646480b6d36ab5c44842e738c8f78694d8afac');
});

test('elements: zero, small order, off the curve and wrong length are refused', () => {
  const zero = new Uint8Array(32);
  zero[0] = 1;
  const smallOrder = new Uint8Array(32);
  smallOrder[31] = 0x80; // y = 0: a point of order 4
  const offCurve = new Uint8Array(32);
  offCurve[0] = 2;
  for (const bytes of [zero, smallOrder, offCurve, new Uint8Array(31)]) {
    assert.throws(() => bytesToElement(bytes), SpakeError);
  }
  assert.ok(bytesToElement(params().M.toBytes()).equals(params().M));
});

test('sides and single use are enforced', () => {
  const v = V.asymmetric;
  const a = new SPAKE2_A(fromHex(v.password), { entropy: PRG(fromHex(v.seedA)) });
  const own = a.start();
  assert.throws(() => a.start(), SpakeError);
  assert.throws(() => a.finish(own), SpakeError); // from side A to side A
  assert.throws(() => a.finish(fromHex(v.messageB)), SpakeError); // finish only once
  const b = new SPAKE2_B(fromHex(v.password), { entropy: PRG(fromHex(v.seedA)) });
  const reflected = Uint8Array.from([0x41, ...b.start().subarray(1)]);
  assert.throws(() => b.finish(Uint8Array.from([0x41, ...reflected.subarray(1)])), SpakeError);
});
