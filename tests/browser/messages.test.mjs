// The message codec against protocol/messages.py: every message type encodes to python's
// very bytes and decodes to the same fields; what python refuses, this refuses with the same
// sentence (msgpack-level errors: the same first words, python names its exception).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { ProtocolError, UnsupportedVersion } from '../../relay/browser/static/js/errors.js';
import * as M from '../../relay/browser/static/js/messages.js';
import { MsgFloat, pack, unpack } from '../../relay/browser/static/js/msgpack.js';
import { flipped, fromJson, toJson, vectors } from './vectors.mjs';

const V = vectors.messages;
const MSGPACK = 'message is not well-formed msgpack';

test('every message type: python bytes decode to the same fields, and encode back', () => {
  const seen = new Set();
  for (const v of V.valid) {
    const decoded = M.decode(fromHex(v.encoded));
    assert.deepEqual(toJson(decoded), v.message);
    const built = fromJson(v.message);
    assert.equal(toHex(M.encode(built)), v.encoded, v.message.$type);
    seen.add(decoded.constructor.TYPE);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [...M.MESSAGE_TYPES.keys()].sort((a, b) => a - b));
});

test('every refusal of python is a refusal here, with its sentence', () => {
  assert.ok(V.invalid.length >= 40);
  for (const { name, data, error } of V.invalid) {
    assert.throws(
      () => M.decode(fromHex(data)),
      (e) => {
        assert.ok(e instanceof ProtocolError, name);
        if (error.message.startsWith(MSGPACK)) assert.ok(e.message.startsWith(MSGPACK), `${name}: ${e.message}`);
        else assert.equal(e.message, error.message, name);
        return true;
      },
      name,
    );
  }
});

test('what python accepts in other forms is accepted here alike', () => {
  for (const { name, data, message } of V.accepted) {
    assert.deepEqual(toJson(M.decode(fromHex(data))), message, name);
  }
});

test('building an invalid message raises as python does', () => {
  const builders = {
    'tile beyond the largest screen': () => new M.Tile({ x: 16383, y: 0, width: 2, height: 1, codec: 'fill', data: new Uint8Array(3) }),
    'copy to itself': () => new M.CopyRect({ src_x: 1, src_y: 1, x: 1, y: 1, width: 2, height: 2 }),
    'key control character': () => new M.Key({ key: '\x07', pressed: true }),
    'hello capability': () => new M.Hello({ versions: [1], capabilities: ['Bad'], screen_width: 0, screen_height: 0 }),
  };
  for (const { name, error } of V.invalidBuilt) {
    assert.throws(builders[name], (e) => e instanceof ProtocolError && e.message === error.message, name);
  }
  assert.throws(() => new M.Ack({ seq: 1.5 }), /must be a whole number, not float/);
  assert.throws(() => new M.Ack({}), TypeError);
  assert.ok(Object.isFrozen(new M.Ack({ seq: 1 })));
});

test('a flipped byte in an encoded message never decodes to the original', () => {
  const v = V.valid.find((x) => x.message.$type === 'FrameUpdate');
  const original = JSON.stringify(v.message);
  for (let index = 0; index < 40; index++) {
    try {
      const decoded = M.decode(flipped(fromHex(v.encoded), index));
      assert.notEqual(JSON.stringify(toJson(decoded)), original);
    } catch (error) {
      assert.ok(error instanceof ProtocolError);
    }
  }
});

test('msgpack: floats stay floats, ints keep 64 bits, python forms', () => {
  assert.equal(toHex(pack(new MsgFloat(1))), 'cb3ff0000000000000');
  assert.ok(unpack(fromHex('cb3ff0000000000000')) instanceof MsgFloat);
  assert.equal(unpack(fromHex('cf7fffffffffffffff')), 2n ** 63n - 1n);
  assert.equal(toHex(pack([-33, -129, 128, 65536, 2 ** 32])), '95d0dfd1ff7fcc80ce00010000cf0000000100000000');
  assert.throws(() => pack(0.5), /wrap a float/);
  assert.throws(() => unpack(fromHex('81a161a162')), /maps are not allowed/);
});

test('versions', () => {
  assert.equal(M.negotiateVersion([1, 2], [2, 3]), 2);
  assert.throws(() => M.negotiateVersion([1], [2]), UnsupportedVersion);
});
