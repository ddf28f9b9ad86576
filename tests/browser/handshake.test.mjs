// The handshake against protocol/handshake.py: with the same fixed randomness both give the
// same bytes on the wire and the same keys; a wrong code fails on both sides; every
// malformed message is refused with python's error.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import * as errors from '../../relay/browser/static/js/errors.js';
import { Handshake, HandshakeState, Role } from '../../relay/browser/static/js/handshake.js';
import { PRG, flipped, vectors } from './vectors.mjs';

const V = vectors.handshake;

function sides(v) {
  return [
    Handshake.forHost(v.hostSecret, v.session, { entropy: PRG(fromHex(v.seedHost)) }),
    Handshake.forViewer(v.viewerSecret, v.session, { entropy: PRG(fromHex(v.seedViewer)) }),
  ];
}

function keysHex(keys) {
  return {
    sendKey: toHex(keys.sendKey),
    receiveKey: toHex(keys.receiveKey),
    resumeKey: toHex(keys.resumeKey),
    transcriptHash: toHex(keys.transcriptHash),
  };
}

test('same randomness, same transcript and keys as protocol/handshake.py', () => {
  for (const v of V.exchanges) {
    const [host, viewer] = sides(v);
    assert.equal(toHex(host.start()), v.pakeHost);
    assert.equal(toHex(viewer.start()), v.pakeViewer);
    assert.equal(toHex(host.receive(fromHex(v.pakeViewer)).outgoing), v.confirmHost);
    assert.equal(toHex(viewer.receive(fromHex(v.pakeHost)).outgoing), v.confirmViewer);
    if (v.hostKeys) {
      const hostKeys = host.receive(fromHex(v.confirmViewer)).keys;
      const viewerKeys = viewer.receive(fromHex(v.confirmHost)).keys;
      assert.deepEqual(keysHex(hostKeys), v.hostKeys);
      assert.deepEqual(keysHex(viewerKeys), v.viewerKeys);
      assert.equal(host.state, HandshakeState.DONE);
      assert.equal(hostKeys.session, v.session);
      assert.ok(!String(hostKeys).includes(v.hostKeys.sendKey));
      assert.ok(!JSON.stringify(hostKeys).includes(v.hostKeys.sendKey));
    } else {
      assert.throws(() => host.receive(fromHex(v.confirmViewer)), (e) => e instanceof errors.WrongCode && e.message === v.hostError.message);
      assert.throws(() => viewer.receive(fromHex(v.confirmHost)), (e) => e instanceof errors.WrongCode && e.message === v.viewerError.message);
      assert.equal(host.state, HandshakeState.FAILED);
    }
  }
});

test('a flipped bit in the peer confirmation is a wrong code', () => {
  const v = V.exchanges[0];
  for (const index of [4, 20, 35]) {
    const [host] = sides(v);
    host.start();
    host.receive(fromHex(v.pakeViewer));
    assert.throws(() => host.receive(flipped(fromHex(v.confirmViewer), index)), errors.WrongCode);
  }
});

test('a flipped bit in the peer PAKE message changes the keys (confirmation fails)', () => {
  const v = V.exchanges[0];
  const [host, viewer] = sides(v);
  host.start();
  viewer.start();
  let step;
  try {
    step = host.receive(flipped(fromHex(v.pakeViewer), 10));
  } catch (error) {
    assert.ok(error instanceof errors.ProtocolError);
    return;
  }
  assert.notEqual(toHex(step.outgoing), v.confirmHost);
  viewer.receive(fromHex(v.pakeHost));
  assert.throws(() => host.receive(fromHex(v.confirmViewer)), errors.WrongCode);
});

test('malformed messages are refused as python refuses them', () => {
  assert.ok(V.malformedForViewer.length >= 10);
  for (const { name, data, error } of V.malformedForViewer) {
    const viewer = Handshake.forViewer('907226', '48213', { entropy: PRG(new TextEncoder().encode('bad')) });
    viewer.start();
    assert.throws(
      () => viewer.receive(fromHex(data)),
      (e) => e.constructor.name === error.class && e.message === error.message && e instanceof errors.ProtocolError,
      name,
    );
    assert.equal(viewer.state, HandshakeState.FAILED, name);
  }
});

test('states: no message before start, nothing after the end, start once', () => {
  const v = V.exchanges[0];
  const [host, viewer] = sides(v);
  assert.throws(() => host.receive(fromHex(v.pakeViewer)), /unexpected handshake message in state 'new'/);
  viewer.start();
  assert.throws(() => viewer.start(), /handshake already started/);
  viewer.receive(fromHex(v.pakeHost));
  assert.throws(() => viewer.receive(fromHex(v.pakeHost)), /the peer sent a second PAKE message/);
  assert.equal(Role.HOST, 'host');
});
