// The AES-256-GCM channel against protocol/channel.py's vectors (tests/protocol/
// channel_vectors.json) and against a sequence sealed by python with handshake keys.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { Channel, Direction, associatedDataFor, nonceFor } from '../../relay/browser/static/js/channel.js';
import { IntegrityError } from '../../relay/browser/static/js/errors.js';
import { flipped, vectors } from './vectors.mjs';

const V = vectors.channel;
const OTHER_KEY = new Uint8Array(32).fill(0xee);

test('nonce and associated data layout', () => {
  assert.equal(toHex(nonceFor(Direction.VIEWER_TO_HOST, 2 ** 32 + 7)), '000000020000000100000007');
  assert.equal(
    toHex(associatedDataFor(Direction.HOST_TO_VIEWER, 1)),
    `${toHex(new TextEncoder().encode('fernwartung-channel-v1'))}010000000000000001`,
  );
});

test('fixed vectors: seal and open at the given counter', async () => {
  assert.ok(V.fixed.length >= 3);
  for (const v of V.fixed) {
    const direction = v.direction === 'host_to_viewer' ? Direction.HOST_TO_VIEWER : Direction.VIEWER_TO_HOST;
    const key = fromHex(v.key);
    const sender = await Channel.create(key, OTHER_KEY, direction, { sendCounter: v.counter });
    assert.equal(toHex(await sender.seal(fromHex(v.plaintext))), v.ciphertext);
    const other = direction === Direction.HOST_TO_VIEWER ? Direction.VIEWER_TO_HOST : Direction.HOST_TO_VIEWER;
    const receiver = await Channel.create(OTHER_KEY, key, other, { receiveCounter: v.counter });
    assert.equal(toHex(await receiver.open(fromHex(v.ciphertext))), v.plaintext);
  }
});

test('a sequence sealed by python opens in order, and JS seals the same bytes', async () => {
  const keys = vectors.handshake.exchanges[0].hostKeys;
  const host = await Channel.create(fromHex(keys.sendKey), fromHex(keys.receiveKey), Direction.HOST_TO_VIEWER);
  const viewer = await Channel.create(fromHex(keys.receiveKey), fromHex(keys.sendKey), Direction.VIEWER_TO_HOST);
  for (const step of V.sequence) {
    const [sender, receiver] = step.from === 'host' ? [host, viewer] : [viewer, host];
    assert.equal(toHex(await sender.seal(fromHex(step.plaintext))), step.sealed);
    assert.equal(toHex(await receiver.open(fromHex(step.sealed))), step.plaintext);
  }
});

test('altered, replayed, reordered, echoed and cut messages do not open', async () => {
  const keys = vectors.handshake.exchanges[0].hostKeys;
  const make = () =>
    Promise.all([
      Channel.create(fromHex(keys.sendKey), fromHex(keys.receiveKey), Direction.HOST_TO_VIEWER),
      Channel.create(fromHex(keys.receiveKey), fromHex(keys.sendKey), Direction.VIEWER_TO_HOST),
    ]);
  const [host, viewer] = await make();
  const first = await host.seal(new TextEncoder().encode('eins'));
  const second = await host.seal(new TextEncoder().encode('zwei'));
  await assert.rejects(viewer.open(second), IntegrityError); // reordered (or one missing)
  await assert.rejects(viewer.open(flipped(first, 2)), IntegrityError); // altered
  await assert.rejects(viewer.open(first.subarray(0, 15)), /shorter than its 16-byte tag/);
  assert.equal(viewer.receiveCounter, 0);
  await viewer.open(first);
  await assert.rejects(viewer.open(first), IntegrityError); // replayed
  await viewer.open(second);
  const echo = await viewer.seal(new TextEncoder().encode('echo'));
  const [, fresh] = await make();
  await assert.rejects(fresh.open(echo), IntegrityError); // echoed to its sender's direction
});

test('concurrent seals settle in call order with consecutive counters', async () => {
  const keys = vectors.handshake.exchanges[0].hostKeys;
  const host = await Channel.create(fromHex(keys.sendKey), fromHex(keys.receiveKey), Direction.HOST_TO_VIEWER);
  const viewer = await Channel.create(fromHex(keys.receiveKey), fromHex(keys.sendKey), Direction.VIEWER_TO_HOST);
  const sizes = [5_000_000, 1, 300_000, 2];
  const order = [];
  const sealed = await Promise.all(
    sizes.map((size, index) => host.seal(new Uint8Array(size).fill(index)).then((frame) => { order.push(index); return frame; })),
  );
  assert.deepEqual(order, [0, 1, 2, 3]);
  for (const [index, frame] of sealed.entries()) assert.equal((await viewer.open(frame))[0] ?? index, index);
});

test('keys must be 32 bytes and differ', async () => {
  await assert.rejects(Channel.create(new Uint8Array(16), OTHER_KEY, 1), RangeError);
  await assert.rejects(Channel.create(OTHER_KEY, OTHER_KEY, 1), RangeError);
});
