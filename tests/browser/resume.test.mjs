// Resuming, against protocol/resume.py (secrets, verifiers, epoch channels, resume states),
// and the PeerSession state machine end to end between two JS sides: messages sent while
// detached or resuming are kept and arrive once, in order, nothing doubled.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { Direction } from '../../relay/browser/static/js/channel.js';
import { parseCode } from '../../relay/browser/static/js/codes.js';
import { ProtocolError, WrongCode } from '../../relay/browser/static/js/errors.js';
import { SessionKeys } from '../../relay/browser/static/js/handshake.js';
import { Ack, Chat, PointerMove } from '../../relay/browser/static/js/messages.js';
import { ResumeState, SentLog, epochChannel, resumeSecret, secretMatches, verifierFor } from '../../relay/browser/static/js/resume.js';
import { Established, PeerSession, Received, Resumed, Send, SessionState } from '../../relay/browser/static/js/session.js';
import { vectors } from './vectors.mjs';

const V = vectors.resume;
const exchange = vectors.handshake.exchanges[0];

function keysFor(role) {
  const k = exchange[`${role}Keys`];
  return new SessionKeys({
    role,
    session: exchange.session,
    sendKey: fromHex(k.sendKey),
    receiveKey: fromHex(k.receiveKey),
    resumeKey: fromHex(k.resumeKey),
    transcriptHash: fromHex(k.transcriptHash),
  });
}

test('resume secrets and verifiers as protocol/resume.py derives them', () => {
  for (const v of V.secrets) {
    const secret = resumeSecret(keysFor(v.role), v.role, v.epoch);
    assert.equal(toHex(secret), v.secret);
    assert.equal(toHex(verifierFor(secret)), v.verifier);
    assert.ok(secretMatches(secret, fromHex(v.verifier)));
    assert.ok(!secretMatches(secret, fromHex(v.secret)));
  }
  assert.throws(() => resumeSecret(keysFor('host'), 'host', 10_001), RangeError);
});

test('epoch channels seal as python seals; resume states encode alike', async () => {
  for (const v of V.epochs) {
    const channel = await epochChannel(keysFor(v.role), v.epoch);
    assert.equal(toHex(await channel.seal(fromHex(v.state))), v.sealed);
    const other = await epochChannel(keysFor(v.role === 'host' ? 'viewer' : 'host'), v.epoch);
    assert.equal(toHex(await other.open(fromHex(v.sealed))), v.state);
  }
  for (const v of V.states) {
    assert.equal(toHex(new ResumeState(v.received, v.sent).encode()), v.encoded);
    assert.deepEqual({ ...ResumeState.decode(fromHex(v.encoded)) }, { received: v.received, sent: v.sent });
  }
  for (const v of V.badStates) {
    assert.throws(() => ResumeState.decode(fromHex(v.data)), (e) => e instanceof ProtocolError && e.message === v.error.message);
  }
});

test('the sent log keeps the newest messages within its bounds', () => {
  const log = new SentLog(3, 10);
  for (let i = 0; i < 5; i++) log.append(Uint8Array.of(i, i));
  assert.equal(log.total, 5);
  assert.equal(log.firstKept, 2);
  assert.deepEqual(log.since(3).map((m) => m[0]), [3, 4]);
  assert.throws(() => log.since(1), /1 messages lost while reconnecting/);
  assert.throws(() => log.since(6), /more messages than this side ever sent/);
  const big = new SentLog(100, 10);
  big.append(new Uint8Array(8));
  big.append(new Uint8Array(8));
  assert.equal(big.firstKept, 1);
  for (let i = 0; i < 5000; i++) big.append(Uint8Array.of(1));
  assert.equal(big.since(big.total - 2).length, 2);
});

async function established(code = '48213 907226', other = code) {
  const host = new PeerSession('host', parseCode(code));
  const viewer = new PeerSession('viewer', parseCode(other));
  const toHost = viewer.start();
  const toViewer = host.start();
  const [confirmHost] = await host.receive(toHost);
  const [confirmViewer] = await viewer.receive(toViewer);
  return { host, viewer, confirmHost: confirmHost.data, confirmViewer: confirmViewer.data };
}

