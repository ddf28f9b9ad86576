// A JS side of a session, driven line by line over stdin/stdout by a python test
// (test_js_live.py): one JSON command in, one JSON reply out. It runs the page's modules as
// the page will (PeerSession, Framebuffer, RecordingWriter), without relay and without DOM:
// the python test plays the relay and the other side with the real protocol/ code.
//
// Commands: new, start, receive, seal, checkpoint, detach, switch_epoch, verifier, gap,
// end, screen. A failure is {"error": {"class", "message"}} (no payload, no key).

import { closeSync, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { fromHex, toHex } from '../../relay/browser/static/js/bytes.js';
import { parseCode } from '../../relay/browser/static/js/codes.js';
import { Framebuffer } from '../../relay/browser/static/js/framebuffer.js';
import { FrameUpdate } from '../../relay/browser/static/js/messages.js';
import { RecordingWriter } from '../../relay/browser/static/js/recording_writer.js';
import { Established, PeerSession, Received, Resumed, Send } from '../../relay/browser/static/js/session.js';
import { sha256 } from '../../relay/browser/static/vendor/noble-hashes/sha2.js';
import { fromJson, toJson } from './vectors-json.mjs';

let session = null;
let writer = null;
let file = null;
const screen = new Framebuffer();

function record(bytes) {
  if (file !== null) writeSync(file, bytes);
}

function screenState() {
  const rgb = new Uint8Array(screen.width * screen.height * 3);
  for (let i = 0, j = 0; i < screen.rgba.length; i += 4, j += 3) {
    rgb[j] = screen.rgba[i];
    rgb[j + 1] = screen.rgba[i + 1];
    rgb[j + 2] = screen.rgba[i + 2];
  }
  return { width: screen.width, height: screen.height, rgbSha256: toHex(sha256(rgb)) };
}

async function sealRecorded(plaintext, time) {
  if (writer !== null) record(writer.sent(time, plaintext));
  const frame = await session.sealPlaintext(plaintext);
  return frame === null ? null : toHex(frame);
}

const COMMANDS = {
  new({ role, code, header = null, path = null }) {
    session = new PeerSession(role, parseCode(code));
    if (header !== null) {
      writer = new RecordingWriter(fromJson(header));
      file = openSync(path, 'w');
      record(writer.headerBytes());
    }
    return {};
  },
  start() {
    return { frame: toHex(session.start()) };
  },
  async receive({ frame, time }) {
    const events = [];
    for (const event of await session.receive(fromHex(frame))) {
      if (event instanceof Send) events.push({ kind: 'send', frame: toHex(event.data) });
      else if (event instanceof Established) events.push({ kind: 'established' });
      else if (event instanceof Resumed) {
        events.push({ kind: 'resumed', epoch: event.epoch, resent: event.resent, redelivered: event.redelivered });
      } else if (event instanceof Received) {
        if (writer !== null) record(writer.received(time, event.plaintext)); // before acting on it
        const out = {
          kind: 'received',
          message: toJson(event.message),
          plaintext: toHex(event.plaintext),
          redelivered: event.redelivered,
        };
        if (event.message instanceof FrameUpdate) {
          out.regions = (await screen.apply(event.message)).map((r) => [r.x, r.y, r.width, r.height]);
          out.screen = screenState();
        }
        events.push(out);
      }
    }
    return { events };
  },
  async seal({ message, time }) {
    const { encode } = await import('../../relay/browser/static/js/messages.js');
    return { frame: await sealRecorded(encode(fromJson(message)), time) };
  },
  async checkpoint({ time }) {
    const written = writer.checkpoint(time);
    record(written.data);
    const frame = await session.sealPlaintext(written.plaintext);
    return {
      frame: frame === null ? null : toHex(frame),
      records: written.message.records,
      head: toHex(written.message.head),
      fileRecords: written.fileRecords,
      fileHead: toHex(written.fileHead),
    };
  },
  detach() {
    session.detach();
    return {};
  },
  async switch_epoch({ epoch }) {
    return { frame: toHex(await session.switchEpoch(epoch)) };
  },
  verifier() {
    return { verifier: toHex(session.resumeVerifier()), epoch: session.epoch };
  },
  gap({ time, reason }) {
    record(writer.gap(time, reason));
    return {};
  },
  end({ time, reason }) {
    record(writer.end(time, reason));
    const heads = writer.heads();
    closeSync(file);
    file = null;
    return { heads: toJson(heads) };
  },
  screen() {
    return screenState();
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = JSON.parse(line);
  let reply;
  try {
    reply = await COMMANDS[command.cmd](command);
  } catch (error) {
    reply = { error: { class: error.constructor.name, message: error.message } };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
