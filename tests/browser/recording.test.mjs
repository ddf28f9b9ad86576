// The recording writer against protocol/recording_writer.py: the same events give the same
// bytes (python with compression off, as the JS writer stores every message); checkpoints
// carry the same heads; a peer checkpoint that disagrees is refused.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { concatBytes, fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { ProtocolError } from '../../relay/browser/static/js/errors.js';
import { crc32, encodeVarint, roundHalfEven, zigzag } from '../../relay/browser/static/js/recording.js';
import { RecordingWriter } from '../../relay/browser/static/js/recording_writer.js';
import { fromJson, toJson, vectors } from './vectors.mjs';

const V = vectors.recording;

function replay(writer, events, until = events.length) {
  const parts = [writer.headerBytes()];
  let checkpoint = null;
  for (const event of events.slice(0, until)) {
    if (event.kind === 'sent') parts.push(writer.sent(event.time, fromHex(event.plaintext)));
    else if (event.kind === 'received') parts.push(writer.received(event.time, fromHex(event.plaintext)));
    else if (event.kind === 'gap') parts.push(writer.gap(event.time, event.reason));
    else if (event.kind === 'checkpoint') {
      checkpoint = writer.checkpoint(event.time);
      parts.push(checkpoint.data);
    } else if (event.kind === 'end') parts.push(writer.end(event.time, event.reason));
  }
  return { file: concatBytes(...parts), checkpoint };
}

test('the same events give python bytes, byte for byte', () => {
  const writer = new RecordingWriter(fromJson(V.header));
  const { file, checkpoint } = replay(writer, V.events);
  assert.equal(file.length, V.file.length / 2);
  assert.equal(toHex(file), V.file);
  assert.deepEqual(
    {
      records: checkpoint.message.records,
      head: toHex(checkpoint.message.head),
      fileRecords: checkpoint.fileRecords,
      fileHead: toHex(checkpoint.fileHead),
    },
    V.checkpoint,
  );
  assert.deepEqual(toJson(writer.heads()), V.heads);
  assert.throws(() => writer.sent(1, new Uint8Array(2)), /cannot record a message in a recording in state 'ended'/);
});

test('a received checkpoint that disagrees with the recorded traffic is refused', () => {
  const writer = new RecordingWriter(fromJson(V.header));
  const last = V.events.findIndex((e) => e.kind === 'received' && e.plaintext.startsWith('930d'));
  replay(writer, V.events, last);
  assert.throws(
    () => writer.received(V.events[last].time, fromHex(V.wrongPeerCheckpoint)),
    (e) => e instanceof ProtocolError && /disagrees with the messages recorded/.test(e.message),
  );
});

test('a different time or byte gives a different file', () => {
  const events = structuredClone(V.events);
  events[3].time += 0.001;
  const { file } = replay(new RecordingWriter(fromJson(V.header)), events);
  assert.notEqual(toHex(file), V.file);
});

test('format helpers: CRC-32, varints, zigzag, python rounding', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(toHex(encodeVarint(300)), 'ac02');
  assert.equal(toHex(encodeVarint(0)), '00');
  assert.deepEqual([0, -1, 1, -2].map(zigzag), [0, 1, 2, 3]);
  assert.deepEqual([0.5, 1.5, 2.5, 2.4999, -0.5].map(roundHalfEven), [0, 2, 2, 2, 0]);
});