test('a session establishes, and a wrong code fails on both sides', async () => {
  const { host, viewer, confirmHost, confirmViewer } = await established();
  const [hostEvent] = await host.receive(confirmViewer);
  const [viewerEvent] = await viewer.receive(confirmHost);
  assert.ok(hostEvent instanceof Established && viewerEvent instanceof Established);
  assert.equal(host.state, SessionState.OPEN);
  const wrong = await established('48213 907226', '48213 907225');
  await assert.rejects(wrong.host.receive(wrong.confirmViewer), WrongCode);
  await assert.rejects(wrong.viewer.receive(wrong.confirmHost), WrongCode);
  assert.equal(wrong.host.state, SessionState.CLOSED);
});

async function open() {
  const s = await established();
  await s.host.receive(s.confirmViewer);
  await s.viewer.receive(s.confirmHost);
  return s;
}

test('resume: nothing lost, nothing doubled, late input marked redelivered', async () => {
  const { host, viewer } = await open();
  const chat = (text) => new Chat({ text });
  const received = { host: [], viewer: [] };
  const wire = { host: [], viewer: [] }; // frames on their way, in order
  const pump = async () => {
    while (wire.host.length || wire.viewer.length) {
      const to = wire.host.length ? 'host' : 'viewer';
      for (const event of await (to === 'host' ? host : viewer).receive(wire[to].shift())) {
        if (event instanceof Received) received[to].push([event.message, event.redelivered]);
        else if (event instanceof Send) wire[to === 'host' ? 'viewer' : 'host'].push(event.data);
        else assert.ok(event instanceof Resumed);
      }
    }
  };
  const deliver = async (to, frame) => {
    wire[to].push(frame);
    await pump();
  };
  await deliver('viewer', await host.seal(chat('h1')));
  await deliver('host', await viewer.seal(chat('v1')));
  const lostToViewer = await host.seal(chat('h2')); // on the wire when the link drops
  const lostToHost = await viewer.seal(new PointerMove({ x: 1, y: 2 }));
  void lostToViewer;
  void lostToHost;
  viewer.detach();
  host.detach();
  assert.equal(await viewer.seal(chat('v-while-detached')), null);
  assert.equal(await host.seal(chat('h-while-detached')), null);
  const [hostState, viewerState] = await Promise.all([host.switchEpoch(1), viewer.switchEpoch(1)]);
  assert.equal(await viewer.seal(chat('v-while-resuming')), null);
  wire.viewer.push(hostState);
  wire.host.push(viewerState);
  await pump();
  assert.equal(host.state, SessionState.OPEN);
  assert.equal(viewer.state, SessionState.OPEN);
  await deliver('host', await viewer.seal(new Ack({ seq: 9 })));
  const texts = (list) => list.map(([m, late]) => `${m.constructor.name}:${m.text ?? m.x ?? m.seq}:${late}`);
  assert.deepEqual(texts(received.viewer), ['Chat:h1:false', 'Chat:h2:true', 'Chat:h-while-detached:true']);
  assert.deepEqual(texts(received.host), [
    'Chat:v1:false',
    'PointerMove:1:true',
    'Chat:v-while-detached:true', // sent before the switch: late, as python marks it
    'Chat:v-while-resuming:false',
    'Ack:9:false',
  ]);
  assert.equal(host.sentTotal, 3);
  assert.equal(viewer.sentTotal, 5);
  await assert.rejects(host.switchEpoch(1), /an epoch already used/);
  assert.equal(toHex(host.resumeVerifier()), toHex(verifierFor(resumeSecret(host.keys, 'host', 1))));
});

test('a frame of the old epoch after the switch does not open', async () => {
  const { host, viewer } = await open();
  const old = await host.seal(new Chat({ text: 'old' }));
  const state = await viewer.switchEpoch(1);
  await assert.rejects(viewer.receive(old), ProtocolError);
  assert.equal(viewer.state, SessionState.CLOSED);
  void state;
  assert.equal(Direction.HOST_TO_VIEWER, 1);
});
