// Padding against protocol/padding.py: every example message padded to the same bytes as
// python pads it, and read back (messages.decode accepts the padding).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as messages from '../../relay/browser/static/js/messages.js';
import { INPUT_BYTES, pad } from '../../relay/browser/static/js/padding.js';
import { fromJson, toJson, vectors } from './vectors.mjs';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

test('every message is padded as python pads it, and decodes', () => {
  assert.ok(vectors.padding.length > 10);
  for (const v of vectors.padding) {
    const message = fromJson(v.message);
    const padded = pad(message, messages.encode(message));
    assert.equal(hex(padded), v.padded);
    assert.deepEqual(toJson(messages.decode(padded)), v.message);
  }
});

test('every key has one length on the wire', () => {
  const lengths = new Set(
    ['a', 'Return', 'BackSpace'].map((key) => {
      const message = new messages.Key({ key, pressed: true });
      return pad(message, messages.encode(message)).length;
    }),
  );
  assert.deepEqual([...lengths], [INPUT_BYTES]);
});
