// Relay control frames against protocol/control.py: every type python writes is read to the
// same fields and written back to the same JSON object; python's refusals are refusals here.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as C from '../../relay/browser/static/js/control.js';
import { ProtocolError } from '../../relay/browser/static/js/errors.js';
import { CONTROL_TYPES, fromJson, toJson, vectors } from './vectors.mjs';

const V = vectors.control;

test('every control type reads and writes as python does', () => {
  const seen = new Set();
  for (const v of V.valid) {
    const decoded = C.decode(v.text);
    assert.deepEqual(toJson(decoded), v.message);
    const built = fromJson(v.message, CONTROL_TYPES);
    assert.deepEqual(JSON.parse(C.encode(built)), JSON.parse(v.text));
    seen.add(decoded.constructor.TYPE);
  }
  assert.deepEqual([...seen].sort(), [...C.CONTROL_TYPES.keys()].sort());
});

test('what only a relay sends is read leniently, as python does', () => {
  for (const v of V.lenient) assert.deepEqual(toJson(C.decode(v.text)), v.message);
});

test('python refusals are refusals here, with the same sentence', () => {
  for (const { name, text, error } of V.invalid) {
    assert.throws(() => C.decode(text), (e) => e instanceof ProtocolError && e.message === error.message, name);
  }
});

test('the tariff of joined, and a resume never shows its secret', () => {
  const joined = C.decode('{"type":"joined","rate_per_minute":"1.40","vat_percent":"19"}');
  assert.deepEqual(joined.tariff(), { ratePerMinute: '1.40', vatPercent: '19', rounding: 'started-minute', minimumCharge: '0' });
  assert.equal(C.decode('{"type":"joined"}').tariff(), null);
  const resume = new C.Resume({ session: '48213', epoch: 1, secret: new Uint8Array(32).fill(7), version: 1 });
  assert.ok(!String(resume).includes('0707') && !JSON.stringify(resume).includes('0707'));
  assert.ok(C.encode(resume).includes('07'.repeat(32)));
});
