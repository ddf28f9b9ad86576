// Codes typed however they were read out, and the keys a host injects: as protocol/codes.py
// and protocol/keys.py decide them.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatDigits, parseCode } from '../../relay/browser/static/js/codes.js';
import { InvalidCode } from '../../relay/browser/static/js/errors.js';
import { NAMED_KEYS, isKnownKey } from '../../relay/browser/static/js/keys.js';
import { vectors } from './vectors.mjs';

test('codes parse as python parses them', () => {
  for (const v of vectors.codes.parse) {
    if (v.error) {
      assert.throws(() => parseCode(v.text), (e) => e instanceof InvalidCode && e.message === v.error.message, JSON.stringify(v.text));
    } else {
      const code = parseCode(v.text);
      assert.deepEqual([code.session, code.secret, code.spoken()], [v.session, v.secret, v.spoken]);
    }
  }
  for (const v of vectors.codes.format) assert.equal(formatDigits(v.digits), v.spoken);
});

test('a code keeps its secret out of strings, JSON and errors', () => {
  const code = parseCode('482 139 072 261');
  assert.ok(!String(code).includes('072261'));
  assert.ok(!JSON.stringify(code).includes('072261'));
  assert.ok(!Object.keys(code).includes('secret'));
  assert.equal(code.secret, '072261');
});

test('keys are known as python knows them', () => {
  for (const v of vectors.keys) assert.equal(isKnownKey(v.key), v.known, JSON.stringify(v.key));
  assert.equal(NAMED_KEYS.size, 12 + 24 + 12);
});
